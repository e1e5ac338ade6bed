"""What the Losses tab computes: each loss on one pixel as the prediction sweeps (curves), and every loss on a sample
mask against a prediction made from it (degradations) or the shipped U-Net's.

The degradations and `as_logits` are small standalone functions: the code panel prints them as they are.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from lab.device import pick_device
from lab.errors import LabError, Term, choice, number, shown
from lab.losses.core import NAMES, binary_pair, canonical, get, params_for, validate_params
from lab.losses.tutorial import TUTORIAL

__all__ = [
    "DEGRADATIONS", "SOURCES", "MAX_PIXELS", "PROB_EPS", "DEFAULT_COMPARE", "DEFAULT_CHOSEN", "DEFAULT_SOURCE",
    "DEFAULT_AMOUNT", "GEOMETRIC", "blur", "shift", "erode", "dilate", "noise", "radius", "degrade", "as_logits",
    "curves",
    "compare", "sample_names", "default_sample", "check_sample", "unet_prob", "prediction", "loss_names",
]

DEGRADATIONS = ("blur", "shift", "erode", "dilate", "noise")
SOURCES = (*DEGRADATIONS, "unet")  # where the prediction comes from: the true mask degraded, or the shipped U-Net
MAX_PIXELS = 24  # amount 1.0 means this many pixels for the geometric degradations
# The tab's first view: the tutorial's losses and BCE compared, Dice + BCE chosen, a sample blurred by 6 px
DEFAULT_COMPARE = ("dice", "iou", "dice_bce", "focal", "bce")
DEFAULT_CHOSEN = "dice_bce"
DEFAULT_SOURCE, DEFAULT_AMOUNT = "blur", 0.25
MAX_CURVE_POINTS = 5001


# ---------------------------------------------------------------------------------------------------------------
# A prediction made from the true mask (N, 1, H, W) float: what the code panel prints


def blur(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1) x (2r+1) window: the edges go soft."""
    return F.avg_pool2d(mask, 2 * r + 1, stride=1, padding=r, count_include_pad=False)


def shift(mask: torch.Tensor, r: int) -> torch.Tensor:
    """The mask moved r pixels right and down (wrapping round)."""
    return torch.roll(mask, shifts=(r, r), dims=(-2, -1))


