"""Segment an image with a U-Net, fast and safely: inputs of any common kind, the fast path, Dice and IoU.

The tutorial builds the U-Net but never runs it; this runs it the way inference should be done: `model.eval()`
(BatchNorm uses its running statistics), `torch.inference_mode()`, Conv+BatchNorm folded into one conv,
channels_last memory layout, and bf16 where the device computes it natively and the mask stays fp32's (checked
on the first image each model segments). The probability map and mask always have the input's height and width.
"""

from __future__ import annotations

import copy
import functools
import weakref
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lab.device import supports_bf16
from lab.errors import LabError, choice, number
from lab.segment.io import MAX_SIDE

__all__ = [
    "PRECISIONS", "TILE_ELEMENTS", "MASK_AGREEMENT", "Segmentation", "to_tensor", "foreground", "segment", "dice",
    "iou", "overlay", "prob_image",
]

PRECISIONS = ("auto", "fp32", "bf16")
# One forward pass holds several (base_channels, H, W) activations; above this many elements per activation
# (256 MB in fp32) the image is segmented in overlapping tiles instead.
TILE_ELEMENTS = 2**26
_FLOAT32_HALF = float(np.finfo(np.float32).max) / 2  # float pixels beyond this are scaled in float64
MASK_AGREEMENT = 0.995  # Dice between bf16 and fp32 masks needed to keep bf16


@dataclass(frozen=True)
class Segmentation:
    """prob: HxW float32 in [0, 1] (foreground probability); mask: HxW bool (prob > threshold);
    precision: what computed it, "fp32" or "bf16"."""

    prob: np.ndarray
    mask: np.ndarray
    precision: str = "fp32"


# ---------------------------------------------------------------------------------------------------------------
# Input


def _to_unit_range(a: np.ndarray) -> np.ndarray:
    """Any numeric dtype -> float32 in [0, 1]: uint8 / 255; wider integers by their own maximum (12-bit data in a
    16-bit file would otherwise look black); floats kept if in [0, 1], divided by 255 if in [0, 255] (8-bit values
    stored as float), else min-max scaled."""
    if a.dtype == np.bool_:
        return a.astype(np.float32)
    if a.dtype == np.uint8:
        return a.astype(np.float32) / 255.0
    if np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float32)
        low = min(float(a.min()), 0.0)
        span = float(a.max()) - low
        return (a - low) / span if span > 0 else np.zeros_like(a)
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise LabError("error.segment.image_not_finite")
        if float(np.abs(a).max(initial=0.0)) > _FLOAT32_HALF:  # finite, yet too large for float32 (or for hi - lo)
            lo, hi = float(a.min()), float(a.max())
            if not hi > lo:
                return np.zeros(a.shape, np.float32)
            half = a.astype(np.float64) / 2  # halves: (hi - lo) / 2 cannot overflow
            return ((half - lo / 2) / (hi / 2 - lo / 2)).astype(np.float32)
        a = a.astype(np.float32)
        lo, hi = float(a.min()), float(a.max())
        if lo >= 0.0 and hi <= 1.0:
            return a
        if lo >= 0.0 and hi <= 255.0:
            return a / 255.0
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    raise LabError("error.segment.image_dtype", dtype=str(a.dtype))


def to_tensor(image: np.ndarray, n_channels: int = 3) -> torch.Tensor:
    """An image array -> (1, n_channels, H, W) float32 in [0, 1], the input the lab's U-Nets expect.

    Gray is repeated to RGB, alpha is dropped, RGB becomes luminance for one-channel models.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4):
        if a.shape[2] in (2, 4):
            a = a[..., :-1]  # drop alpha
    elif a.ndim != 2:
        raise LabError("error.segment.image_shape", shape=str(a.shape))
    h, w = a.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise LabError("error.segment.image_size", width=str(w), height=str(h), max=str(MAX_SIDE))
    t = torch.from_numpy(_to_unit_range(a))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)  # (C, H, W)
    if t.size(0) == n_channels:
        pass
    elif t.size(0) == 1:
        t = t.expand(n_channels, h, w)
    elif t.size(0) == 3 and n_channels == 1:
        t = (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])[None]  # ITU-R 601 luma
    else:
        raise LabError("error.segment.image_channels", model=n_channels, image=t.size(0))
    return t[None].contiguous()


# ---------------------------------------------------------------------------------------------------------------
# Inference


def foreground(logits: torch.Tensor) -> torch.Tensor:
    """(n_classes, H, W) logits -> (H, W) foreground probability: one class, its sigmoid; several, 1 - P(class 0)"""
    if logits.size(0) == 1:
        return torch.sigmoid(logits[0])
    return 1.0 - torch.softmax(logits, dim=0)[0]


def _fuse_conv_bn(model: nn.Module) -> nn.Module:
    """In place: every Conv2d directly followed by a BatchNorm2d inside a Sequential becomes one conv with the BN
    folded into its weights and bias (eval mode only: BN is then a fixed affine map)."""
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return model


@dataclass
class _Fast:
    fingerprint: tuple
    model: nn.Module  # eval, fused, channels_last, on the source model's device
    dtype: torch.dtype | None  # None until decided (auto); torch.bfloat16 or torch.float32
    bf16_error: float = 0.0  # largest |prob_bf16 - prob_fp32| seen when bf16 was checked
    flip_rate: float = 1.0  # of the pixels within that error of the threshold, the share that flipped


# Per source model: its inference copy, rebuilt when the source's weights change (training, loading).
_FAST: weakref.WeakKeyDictionary[nn.Module, _Fast] = weakref.WeakKeyDictionary()


def _fingerprint(model: nn.Module) -> tuple:
    # `_version` counts in-place writes (optimizer steps, load_state_dict, BN running stats)
    return tuple((t.data_ptr(), t._version, t.device.type) for t in (*model.parameters(), *model.buffers()))


def _fast_copy(model: nn.Module) -> _Fast:
    fp = _fingerprint(model)
    cached = _FAST.get(model)
    if cached is not None and cached.fingerprint == fp:
        return cached
    fast = copy.deepcopy(model).eval()
    for p in fast.parameters():
        p.requires_grad_(False)
    fast = _fuse_conv_bn(fast).to(memory_format=torch.channels_last)
    entry = _Fast(fp, fast, None)
    _FAST[model] = entry
    return entry


def _forward_prob(model: nn.Module, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(1, C, H, W) -> (H, W) foreground probability in fp32."""
    x = x.to(memory_format=torch.channels_last)
    if dtype == torch.bfloat16:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            logits = model(x)
    else:
        logits = model(x)
    return foreground(logits[0].float())


