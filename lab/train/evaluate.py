"""After a run: the held-out images segmented by the trained model, Dice and IoU per image, within a deadline."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch.nn as nn

from lab.errors import LabError
from lab.segment import dice, iou, segment
from lab.train.loop import Pace

__all__ = ["EVAL_COLUMNS", "evaluate", "within"]

EVAL_COLUMNS = ["name", "dice", "iou", "true_pixels", "predicted_pixels"]


def same_counts(images: Sequence[Any], masks: Sequence[Any], names: Sequence[str]) -> None:
    if not len(images) == len(masks) == len(names):
        raise LabError("error.train.name_counts", images=len(images), masks=len(masks), names=len(names))


def within(images: Sequence[Any], until: float | None, pace: Pace | None, work: float) -> Iterator[int]:
    """Indices of `images` in order while `pace` says the next one (`work` units per pixel) ends by `until`; each
    image's time is measured into `pace` as the caller's loop body runs."""
    pace = Pace() if pace is None else pace
    for i, image in enumerate(images):
        units = work * max(1, int(np.prod(np.shape(image)[:2])))
        if not pace.fits(until, units):
            return
        with pace.measure(units):
            yield i


def evaluate(model: nn.Module, images: Sequence[Any], masks: Sequence[Any], names: Sequence[str], *,
             until: float | None = None, pace: Pace | None = None) -> pd.DataFrame:  # fmt: skip
    """Dice and IoU per image of `model`'s masks (lab.segment.segment, threshold 0.5); `attrs["masks"]` keeps them.

    With `until` (a `pace.clock()` time; `pace` in seconds per pixel, e.g. `Training.val_pace`), images are
    segmented in order while the next is expected to end by then: the table covers those only.
    """
    same_counts(images, masks, names)
    rows, predicted = [], []
    for i in within(images, until, pace, 1.0):
        pred = segment(model, images[i]).mask
        true = np.asarray(masks[i]) > 0
        predicted.append(pred)
        rows.append({"name": names[i], "dice": dice(pred, true), "iou": iou(pred, true),
                     "true_pixels": int(true.sum()), "predicted_pixels": int(pred.sum())})  # fmt: skip
    df = pd.DataFrame(rows, columns=EVAL_COLUMNS)
    df.attrs["masks"] = predicted
    return df
