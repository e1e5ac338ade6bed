"""Building and stepping schedulers: one code path for the curves, the exported code and the Train tab.

Curves are never re-derived by formula: the real `torch.optim.lr_scheduler` class is built on an SGD optimizer
(momentum 0.9) and `param_groups[0]["lr"]` is recorded during each optimizer step, so the numbers are exactly
torch's. A step is one batch; per-batch schedulers (OneCycleLR, CyclicLR) step after every batch and all others
once per epoch, as a real training loop does (6.2.1; docs/tutorial-notes.md: the tutorial's loop gets this wrong).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from lab.errors import LabError
from lab.safe_expr import compile_expression
from lab.schedules.params import (
    COMPOSITE,
    CUSTOM,
    PER_BATCH,
    check_params,
    check_steps,
    is_per_batch,
    scheduler_class,
)  # fmt: skip
from lab.schedules.spec import Curve, describe

__all__ = ["adjust_learning_rate", "AdjustLearningRate", "BuiltScheduler", "make_scheduler", "plateau_metric",
           "curve_frame", "lr_curve", "marks", "curve_marks", "torch_call", "build_scheduler"]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The tutorial's custom schedule (6.2.2), made explicit: no global `args`, called at the START of each epoch.
# (Its own version, global `args` and all, lives in pitfalls.py and runs there.)


def adjust_learning_rate(
    optimizer: torch.optim.Optimizer, epoch: int, *, base_lr: float, every: int = 30, factor: float = 0.1
) -> None:
    """Tutorial 6.2.2: sets every param group's lr to `base_lr * factor ** (epoch // every)` (a tenth every 30)."""
    lr = base_lr * (factor ** (epoch // every))
    for param_group in optimizer.param_groups:
        param_group["lr"] = lr


class AdjustLearningRate:
    """`adjust_learning_rate` with a scheduler's interface: `step()` once per epoch, after the epoch's batches.

    Like StepLR(every, factor) it sets the lr for epoch e to base_lr * factor ** (e // every); like the tutorial's
    function it overwrites every param group with group 0's initial lr.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, every: int = 30, factor: float = 0.1) -> None:
        self.optimizer = optimizer
        self.every, self.factor = every, factor
        self.base_lr = float(optimizer.param_groups[0]["lr"])
        self.last_epoch = 0
        adjust_learning_rate(optimizer, 0, base_lr=self.base_lr, every=every, factor=factor)

    def step(self) -> None:
        self.last_epoch += 1  # the epoch about to start
        adjust_learning_rate(self.optimizer, self.last_epoch, base_lr=self.base_lr, every=self.every,
                             factor=self.factor)  # fmt: skip

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        return {"every": self.every, "factor": self.factor, "base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def plateau_metric(epochs: int, seed: int = 0) -> list[float]:
    """A noisy validation loss that falls, then plateaus near 0.25 (ReduceLROnPlateau's built-in input)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(epochs, dtype=torch.float64)
    noise = torch.randn(epochs, generator=g, dtype=torch.float64)
    return (0.25 + 0.75 * torch.exp(-t / 8) + 0.02 * noise).tolist()


# ---------------------------------------------------------------------------------------------------------------
# Building


@dataclass
class BuiltScheduler:
    """A scheduler built from plain values, and how a training loop must step it.

    Step it with `step(metric)` after `optimizer.step()`: after every batch when `per_batch`, else once at the end
    of each epoch. `metric` (the epoch's validation loss, say) is read only when `needs_metric` (ReduceLROnPlateau).
    """

    name: str
    params: dict[str, Any]  # normalised plain values (lr_lambda stays text, OneCycleLR's total_steps filled in)
    scheduler: Any  # a torch LRScheduler, or AdjustLearningRate
    per_batch: bool
    needs_metric: bool

    def step(self, metric: float | None = None) -> None:
        if self.needs_metric:
            if metric is None:
                raise LabError("error.schedules.needs_metric")
            self.scheduler.step(metric)
        else:
            self.scheduler.step()

    @property
    def lr(self) -> float:
        return float(self.scheduler.optimizer.param_groups[0]["lr"])


def _construct(name: str, params: dict[str, Any], optimizer: torch.optim.Optimizer, n_steps: int) -> Any:
    """The torch object for normalised params; `n_steps` is how often it will be stepped (OneCycleLR's default)."""
    kwargs = dict(params)
    if "lr_lambda" in kwargs:
        kwargs["lr_lambda"] = compile_expression(kwargs["lr_lambda"])
    if name == "OneCycleLR" and kwargs.get("total_steps") is None:
        if kwargs.get("epochs") is None or kwargs.get("steps_per_epoch") is None:
            kwargs["total_steps"] = params["total_steps"] = n_steps  # documented default: the curve's length
    if name in COMPOSITE:
        kwargs["schedulers"] = [_construct(m["name"], m["params"], optimizer, n_steps) for m in kwargs["schedulers"]]
        if name == "ChainedScheduler":
            kwargs["optimizer"] = optimizer
            return scheduler_class(name)(**kwargs)
    return scheduler_class(name)(optimizer, **kwargs)


def torch_call(name: str, params: dict[str, Any], fn: Callable[[], Any]) -> Any:
    """Run `fn`, turning what torch raises for bad values into one LabError sentence."""
    try:
        return fn()
    except LabError:
        raise
    except ArithmeticError as exc:  # a Python float overflowing or dividing by zero inside the schedule
        key = "error.schedules.zero_division" if isinstance(exc, ZeroDivisionError) else "error.schedules.overflow"
        raise LabError(key, call=describe(name, params)) from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        reason = str(exc).split("\n")[0].rstrip(".")[:300] or type(exc).__name__
        raise LabError("error.schedules.torch", call=describe(name, params), reason=reason) from None


def build_scheduler(name: str, norm: dict[str, Any], optimizer: torch.optim.Optimizer, total_steps: int,
          steps_per_epoch: int) -> BuiltScheduler:  # fmt: skip
    per_batch = is_per_batch(name, norm)
    n_steps = total_steps if per_batch else total_steps // steps_per_epoch
    scheduler = torch_call(name, norm, lambda: _construct(name, norm, optimizer, n_steps))
    return BuiltScheduler(name=name, params=norm, scheduler=scheduler, per_batch=per_batch,
                          needs_metric=name == "ReduceLROnPlateau")  # fmt: skip


def make_scheduler(name: str, params: dict[str, Any] | None, optimizer: torch.optim.Optimizer, *,
                   total_steps: int, steps_per_epoch: int = 1) -> BuiltScheduler:  # fmt: skip
    """Build scheduler `name` on `optimizer` from plain `params` (as `lr_curve` takes them).

    `total_steps` is the number of optimizer steps (batches) the loop will make, `steps_per_epoch` the batches per
    epoch; per-epoch schedulers are stepped total_steps // steps_per_epoch times. Values torch refuses raise
    LabError. Build the optimizer first; building a scheduler sets its lr (as in torch).
    """
    total_steps, steps_per_epoch = check_steps(total_steps, steps_per_epoch)
    return build_scheduler(name, check_params(name, params), optimizer, total_steps, steps_per_epoch)


# ---------------------------------------------------------------------------------------------------------------
# The curve


def curve_frame(curve: Curve) -> pd.DataFrame:
    """The lr of param group 0 in effect during each of the curve's optimizer steps, exactly as torch produces it.

    `curve` is already validated (`Curve.of`); see `lr_curve` for the columns and attrs.
    """
    steps, steps_per_epoch, epochs, name = curve.steps, curve.steps_per_epoch, curve.epochs, curve.name
    # The scheduler only reads and writes param_groups; a one-element CPU parameter is all it needs (no gradient
    # is ever computed, so placing it on the lab's device would only add start-up time, never change a number).
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=curve.base_lr, momentum=0.9)
    built = build_scheduler(name, curve.schedule.kwargs(), optimizer, steps, steps_per_epoch)
    # optimizer.step() never changes an lr; calling it once (no gradient: nothing is updated) is what torch's
    # "scheduler stepped before optimizer" check looks for, so the loop below can skip it (docs/tutorial-notes.md 6.2)
    optimizer.step()
    group = optimizer.param_groups[0]  # schedulers update this dict in place
    metric_values = None
    if built.needs_metric:
        metric_values = list(curve.metrics) if curve.metrics is not None else plateau_metric(epochs)

    def run() -> list[float]:
        step = built.scheduler.step
        if built.per_batch:
            lrs = [0.0] * steps
            for i in range(steps - 1):
                lrs[i] = group["lr"]
                step()
            lrs[steps - 1] = group["lr"]  # no step after the last one is recorded
            return lrs
        per_epoch = [0.0] * epochs
        for e in range(epochs - 1):
            per_epoch[e] = group["lr"]
            if metric_values is None:
                step()
            else:
                step(metric_values[e])
        per_epoch[epochs - 1] = group["lr"]
        return per_epoch

    lrs = np.asarray(torch_call(name, built.params, run), dtype=np.float64)
    if not built.per_batch:
        lrs = np.repeat(lrs, steps_per_epoch)
    bad = np.flatnonzero(~np.isfinite(lrs))
    if bad.size:
        raise LabError("error.schedules.not_finite", call=describe(name, built.params), value=str(lrs[bad[0]]),
                       step=str(int(bad[0])))  # fmt: skip
    table = {"step": np.arange(steps), "epoch": np.arange(steps) / steps_per_epoch, "lr": lrs}
    if metric_values is not None:
        table["metric"] = np.repeat(np.asarray(metric_values, dtype=np.float64), steps_per_epoch)
    df = pd.DataFrame(table)
    df.attrs.update(name=name, params=built.params, per_batch=built.per_batch, steps_per_epoch=steps_per_epoch)
    return df


def lr_curve(name: str, params: dict[str, Any] | None = None, *, steps: int = 100, base_lr: float = 0.1,
             metrics: Sequence[float] | None = None, steps_per_epoch: int = 1) -> pd.DataFrame:  # fmt: skip
    """The lr of param group 0 in effect during each of `steps` optimizer steps, exactly as torch produces it.

    Columns: `step` (0..steps-1), `epoch` (step / steps_per_epoch), `lr`; ReduceLROnPlateau adds `metric` (the
    value it read at the end of the step's epoch). Per-batch schedulers step after every step, the others after
    every `steps_per_epoch` steps. `metrics`: ReduceLROnPlateau's input, one value per step or per epoch; a
    built-in noisy plateauing loss (`plateau_metric`) when None. attrs: name, params (normalised, OneCycleLR's
    total_steps filled in), per_batch, steps_per_epoch.
    """
    return curve_frame(Curve.of(name, params, steps=steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                                metrics=metrics))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Marks: steps where something happens


def curve_marks(name: str, params: dict[str, Any], *, steps: int, steps_per_epoch: int,
                curve: pd.DataFrame | None = None) -> list[tuple[int, str]]:  # fmt: skip
    """`marks` for validated params (no checks): decays, milestones, restarts, hand-overs, plateau reductions."""
    epochs = steps // steps_per_epoch
    to_step = 1 if name in PER_BATCH else steps_per_epoch
    found: list[tuple[int, str]] = []
    if name == "StepLR":
        found = [(e, "decay") for e in range(params["step_size"], epochs, params["step_size"])]
    elif name == CUSTOM:
        every = params.get("every", 30)
        found = [(e, "decay") for e in range(every, epochs, every)]
    elif name == "MultiStepLR":
        found = [(e, "milestone") for e in sorted(set(params["milestones"])) if 0 < e < epochs]
    elif name == "SequentialLR":
        members = params["schedulers"]
        per = 1 if is_per_batch(name, params) else steps_per_epoch
        return [(e * per, f"→ {members[i + 1]['name']}") for i, e in enumerate(params["milestones"]) if e * per < steps]
    elif name == "CosineAnnealingWarmRestarts":
        period, e = params["T_0"], params["T_0"]
        while e < epochs and len(found) < 200:
            found.append((e, "restart"))
            period *= params.get("T_mult", 1)
            e += period
    elif name == "CosineAnnealingLR":
        found = [(e, "T_max") for e in range(params["T_max"], epochs, params["T_max"])]
    elif name == "ReduceLROnPlateau" and curve is not None:
        lr = curve["lr"].to_numpy()
        return [(int(i), "plateau") for i in np.flatnonzero(lr[1:] < lr[:-1]) + 1][:200]
    return [(e * to_step, label) for e, label in found[:200]]


def marks(name: str, params: dict[str, Any], *, steps: int, steps_per_epoch: int = 1,
          curve: pd.DataFrame | None = None) -> list[tuple[int, str]]:  # fmt: skip
    """Steps where something happens: decays at milestones, restarts, hand-overs, plateau reductions.

    `params` as `lr_curve` takes them (its `attrs["params"]` too); checked like theirs. Each mark is (step, kind):
    kind is "decay", "milestone", "restart", "T_max", "plateau" or "→ <member>" (SequentialLR's hand-over).
    """
    steps, steps_per_epoch = check_steps(steps, steps_per_epoch)
    return curve_marks(name, check_params(name, params), steps=steps, steps_per_epoch=steps_per_epoch, curve=curve)
