"""Custom losses for segmentation (tutorial 6.1): Dice, IoU, Dice+BCE and Focal, made right.

Every loss here takes *logits* and a mask, like `nn.BCEWithLogitsLoss`, and is an `nn.Module`:

- binary mode (default): logits and targets of the same shape, or logits (N, 1, H, W) with targets (N, H, W);
  targets are 0/1 (bool, int or float); the score is pooled over the whole batch, as the tutorial does.
- multiclass mode (`mode="multiclass"`): logits (N, C, H, W), integer targets (N, H, W) in [0, C); softmax over C,
  one-hot targets, one score per class pooled over the batch, then the mean over the C classes.

What the tutorial's versions get wrong and these fix (see `seed/NOTES.md`): `F.sigmoid` then
`F.binary_cross_entropy` (saturates at large logits, refused under CUDA autocast) becomes
`binary_cross_entropy_with_logits`; FocalLoss's focal factor moves from the batch-mean BCE (which only rescales
BCE) onto every element; `view(-1)` (fails on non-contiguous tensors) becomes plain reductions. The tutorial's own
classes, indentation fixed and every other behaviour kept, are in `TUTORIAL` for side-by-side views.

Names for `get()` (case-insensitive; spaces, dashes, underscores and a trailing "Loss" are ignored, so
"DiceBCELoss", "dice-bce" and "dice_bce" are the same): see `NAMES`, their parameters in `PARAMS`.
"""

from __future__ import annotations

import base64
import functools
import inspect
import io
import math
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lab.device import pick_device
from lab.errors import LabError, shown
from lab.figures import color, figure
from lab.safe_expr import check_plain

__all__ = [
    "NAMES",
    "LABELS",
    "MODES",
    "PARAMS",
    "Param",
    "DiceLoss",
    "IoULoss",
    "DiceBCELoss",
    "FocalLoss",
    "BuiltinLoss",
    "TUTORIAL",
    "tutorial_code",
    "canonical",
    "get",
    "params_for",
    "pixel_losses",
    "curves",
    "curves_figure",
    "DEGRADATIONS",
    "degrade",
    "degrade_code",
    "mask_setup_code",
    "to_code",
    "class_code",
    "validate_params",
    "as_logits",
    "compare",
    "values_figure",
    "maps_figure",
    "focal_pitfall",
    "saturation_table",
]

# Canonical names, custom losses first, then torch built-ins (BCEWithLogits, MSE, L1, SmoothL1, Huber).
NAMES = ("dice", "iou", "dice_bce", "focal", "bce", "mse", "l1", "smooth_l1", "huber")
LABELS = {
    "dice": "Dice",
    "iou": "IoU (Jaccard)",
    "dice_bce": "Dice + BCE",
    "focal": "Focal",
    "bce": "BCEWithLogits",
    "mse": "MSE (on sigmoid)",
    "l1": "L1 (on sigmoid)",
    "smooth_l1": "SmoothL1 (on sigmoid)",
    "huber": "Huber (on sigmoid)",
}
MODES = ("binary", "multiclass")

# Spellings people use for the same loss, after lower-casing and dropping non-alphanumerics and a trailing "loss".
_ALIASES = {
    "dice": "dice",
    "iou": "iou",
    "jaccard": "iou",
    "dicebce": "dice_bce",
    "bcedice": "dice_bce",
    "focal": "focal",
    "bce": "bce",
    "bcewithlogits": "bce",
    "mse": "mse",
    "l2": "mse",
    "l1": "l1",
    "mae": "l1",
    "smoothl1": "smooth_l1",
    "huber": "huber",
}


@dataclass(frozen=True)
class Param:
    """One keyword argument of a loss: default and accepted range (`low_open`: low itself is refused)."""

    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    optional: bool = False  # None is accepted (alpha: no class weighting)
    choices: tuple[str, ...] | None = None


_SMOOTH = Param(1.0, "added to numerator and denominator: an empty mask predicted empty scores 1", low=0.0)
_MODE = Param("binary", "binary: sigmoid per pixel; multiclass: softmax over channel 1", choices=MODES)
PARAMS: dict[str, dict[str, Param]] = {
    "dice": {"smooth": _SMOOTH, "mode": _MODE},
    "iou": {"smooth": _SMOOTH, "mode": _MODE},
    "dice_bce": {"smooth": _SMOOTH, "mode": _MODE},
    "focal": {
        "alpha": Param(0.25, "weight of the positive class (1 - alpha for the negative); None: no weighting",
                       low=0.0, high=1.0, optional=True),
        "gamma": Param(2.0, "focusing exponent: (1 - p_t) ** gamma; 0 gives (alpha-weighted) BCE", low=0.0),
        "mode": _MODE,
    },
    "bce": {},
    "mse": {},
    "l1": {},
    "smooth_l1": {"beta": Param(1.0, "where the quadratic part turns linear", low=0.0)},
    "huber": {"delta": Param(1.0, "where the quadratic part turns linear", low=0.0, low_open=True)},
}


# ---------------------------------------------------------------------------------------------- validation


def canonical(name: str) -> str:
    """The canonical name in `NAMES` for any accepted spelling; LabError for an unknown one."""
    check_plain(name, "loss")  # quoted and str()-ed below: bounded first (a list nested 10,000 deep cannot be)
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    if key.endswith("loss") and key != "loss":
        key = key[: -len("loss")]
    if key not in _ALIASES:
        raise LabError(f"Loss {shown(name)} is not known; choose one of {', '.join(NAMES)}.")
    return _ALIASES[key]


