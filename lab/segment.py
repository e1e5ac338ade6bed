"""Segment the sample images with a U-Net (tutorial 5.2): samples, the shipped small U-Net, inference, Dice/IoU.

The tutorial builds the U-Net but never runs it; this module does, the way inference should be done:
`model.eval()` (BatchNorm uses its running statistics), `torch.inference_mode()`, Conv+BatchNorm folded
into one conv, channels_last memory layout, and bf16 where the device computes it natively and the mask
stays the same as fp32's (checked on the first image each model segments). Images of any common kind
are accepted: gray, RGB, RGBA, palette or 16-bit, uint8/uint16/float, up to 2048 pixels a side; the
probability map and mask always have the input's height and width.
"""

from __future__ import annotations

import copy
import functools
import io
import json
import os
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from lab.device import pick_device, supports_bf16
from lab.errors import LabError, shown
from lab.safe_expr import check_plain
from lab.unet import UNet

__all__ = [
    "ASSETS",
    "MAX_SIDE",
    "MAX_UPLOAD_BYTES",
    "PRECISIONS",
    "Sample",
    "Segmentation",
    "samples",
    "load_samples",
    "pretrained",
    "pretrained_info",
    "WEIGHT_SUFFIXES",
    "load_weights",
    "to_tensor",
    "load_image",
    "segment",
    "dice",
    "iou",
    "overlay",
    "to_code",
]

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MAX_SIDE = 2048  # largest image side segment() accepts
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # largest image file load_image() opens
PRECISIONS = ("auto", "fp32", "bf16")
# One forward pass holds several (base_channels, H, W) activations; above this many elements per
# activation (256 MB in fp32) the image is segmented in overlapping tiles instead.
TILE_ELEMENTS = 2**26
_FLOAT32_HALF = float(np.finfo(np.float32).max) / 2  # float pixels beyond this are scaled in float64
MASK_AGREEMENT = 0.995  # Dice between bf16 and fp32 masks needed to keep bf16
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")  # what load_weights() takes as weights (besides one .json)
MAX_CONFIG_BYTES = 64 * 1024  # a U-Net config JSON is a few hundred bytes; the shipped one with notes ~1 KB


@dataclass(frozen=True)
class Sample:
    """A sample image (HxWx3 uint8) and its true mask (HxW bool)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


@dataclass(frozen=True)
class Segmentation:
    """prob: HxW float32 in [0, 1] (foreground probability); mask: HxW bool (prob > threshold);
    precision: what computed it, "fp32" or "bf16"."""

    prob: np.ndarray
    mask: np.ndarray
    precision: str = "fp32"


# ----------------------------------------------------------------------------------------- data
def load_samples(folder: str | Path) -> list[Sample]:
    """Every `<name>.png` with a `<name>_mask.png` beside it in `folder`, sorted by name."""
    folder = Path(folder)
    out = []
    for mask_path in sorted(folder.glob("*_mask.png")):
        name = mask_path.name.removesuffix("_mask.png")
        image = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"))
        mask = np.asarray(Image.open(mask_path).convert("L")) > 127
        image.flags.writeable = False  # shared between sessions: nobody may paint on them
        mask.flags.writeable = False
        out.append(Sample(name, image, mask))
    return out


@functools.lru_cache(maxsize=1)
def _cached_samples() -> tuple[Sample, ...]:
    found = load_samples(ASSETS / "samples")
    if not found:
        raise LabError(f"No sample images in {ASSETS / 'samples'}; run `python scripts/make_assets.py`.")
    return tuple(found)


def samples() -> list[Sample]:
    """The shipped sample images with their true masks (read once, then cached; arrays are read-only)."""
    return list(_cached_samples())


@functools.lru_cache(maxsize=1)
def pretrained_info() -> dict:
    """The shipped model's JSON: config, training settings, held-out sample names and held-out Dice."""
    return json.loads((ASSETS / "unet_small.json").read_text())


@functools.lru_cache(maxsize=1)
def _pretrained_state() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(ASSETS / "unet_small.safetensors"))


