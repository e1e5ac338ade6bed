"""The U-Net tab's segmentation view in one call: which image, which model, the masks, the scores and the code.

`segment_view` picks the image (a shipped sample by name, or an uploaded file), segments it (the fast path of
`core.segment`), renders what the page shows and writes the code panel; `rethreshold` redraws a view at another
threshold without running the model again. Both return data (`SegmentView`); the tab words it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch.nn as nn

from lab.errors import LabError, choice, number
from lab.segment.code import to_code
from lab.segment.core import dice, iou, overlay, prob_image, segment
from lab.segment.io import (
    SAMPLES,
    SHIPPED_CONFIG,
    SHIPPED_WEIGHTS,
    load_image,
    pretrained,
    pretrained_info,
    sample_names,
    samples,
)

__all__ = ["ModelCard", "SegmentView", "shipped_card", "model_card", "segment_view", "rethreshold"]

DEFAULT_SAMPLE = "cells_06"  # a held-out sample: the shipped U-Net never saw it in training


@dataclass(frozen=True)
class ModelCard:
    """Which model segments, as the page names it: where it comes from, its architecture, the files of its
    weights that the code panel loads (base names; `config_file` None when the architecture is written into the
    code instead), and for the shipped one its Dice on the samples it never saw."""

    source: str  # "shipped", "train" (the Train tab's model) or "uploaded"
    config: dict
    params: int
    weights: str
    config_file: str | None
    held_out_dice: float | None = None


@dataclass(frozen=True)
class SegmentView:
    """One segmentation as the tab shows it; every array is the image's height and width."""

    name: str  # the sample's name or the uploaded file's base name
    image: np.ndarray
    true: np.ndarray | None  # the sample's true mask (HxW bool); None for an upload
    prob: np.ndarray  # HxW float32 foreground probability
    threshold: float
    overlay: np.ndarray  # HxWx3 uint8: the mask tinted over the image
    prob_image: np.ndarray  # HxWx3 uint8: the probability map in Viridis
    true_image: np.ndarray | None  # HxW uint8, 255 = foreground
    foreground: float  # % of pixels in the mask
    dice: float | None
    iou: float | None
    ms: float  # time segment() took
    device: str
    precision: str  # "fp32" or "bf16"
    card: ModelCard
    code: str  # the code panel: the same segmentation, plain fp32
    files: tuple[str, ...]  # server paths of the files that code reads which the page hands out


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[nn.Module, ModelCard]:
    """The shipped U-Net, read-only, for inference only: its weights never change, so sessions share it (a session
    that trains or edits a model gets its own copy from `pretrained()`)."""
    model = pretrained()
    for p in model.parameters():
        p.requires_grad_(False)
    info = pretrained_info()
    card = ModelCard("shipped", dict(info["config"]), _params(model), SHIPPED_WEIGHTS.name, SHIPPED_CONFIG.name,
                     float(info["held_out_dice"]))  # fmt: skip
    return model, card


def shipped_card() -> ModelCard:
    """The shipped small U-Net's card."""
    return _shipped()[1]


def model_card(model: nn.Module, source: str, weights: str, config_file: str | None, config: dict | None = None):
    """The card of a model the visitor brought: trained in the Train tab or uploaded (`config`: what it was
    rebuilt from; default: its own `config()`)."""
    source = choice("segment.model", source, ("train", "uploaded"))
    config = dict(config if config is not None else model.config())
    return ModelCard(source, config, _params(model), Path(weights).name,
                     None if config_file is None else Path(config_file).name)  # fmt: skip


def _render(view: SegmentView, threshold: float) -> SegmentView:
    """`view` at `threshold`: mask, pictures, scores and code follow it."""
    mask = view.prob > threshold
    true = view.true
    card = view.card
    mask_file = f"{view.name}_mask.png" if true is not None else None
    code = to_code(view.name if true is None else f"{view.name}.png", threshold=threshold, weights=card.weights,
                   config_file=card.config_file, config=card.config, mask=mask_file,
                   size=view.prob.shape)  # fmt: skip
    return dataclasses.replace(
        view, threshold=threshold, overlay=overlay(view.image, mask), prob_image=prob_image(view.prob),
        true_image=None if true is None else np.asarray(true, dtype=np.uint8) * 255,
        foreground=float(mask.mean() * 100), dice=None if true is None else dice(mask, true),
        iou=None if true is None else iou(mask, true), code=code,
    )  # fmt: skip


def segment_view(sample: str | None = None, threshold: float = 0.5, *, upload: str | None = None,
                 model: nn.Module | None = None, card: ModelCard | None = None) -> SegmentView:  # fmt: skip
    """Segment a shipped sample (by name) or an uploaded image file (`upload` wins) with `model` (described by
    `card`; default: the shipped small U-Net) at `threshold`: the whole view the tab shows, as data."""
    threshold = number("segment.threshold", threshold, 0.0, 1.0)
    if upload:
        name, image, true = Path(upload).name, load_image(upload), None
    elif not sample:
        raise LabError("error.segment.no_image")
    else:
        name = choice("segment.sample", sample, sample_names())
        found = next(s for s in samples() if s.name == name)
        image, true = found.image, found.mask
    if model is None:
        model, card = _shipped()
    elif card is None:  # a model without its card: name its files as save_with_config would
        config = model.config() if callable(getattr(model, "config", None)) else {}
        card = ModelCard("uploaded", dict(config), _params(model), "unet.safetensors", "unet.json")
    start = time.perf_counter()
    result = segment(model, image, threshold=threshold)
    ms = (time.perf_counter() - start) * 1000
    files = []
    if true is not None:
        files += [str(SAMPLES / f"{name}.png"), str(SAMPLES / f"{name}_mask.png")]
    if card.source == "shipped":
        files += [str(SHIPPED_WEIGHTS), str(SHIPPED_CONFIG)]
    empty = np.zeros((0,), np.uint8)
    view = SegmentView(name=name, image=image, true=true, prob=result.prob, threshold=threshold, overlay=empty,
                       prob_image=empty, true_image=None, foreground=0.0, dice=None, iou=None, ms=ms,
                       device=str(next(model.parameters()).device), precision=result.precision, card=card, code="",
                       files=tuple(files))  # fmt: skip
    return _render(view, threshold)


def rethreshold(view: SegmentView, threshold: float) -> SegmentView:
    """The same segmentation at another threshold, without running the model again."""
    if not isinstance(view, SegmentView):
        raise LabError("error.segment.nothing_segmented")
    return _render(view, number("segment.threshold", threshold, 0.0, 1.0))