def _check(loss: str, field: str, value: Any) -> Any:
    """`value` if it is accepted for `field` of `loss`, else LabError naming field, value and range."""
    spec = PARAMS[loss][field]
    check_plain(value, field)  # bounded before it is quoted: depth, size, digits (float() fails past 308)
    if spec.choices is not None:
        if value not in spec.choices:
            raise LabError(f"{field} = {shown(value)} is not accepted; use one of {', '.join(spec.choices)}.")
        return value
    if value is None and spec.optional:
        return None
    bounds = []
    if spec.low is not None:
        bounds.append(f"> {spec.low:g}" if spec.low_open else f">= {spec.low:g}")
    if spec.high is not None:
        bounds.append(f"<= {spec.high:g}")
    accepted = "a number " + " and ".join(bounds) + (" (or None)" if spec.optional else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LabError(f"{field} = {shown(value)} is not accepted; use {accepted}.")
    too_low = spec.low is not None and (value <= spec.low if spec.low_open else value < spec.low)
    too_high = spec.high is not None and value > spec.high
    if too_low or too_high:
        raise LabError(f"{field} = {value:g} is not accepted; use {accepted}.")
    return float(value)


def _validated(loss: str, params: dict[str, Any]) -> dict[str, Any]:
    check_plain(params, f"{loss} parameters")
    unknown = sorted(set(params) - set(PARAMS[loss]), key=str)
    if unknown:
        takes = ", ".join(PARAMS[loss]) or "no parameters"
        named = ", ".join(shown(k) for k in unknown[:3])
        raise LabError(f"Loss {shown(loss)} does not take {named}; it takes {takes}.")
    return {field: _check(loss, field, value) for field, value in params.items()}


# ------------------------------------------------------------------------------------------ tensor helpers


def _float(x: Tensor) -> Tensor:
    # at least float32: bf16/fp16 logits from an autocast model would round sums over 10^5 pixels
    return x.to(torch.promote_types(x.dtype, torch.float32)) if x.is_floating_point() else x.float()


def _binary_pair(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(logits, targets) as floats of one shape: targets (N, H, W) meet logits (N, 1, H, W)."""
    squeezed = logits.dim() == targets.dim() + 1 and logits.shape[1] == 1
    if squeezed and logits.shape[:1] + logits.shape[2:] == targets.shape:
        targets = targets.unsqueeze(1)
    if logits.shape != targets.shape:
        raise LabError(
            f"Binary losses need logits and targets of one shape (or logits (N, 1, H, W) with targets (N, H, W)); "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    x = _float(logits)
    return x, targets.to(x.dtype)


def _multiclass_pair(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(logits as float (N, C, ...), targets as int64 (N, ...)) after checking shapes and class range."""
    if logits.dim() < 2 or logits.shape[1] < 2 or logits.shape[:1] + logits.shape[2:] != targets.shape:
        raise LabError(
            f"Multiclass losses need logits (N, C, H, W) with C >= 2 and integer targets (N, H, W); "
            f"got {tuple(logits.shape)} and {tuple(targets.shape)}."
        )
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise LabError(f"Multiclass targets must be integer class indices; got dtype {targets.dtype}.")
    n_classes = logits.shape[1]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        raise LabError(
            f"Multiclass targets must lie in [0, {n_classes - 1}]; got values from {int(targets.min())} "
            f"to {int(targets.max())}."
        )
    return _float(logits), targets.long()


def _overlaps(logits: Tensor, targets: Tensor, mode: str) -> tuple[Tensor, Tensor, Tensor]:
    """(intersection, sum of p, sum of t): scalars in binary mode, one per class (C,) in multiclass mode."""
    if mode == "binary":
        x, t = _binary_pair(logits, targets)
        p = torch.sigmoid(x)
        return (p * t).sum(), p.sum(), t.sum()
    x, y = _multiclass_pair(logits, targets)
    p = x.softmax(dim=1)  # (N, C, ...)
    t = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(p.dtype)  # (N, ...) -> (N, C, ...)
    dims = [0, *range(2, p.dim())]  # everything but the class axis: pooled over the batch
    return (p * t).sum(dims), p.sum(dims), t.sum(dims)


def _cross_entropy(logits: Tensor, targets: Tensor, mode: str, reduction: str = "none") -> tuple[Tensor, Tensor | None]:
    """Cross-entropy from logits (per element, or reduced in the same kernel), and the float targets (binary)
    or None (multiclass)."""
    if mode == "binary":
        x, t = _binary_pair(logits, targets)
        return F.binary_cross_entropy_with_logits(x, t, reduction=reduction), t
    x, y = _multiclass_pair(logits, targets)
    return F.cross_entropy(x, y, reduction=reduction), None


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


# ------------------------------------------------------------------------------------------------- losses


class DiceLoss(nn.Module):
    """1 - Dice, pooled over the batch.

    binary:     p = sigmoid(x);  L = 1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)
    multiclass: p = softmax(x, dim=1), t = one_hot(y) moved to dim 1, every sum over all dims but 1 (one per
                class c);  L = 1 - (1 / C) * sum_c (2 * sum(p_c * t_c) + smooth) / (sum(p_c) + sum(t_c) + smooth)
    Binary equals MONAI's DiceLoss(sigmoid=True, batch=True, smooth_nr=smooth_dr=smooth).
    """

    def __init__(self, smooth: float = 1.0, *, mode: str = "binary"):
        super().__init__()
        checked = _validated("dice", {"smooth": smooth, "mode": mode})
        self.smooth, self.mode = checked["smooth"], checked["mode"]

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        inter, sum_p, sum_t = _overlaps(logits, targets, self.mode)
        dice = (2 * inter + self.smooth) / (sum_p + sum_t + self.smooth)
        return 1 - (dice.mean() if dice.dim() else dice)  # multiclass: mean over classes

    def extra_repr(self) -> str:
        return f"smooth={self.smooth:g}, mode={self.mode!r}"


class IoULoss(nn.Module):
    """1 - IoU (Jaccard), pooled over the batch.

    binary:     L = 1 - (sum(p * t) + smooth) / (sum(p) + sum(t) - sum(p * t) + smooth),  p = sigmoid(x)
    multiclass: the same per class c on softmax probabilities and one-hot targets, then 1 - mean over classes.
    """

    def __init__(self, smooth: float = 1.0, *, mode: str = "binary"):
        super().__init__()
        checked = _validated("iou", {"smooth": smooth, "mode": mode})
        self.smooth, self.mode = checked["smooth"], checked["mode"]

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        inter, sum_p, sum_t = _overlaps(logits, targets, self.mode)
        iou = (inter + self.smooth) / (sum_p + sum_t - inter + self.smooth)
        return 1 - (iou.mean() if iou.dim() else iou)  # multiclass: mean over classes

    def extra_repr(self) -> str:
        return f"smooth={self.smooth:g}, mode={self.mode!r}"


class DiceBCELoss(nn.Module):
    """mean cross-entropy from logits + DiceLoss(smooth).

    binary: binary_cross_entropy_with_logits(x, t) (mean over elements) + DiceLoss;
    multiclass: cross_entropy(x, y) (mean over pixels) + multiclass DiceLoss.
    """

    def __init__(self, smooth: float = 1.0, *, mode: str = "binary"):
        super().__init__()
        checked = _validated("dice_bce", {"smooth": smooth, "mode": mode})
        self.mode = checked["mode"]
        self.dice = DiceLoss(checked["smooth"], mode=self.mode)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        ce, _ = _cross_entropy(logits, targets, self.mode, reduction="mean")
        return ce + self.dice(logits, targets)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., RetinaNet), the focal factor on every element.

    binary:     bce = binary_cross_entropy_with_logits(x, t, reduction="none"), p_t = exp(-bce),
                alpha_t = alpha * t + (1 - alpha) * (1 - t);  L = mean(alpha_t * (1 - p_t) ** gamma * bce)
                (as segmentation_models_pytorch's binary focal loss; alpha=None: alpha_t = 1)
    multiclass: ce = cross_entropy(x, y, reduction="none"), p_t = exp(-ce);  L = mean(alpha * (1 - p_t) ** gamma * ce)
                (softmax focal loss; alpha is then one scalar weight, None meaning 1)
    `reduction` as in torch: "mean" (default), "sum" or "none" (per-element map, for heat maps).
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0, *, mode: str = "binary",
                 reduction: str = "mean"):
        super().__init__()
        checked = _validated("focal", {"alpha": alpha, "gamma": gamma, "mode": mode})
        self.alpha, self.gamma, self.mode = checked["alpha"], checked["gamma"], checked["mode"]
        if reduction not in ("mean", "sum", "none"):
            raise LabError(f"reduction = {shown(reduction)} is not accepted; use mean, sum or none.")
        self.reduction = reduction

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        ce, t = _cross_entropy(logits, targets, self.mode)
        base = -torch.expm1(-ce)  # 1 - p_t, precise for confident pixels (p_t near 1)
        if 0 < self.gamma < 1:
            # d base**gamma / d base is infinite at base 0 for gamma < 1 (0 * inf = nan in the chain rule);
            # the clamp keeps it finite without changing the value: tiny ** gamma * ce ~ 0
            base = base.clamp_min(torch.finfo(ce.dtype).tiny)
        loss = (base.square() if self.gamma == 2 else base**self.gamma) * ce  # square: cheaper than pow
        if self.alpha is not None and t is not None:
            # alpha_t = alpha * t + (1 - alpha) * (1 - t), in one pass over t (which needs no gradient)
            loss = loss * t.mul(2 * self.alpha - 1).add_(1 - self.alpha)
        elif self.alpha is not None:
            loss = loss * self.alpha
        return _reduce(loss, self.reduction)

    def extra_repr(self) -> str:
        alpha = "None" if self.alpha is None else f"{self.alpha:g}"
        return f"alpha={alpha}, gamma={self.gamma:g}, mode={self.mode!r}"


class BuiltinLoss(nn.Module):
    """A torch built-in loss taking logits like the losses above.

    Targets (N, H, W) meet logits (N, 1, H, W) and become floats; BCEWithLogits gets the logits, the regression
    losses (MSE, L1, SmoothL1, Huber) compare sigmoid(logits) with the mask: regressing raw logits onto 0/1
    would leave background pixels at logit 0, probability 0.5.
    """

    def __init__(self, loss: nn.Module, *, sigmoid: bool):
        super().__init__()
        self.loss, self.sigmoid = loss, sigmoid

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        x, t = _binary_pair(logits, targets)
        return self.loss(torch.sigmoid(x) if self.sigmoid else x, t)

    def extra_repr(self) -> str:
        return f"sigmoid={self.sigmoid}"


# ------------------------------------------------------------------------------------ the tutorial's own


def _tutorial_classes() -> dict[str, type[nn.Module]]:
    """The four classes of tutorial 6.1.2 as printed; only the tab before DiceLoss.forward is fixed."""

    class DiceLoss(nn.Module):
        def __init__(self,weight=None,size_average=True):
            super(DiceLoss,self).__init__()  # noqa: UP008 - as printed

        def forward(self,inputs,targets,smooth=1):
            inputs = F.sigmoid(inputs)
            inputs = inputs.view(-1)
            targets = targets.view(-1)
            intersection = (inputs * targets).sum()
            dice = (2.*intersection + smooth)/(inputs.sum() + targets.sum() + smooth)
            return 1 - dice

    class DiceBCELoss(nn.Module):
        def __init__(self, weight=None, size_average=True):
            super(DiceBCELoss, self).__init__()  # noqa: UP008 - as printed

        def forward(self, inputs, targets, smooth=1):
            inputs = F.sigmoid(inputs)
            inputs = inputs.view(-1)
            targets = targets.view(-1)
            intersection = (inputs * targets).sum()
            dice_loss = 1 - (2.*intersection + smooth)/(inputs.sum() + targets.sum() + smooth)
            BCE = F.binary_cross_entropy(inputs, targets, reduction='mean')
            Dice_BCE = BCE + dice_loss

            return Dice_BCE

    class IoULoss(nn.Module):
        def __init__(self, weight=None, size_average=True):
            super(IoULoss, self).__init__()  # noqa: UP008 - as printed

        def forward(self, inputs, targets, smooth=1):
            inputs = F.sigmoid(inputs)
            inputs = inputs.view(-1)
            targets = targets.view(-1)
            intersection = (inputs * targets).sum()
            total = (inputs + targets).sum()
            union = total - intersection

            IoU = (intersection + smooth)/(union + smooth)

            return 1 - IoU

    ALPHA = 0.8
    GAMMA = 2

    class FocalLoss(nn.Module):
        def __init__(self, weight=None, size_average=True):
            super(FocalLoss, self).__init__()  # noqa: UP008 - as printed

        def forward(self, inputs, targets, alpha=ALPHA, gamma=GAMMA, smooth=1):
            inputs = F.sigmoid(inputs)
            inputs = inputs.view(-1)
            targets = targets.view(-1)
            BCE = F.binary_cross_entropy(inputs, targets, reduction='mean')
            BCE_EXP = torch.exp(-BCE)
            focal_loss = alpha * (1-BCE_EXP)**gamma * BCE

            return focal_loss

    return {"dice": DiceLoss, "dice_bce": DiceBCELoss, "iou": IoULoss, "focal": FocalLoss}


# name -> the tutorial's class (instantiate with no arguments; smooth/alpha/gamma are forward() keywords there)
TUTORIAL: dict[str, type[nn.Module]] = _tutorial_classes()


@functools.cache
def tutorial_code(name: str) -> str:
    """The tutorial's class for `name` as source text (indentation fixed, everything else as printed)."""
    key = canonical(name)
    if key not in TUTORIAL:
        raise LabError(f"The tutorial has no class for {shown(name)}; it has {', '.join(TUTORIAL)}.")
    source = textwrap.dedent(inspect.getsource(TUTORIAL[key])).replace("  # noqa: UP008 - as printed", "")
    if key == "focal":  # its defaults are module constants in the tutorial
        source = "ALPHA = 0.8\nGAMMA = 2\n\n" + source
    return source


# ----------------------------------------------------------------------------------------------- registry


def validate_params(**params: Any) -> dict[str, Any]:
    """Check the tab's shared parameters (smooth, alpha, gamma, beta, delta) against the first loss taking each."""
    checked = {}
    check_plain(params, "loss parameters")
    for field, value in params.items():
        owner = next((name for name in NAMES if field in PARAMS[name]), None)
        if owner is None:
            raise LabError(f"No loss takes a parameter {shown(field)}.")
        checked[field] = _check(owner, field, value)
    return checked


def params_for(name: str, **params: Any) -> dict[str, Any]:
    """The subset of `params` that loss `name` takes (the tab holds smooth, alpha, gamma for all losses)."""
    return {k: v for k, v in params.items() if k in PARAMS[canonical(name)]}


def get(name: str, **params: Any) -> nn.Module:
    """The loss `name` (any spelling `canonical` accepts) with keyword parameters from `PARAMS[name]`."""
    key = canonical(name)
    checked = _validated(key, params)
    if key == "dice":
        return DiceLoss(**checked)
    if key == "iou":
        return IoULoss(**checked)
    if key == "dice_bce":
        return DiceBCELoss(**checked)
    if key == "focal":
        return FocalLoss(**checked)
    if key == "bce":
        return BuiltinLoss(nn.BCEWithLogitsLoss(), sigmoid=False)
    if key == "mse":
        return BuiltinLoss(nn.MSELoss(), sigmoid=True)
    if key == "l1":
        return BuiltinLoss(nn.L1Loss(), sigmoid=True)
    if key == "smooth_l1":
        return BuiltinLoss(nn.SmoothL1Loss(**checked), sigmoid=True)
    return BuiltinLoss(nn.HuberLoss(**checked), sigmoid=True)


def pixel_losses(
    logits: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0
) -> dict[str, Tensor]:
    """Per-element binary losses for heat maps: {"bce": ..., "focal": ...}, each the shape of the logits."""
    x, t = _binary_pair(logits, targets)
    return {
        "bce": F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        "focal": FocalLoss(alpha, gamma, reduction="none")(x, t),
    }


# ------------------------------------------------------------------------------------------------ curves


def curves(names: list[str], *, points: int = 201, **params: Any) -> pd.DataFrame:
    """Each loss on one pixel and d loss / d logit as the predicted probability p sweeps (0, 1), targets 1 and 0.

    Columns: loss (canonical name), target, p, logit, value, grad. `params` hold smooth/alpha/gamma/...; each loss
    takes the ones it knows. p runs over `points` values from 0.001 to 0.999 (logits about -6.9 to 6.9).
    """
    if not names:
        raise LabError("No loss chosen; pick at least one loss to draw.")
    if not 2 <= points <= 5001:
        raise LabError(f"points = {points} is not accepted; use 2 to 5001.")
    keys = list(dict.fromkeys(canonical(n) for n in names))
    device = pick_device()
    dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    p = torch.linspace(1e-3, 1 - 1e-3, points, dtype=dtype, device=device)
    z = torch.logit(p).requires_grad_()
    frames = []
    for key in keys:
        criterion = get(key, **params_for(key, **params))
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


def curves_figure(df: pd.DataFrame) -> go.Figure:
    """2 x 2 grid: value (top) and gradient (bottom) against p, for target 1 (left) and target 0 (right)."""
    fig = figure("Loss on one pixel and its gradient as the prediction sweeps 0 → 1", height=560)
    fig.set_subplots(2, 2, shared_xaxes=True, vertical_spacing=0.1, horizontal_spacing=0.08,
                     subplot_titles=("target = 1: loss", "target = 0: loss", "d loss / d logit", "d loss / d logit"))
    traces, rows, cols = [], [], []
    for i, (key, part) in enumerate(df.groupby("loss", sort=False)):
        for col, target in ((1, 1), (2, 0)):
            curve = part[part["target"] == target]
            for row, field in ((1, "value"), (2, "grad")):
                traces.append(go.Scatter(
                    x=curve["p"].to_numpy(), y=curve[field].to_numpy(), name=LABELS[key], legendgroup=key,
                    mode="lines", line={"color": color(i)}, showlegend=(row == 1 and col == 1),
                    hovertemplate=f"{LABELS[key]}: %{{y:.4g}}<extra></extra>",
                ))
                rows.append(row)
                cols.append(col)
    fig.add_traces(traces, rows=rows, cols=cols)  # one call: plotly validates per call, and that is the cost
    fig.update_layout(
        legend={"y": 1.06},
        xaxis3={"title": {"text": "predicted probability p = sigmoid(logit)"}},
        xaxis4={"title": {"text": "predicted probability p = sigmoid(logit)"}},
        yaxis={"title": {"text": "loss"}},
        yaxis3={"title": {"text": "gradient"}},
    )
    return fig


# ------------------------------------------------------------------------------------------- degradations

DEGRADATIONS = ("blur", "shift", "erode", "dilate", "noise")
MAX_PIXELS = 24  # amount 1.0 means this many pixels for the geometric degradations
PROB_EPS = 1e-4  # probabilities are clamped to [eps, 1 - eps] before the logit: logits within about +-9.2


def degrade(mask: Tensor, kind: str, amount: float, *, seed: int = 0) -> Tensor:
    """A prediction (probabilities, the mask's shape (N, 1, H, W)) made from the true mask, `amount` in [0, 1].

    blur: box mean over a (2r+1)^2 window; shift: roll by r pixels right and down (wrapping round);
    erode / dilate: min / max over a (2r+1)^2 window; with r = round(amount * MAX_PIXELS).
    noise: (1 - amount) * mask + amount * uniform noise (seeded).
    """
    if kind not in DEGRADATIONS:
        raise LabError(f"Degradation {shown(kind)} is not known; use one of {', '.join(DEGRADATIONS)}.")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0 <= amount <= 1:
        raise LabError(f"amount = {shown(amount)} is not accepted; use a number from 0 to 1.")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise LabError(f"The mask must have shape (N, 1, H, W); got {tuple(mask.shape)}.")
    m = _float(mask)
    r = round(amount * MAX_PIXELS)
    k = 2 * r + 1
    if kind == "blur":
        return F.avg_pool2d(m, k, stride=1, padding=r, count_include_pad=False)
    if kind == "shift":
        return torch.roll(m, shifts=(r, r), dims=(-2, -1))
    if kind == "erode":
        return 1 - F.max_pool2d(1 - m, k, stride=1, padding=r)
    if kind == "dilate":
        return F.max_pool2d(m, k, stride=1, padding=r)
    generator = torch.Generator(device=m.device).manual_seed(seed)
    noise = torch.rand(m.shape, generator=generator, device=m.device, dtype=m.dtype)
    return (1 - amount) * m + amount * noise


def degrade_code(kind: str, amount: float, *, seed: int = 0) -> str:
    """The lines that `degrade` runs, as code turning `mask` (1, 1, H, W) into `probs`."""
    degrade(torch.zeros(1, 1, 1, 1), kind, amount)  # validates
    r = round(amount * MAX_PIXELS)
    k = 2 * r + 1
    return {
        "blur": f"probs = F.avg_pool2d(mask, {k}, stride=1, padding={r}, count_include_pad=False)  # blur by {r} px",
        "shift": f"probs = torch.roll(mask, shifts=({r}, {r}), dims=(-2, -1))  # shift by {r} px right and down",
        "erode": f"probs = 1 - F.max_pool2d(1 - mask, {k}, stride=1, padding={r})  # erode by {r} px",
        "dilate": f"probs = F.max_pool2d(mask, {k}, stride=1, padding={r})  # dilate by {r} px",
        "noise": (f"noise = torch.rand(mask.shape, generator=torch.Generator(device=mask.device).manual_seed({seed}),"
                  f" device=mask.device)\nprobs = {1 - amount!r} * mask + {amount!r} * noise"),
    }[kind]


def mask_setup_code(sample: str, source: str, amount: float) -> str:
    """Code defining `logits` and `targets` (1, 1, H, W) as the "On a mask" view builds them.

    `source` is one of DEGRADATIONS (applied to the true mask with `amount`) or "unet" (the shipped U-Net).
    """
    lines = [
        "from lab.segment import samples",
        "",
        f"sample = {{s.name: s for s in samples()}}[{sample!r}]",
        "mask = torch.from_numpy(sample.mask.copy()).float()[None, None]  # (1, 1, H, W) true mask",
    ]
    if source == "unet":
        lines += [
            "from lab.segment import pretrained, segment",
            "",
            "probs = torch.from_numpy(segment(pretrained(), sample.image).prob)[None, None]  # the U-Net's prediction",
        ]
    else:
        lines.append(degrade_code(source, amount))
    lines += [
        f"logits = torch.logit(probs.clamp({PROB_EPS!r}, 1 - {PROB_EPS!r}))  # what a model would output",
        "targets = mask",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ code export

_CLASS_CODE = {
    "dice": '''
class DiceLoss(nn.Module):
    """1 - Dice of sigmoid(logits) and the mask, pooled over the whole batch."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits, targets):
        p = torch.sigmoid(logits)
        t = targets.to(p.dtype)
        intersection = (p * t).sum()  # plain sums: no .view(-1), which fails on non-contiguous tensors
        dice = (2 * intersection + self.smooth) / (p.sum() + t.sum() + self.smooth)
        return 1 - dice
''',
    "iou": '''
class IoULoss(nn.Module):
    """1 - IoU (Jaccard) of sigmoid(logits) and the mask, pooled over the whole batch."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits, targets):
        p = torch.sigmoid(logits)
        t = targets.to(p.dtype)
        intersection = (p * t).sum()
        union = p.sum() + t.sum() - intersection
        return 1 - (intersection + self.smooth) / (union + self.smooth)
''',
    "dice_bce": '''
class DiceBCELoss(nn.Module):
    """BCE from logits (stable, autocast-safe) + Dice loss."""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits, targets):
        t = targets.to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, t)  # not sigmoid + binary_cross_entropy
        p = torch.sigmoid(logits)
        intersection = (p * t).sum()
        dice = (2 * intersection + self.smooth) / (p.sum() + t.sum() + self.smooth)
        return bce + 1 - dice
''',
    "focal": '''
class FocalLoss(nn.Module):
    """Focal loss (RetinaNet): the focal factor on every pixel, then the mean."""

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits, targets):
        t = targets.to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")  # per pixel
        p_t = torch.exp(-bce)  # probability given to the true class
        loss = (1 - p_t) ** self.gamma * bce  # easy pixels (p_t near 1) count little
        if self.alpha is not None:
            loss = loss * (self.alpha * t + (1 - self.alpha) * (1 - t))
        return loss.mean()
''',
}
_BUILTIN_CODE = {
    "bce": ("nn.BCEWithLogitsLoss()", False),
    "mse": ("nn.MSELoss()", True),
    "l1": ("nn.L1Loss()", True),
    "smooth_l1": ("nn.SmoothL1Loss(beta={beta!r})", True),
    "huber": ("nn.HuberLoss(delta={delta!r})", True),
}
_CLASS_NAMES = {"dice": "DiceLoss", "iou": "IoULoss", "dice_bce": "DiceBCELoss", "focal": "FocalLoss"}


def class_code(name: str) -> str:
    """The corrected class for a custom loss (binary), as `to_code` writes it; LabError for a built-in."""
    key = canonical(name)
    if key not in _CLASS_CODE:
        raise LabError(f"{LABELS[key]} is a torch built-in; classes are written for {', '.join(_CLASS_CODE)}.")
    return _CLASS_CODE[key].strip("\n") + "\n"


def to_code(name: str, params: dict[str, Any] | None = None, *, setup: str | None = None) -> str:
    """Runnable code: the loss `name` (binary, standalone class or torch built-in) called on the tensors of `setup`.

    `setup` is code that defines `logits` and `targets` (same shape); by default a seeded random 1 x 1 x 8 x 8
    example. The code ends with `loss` holding the value and prints it.
    """
    key = canonical(name)
    checked = {f: spec.default for f, spec in PARAMS[key].items() if f != "mode"}
    checked.update(_validated(key, dict(params or {})))
    if checked.pop("mode", "binary") != "binary":
        raise LabError("The code panel writes binary losses only; use mode='binary'.")
    if setup is None:
        setup = (
            "torch.manual_seed(0)\n"
            "logits = torch.randn(1, 1, 8, 8) * 3  # (N, 1, H, W) raw model outputs\n"
            "targets = (torch.rand(1, 1, 8, 8) > 0.5).float()  # the true mask"
        )
    lines = ["import torch", "import torch.nn.functional as F", "from torch import nn", ""]
    if key in _CLASS_CODE:
        lines.append(_CLASS_CODE[key].strip("\n"))
        args = ", ".join(f"{f}={v!r}" for f, v in checked.items())
        construct = f"{_CLASS_NAMES[key]}({args})"
        call = "criterion(logits, targets)"
    else:
        template, sigmoid = _BUILTIN_CODE[key]
        construct = template.format(**checked)
        call = ("criterion(torch.sigmoid(logits), targets)  # compare probabilities, not raw logits, with the mask"
                if sigmoid else "criterion(logits, targets)")
    lines += ["", setup.strip("\n"), "", f"criterion = {construct}", f"loss = {call}"]
    lines.append('print(f"loss = {loss.item():.6f}")')
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------- on a mask


def as_logits(probs: Tensor) -> Tensor:
    """Probabilities -> logits, clamped to [PROB_EPS, 1 - PROB_EPS] first so a perfect prediction stays finite."""
    return torch.logit(_float(probs).clamp(PROB_EPS, 1 - PROB_EPS))


def compare(logits: Tensor, targets: Tensor, names: tuple[str, ...] | list[str] = NAMES, **params: Any) -> pd.DataFrame:
    """Every loss in `names` on (logits, targets), beside the tutorial's version where there is one.

    Columns: loss (canonical name), label, value, tutorial (NaN where the tutorial has no such class). The
    tutorial's classes get the same smooth/alpha/gamma through their forward() keywords (alpha None -> 1).
    """
    keys = list(dict.fromkeys(canonical(n) for n in names))
    if not keys:
        raise LabError("No loss chosen; pick at least one loss to compare.")
    checked = validate_params(**params)
    tutorial_kw = {
        "dice": {"smooth": checked.get("smooth", 1.0)},
        "iou": {"smooth": checked.get("smooth", 1.0)},
        "dice_bce": {"smooth": checked.get("smooth", 1.0)},
        "focal": {"alpha": 1.0 if checked.get("alpha", 0.25) is None else checked.get("alpha", 0.25),
                  "gamma": checked.get("gamma", 2.0)},
    }
    rows = []
    with torch.no_grad():
        for key in keys:
            value = get(key, **params_for(key, **checked))(logits, targets).item()
            tutorial = float("nan")
            if key in TUTORIAL:
                x, t = _binary_pair(logits, targets)
                tutorial = TUTORIAL[key]()(x.contiguous(), t.contiguous(), **tutorial_kw[key]).item()
            rows.append({"loss": key, "label": LABELS[key], "value": value, "tutorial": tutorial})
    return pd.DataFrame(rows)


def values_figure(df: pd.DataFrame) -> go.Figure:
    """Bars of `compare`'s values, the tutorial's versions beside them."""
    fig = figure("Every loss on this prediction", y="loss value", height=340)
    fig.add_trace(go.Bar(x=df["label"], y=df["value"], name="lab (corrected)", marker_color=color(0),
                         hovertemplate="%{x}: %{y:.5g}<extra>lab</extra>"))
    has = df["tutorial"].notna()
    fig.add_trace(go.Bar(x=df.loc[has, "label"], y=df.loc[has, "tutorial"], name="tutorial's class",
                         marker_color=color(1), hovertemplate="%{x}: %{y:.5g}<extra>tutorial</extra>"))
    fig.update_layout(barmode="group", hovermode="closest")
    return fig


def _png_data_uri(image) -> str:
    """An RGB uint8 HxWx3 array as a PNG data URI: a fraction of the bytes of plotly's nested-list `z`."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


MAX_MAP_SIDE = 128  # heat maps are mean-pooled to at most this many cells a side (keeps the page light)


def maps_figure(image, probs: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0) -> go.Figure:
    """1 x 4: the image with the true mask (RGB uint8 HxWx3 overlay), the prediction, per-pixel BCE, per-pixel Focal.

    `probs` and `targets` are (1, 1, H, W); maps larger than MAX_MAP_SIDE are mean-pooled for display.
    """
    maps = pixel_losses(as_logits(probs), targets, alpha=alpha, gamma=gamma)
    h, w = probs.shape[-2:]
    k = max(1, math.ceil(max(h, w) / MAX_MAP_SIDE))
    pooled = {name: F.avg_pool2d(m.detach().float(), k)[0, 0].cpu().numpy() for name, m in
              (("p", _float(probs)), ("bce", maps["bce"]), ("focal", maps["focal"]))}
    note = f" (mean of {k}x{k} px)" if k > 1 else ""
    fig = figure(f"True mask, prediction and per-pixel loss{note}", height=330, legend=False)
    fig.set_subplots(1, 4, horizontal_spacing=0.03,
                     subplot_titles=("image + true mask", "prediction p", "BCE per pixel", "Focal per pixel"))
    traces = [go.Image(source=_png_data_uri(image), hovertemplate="x %{x}, y %{y}<extra></extra>")]
    bars = {"p": 0.485, "bce": 0.74, "focal": 0.995}  # colour bars right of panels 2-4
    scales = {"p": "Gray", "bce": "Inferno", "focal": "Inferno"}
    for name in ("p", "bce", "focal"):
        traces.append(go.Heatmap(
            z=pooled[name], colorscale=scales[name], x0=k / 2 - 0.5, dx=k, y0=k / 2 - 0.5, dy=k,
            colorbar={"x": bars[name], "len": 0.8, "thickness": 10},
            hovertemplate=f"x %{{x}}, y %{{y}}: {name} %{{z:.4g}}<extra></extra>",
        ))
    fig.add_traces(traces, rows=[1] * 4, cols=[1, 2, 3, 4])  # one call each: plotly validates per call
    axes = {}
    for suffix in ("", "2", "3", "4"):
        axes[f"xaxis{suffix}"] = {"showticklabels": False, "showgrid": False}
        axes[f"yaxis{suffix}"] = {"autorange": "reversed", "scaleanchor": f"x{suffix}", "showticklabels": False,
                                  "showgrid": False}
    fig.update_layout(hovermode="closest", **axes)
    return fig


def focal_pitfall(logits: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0,
                  points: int = 400) -> tuple[go.Figure, pd.DataFrame]:
    """Where the gradient comes from: the share of total |d loss / d logit| held by pixels with p_t <= x.

    The tutorial's FocalLoss puts the focal factor on the batch-mean BCE, a scalar: its gradient is BCE's times
    one number, so its curve equals BCE's. The corrected focal loss moves the gradient to hard pixels (small p_t):
    its curve rises earlier. Returns the figure and a table of values (BCE, tutorial's focal, their ratio,
    corrected focal).
    """
    checked = validate_params(alpha=alpha, gamma=gamma)
    x, t = _binary_pair(logits, targets)
    x = x.detach().contiguous().requires_grad_()
    tutorial_alpha = 1.0 if checked["alpha"] is None else checked["alpha"]
    candidates = {
        "BCE (mean)": lambda: F.binary_cross_entropy_with_logits(x, t),
        "tutorial's FocalLoss": lambda: TUTORIAL["focal"]()(x, t, alpha=tutorial_alpha, gamma=checked["gamma"]),
        "FocalLoss (per pixel)": lambda: FocalLoss(checked["alpha"], checked["gamma"])(x, t),
    }
    with torch.no_grad():
        p_t = torch.where(t > 0.5, torch.sigmoid(x), torch.sigmoid(-x)).reshape(-1)
    order = torch.argsort(p_t)
    pick = torch.linspace(0, order.numel() - 1, min(points, order.numel()), device=order.device).round().long()
    fig = figure("Where the gradient comes from: pixels sorted from wrong to right", y="share of total |gradient|",
                 x="p_t (probability given to the true class): pixels with p_t at most this", height=360)
    values = {}
    for i, (name, fn) in enumerate(candidates.items()):
        loss = fn()
        (grad,) = torch.autograd.grad(loss, x)
        size = grad.abs().reshape(-1)[order].to(torch.float64)  # in float64: cumulative sums over 10^5 pixels
        share = size.cumsum(0) / size.sum().clamp_min(torch.finfo(size.dtype).tiny)
        values[name] = loss.item()
        fig.add_trace(go.Scatter(
            x=p_t[order][pick].cpu().numpy(), y=share[pick].cpu().numpy(), name=name, mode="lines",
            line={"color": color(i), "dash": "dash" if i == 1 else "solid", "width": 4 if i == 0 else 2},
            hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>",
        ))
    fig.update_yaxes(range=[0, 1.02])
    bce = values["BCE (mean)"]
    table = pd.DataFrame([
        {"quantity": "BCE (mean)", "value": bce},
        {"quantity": "tutorial's FocalLoss", "value": values["tutorial's FocalLoss"]},
        {"quantity": "tutorial's / BCE", "value": values["tutorial's FocalLoss"] / bce if bce else float("nan")},
        {"quantity": "FocalLoss (per pixel)", "value": values["FocalLoss (per pixel)"]},
    ])
    return fig, table


SATURATION_LOGITS = (-200.0, -104.0, -30.0, -17.0, -5.0, 0.0, 5.0, 17.0, 30.0, 104.0)


def saturation_table(dtype: torch.dtype = torch.float32) -> pd.DataFrame:
    """sigmoid + binary_cross_entropy (the tutorial's) against binary_cross_entropy_with_logits at large logits.

    One row per (logit, target): both losses and their gradients d loss / d logit in `dtype`; the exact
    values are softplus(-z) (target 1) or softplus(z) (target 0), gradient sigmoid(z) - target.
    """
    z = torch.tensor(SATURATION_LOGITS, dtype=dtype)
    rows = []
    for target in (1.0, 0.0):
        t = torch.full_like(z, target)
        out = {}
        for name, with_logits in (("sigmoid + BCE", False), ("with logits", True)):
            x = z.clone().requires_grad_()
            if with_logits:
                loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
            else:
                loss = F.binary_cross_entropy(torch.sigmoid(x), t, reduction="none")
            (grad,) = torch.autograd.grad(loss.sum(), x)
            out[name] = (loss.detach(), grad)
        exact = F.softplus(-z if target else z)
        for i, logit in enumerate(SATURATION_LOGITS):
            rows.append({
                "logit": logit, "target": int(target),
                "sigmoid + BCE: loss": out["sigmoid + BCE"][0][i].item(),
                "with logits: loss": out["with logits"][0][i].item(),
                "exact loss": exact[i].item(),
                "sigmoid + BCE: grad": out["sigmoid + BCE"][1][i].item(),
                "with logits: grad": out["with logits"][1][i].item(),
            })
    return pd.DataFrame(rows)
