"""What segmentation reads: the shipped samples and small U-Net, uploaded weights, uploaded images (safely)."""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from lab.device import pick_device
from lab.errors import LabError, shown
from lab.unet import UNet

__all__ = [
    "ASSETS", "SAMPLES", "SHIPPED_WEIGHTS", "SHIPPED_CONFIG", "MAX_SIDE", "MAX_UPLOAD_BYTES", "WEIGHT_SUFFIXES",
    "Sample", "load_samples", "samples", "sample_names", "pretrained_info", "pretrained", "load_weights", "load_image",
]

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SAMPLES = ASSETS / "samples"
SHIPPED_WEIGHTS = ASSETS / "unet_small.safetensors"
SHIPPED_CONFIG = ASSETS / "unet_small.json"
MAX_SIDE = 2048  # largest image side the lab segments
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # largest image file load_image() opens
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")  # what load_weights() takes as weights (besides one .json)
MAX_CONFIG_BYTES = 64 * 1024  # a U-Net config JSON is a few hundred bytes; the shipped one with notes ~1 KB


@dataclass(frozen=True)
class Sample:
    """A sample image (HxWx3 uint8) and its true mask (HxW bool)."""

    name: str
    image: np.ndarray
    mask: np.ndarray


# ---------------------------------------------------------------------------------------------------------------
# The shipped samples and model


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
    found = load_samples(SAMPLES)
    if not found:
        raise LabError("error.segment.no_samples")
    return tuple(found)


def samples() -> list[Sample]:
    """The shipped sample images with their true masks (read once, then cached; arrays are read-only)."""
    return list(_cached_samples())


def sample_names() -> list[str]:
    """The samples' names from their file names alone (nothing decoded: cheap enough for a page's layout)."""
    return sorted(p.name.removesuffix("_mask.png") for p in SAMPLES.glob("*_mask.png"))


@functools.lru_cache(maxsize=1)
def pretrained_info() -> dict:
    """The shipped model's JSON: config, training settings, held-out sample names and held-out Dice."""
    return json.loads(SHIPPED_CONFIG.read_text())


@functools.lru_cache(maxsize=1)
def _pretrained_state() -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(SHIPPED_WEIGHTS))


def pretrained(device: torch.device | str | None = None) -> UNet:
    """A fresh copy of the shipped small U-Net (eval mode) on `device` (default: the lab's device).

    Each call builds a new model, so a session may train or change it without touching anyone else's.
    """
    model = UNet(**pretrained_info()["config"])
    model.load_state_dict(_pretrained_state())
    return model.eval().to(pick_device() if device is None else torch.device(device))


# ---------------------------------------------------------------------------------------------------------------
# Uploaded weights


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


def _renamed(exc: LabError, ours: str, theirs: str) -> LabError:
    """`exc` with our linked copy's file name replaced by the name the visitor uploaded."""
    params = {k: v.replace(ours, theirs) if isinstance(v, str) else v for k, v in exc.params.items()}
    key = exc.key.replace(ours, theirs) if " " in exc.key else exc.key  # a sentence rather than a catalogue key
    return LabError(key, **params)


def load_weights(paths: list[str | Path], device: torch.device | str | None = None) -> tuple[UNet, dict]:
    """A U-Net rebuilt from uploaded files: weights (.safetensors/.pt/.pth) and, normally, their config JSON.

    The pair the Train tab hands out (`unet_trained.safetensors` + `unet_trained.json`, flat config) and the shipped
    pair (config nested under "config") both load, whatever the files are called now (an upload cache renames
    them). Loading is safe: safetensors, or `torch.load(weights_only=True)` through `lab.checkpoints`, so a file
    never runs code. Without a JSON the weights are tried against the shipped config and refused with a LabError
    asking for the JSON if they do not fit. Returns (the model in eval mode on `device`, the config used).
    """
    from lab import checkpoints  # pandas, torch.distributed: only when weights are actually uploaded

    files = [Path(p) for p in (paths or []) if p]
    if not files:
        raise LabError("error.segment.no_weights")
    missing = [f.name for f in files if not _is_file(f)]
    if missing:
        raise LabError("error.segment.not_a_file", name=shown(missing[0]))
    weights = [f for f in files if f.suffix.lower() in WEIGHT_SUFFIXES]
    configs = [f for f in files if f.suffix.lower() == ".json"]
    others = [f.name for f in files if f not in weights and f not in configs]
    if others:
        raise LabError("error.segment.weights_kind", name=shown(others[0]), suffixes="/".join(WEIGHT_SUFFIXES))
    if len(weights) != 1 or len(configs) > 1:
        raise LabError("error.segment.weights_count", weights=len(weights), configs=len(configs))
    target = pick_device() if device is None else torch.device(device)
    source = weights[0]
    if configs:
        if configs[0].stat().st_size > MAX_CONFIG_BYTES:
            raise LabError("error.segment.config_too_big", name=shown(configs[0].name), kb=MAX_CONFIG_BYTES // 1024)
        # load_with_config finds the JSON beside the weights under the same stem: put both in one folder
        with tempfile.TemporaryDirectory(prefix="lab-unet-weights-") as folder:
            linked = Path(folder) / source.name
            sidecar = checkpoints.config_path(linked)
            _link_or_copy(source, linked)
            _link_or_copy(configs[0], sidecar)
            try:
                model, config = checkpoints.load_with_config(linked, UNet, map_location="cpu")
            except LabError as exc:  # name the JSON the visitor uploaded, not our linked copy
                raise _renamed(exc, sidecar.name, configs[0].name) from exc
        return model.eval().to(target), dict(config)
    config = dict(pretrained_info()["config"])
    state = checkpoints.load(source, map_location="cpu")  # a corrupt or unsafe file is refused here
    model = UNet(**config)
    try:
        checkpoints.load_into(model, state, strict=True)
    except LabError as exc:
        raise LabError("error.segment.needs_config", name=shown(source.name), base=config["base_channels"],
                       depth=config["depth"]) from exc  # fmt: skip
    return model.eval().to(target), config


# ---------------------------------------------------------------------------------------------------------------
# Uploaded images


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
    """Decode an uploaded image file safely into an array (HxW, HxWx3 or HxWx4; uint8, uint16 or float32).

    Refuses files over 10 MB, non-images and images over 2048 a side *before* decoding their pixels (PIL reads only
    the header at `open`), so a decompression bomb never expands in memory.
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if len(data) > MAX_UPLOAD_BYTES:
        raise LabError("error.segment.image_file_too_big", mb=f"{len(data) / 2**20:.1f}")
    try:
        img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:  # PIL's own guard, for headers claiming > 179 M pixels
        size = _declared_size(data)
        if size is None:
            raise LabError("error.segment.image_far_too_large", max=str(MAX_SIDE)) from exc
        raise LabError("error.segment.image_too_large", width=str(size[0]), height=str(size[1]),
                       max=str(MAX_SIDE)) from exc  # fmt: skip
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise LabError("error.segment.not_an_image") from exc
    w, h = img.size
    if max(w, h) > MAX_SIDE:
        raise LabError("error.segment.image_too_large", width=str(w), height=str(h), max=str(MAX_SIDE))
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
        raise LabError("error.segment.image_damaged") from exc
