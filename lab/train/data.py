"""The data of a run: image/mask pairs checked and put on the device, the held-out split, random crops.

The pieces a training loop runs (`pair_tensors`, `split_indices`, `smallest_crop`, `random_crop`, `random_batch`,
`read_pairs`) are printed as they are in the Train tab's code panel and in the torchrun script; the checks
(`prepare_pairs`, `pairs_from_files`) stay in the lab.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from lab.device import pick_device
from lab.errors import LabError, shown
from lab.segment import ASSETS, load_image, to_tensor
from lab.train.settings import MAX_IMAGES, MAX_PIXELS, n_val

__all__ = [
    "Split", "prepare_pairs", "pair_tensors", "split_indices", "smallest_crop", "random_crop", "random_batch",
    "read_pairs", "pairs_from_files", "samples_zip", "SAMPLES_FOLDER", "IMAGE_SUFFIXES",
]

SAMPLES_FOLDER = "train_samples"  # what the sample pairs' zip unpacks to
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


@dataclass
class Split:
    """The pairs on the device, split once: images (3, H, W) float32 in [0, 1], masks (1, H, W) float32 of 0/1."""

    xs: list[torch.Tensor]
    ys: list[torch.Tensor]
    train_index: list[int]
    val_index: list[int]


# ---------------------------------------------------------------------------------------------------------------
# Checks (the lab's), then the pieces a loop runs


def _binary_mask(i: int, mask: Any) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise LabError("error.train.mask_shape", index=i, shape=str(m.shape))
    if m.dtype == np.bool_:
        return m
    if not np.issubdtype(m.dtype, np.number):
        raise LabError("error.train.mask_dtype", index=i, dtype=str(m.dtype))
    values = np.unique(m)
    if values.size > 2 or not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        listed = ", ".join(f"{v:g}" for v in values[:5].tolist()) + (", ..." if values.size > 5 else "")
        raise LabError("error.train.mask_values", index=i, values=listed)
    return m > 0


def prepare_pairs(images: Sequence[Any], masks: Sequence[Any], device: torch.device | None = None):
    """Check image/mask pairs and turn them into tensors on `device` (`pair_tensors`).

    Returns (xs, ys): xs[i] (3, H_i, W_i) float32 in [0, 1] (exactly what `lab.segment.segment` feeds the model),
    ys[i] (1, H_i, W_i) float32 of 0/1. LabError for a count mismatch, different sizes within a pair, a mask that
    is not binary, or too many images or pixels.
    """
    device = pick_device() if device is None else device
    if len(images) != len(masks):
        raise LabError("error.train.counts", images=len(images), masks=len(masks))
    if not 2 <= len(images) <= MAX_IMAGES:
        raise LabError("error.train.pairs", count=len(images), most=MAX_IMAGES)
    checked, pixels = [], 0
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        m = _binary_mask(i, mask)
        shape = np.shape(image)
        if tuple(shape[:2]) != m.shape:
            width = shape[1] if len(shape) > 1 else "?"
            raise LabError("error.train.pair_size", index=i, width=width, height=shape[0] if shape else "?",
                           mask_width=m.shape[1], mask_height=m.shape[0])  # fmt: skip
        pixels += m.size
        if pixels > MAX_PIXELS:
            raise LabError("error.train.pixels", most=MAX_PIXELS)
        checked.append(m)
    return pair_tensors(images, checked, device)  # to_tensor refuses an image it cannot read, naming why


def pair_tensors(images: Sequence[Any], masks: Sequence[Any], device: torch.device):
    """Images as (3, H, W) float32 in [0, 1], masks as (1, H, W) float32 of 0/1, on `device`."""
    xs = [to_tensor(image, 3)[0].to(device) for image in images]
    ys = [torch.from_numpy((np.asarray(m) > 0).astype(np.float32))[None].to(device) for m in masks]
    return xs, ys


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of range(n) cut into (train, validation); at least one image on each side."""
    held_out = n_val(n, val_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[held_out:]), sorted(order[:held_out])


def smallest_crop(xs: Sequence[torch.Tensor], train_index: Sequence[int], crop_size: int, unit: int) -> int:
    """The crop side: `crop_size`, at most the smallest training image, a multiple of `unit` (2**depth)."""
    smallest = min(min(xs[i].shape[-2:]) for i in train_index)
    return min(crop_size, smallest) // unit * unit


