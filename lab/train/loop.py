"""The training loop, in pieces that read like the tutorial's chapters put together (5.2 + 6.1 + 6.2).

`train_steps` is the loop: per batch `optimizer.step()`, then the scheduler (after every batch for OneCycleLR and
CyclicLR, once at the end of each epoch for the others, ReduceLROnPlateau with the epoch's mean loss), the loss
from fp32 logits, validation in `model.eval()` on the held-out images. `lab.train.Training` runs these very
functions, and the Train tab's code panel prints them (lab.source): what the panel shows is what ran.

The time limit (issue 12): the clock is read before every step and before every validation image, and a step or an
image starts only if the pace measured so far (`Pace`: the slowest recent step; seconds per validated pixel) says it
ends within the limit. So a run ends within the limit plus one step (a step slower than all before it) plus the
grace the final validation may use.
"""

from __future__ import annotations

import collections
import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lab.errors import LabError
from lab.train.data import Split, random_batch
from lab.train.settings import MAX_LR

__all__ = ["Pace", "LoopSettings", "make_optimizer", "logits_of", "dice_score", "validate", "step_scheduler", "score",
           "train_steps"]


class Pace:
    """Seconds per unit of work (a training step, a pixel of validation) as measured so far, and whether the next
    piece can end by a deadline: a loop asks `fits` before starting work, so it never starts what cannot finish.

    The estimate is the slowest of the last few measured rates, so a machine that has just become loaded is believed
    at once; `prior` stands in until something is measured.
    """

    def __init__(self, prior: float = 0.0, clock: Callable[[], float] = time.perf_counter, keep: int = 3) -> None:
        self.prior, self.clock = prior, clock
        self.recent: collections.deque[float] = collections.deque(maxlen=keep)

    def estimate(self, units: float = 1.0) -> float:
        return units * (max(self.recent) if self.recent else self.prior)

    def fits(self, until: float | None, units: float = 1.0) -> bool:
        """Whether `units` of work started now end by `until` (a `clock()` time; None: no deadline)."""
        if until is None:
            return True
        now = self.clock()
        return now < until and now + self.estimate(units) <= until

    @contextlib.contextmanager
    def measure(self, units: float = 1.0) -> Iterator[None]:
        """Time the work inside the `with` block as `units` units."""
        start = self.clock()
        yield
        self.recent.append((self.clock() - start) / units)


@dataclass
class LoopSettings:
    """How the loop runs: its length, its batches, when it validates and how it computes."""

    steps: int
    batch_size: int
    crop: int  # side of the random square crops
    steps_per_epoch: int  # batches per epoch: each training image drawn once on average
    val_every: int  # validate every this many steps (and after the last)
    per_batch: bool  # the scheduler steps after every batch (OneCycleLR, CyclicLR), else at the end of each epoch
    use_bf16: bool  # bf16 autocast: on CPUs with AVX512-BF16/AMX and recent GPUs, about 2x per step
    memory_format: torch.memory_format = torch.channels_last


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, or SGD with momentum 0.9, over the parameters that train."""
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def logits_of(model: nn.Module, x: torch.Tensor, use_bf16: bool) -> torch.Tensor:
    """The model's logits in fp32 (the loss must never see bf16: sums over 10^5 pixels would round)."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=use_bf16):
        logits = model(x)
    return logits.float()


def dice_score(pred: torch.Tensor, true: torch.Tensor) -> float:
    """Dice of two boolean masks: 2 |P & T| / (|P| + |T|); both empty counts as 1."""
    total = int(pred.sum()) + int(true.sum())
    return 1.0 if total == 0 else 2.0 * int((pred & true).sum()) / total


