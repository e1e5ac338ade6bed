"""The losses as the lab runs them: the registry (`NAMES`, `PARAMS`, `get`), the input checks, the multiclass mode,
torch's built-ins taking logits, and `LossSpec`, the loss the Losses tab hands to the Train tab.

`DiceLoss`, `IoULoss`, `DiceBCELoss` and `FocalLoss` here are the readable binary classes of `lab.losses.binary`
plus what a lab needs around them: their parameters checked (`lab.errors`, fields `losses.<name>`), targets
(N, H, W) meeting logits (N, 1, H, W), bf16/fp16 logits summed in float32, and `mode="multiclass"` (softmax over
dim 1, integer targets, one score per class pooled over the batch, then the mean over classes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lab.errors import LabError, Term, choice, fmt, number, shown
from lab.losses import binary

__all__ = [
    "NAMES", "LABELS", "MODES", "PARAMS", "Param", "DiceLoss", "IoULoss", "DiceBCELoss", "FocalLoss", "BuiltinLoss",
    "BUILTINS", "canonical", "get", "params_for", "validate_params", "pixel_losses", "binary_pair", "at_least_float32",
    "LossSpec",
]

# Canonical names, custom losses first, then torch built-ins (BCEWithLogits, MSE, L1, SmoothL1, Huber).
NAMES = ("dice", "iou", "dice_bce", "focal", "bce", "mse", "l1", "smooth_l1", "huber")
# English names for scripts and the API (the page words them from its catalogues: `losses.name.<name>`)
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
REDUCTIONS = ("mean", "sum", "none")
MAX_NAME = 60  # characters of a loss name worth reading

# Spellings people use for the same loss, after lower-casing and dropping non-alphanumerics and a trailing "loss".
_ALIASES = {
    "dice": "dice", "iou": "iou", "jaccard": "iou", "dicebce": "dice_bce", "bcedice": "dice_bce", "focal": "focal",
    "bce": "bce", "bcewithlogits": "bce", "mse": "mse", "l2": "mse", "l1": "l1", "mae": "l1",
    "smoothl1": "smooth_l1", "huber": "huber",
}  # fmt: skip


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
        "gamma": Param(2.0, "focusing exponent: (1 - p_t) ** gamma; 0 gives alpha-weighted BCE", low=0.0),
        "mode": _MODE,
    },
    "bce": {},
    "mse": {},
    "l1": {},
    "smooth_l1": {"beta": Param(1.0, "where the quadratic part turns linear", low=0.0)},
    "huber": {"delta": Param(1.0, "where the quadratic part turns linear", low=0.0, low_open=True)},
}


# ---------------------------------------------------------------------------------------------------------------
# Checks: every refusal through lab.errors, field "losses.<name>"


def canonical(name: Any) -> str:
    """The canonical name in `NAMES` for any accepted spelling ("DiceBCELoss", "dice-bce"); LabError otherwise."""
    if isinstance(name, str) and len(name) <= MAX_NAME:
        key = re.sub(r"[^a-z0-9]", "", name.lower())
        if key.endswith("loss") and key != "loss":
            key = key[: -len("loss")]
        if key in _ALIASES:
            return _ALIASES[key]
    raise LabError("error.value", field="losses.loss", value=shown(name),
                   accepted=Term("losses.accept.loss", names=", ".join(NAMES)))  # fmt: skip


def _accepted(spec: Param) -> Term:
    if spec.low is not None and spec.high is not None:
        term = Term("accept.number_above" if spec.low_open else "accept.number_range", low=fmt(spec.low),
                    high=fmt(spec.high))  # fmt: skip
    elif spec.low is not None:
        term = Term("losses.accept.above" if spec.low_open else "losses.accept.at_least", low=fmt(spec.low))
    else:
        term = Term("accept.number")
    return Term("losses.accept.or_none", accepted=term) if spec.optional else term


def _check(loss: str, field: str, value: Any) -> Any:
    """`value` if it is accepted for `field` of `loss` (a float, None or a choice), else one sentence."""
    spec, where = PARAMS[loss][field], f"losses.{field}"
    if spec.choices is not None:
        return choice(where, value, spec.choices)
    if value is None and spec.optional:
        return None
    try:
        return number(where, value, spec.low, spec.high, low_open=spec.low_open)
    except (LabError, OverflowError):  # OverflowError: an integer too large for a float (10**400)
        raise LabError("error.value", field=where, value=shown(value), accepted=_accepted(spec)) from None


def _validated(loss: str, params: dict[str, Any]) -> dict[str, Any]:
    unknown = [k for k in params if k not in PARAMS[loss]]
    if unknown:
        takes = ", ".join(PARAMS[loss]) or Term("losses.accept.no_params")
        raise LabError("error.losses.unknown_param", loss=loss, names=", ".join(shown(k) for k in unknown[:3]),
                       takes=takes)  # fmt: skip
    return {field: _check(loss, field, value) for field, value in params.items()}


def validate_params(**params: Any) -> dict[str, Any]:
    """Check the tab's shared parameters (smooth, alpha, gamma, beta, delta) against the first loss taking each."""
    checked = {}
    for field, value in params.items():
        owner = next((name for name in NAMES if field in PARAMS[name]), None)
        if owner is None:
            raise LabError("error.losses.no_such_param", name=shown(field))
        checked[field] = _check(owner, field, value)
    return checked