def random_crop(x: torch.Tensor, y: torch.Tensor, crop: int, generator: torch.Generator):
    """A random crop x crop square of an image (3, H, W) and its mask (1, H, W), flipped and turned at random."""
    h, w = x.shape[-2:]
    top = int(torch.randint(h - crop + 1, (1,), generator=generator))
    left = int(torch.randint(w - crop + 1, (1,), generator=generator))
    turn = int(torch.randint(8, (1,), generator=generator))  # the 8 symmetries of a square
    x, y = x[:, top : top + crop, left : left + crop], y[:, top : top + crop, left : left + crop]
    if turn & 4:
        x, y = x.flip(-1), y.flip(-1)
    return torch.rot90(x, turn & 3, (-2, -1)), torch.rot90(y, turn & 3, (-2, -1))


def random_batch(data: Split, batch_size: int, crop: int, generator: torch.Generator,
                 memory_format: torch.memory_format = torch.contiguous_format):  # fmt: skip
    """`batch_size` random crops of random training images: (B, 3, crop, crop), (B, 1, crop, crop).

    No DataLoader, no worker processes: the images already sit on the device and a crop is a slice.
    """
    picks = torch.randint(len(data.train_index), (batch_size,), generator=generator).tolist()
    pairs = [random_crop(data.xs[data.train_index[k]], data.ys[data.train_index[k]], crop, generator) for k in picks]
    x = torch.stack([p[0] for p in pairs]).contiguous(memory_format=memory_format)
    return x, torch.stack([p[1] for p in pairs])


def read_pairs(folder: str | Path) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Every `<name>.png` with its `<name>_mask.png` in `folder` (other image formats too), sorted by name:
    (names, RGB images (H, W, 3) uint8, masks (H, W) bool, white = object)."""
    folder = Path(folder)
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    names = sorted(k for k in files if not k.endswith("_mask") and f"{k}_mask" in files)
    images = [np.asarray(Image.open(files[k]).convert("RGB")) for k in names]
    masks = [np.asarray(Image.open(files[f"{k}_mask"]).convert("L")) > 0 for k in names]
    return names, images, masks


# ---------------------------------------------------------------------------------------------------------------
# Files: uploaded pairs, and the sample pairs as one download


def pairs_from_files(paths: Sequence[str]) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Uploaded files -> (names, images, masks): `<name>.<ext>` pairs with `<name>_mask.<ext>` (any image format).

    Bounded before and while decoding: more than `MAX_IMAGES` pairs are refused before any is opened, and
    decoding stops once the images pass `MAX_PIXELS` together (`load_image` bounds each file: 10 MB, 2048 px).
    """
    files = {Path(p).stem: p for p in paths}
    names = sorted(k for k in files if not k.endswith("_mask"))
    lonely = [k for k in files if k.endswith("_mask") and k.removesuffix("_mask") not in files]
    unmatched = [k for k in names if f"{k}_mask" not in files]
    if lonely or unmatched:
        listed = ", ".join(shown(k) for k in (lonely + unmatched)[:4])  # names are the visitor's: shortened
        raise LabError("error.train.unpaired", names=listed)
    if len(names) > MAX_IMAGES:
        raise LabError("error.train.pairs", count=len(names), most=MAX_IMAGES)
    images, masks, pixels = [], [], 0
    for name in names:
        images.append(load_image(files[name]))
        pixels += images[-1].shape[0] * images[-1].shape[1]
        if pixels > MAX_PIXELS:  # prepare_pairs' limit, checked before the next file is decoded
            raise LabError("error.train.pixels", most=MAX_PIXELS)
        m = load_image(files[f"{name}_mask"])
        if m.ndim == 3:  # an RGB(A) mask: its channels must agree
            if not all(np.array_equal(m[..., 0], m[..., c]) for c in range(1, min(3, m.shape[2]))):
                raise LabError("error.train.mask_colour", name=shown(name + "_mask"))
            m = m[..., 0]
        masks.append(m)
    return names, images, masks


def samples_zip(folder: str | Path) -> Path:
    """The sample pairs as `<folder>/train_samples.zip` (unpacking to `train_samples/<name>.png` and
    `<name>_mask.png`), the data the code panel reads."""
    path = Path(folder) / f"{SAMPLES_FOLDER}.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs are compressed already
        for file in sorted((ASSETS / "samples").glob("*.png")):
            archive.write(file, f"{SAMPLES_FOLDER}/{file.name}")
    return path
