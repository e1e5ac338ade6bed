"""What a run may be given: the bounds, the defaults, the loss and schedule specs, the lr plan checked before step 1.

The loss and the schedule arrive typed from their tabs (`lab.losses.LossSpec`, `lab.schedules.ScheduleSpec`) or
as plain values from scripts (a name, `(name, params)`, or the old `{"name", "params"}` hand-off); each is turned
into its spec here, once, and checked once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from lab import losses, schedules
from lab.errors import LabError, Term, choice, number, shown
from lab.safe_expr import check_plain

__all__ = [
    "MAX_STEPS", "MAX_TIME_S", "MAX_BATCH", "MAX_IMAGES", "MAX_PIXELS", "MAX_LR", "FINAL_GRACE_S", "OPTIMIZERS",
    "PRECISIONS", "HISTORY_COLUMNS", "DEFAULTS", "NO_SCHEDULE", "loss_spec", "schedule_spec", "is_per_batch",
    "n_val", "steps_per_epoch", "lr_preview", "check_lr_plan",
]

MAX_STEPS = 5_000
MAX_TIME_S = 300.0
MAX_BATCH = 64
MAX_IMAGES = 2_000
MAX_PIXELS = 2**25  # all images together (33 M pixels, 400 MB as fp32 RGB): beyond that a 2-core Space runs out
MAX_LR = 10.0  # the lr field's cap, and the cap on every lr a schedule sets during a run
FINAL_GRACE_S = 5.0  # the last validation (and the tab's scoring of the validation images) may end this much late
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
HISTORY_COLUMNS = ("step", "epoch", "loss", "lr", "val_dice", "elapsed_s")
NO_SCHEDULE = "none"  # the scheduler name of a constant lr

# What the Train tab starts from; bench/train.py checks these reach validation Dice >= 0.90 on the samples in 30 s.
DEFAULTS: dict[str, Any] = {
    "base_channels": 16,  # width of the top level; each level down doubles it
    "depth": 3,  # 3 poolings: an 8x8 receptive grid at the bottom is enough for cells of 10-60 pixels
    "crop_size": 128,  # random square crops per batch item: 8 x 128**2 pixels per step
    "optimizer": "adamw",
    "lr": 3e-3,
    "weight_decay": 1e-4,
    # one cycle: warm up to max_lr over 15% of the run, then anneal to ~0; the anneal is what lifts Dice past 0.9
    # (a constant 3e-3 plateaus near 0.90; max_lr 6e-3 overshoots: measured in bench/results/train.md)
    "scheduler": ("OneCycleLR", {"max_lr": 3e-3, "pct_start": 0.15}),
    "steps": 300,
    "batch_size": 8,
    "time_limit_s": 60.0,
}


# ---------------------------------------------------------------------------------------------------------------
# The loss and the schedule


def _named_params(field: str, params: Any) -> dict[str, Any]:
    """Named parameters as a plain dict with text keys (None: none); LabError naming the field otherwise."""
    if params is None:
        return {}
    if not isinstance(params, Mapping) or not all(isinstance(key, str) for key in params):
        raise LabError("error.value", field=field, value=shown(params), accepted=Term("accept.train.named_params"))
    return dict(params)


def _name_and_params(value: Any) -> tuple[Any, Any]:
    if isinstance(value, Mapping):  # the old hand-off between tabs: {"name": ..., "params": ...}
        return value.get("name"), value.get("params")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    return value, None


def loss_spec(loss: Any, params: Any = None) -> losses.LossSpec | nn.Module:
    """`loss` as a LossSpec (checked once): a LossSpec, a name with `params`, (name, params) or {"name", "params"};
    an nn.Module is returned as it is (trained as given, described by its class name)."""
    if isinstance(loss, (losses.LossSpec, nn.Module)):
        return loss
    check_plain(loss, "loss")  # depth, size and digits bounded before the checks below walk or quote it
    name, inner = _name_and_params(loss)
    if not isinstance(name, str) or not name:
        raise LabError("error.value", field="train.loss", value=shown(loss),
                       accepted=Term("accept.one_of", options=", ".join(losses.NAMES)))  # fmt: skip
    named = _named_params("train.loss_params", inner if params is None else params)
    losses.get(name, **named)  # refuses parameters the loss does not take (a LossSpec would drop them)
    return losses.LossSpec.of(name, **named)


def schedule_spec(scheduler: Any) -> schedules.ScheduleSpec | None:
    """`scheduler` as a ScheduleSpec (checked once), or None for a constant lr: a ScheduleSpec, None, a name,
    (name, params) or {"name", "params"} (a name "" or "none" means a constant lr)."""
    if scheduler is None or isinstance(scheduler, schedules.ScheduleSpec):
        return scheduler
    check_plain(scheduler, "scheduler")
    name, params = _name_and_params(scheduler)
    if name is None or (isinstance(name, str) and name in ("", NO_SCHEDULE, "None")):
        return None
    choice("train.scheduler", name, [NO_SCHEDULE, *schedules.NAMES])
    return schedules.ScheduleSpec.of(name, _named_params("train.scheduler_params", params))


def describe_loss(spec: losses.LossSpec | nn.Module) -> dict[str, Any]:
    """The JSON-ready description a run's config keeps: {"name", "params"}."""
    if isinstance(spec, nn.Module):
        return {"name": type(spec).__name__, "params": {}}
    return {"name": spec.name, "params": spec.kwargs()}