def pretrained(device: torch.device | str | None = None) -> UNet:
    """A fresh copy of the shipped small U-Net (eval mode) on `device` (default: the lab's device).

    Each call builds a new model, so a session may train or change it without touching anyone else's.
    """
    model = UNet(**pretrained_info()["config"])
    model.load_state_dict(_pretrained_state())
    return model.eval().to(pick_device() if device is None else torch.device(device))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a path through a non-directory, a NUL byte
        return False


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)  # same file system (Gradio's upload cache and the temp dir): no bytes copied
    except OSError:
        shutil.copyfile(src, dst)


def load_weights(paths: list[str | Path], device: torch.device | str | None = None) -> tuple[UNet, dict]:
    """A U-Net rebuilt from uploaded files: weights (.safetensors/.pt/.pth) and, normally, their config JSON.

    The pair the Train tab hands out (`unet_trained.safetensors` + `unet_trained.json`, flat config) and
    the shipped pair (config nested under "config") both load, whatever the files are called now (an
    upload cache renames them). Loading is safe: safetensors, or `torch.load(weights_only=True)` through
    `lab.checkpoints`, so a file never runs code. Without a JSON the architecture cannot be known: the
    weights are tried against the shipped config and refused with a LabError asking for the JSON if they
    do not fit. Returns (the model in eval mode on `device`, the config used).
    """
    from lab import checkpoints  # pandas, torch.distributed: only when weights are actually uploaded

    files = [Path(p) for p in (paths or []) if p]
    if not files:
        raise LabError("No weights file given; upload a .safetensors (or .pt/.pth) file with its .json config.")
    missing = [f.name for f in files if not _is_file(f)]
    if missing:
        raise LabError(f"File {shown(missing[0])} does not exist or is not a file; upload the weights and their .json.")
    weights = [f for f in files if f.suffix.lower() in WEIGHT_SUFFIXES]
    configs = [f for f in files if f.suffix.lower() == ".json"]
    others = [f.name for f in files if f not in weights and f not in configs]
    if others:
        raise LabError(
            f"File {shown(others[0])} is not accepted; upload one {'/'.join(WEIGHT_SUFFIXES)} file and its .json."
        )
    if len(weights) != 1 or len(configs) > 1:
        raise LabError(
            f"Got {len(weights)} weights file(s) and {len(configs)} .json file(s); upload exactly one weights file "
            "and at most one .json."
        )
    target = pick_device() if device is None else torch.device(device)
    source = weights[0]
    if configs:
        if configs[0].stat().st_size > MAX_CONFIG_BYTES:
            raise LabError(
                f"Config file {shown(configs[0].name)} is over {MAX_CONFIG_BYTES // 1024} KB; "
                "a U-Net config is smaller."
            )
        # load_with_config finds the JSON beside the weights under the same stem: put both in one folder
        with tempfile.TemporaryDirectory(prefix="lab-unet-weights-") as folder:
            linked = Path(folder) / source.name
            sidecar = checkpoints.config_path(linked)
            _link_or_copy(source, linked)
            _link_or_copy(configs[0], sidecar)
            try:
                model, config = checkpoints.load_with_config(linked, UNet, map_location="cpu")
            except LabError as exc:  # name the JSON the user uploaded, not our linked copy
                raise LabError(str(exc).replace(shown(sidecar.name), shown(configs[0].name))) from exc
        return model.eval().to(target), dict(config)
    config = dict(pretrained_info()["config"])
    state = checkpoints.load(source, map_location="cpu")  # a corrupt or unsafe file is refused here
    model = UNet(**config)
    try:
        checkpoints.load_into(model, state, strict=True)
    except LabError as exc:
        raise LabError(
            f"File {shown(source.name)} holds no config and its weights do not fit the shipped U-Net "
            f"(base_channels {config['base_channels']}, depth {config['depth']}); upload its .json as well."
        ) from exc
    return model.eval().to(target), config


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """The width and height a file's header declares, read by PIL's format plug-ins without decoding any pixel
    (what `Image.open` does, minus its bomb check, which refuses before telling the size)."""
    for fmt in Image.ID:
        factory, accept = Image.OPEN[fmt]
        if accept is not None and not accept(data[:16]):
            continue
        try:
            return tuple(factory(io.BytesIO(data), "").size)
        except Exception:  # noqa: BLE001, S112 - not this format; try the next plug-in
            continue
    return None


