"""The Train tab's pitfall, run live: validating without `model.eval()`.

The tutorial's chapter 4 switches modes (`model.train()` before training, `model.eval()` before validating); the
loops chapters 5 and 6 sketch (6.2's `train(...)`, `validate(...)`) leave the switch to those functions, and a
`validate()` written without it keeps BatchNorm in training mode: each image is normalised with its own statistics
(and the running statistics are overwritten while validating). Both validations below run on the same model and
images: the careless one on a copy, so the model itself is left untouched.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from lab.pitfall import Pitfall, attempt
from lab.segment import to_tensor
from lab.source import source
from lab.train.evaluate import same_counts, within
from lab.train.loop import Pace, dice_score

__all__ = ["validate_without_eval", "validate_with_eval", "eval_mode"]


@torch.no_grad()
def validate_without_eval(model: nn.Module, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> list[float]:
    # the mistake: no model.eval(), so BatchNorm normalises each image with its own statistics
    scores = []
    for x, y in zip(xs, ys, strict=True):
        pred = model(x[None])[0] > 0
        scores.append(dice_score(pred, y > 0.5))
    return scores


@torch.no_grad()
def validate_with_eval(model: nn.Module, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> list[float]:
    model.eval()  # BatchNorm uses the running statistics it learned; Dropout is off
    scores = []
    for x, y in zip(xs, ys, strict=True):
        pred = model(x[None])[0] > 0
        scores.append(dice_score(pred, y > 0.5))
    model.train()  # before the next training step
    return scores


def _mean(scores: list[float]) -> str:
    """What `print(f"{np.mean(scores):.4f}")` shows after the validation."""
    return f"{np.mean(scores):.4f}" if scores else "nan"


def eval_mode(
    model: nn.Module, images: Sequence[Any], masks: Sequence[Any], names: Sequence[str], *,
    until: float | None = None, pace: Pace | None = None,
) -> Pitfall:  # fmt: skip
    """Validation Dice of `model` on the images, with and without `model.eval()`, image by image.

    Each image alone is a batch of one; train-mode BatchNorm cannot normalise one value per channel, so an image
    whose U bottom is 1 x 1 gets no train-mode score (NaN, torch's refusal kept as the wrong side's error when
    every image fails). `until` and `pace` bound the work as in `evaluate` (two passes per image).
    """
    same_counts(images, masks, names)
    device = next(model.parameters()).device
    depth = getattr(model, "depth", 0)
    careless = copy.deepcopy(model).train()  # its BatchNorm running statistics get overwritten: a copy
    was_training = model.training
    chosen = list(within(images, until, pace, 2.0))
    xs = [to_tensor(images[i], getattr(model, "n_channels", 3))[0].to(device) for i in chosen]
    ys = [torch.from_numpy((np.asarray(masks[i]) > 0).astype(np.float32))[None].to(device) for i in chosen]
    right_scores = validate_with_eval(model, xs, ys)
    model.train(was_training)
    wrong_scores = []
    for x, y in zip(xs, ys, strict=True):
        bottom = (x.shape[-2] >> depth) * (x.shape[-1] >> depth)  # values per channel at the U's bottom
        wrong_scores.append(validate_without_eval(careless, [x], [y])[0] if bottom > 1 else math.nan)
    scored = [s for s in wrong_scores if not math.isnan(s)]
    table = pd.DataFrame({"name": [names[i] for i in chosen], "eval": right_scores, "train": wrong_scores})
    mean = pd.DataFrame([{"name": "mean", "eval": table["eval"].mean(), "train": table["train"].mean()}])
    table = pd.concat([table, mean], ignore_index=True).round(4)
    return Pitfall(
        id="train.eval_mode",
        section="6.2",
        wrong_code=source(validate_without_eval),
        right_code=source(validate_with_eval),
        wrong=attempt(lambda: _mean(scored) if scored else validate_without_eval(careless, xs[:1], ys[:1])),
        right=attempt(lambda: _mean(right_scores)),
        facts={"images": len(chosen), "eval": float(np.mean(right_scores)) if right_scores else math.nan,
               "train": float(np.mean(scored)) if scored else math.nan},  # fmt: skip
        table=table,
    )