def erode(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Min over a (2r+1) x (2r+1) window: the mask shrinks by r pixels."""
    return 1 - F.max_pool2d(1 - mask, 2 * r + 1, stride=1, padding=r)


def dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    """Max over a (2r+1) x (2r+1) window: the mask grows by r pixels."""
    return F.max_pool2d(mask, 2 * r + 1, stride=1, padding=r)


def noise(mask: torch.Tensor, amount: float, seed: int = 0) -> torch.Tensor:
    """(1 - amount) * mask + amount * uniform noise; the noise drawn on the CPU, so every device gets the same."""
    u = torch.rand(mask.shape, generator=torch.Generator().manual_seed(seed), dtype=mask.dtype)
    return (1 - amount) * mask + amount * u.to(mask.device)


def as_logits(probs: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Probabilities -> logits, clamped to [eps, 1 - eps] first so a perfect prediction stays finite (|x| <= 9.2)."""
    return torch.logit(probs.clamp(eps, 1 - eps))


PROB_EPS: float = as_logits.__defaults__[0]
GEOMETRIC = {"blur": blur, "shift": shift, "erode": erode, "dilate": dilate}


def radius(amount: float) -> int:
    """The pixels a geometric degradation of `amount` (0 to 1) moves the mask by."""
    return round(amount * MAX_PIXELS)


def degrade(mask: torch.Tensor, kind: str, amount: float, *, seed: int = 0) -> torch.Tensor:
    """A prediction (probabilities, the mask's shape (N, 1, H, W)) made from the true mask, `amount` in [0, 1]:
    `blur`, `shift`, `erode` or `dilate` by `radius(amount)` pixels, or `noise` with share `amount`."""
    kind = choice("losses.source", kind, DEGRADATIONS)
    amount = number("losses.amount", amount, 0.0, 1.0)
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise LabError("error.losses.mask_shape", shape=str(tuple(mask.shape)))
    m = mask.float() if not mask.is_floating_point() else mask
    if kind == "noise":
        return noise(m, amount, seed)
    return GEOMETRIC[kind](m, radius(amount))


# ---------------------------------------------------------------------------------------------------------------
# Curves: each loss on one pixel


def loss_names(names: object) -> list[str]:
    """Canonical names of a list of loss names (or one name), in order, without repeats; LabError for none, for
    more than the registry holds, or for an unknown one."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or len(names) > len(NAMES) * 3:
        raise LabError("error.value", field="losses.compare", value=shown(names),
                       accepted=Term("losses.accept.names", count=len(NAMES)))  # fmt: skip
    if not names:
        raise LabError("error.losses.none_chosen")
    return list(dict.fromkeys(canonical(n) for n in names))


def curves(names: list[str] | tuple[str, ...], *, points: int = 201, **params: float | None) -> pd.DataFrame:
    """Each loss on one pixel and d loss / d logit as the predicted probability p sweeps (0, 1), targets 1 and 0.

    Columns: loss (canonical name), target, p, logit, value, grad. `params` hold smooth/alpha/gamma/...; each loss
    takes the ones it knows. p runs over `points` values from 0.001 to 0.999 (logits about -6.9 to 6.9).
    """
    keys = loss_names(names)
    points = number("losses.points", points, 2, MAX_CURVE_POINTS, integer=True)
    checked = validate_params(**params)
    device = pick_device()
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    p = torch.linspace(1e-3, 1 - 1e-3, points, dtype=dtype, device=device)
    z = torch.logit(p).requires_grad_()
    frames = []
    for key in keys:
        criterion = get(key, **params_for(key, **checked))
        for target in (1.0, 0.0):
            # vmap runs the loss on each one-pixel slice (P, 1) -> P separate losses, so pooled losses
            # (Dice, IoU) see a single pixel too; the values are independent, so grad of their sum is per point
            targets = torch.full((points, 1), target, dtype=z.dtype, device=device)
            values = torch.func.vmap(criterion)(z.view(points, 1), targets)
            (grad,) = torch.autograd.grad(values.sum(), z)
            frames.append(pd.DataFrame({
                "loss": key, "target": int(target), "p": p.cpu().numpy(), "logit": z.detach().cpu().numpy(),
                "value": values.detach().cpu().numpy(), "grad": grad.cpu().numpy(),
            }))
    return pd.concat(frames, ignore_index=True)


# ---------------------------------------------------------------------------------------------------------------
# On a sample mask


def compare(logits: torch.Tensor, targets: torch.Tensor, names: list[str] | tuple[str, ...] = NAMES,
            **params: float | None) -> pd.DataFrame:  # fmt: skip
    """Every loss in `names` on (logits, targets), beside the tutorial's version where there is one.

    Columns: loss (canonical name), value, tutorial (NaN where the tutorial has no such class). The tutorial's
    classes get the same smooth/alpha/gamma through their forward() keywords (alpha None -> 1).
    """
    keys = loss_names(names)
    checked = validate_params(**params)
    smooth, alpha, gamma = checked.get("smooth", 1.0), checked.get("alpha", 0.25), checked.get("gamma", 2.0)
    tutorial_kw = {"dice": {"smooth": smooth}, "iou": {"smooth": smooth}, "dice_bce": {"smooth": smooth},
                   "focal": {"alpha": 1.0 if alpha is None else alpha, "gamma": gamma}}  # fmt: skip
    rows = []
    with torch.no_grad():
        x, t = binary_pair(logits, targets)
        for key in keys:
            value = get(key, **params_for(key, **checked))(logits, targets).item()
            tutorial = float("nan")
            if key in TUTORIAL:  # contiguous copies: the tutorial's .view(-1) would fail on a strided tensor
                tutorial = TUTORIAL[key]()(x.contiguous(), t.contiguous(), **tutorial_kw[key]).item()
            rows.append({"loss": key, "value": value, "tutorial": tutorial})
    return pd.DataFrame(rows)


def sample_names() -> list[str]:
    """The shipped samples' names (from file names alone: cheap enough for a page's layout)."""
    from lab.segment import sample_names as names

    return names()


def default_sample() -> str:
    names = sample_names()
    return names[0] if names else ""


def check_sample(name: object) -> str:
    """`name` if it is a shipped sample, else one sentence listing them."""
    return choice("losses.sample", name, sample_names())


def _sample(name: str):
    from lab.segment import samples

    return {s.name: s for s in samples()}[check_sample(name)]


@functools.lru_cache(maxsize=64)
def unet_prob(name: str) -> np.ndarray:
    """The shipped U-Net's probability map (H, W) float32 of a sample: read-only, computed once per process."""
    from lab.segment import SHIPPED_WEIGHTS, pretrained, segment

    if not SHIPPED_WEIGHTS.exists():
        raise LabError("error.losses.no_unet")
    prob = segment(pretrained(), _sample(name).image).prob
    prob.flags.writeable = False
    return prob


def prediction(sample: str, source: str, amount: float):
    """(sample, probs, targets): the sample (image, mask), and probs, targets (1, 1, H, W) float32 on the lab's
    device; probs from the true mask degraded by `source` with `amount`, or the shipped U-Net's (`source="unet"`)."""
    s = _sample(sample)
    source = choice("losses.source", source, SOURCES)
    amount = number("losses.amount", amount, 0.0, 1.0)
    targets = torch.from_numpy(s.mask.copy()).float()[None, None].to(pick_device())
    if source == "unet":
        probs = torch.from_numpy(unet_prob(s.name).copy())[None, None].to(targets.device)
    else:
        probs = degrade(targets, source, amount)
    return s, probs, targets