def load_image(source: str | Path | bytes) -> np.ndarray:
    """Decode an uploaded image file safely into an array (HxW, HxWx3 or HxWx4; uint8, uint16 or int32).

    Refuses files over 10 MB, non-images and images over 2048 a side *before* decoding their pixels
    (PIL reads only the header at `open`), so a decompression bomb never expands in memory.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if len(data) > MAX_UPLOAD_BYTES:
        raise LabError(f"Image file is {len(data) / 2**20:.1f} MB; files up to 10 MB are accepted.")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # PIL's own guard, for headers claiming > 179 M pixels
        size = _declared_size(data)
        what = f"Image is {size[0]} x {size[1]} pixels" if size else "Image is far too large to decode"
        raise LabError(f"{what}; images up to {MAX_SIDE} pixels a side are accepted.") from exc
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LabError("The uploaded file is not an image PIL can read; use PNG, JPEG, TIFF, BMP or WebP.") from exc
    w, h = img.size
    if max(w, h) > MAX_SIDE:
        raise LabError(f"Image is {w} x {h} pixels; images up to {MAX_SIDE} pixels a side are accepted.")
    try:
        img.load()
        if img.mode == "P":  # palette: expand through the palette, keeping transparency if it has one
            img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        elif img.mode in ("1", "CMYK", "YCbCr", "LAB", "HSV"):
            img = img.convert("L" if img.mode == "1" else "RGB")
        elif img.mode == "LA":
            img = img.convert("L")
        elif img.mode == "PA":
            img = img.convert("RGBA")
        elif img.mode.startswith("I;16"):
            return np.asarray(img).astype(np.uint16)
        elif img.mode == "F":
            return np.asarray(img, dtype=np.float32)
        return np.asarray(img)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise LabError("The uploaded image is damaged or truncated; please upload a complete image file.") from exc


# ----------------------------------------------------------------------------------------- input
def _to_unit_range(a: np.ndarray) -> np.ndarray:
    """Any numeric dtype -> float32 in [0, 1]: uint8 / 255; wider integers by their own maximum (12-bit
    data in a 16-bit file would otherwise look black); floats kept if in [0, 1], divided by 255 if in
    [0, 255] (8-bit values stored as float), else min-max scaled."""
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
            raise LabError("Image contains NaN or infinite values; give finite pixel values.")
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
    raise LabError(f"Image dtype {a.dtype} is not supported; use uint8, uint16 or float pixels.")


def to_tensor(image: np.ndarray, n_channels: int = 3) -> torch.Tensor:
    """An image array -> (1, n_channels, H, W) float32 in [0, 1], the input the lab's U-Nets expect.

    Gray is repeated to RGB, alpha is dropped, RGB becomes luminance for one-channel models.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] in (1, 2, 3, 4):
        if a.shape[2] in (2, 4):
            a = a[..., :-1]  # drop alpha
    elif a.ndim != 2:
        raise LabError(f"Image has shape {a.shape}; use HxW (gray), HxWx3 (RGB) or HxWx4 (RGBA).")
    h, w = a.shape[:2]
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise LabError(f"Image is {w} x {h} pixels; images from 1 to {MAX_SIDE} pixels a side are accepted.")
    t = torch.from_numpy(_to_unit_range(a))
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)  # (C, H, W)
    if t.size(0) == n_channels:
        pass
    elif t.size(0) == 1:
        t = t.expand(n_channels, h, w)
    elif t.size(0) == 3 and n_channels == 1:
        t = (0.299 * t[0] + 0.587 * t[1] + 0.114 * t[2])[None]  # ITU-R 601 luma
    else:
        raise LabError(f"The model takes {n_channels} input channels; it cannot read a {t.size(0)}-channel image.")
    return t[None].contiguous()


# ----------------------------------------------------------------------------------------- inference
def _fuse_conv_bn(model: nn.Module) -> nn.Module:
    """In place: every Conv2d directly followed by a BatchNorm2d inside a Sequential becomes one conv
    with the BN folded into its weights and bias (eval mode only: BN is then a fixed affine map)."""
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