def params_for(name: str, **params: Any) -> dict[str, Any]:
    """The subset of `params` that loss `name` takes (the tab holds smooth, alpha, gamma for all losses)."""
    return {k: v for k, v in params.items() if k in PARAMS[canonical(name)]}


# ---------------------------------------------------------------------------------------------------------------
# Tensors in: binary pairs and multiclass pairs


def at_least_float32(x: Tensor) -> Tensor:
    # at least float32: bf16/fp16 logits from an autocast model would round sums over 10^5 pixels
    return x.to(torch.promote_types(x.dtype, torch.float32)) if x.is_floating_point() else x.float()


def binary_pair(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(logits, targets) as floats of one shape: targets (N, H, W) meet logits (N, 1, H, W)."""
    squeezed = logits.dim() == targets.dim() + 1 and logits.shape[1] == 1
    if squeezed and logits.shape[:1] + logits.shape[2:] == targets.shape:
        targets = targets.unsqueeze(1)
    if logits.shape != targets.shape:
        raise LabError("error.losses.binary_shape", logits=str(tuple(logits.shape)), targets=str(tuple(targets.shape)))
    x = at_least_float32(logits)
    return x, targets.to(x.dtype)


def _multiclass_pair(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """(logits as float (N, C, ...), targets as int64 (N, ...)) after checking shapes and class range."""
    if logits.dim() < 2 or logits.shape[1] < 2 or logits.shape[:1] + logits.shape[2:] != targets.shape:
        raise LabError("error.losses.multiclass_shape", logits=str(tuple(logits.shape)),
                       targets=str(tuple(targets.shape)))  # fmt: skip
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise LabError("error.losses.multiclass_dtype", dtype=str(targets.dtype))
    n_classes = logits.shape[1]
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n_classes):
        raise LabError("error.losses.multiclass_range", high=n_classes - 1, low_seen=int(targets.min()),
                       high_seen=int(targets.max()))  # fmt: skip
    return at_least_float32(logits), targets.long()


def _class_overlaps(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Multiclass (intersection, sum of p, sum of t), one per class (C,), pooled over the batch and the pixels."""
    x, y = _multiclass_pair(logits, targets)
    p = x.softmax(dim=1)  # (N, C, ...)
    t = F.one_hot(y, x.shape[1]).movedim(-1, 1).to(p.dtype)  # (N, ...) -> (N, C, ...)
    dims = [0, *range(2, p.dim())]  # everything but the class axis
    return (p * t).sum(dims), p.sum(dims), t.sum(dims)


# ---------------------------------------------------------------------------------------------------------------
# The losses: the binary classes, checked, with a multiclass mode


class _CheckedOverlap:
    """What Dice and IoU add to their binary classes: checked `smooth` and `mode`, and the multiclass path (one
    overlap score per class, pooled over the batch, then the mean over classes)."""

    key: str  # the loss's name in PARAMS

    def __init__(self, smooth: float = 1.0, *, mode: str = "binary"):
        checked = _validated(self.key, {"smooth": smooth, "mode": mode})
        super().__init__(checked["smooth"])  # the binary class
        self.mode = checked["mode"]

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.mode == "binary":
            return super().forward(*binary_pair(logits, targets))
        return 1 - self.score(*_class_overlaps(logits, targets)).mean()

    def extra_repr(self) -> str:
        return f"smooth={self.smooth:g}, mode={self.mode!r}"


class DiceLoss(_CheckedOverlap, binary.DiceLoss):
    """1 - Dice, pooled over the batch.

    binary:     p = sigmoid(x);  L = 1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)
    multiclass: p = softmax(x, dim=1), t = one_hot(y) moved to dim 1, every sum over all dims but 1 (one per
                class c);  L = 1 - (1 / C) * sum_c (2 * sum(p_c * t_c) + smooth) / (sum(p_c) + sum(t_c) + smooth)
    Binary equals MONAI's DiceLoss(sigmoid=True, batch=True, smooth_nr=smooth_dr=smooth).
    """

    key = "dice"

    def score(self, inter: Tensor, sum_p: Tensor, sum_t: Tensor) -> Tensor:
        return (2 * inter + self.smooth) / (sum_p + sum_t + self.smooth)


class IoULoss(_CheckedOverlap, binary.IoULoss):
    """1 - IoU (Jaccard), pooled over the batch.

    binary:     L = 1 - (sum(p * t) + smooth) / (sum(p) + sum(t) - sum(p * t) + smooth),  p = sigmoid(x)
    multiclass: the same per class c on softmax probabilities and one-hot targets, then 1 - mean over classes.
    """

    key = "iou"

    def score(self, inter: Tensor, sum_p: Tensor, sum_t: Tensor) -> Tensor:
        return (inter + self.smooth) / (sum_p + sum_t - inter + self.smooth)


class DiceBCELoss(binary.DiceBCELoss):
    """mean cross-entropy from logits + DiceLoss(smooth).

    binary: binary_cross_entropy_with_logits(x, t) (mean over elements) + DiceLoss;
    multiclass: cross_entropy(x, y) (mean over pixels) + multiclass DiceLoss.
    """

    def __init__(self, smooth: float = 1.0, *, mode: str = "binary"):
        checked = _validated("dice_bce", {"smooth": smooth, "mode": mode})
        super().__init__(checked["smooth"])
        self.mode = checked["mode"]
        self.dice = DiceLoss(checked["smooth"], mode=self.mode)  # the checked one, with the same mode

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.mode == "binary":
            return super().forward(*binary_pair(logits, targets))
        x, y = _multiclass_pair(logits, targets)
        return F.cross_entropy(x, y) + self.dice(x, y)


class FocalLoss(binary.FocalLoss):
    """Focal loss (Lin et al., RetinaNet), the focal factor on every element.

    binary:     bce = binary_cross_entropy_with_logits(x, t, reduction="none"), p_t = exp(-bce),
                alpha_t = alpha * t + (1 - alpha) * (1 - t);  L = mean(alpha_t * (1 - p_t) ** gamma * bce)
                (as segmentation_models_pytorch's binary focal loss; alpha=None: alpha_t = 1)
    multiclass: ce = cross_entropy(x, y, reduction="none"), p_t = exp(-ce);  L = mean(alpha * (1 - p_t) ** gamma * ce)
                (softmax focal loss; alpha is then one scalar weight, None meaning 1)
    `reduction` as in torch: "mean" (default), "sum" or "none" (per-element map, for heat maps).
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0, *, mode: str = "binary",
                 reduction: str = "mean"):  # fmt: skip
        checked = _validated("focal", {"alpha": alpha, "gamma": gamma, "mode": mode})
        super().__init__(checked["alpha"], checked["gamma"])
        self.mode = checked["mode"]
        self.reduction = choice("losses.reduction", reduction, REDUCTIONS)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        loss = self.per_pixel(logits, targets)
        return loss.mean() if self.reduction == "mean" else loss.sum() if self.reduction == "sum" else loss

    def per_pixel(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.mode == "binary":
            return super().per_pixel(*binary_pair(logits, targets))
        x, y = _multiclass_pair(logits, targets)
        loss = self.focus(F.cross_entropy(x, y, reduction="none"))
        return loss if self.alpha is None else loss * self.alpha

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
        x, t = binary_pair(logits, targets)
        return self.loss(torch.sigmoid(x) if self.sigmoid else x, t)

    def extra_repr(self) -> str:
        return f"sigmoid={self.sigmoid}"


BUILTINS = {  # name -> (torch class, compares sigmoid(logits) with the mask)
    "bce": (nn.BCEWithLogitsLoss, False),
    "mse": (nn.MSELoss, True),
    "l1": (nn.L1Loss, True),
    "smooth_l1": (nn.SmoothL1Loss, True),
    "huber": (nn.HuberLoss, True),
}
_CUSTOM = {"dice": DiceLoss, "iou": IoULoss, "dice_bce": DiceBCELoss, "focal": FocalLoss}


def get(name: str, **params: Any) -> nn.Module:
    """The loss `name` (any spelling `canonical` accepts) with keyword parameters from `PARAMS[name]`."""
    key = canonical(name)
    checked = _validated(key, params)
    if key in _CUSTOM:
        return _CUSTOM[key](**checked)
    cls, sigmoid = BUILTINS[key]
    return BuiltinLoss(cls(**checked), sigmoid=sigmoid)


def pixel_losses(logits: Tensor, targets: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0
                 ) -> dict[str, Tensor]:  # fmt: skip
    """Per-element binary losses for heat maps: {"bce": ..., "focal": ...}, each the shape of the logits."""
    x, t = binary_pair(logits, targets)
    return {
        "bce": F.binary_cross_entropy_with_logits(x, t, reduction="none"),
        "focal": FocalLoss(alpha, gamma).per_pixel(x, t),
    }


# ---------------------------------------------------------------------------------------------------------------
# The hand-off to the Train tab


@dataclass(frozen=True)
class LossSpec:
    """A loss chosen in the Losses tab, validated once, handed to the Train tab (and to `train_unet`).

    `name` is canonical (one of NAMES); `params` holds that loss's validated keyword arguments as sorted pairs, so a
    spec is hashable and compares by value.
    """

    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, name: str, **params: Any) -> LossSpec:
        """The spec of loss `name` (any accepted spelling) with the parameters it takes among `params`."""
        key = canonical(name)
        checked = _validated(key, params_for(key, **params))
        return cls(key, tuple(sorted(checked.items())))

    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    def build(self) -> nn.Module:
        return get(self.name, **self.kwargs())