def is_per_batch(spec: schedules.ScheduleSpec, total_steps: int) -> bool:
    """Whether the schedule steps after every batch (OneCycleLR, CyclicLR) rather than once per epoch."""
    # built once on a throwaway optimizer: building a scheduler changes its optimizer's lr
    probe = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    return schedules.make_scheduler(spec.name, spec.kwargs(), probe, total_steps=total_steps).per_batch


# ---------------------------------------------------------------------------------------------------------------
# Epochs and the lr plan


def n_val(n: int, val_fraction: float) -> int:
    """How many of `n` images are held out: a fraction, at least one, and at least one left to train on."""
    return min(n - 1, max(1, round(n * val_fraction)))


def steps_per_epoch(n_images: int, batch_size: int, val_fraction: float = 0.2) -> int:
    """Batches per epoch: as many as it takes to draw each training image once on average."""
    val_fraction = number("train.val_fraction", val_fraction, 0.0, 0.9, low_open=True)
    return math.ceil((n_images - n_val(n_images, val_fraction)) / batch_size)


def lr_preview(
    scheduler: Any, *, steps: int, lr: float, n_images: int, batch_size: int, val_fraction: float = 0.2
) -> pd.DataFrame:
    """The lr each step of a run will use (columns step 1..steps, lr), from lab.schedules.lr_curve stepped the way
    `Training` steps the scheduler. Exact for every scheduler but ReduceLROnPlateau, which reacts to the run's own
    loss (its preview uses lr_curve's built-in plateauing metric)."""
    steps = number("train.steps", steps, 1, MAX_STEPS, integer=True)
    lr = number("train.lr", lr, 0.0, MAX_LR, low_open=True)
    spec = schedule_spec(scheduler)
    if spec is None:
        return pd.DataFrame({"step": np.arange(1, steps + 1), "lr": np.full(steps, lr)})
    if is_per_batch(spec, steps):
        df = schedules.lr_curve(spec.name, spec.kwargs(), steps=steps, base_lr=lr)
    else:
        spe = steps_per_epoch(n_images, number("train.batch_size", batch_size, 1, MAX_BATCH, integer=True),
                              val_fraction)  # fmt: skip
        df = schedules.lr_curve(spec.name, spec.kwargs(), steps=math.ceil(steps / spe) * spe, base_lr=lr,
                                steps_per_epoch=spe)  # fmt: skip
    return pd.DataFrame({"step": np.arange(1, steps + 1), "lr": df["lr"].to_numpy()[:steps]})


def check_lr_plan(spec: schedules.ScheduleSpec, plan: pd.DataFrame) -> None:
    """Refuse a schedule whose lr leaves [0, MAX_LR] at some step of the run (the lr field's cap holds for every
    step, not only the first): named by the scheduler, the step and the lr."""
    lrs = plan["lr"].to_numpy()
    bad = np.flatnonzero(~((lrs >= 0) & (lrs <= MAX_LR)))  # NaN fails both tests
    if bad.size:
        i = int(bad[0])
        raise LabError("error.train.lr_plan", scheduler=schedules.describe(spec.name, spec.kwargs()),
                       lr=f"{lrs[i]:.6g}", step=int(plan["step"].iloc[i]), cap=MAX_LR)  # fmt: skip