@torch.no_grad()
def validate(model: nn.Module, data: Split, loop: LoopSettings, pace: Pace, until: float | None = None) -> list[float]:
    """Dice (threshold 0.5) of each whole validation image, in `model.eval()` (BatchNorm's running statistics);
    with `until`, only the images the pace says end by then, in order."""
    model.eval()
    scores = []
    try:
        for i in data.val_index:
            pixels = data.xs[i].shape[-2] * data.xs[i].shape[-1]
            if not pace.fits(until, pixels):
                break
            with pace.measure(pixels):
                x = data.xs[i][None].contiguous(memory_format=loop.memory_format)
                pred = logits_of(model, x, loop.use_bf16)[0] > 0  # logit > 0  <=>  sigmoid > 0.5
                scores.append(dice_score(pred, data.ys[i] > 0.5))
    finally:
        model.train()  # back to training mode before the next step
    return scores


def step_scheduler(scheduler: Any, loop: LoopSettings, step: int, losses: list[float]) -> None:
    """Step the scheduler after `optimizer.step()`: after every batch, or at the end of each epoch (6.2).
    ReduceLROnPlateau needs a metric: the batch's loss, or the epoch's mean loss."""
    if scheduler is None or (not loop.per_batch and step % loop.steps_per_epoch):
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(float(np.mean(losses[-1:] if loop.per_batch else losses[-loop.steps_per_epoch :])))
    else:
        scheduler.step()


def score(row: dict[str, Any], model: nn.Module, data: Split, loop: LoopSettings, paces: tuple[Pace, Pace],
          until: float | None) -> None:  # fmt: skip
    """Validate into a history row: `val_dice` (mean Dice, NaN if no image fits before `until`), `val_images`.
    (The validation before step 1 has measured the pace of a validated pixel: `paces[1]`.)"""
    scores = validate(model, data, loop, paces[1], until)
    row["val_dice"] = float(np.mean(scores)) if scores else math.nan
    row["val_images"] = len(scores)


def _check_lr(step: int, lr: float) -> None:
    # the plan was checked before step 1; this guards what a ReduceLROnPlateau (or a bug) might still do
    if not 0.0 <= lr <= MAX_LR:
        raise LabError("error.train.lr_step", step=step, lr=f"{lr:.6g}", cap=MAX_LR)


def train_steps(
    model: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    data: Split,
    loop: LoopSettings,
    generator: torch.Generator,
    *,
    paces: tuple[Pace, Pace],
    started: float,
    deadline: float | None,
    final_deadline: float | None,
) -> Iterator[dict[str, Any]]:
    """Train `loop.steps` steps (fewer when the time limit comes first), yielding one history row per step.

    A row: step, epoch, loss (the batch's), lr (in effect during the step), val_dice (NaN when not validated),
    val_images, elapsed_s. Validation every `loop.val_every` steps within `deadline`; the last step's, or the last
    row's when the time limit stops the run, within `final_deadline` (that row is then yielded a second time).
    Returns why it ended: "steps" or "time limit".
    """
    step_pace = paces[0]
    clock = step_pace.clock
    losses: list[float] = []
    row: dict[str, Any] | None = None
    for step in range(1, loop.steps + 1):
        if not step_pace.fits(deadline):  # the clock, before every step
            break
        lr = float(optimizer.param_groups[0]["lr"])
        _check_lr(step, lr)
        with step_pace.measure():
            x, y = random_batch(data, loop.batch_size, loop.crop, generator, loop.memory_format)
            loss = loss_fn(logits_of(model, x, loop.use_bf16), y)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise LabError("error.train.diverged", step=step, loss=str(value), lr=f"{lr:g}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()  # once per batch
            losses.append(value)
            step_scheduler(scheduler, loop, step, losses)
        row = {"step": step, "epoch": (step - 1) // loop.steps_per_epoch + 1, "loss": value, "lr": lr,
               "val_dice": math.nan, "val_images": None}  # fmt: skip
        if step == loop.steps:
            score(row, model, data, loop, paces, final_deadline)
        elif step % loop.val_every == 0:  # within the limit: the images that fit
            score(row, model, data, loop, paces, deadline)
        row["elapsed_s"] = clock() - started
        yield row
    else:
        return "steps"
    if row is not None and not row["val_images"]:  # stopped by the time limit: score the model it leaves
        score(row, model, data, loop, paces, final_deadline)
        row["elapsed_s"] = clock() - started
        yield row
    return "time limit"