def _forward_prob(model: nn.Module, x: torch.Tensor, n_classes: int, dtype: torch.dtype) -> torch.Tensor:
    """(1, C, H, W) -> (H, W) foreground probability in fp32."""
    x = x.to(memory_format=torch.channels_last)
    if dtype == torch.bfloat16:
        with torch.autocast(x.device.type, dtype=torch.bfloat16):
            logits = model(x)
    else:
        logits = model(x)
    logits = logits.float()
    if n_classes == 1:
        return torch.sigmoid(logits[0, 0])
    # foreground = anything but class 0 (for two classes: the softmax of class 1)
    return 1.0 - torch.softmax(logits[0], dim=0)[0]


def _tiles(size: int, tile: int, margin: int, unit: int = 1) -> list[tuple[int, int, int, int]]:
    """Along one axis: (read_start, read_end, keep_start, keep_end) covering [0, size) with overlap.

    Reads start on multiples of `unit` (2**depth), so every tile sees the same pooling grid as the whole
    image would; each keeps only pixels at least `margin` from a cut edge (except at the image border)."""
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


def _prob_map(model: nn.Module, x: torch.Tensor, n_classes: int, depth: int, base: int, dtype) -> torch.Tensor:
    """Whole image in one pass when its activations are small enough, else overlapping tiles whose
    centres are stitched (BatchNorm in eval mode makes tiles independent of each other)."""
    h, w = x.shape[-2:]
    if h * w * base <= TILE_ELEMENTS:
        return _forward_prob(model, x, n_classes, dtype)
    unit = 2**depth
    tile = max(unit * 4, int((TILE_ELEMENTS / base) ** 0.5) // unit * unit)
    margin = min(tile // 4, 16 * unit)  # context each tile borrows from its neighbours
    prob = torch.empty(h, w, device=x.device)
    for ys, ye, ky, kye in _tiles(h, tile, margin, unit):
        for xs, xe, kx, kxe in _tiles(w, tile, margin, unit):
            p = _forward_prob(model, x[..., ys:ye, xs:xe], n_classes, dtype)
            prob[ky:kye, kx:kxe] = p[ky - ys : kye - ys, kx - xs : kxe - xs]
    return prob


def _bf16_mask_safe(prob: torch.Tensor, threshold: float, fast: _Fast) -> bool:
    """Whether this bf16 mask is expected to match fp32's with Dice >= 0.995.

    Only pixels within bf16's measured error of the threshold can flip; the first image showed what share
    of those did. Flipping f pixels of a mask of m costs about f / 2m of Dice."""
    band = int(((prob - threshold).abs() <= fast.bf16_error).sum())
    expected_flips = fast.flip_rate * band
    return expected_flips <= (1 - MASK_AGREEMENT) * 2 * int((prob > threshold).sum())


def _model_attrs(model: nn.Module) -> tuple[int, int, int, int]:
    n_channels = getattr(model, "n_channels", 3)
    n_classes = getattr(model, "n_classes", 1)
    depth = getattr(model, "depth", 4)
    base = getattr(model, "base_channels", 64)
    return n_channels, n_classes, depth, base


def segment(
    model: nn.Module, image: np.ndarray, *, threshold: float = 0.5, precision: str = "auto"
) -> Segmentation:
    """Foreground probability and mask of `image` (HxW, HxWx3 or HxWx4; uint8, uint16 or float), same size.

    Runs on the model's device. `precision`: "auto" uses bf16 where `lab.device.supports_bf16` says the
    device computes it natively and the first image's bf16 mask matches fp32's (Dice >= 0.995), else
    fp32; after that, an image where bf16 is expected to flip more than 0.5% of the mask (too many pixels
    within bf16's measured error of the threshold) is recomputed in fp32. "fp32" and "bf16" force one.
    """
    check_plain(threshold, "threshold")  # quoted below: bounded first
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise LabError(f"Threshold got {shown(threshold)}; use a number from 0 to 1.")
    threshold = float(threshold)
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise LabError(f"Precision got {shown(precision)}; use one of {', '.join(PRECISIONS)}.")
    n_channels, n_classes, depth, base = _model_attrs(model)
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
            prob = _prob_map(fast.model, x, n_classes, depth, base, torch.float32)
            prob_bf16 = _prob_map(fast.model, x, n_classes, depth, base, torch.bfloat16)
            agree = _dice_t(prob > threshold, prob_bf16 > threshold)
            fast.bf16_error = float((prob - prob_bf16).abs().max())
            band = int(((prob_bf16 - threshold).abs() <= fast.bf16_error).sum())
            flips = int(((prob > threshold) != (prob_bf16 > threshold)).sum())
            fast.flip_rate = max(0.25, flips / band) if band else 0.25  # floor: one image is a small sample
            fast.dtype = torch.bfloat16 if agree >= MASK_AGREEMENT else torch.float32
            dtype = None  # this first result is the fp32 one
        if dtype is not None:
            prob = _prob_map(fast.model, x, n_classes, depth, base, dtype)
        if dtype == torch.bfloat16 and precision == "auto" and not _bf16_mask_safe(prob, threshold, fast):
            # too many pixels sit within bf16's error of the threshold: this image gets the fp32 pass
            dtype = torch.float32
            prob = _prob_map(fast.model, x, n_classes, depth, base, dtype)
        prob = prob[:h, :w].clamp_(0, 1).float().cpu().numpy()
    used = "bf16" if dtype == torch.bfloat16 else "fp32"
    return Segmentation(prob=prob, mask=prob > threshold, precision=used)


# ----------------------------------------------------------------------------------------- scores
def _dice_t(a: torch.Tensor, b: torch.Tensor) -> float:
    inter = (a & b).sum().item()
    total = a.sum().item() + b.sum().item()
    return 1.0 if total == 0 else 2.0 * inter / total


def _check_pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred).astype(bool), np.asarray(true).astype(bool)
    if p.shape != t.shape:
        raise LabError(f"Mask shapes differ: prediction {p.shape} vs true mask {t.shape}; they must match.")
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


# ----------------------------------------------------------------------------------------- code panel
def to_code(
    sample: str | None = None, *, threshold: float = 0.5, image_path: str | None = None, weights: str | None = None
) -> str:
    """Runnable code that segments a shipped sample (or the image at `image_path`) with the shipped U-Net
    (or the safetensors file `weights` with its JSON config beside it), written the plain way (fp32, one
    pass): the same model and mask the tab shows, minus the speed-ups."""
    if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
        raise LabError(f"Threshold got {threshold!r}; use a number from 0 to 1.")
    samples_dir = ASSETS / "samples"
    if image_path is None:
        if sample is None:
            raise LabError("No image chosen; name a sample or give an image path.")
        image_path = str(samples_dir / f"{sample}.png")
        truth = f'true = np.asarray(Image.open(r"{samples_dir / f"{sample}_mask.png"}").convert("L")) > 127\n'
        score = (
            "dice = 2 * (mask & true).sum() / max(mask.sum() + true.sum(), 1)\n"
            "iou = (mask & true).sum() / max((mask | true).sum(), 1)\n"
            'print(f"Dice {dice:.3f}, IoU {iou:.3f}")\n'
        )
    else:
        truth, score = "", ""
    weights_path = str(ASSETS / "unet_small.safetensors") if weights is None else weights
    json_path = str(Path(weights_path).with_suffix(".json"))
    return f'''import json

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file

from lab.unet import UNet  # the blocks and the U of the builder's code above

config = json.loads(open(r"{json_path}").read())
config = config.get("config", config)  # the shipped JSON nests the arguments; save_with_config writes them flat
model = UNet(**config)
model.load_state_dict(load_file(r"{weights_path}"))
model.eval()  # BatchNorm uses its running statistics

image = np.array(Image.open(r"{image_path}").convert("RGB"))
x = torch.from_numpy(image).permute(2, 0, 1).float().div(255).unsqueeze(0)  # (1, 3, H, W) in [0, 1]
with torch.inference_mode():
    prob = torch.sigmoid(model(x))[0, 0].numpy()  # one logit per pixel -> foreground probability
mask = prob > {float(threshold)}
print("mask", mask.shape, f"{{mask.mean() * 100:.1f}}% foreground")
{truth}{score}'''