def _tiles(size: int, tile: int, margin: int, unit: int = 1) -> list[tuple[int, int, int, int]]:
    """Along one axis: (read_start, read_end, keep_start, keep_end) covering [0, size) with overlap.

    Reads start on multiples of `unit` (2**depth), so every tile sees the same pooling grid as the whole image
    would; each keeps only pixels at least `margin` from a cut edge (except at the image border)."""
    if size <= tile:
        return [(0, size, 0, size)]
    assert tile > 2 * margin + unit, (tile, margin, unit)  # every tile then moves `keep` forward
    out, keep = [], 0
    while keep < size:
        start = max(0, min(keep - margin, size - tile)) // unit * unit
        # rounding down may leave a sliver under one unit at the end: this tile takes it too
        end = size if start + tile + unit > size else start + tile
        keep_end = size if end == size else end - margin
        out.append((start, end, keep, keep_end))
        keep = keep_end
    return out


def _prob_map(model: nn.Module, x: torch.Tensor, depth: int, base: int, dtype) -> torch.Tensor:
    """Whole image in one pass when its activations are small enough, else overlapping tiles whose centres are
    stitched (BatchNorm in eval mode makes tiles independent of each other)."""
    h, w = x.shape[-2:]
    if h * w * base <= TILE_ELEMENTS:
        return _forward_prob(model, x, dtype)
    unit = 2**depth
    tile = max(unit * 4, int((TILE_ELEMENTS / base) ** 0.5) // unit * unit)
    margin = min(tile // 4, 16 * unit)  # context each tile borrows from its neighbours
    prob = torch.empty(h, w, device=x.device)
    for ys, ye, ky, kye in _tiles(h, tile, margin, unit):
        for xs, xe, kx, kxe in _tiles(w, tile, margin, unit):
            p = _forward_prob(model, x[..., ys:ye, xs:xe], dtype)
            prob[ky:kye, kx:kxe] = p[ky - ys : kye - ys, kx - xs : kxe - xs]
    return prob


def _bf16_mask_safe(prob: torch.Tensor, threshold: float, fast: _Fast) -> bool:
    """Whether this bf16 mask is expected to match fp32's with Dice >= 0.995.

    Only pixels within bf16's measured error of the threshold can flip; the first image showed what share of those
    did. Flipping f pixels of a mask of m costs about f / 2m of Dice."""
    band = int(((prob - threshold).abs() <= fast.bf16_error).sum())
    expected_flips = fast.flip_rate * band
    return expected_flips <= (1 - MASK_AGREEMENT) * 2 * int((prob > threshold).sum())


def segment(model: nn.Module, image: np.ndarray, *, threshold: float = 0.5, precision: str = "auto") -> Segmentation:
    """Foreground probability and mask of `image` (HxW, HxWx3 or HxWx4; uint8, uint16 or float), same size.

    Runs on the model's device. `precision`: "auto" uses bf16 where `lab.device.supports_bf16` says the device
    computes it natively and the first image's bf16 mask matches fp32's (Dice >= 0.995), else fp32; after that, an
    image where bf16 is expected to flip more than 0.5% of the mask (too many pixels within bf16's measured error
    of the threshold) is recomputed in fp32. "fp32" and "bf16" force one.
    """
    threshold = number("segment.threshold", threshold, 0.0, 1.0)
    precision = choice("segment.precision", precision, PRECISIONS)
    n_channels, depth = getattr(model, "n_channels", 3), getattr(model, "depth", 4)
    base = getattr(model, "base_channels", 64)
    x = to_tensor(image, n_channels)
    h, w = x.shape[-2:]
    device = next(model.parameters()).device
    x = x.to(device)
    # images smaller than the U's bottom (2**depth) are mirrored out to that size, then cropped back
    pad_h, pad_w = max(0, 2**depth - h), max(0, 2**depth - w)
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")

    with torch.no_grad():  # not inference_mode: the copy's parameters must stay ordinary tensors
        fast = _fast_copy(model)
    with torch.inference_mode():
        if precision == "fp32" or (precision == "auto" and not supports_bf16(device)):
            dtype = torch.float32
        elif precision == "bf16":
            dtype = torch.bfloat16
        elif fast.dtype is not None:
            dtype = fast.dtype
        else:  # auto, first image for this model: keep bf16 only if it gives fp32's mask
            prob = _prob_map(fast.model, x, depth, base, torch.float32)
            prob_bf16 = _prob_map(fast.model, x, depth, base, torch.bfloat16)
            agree = _dice_t(prob > threshold, prob_bf16 > threshold)
            fast.bf16_error = float((prob - prob_bf16).abs().max())
            band = int(((prob_bf16 - threshold).abs() <= fast.bf16_error).sum())
            flips = int(((prob > threshold) != (prob_bf16 > threshold)).sum())
            fast.flip_rate = max(0.25, flips / band) if band else 0.25  # floor: one image is a small sample
            fast.dtype = torch.bfloat16 if agree >= MASK_AGREEMENT else torch.float32
            dtype = None  # this first result is the fp32 one
        if dtype is not None:
            prob = _prob_map(fast.model, x, depth, base, dtype)
        if dtype == torch.bfloat16 and precision == "auto" and not _bf16_mask_safe(prob, threshold, fast):
            # too many pixels sit within bf16's error of the threshold: this image gets the fp32 pass
            dtype = torch.float32
            prob = _prob_map(fast.model, x, depth, base, dtype)
        prob = prob[:h, :w].clamp_(0, 1).float().cpu().numpy()
    used = "bf16" if dtype == torch.bfloat16 else "fp32"
    return Segmentation(prob=prob, mask=prob > threshold, precision=used)


# ---------------------------------------------------------------------------------------------------------------
# Scores and pictures


def _dice_t(a: torch.Tensor, b: torch.Tensor) -> float:
    inter = (a & b).sum().item()
    total = a.sum().item() + b.sum().item()
    return 1.0 if total == 0 else 2.0 * inter / total


def _check_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred).astype(bool), np.asarray(true).astype(bool)
    if p.shape != t.shape:
        raise LabError("error.segment.mask_shapes", pred=str(p.shape), true=str(t.shape))
    return p, t


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """2|P ∩ T| / (|P| + |T|) of two boolean masks; both empty counts as a perfect 1.0."""
    p, t = _check_pair(pred, true)
    total = int(p.sum()) + int(t.sum())
    return 1.0 if total == 0 else 2.0 * int((p & t).sum()) / total


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    """|P ∩ T| / |P ∪ T| of two boolean masks; both empty counts as a perfect 1.0."""
    p, t = _check_pair(pred, true)
    union = int((p | t).sum())
    return 1.0 if union == 0 else int((p & t).sum()) / union


def overlay(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (255, 200, 0), alpha: float = 0.45):
    """The image as RGB uint8 with `mask` tinted in `color` and its outline drawn solid (for display)."""
    rgb = (to_tensor(image, 3)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    m = np.asarray(mask, dtype=bool)
    out = rgb.astype(np.float32)
    tint = np.array(color, np.float32)
    out[m] = out[m] * (1 - alpha) + tint * alpha
    # outline: mask pixels with a background 4-neighbour
    edge = m.copy()
    inner = m[1:-1, 1:-1] & m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
    edge[1:-1, 1:-1] &= ~inner
    out[edge] = tint
    return out.round().astype(np.uint8)


@functools.lru_cache(maxsize=1)
def _viridis() -> np.ndarray:
    """256-entry Viridis lookup table (uint8 RGB)."""
    from plotly.colors import hex_to_rgb, sample_colorscale

    colors = sample_colorscale("Viridis", [i / 255 for i in range(256)])
    rgb = [hex_to_rgb(c) if c.startswith("#") else tuple(int(float(v)) for v in c[4:-1].split(",")) for c in colors]
    return np.array(rgb, dtype=np.uint8)


def prob_image(prob: np.ndarray) -> np.ndarray:
    """A probability map as an RGB uint8 picture (Viridis: 0 dark blue, 1 yellow)."""
    return _viridis()[np.clip(np.round(np.asarray(prob) * 255), 0, 255).astype(np.uint8)]
