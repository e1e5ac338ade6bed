"""Learning-rate schedules (tutorial 6.2): every torch scheduler and the tutorial's `adjust_learning_rate`.

Curves are never re-derived by formula: `lr_curve` builds the real `torch.optim.lr_scheduler` class on an SGD
optimizer (momentum 0.9) and records `param_groups[0]["lr"]` in effect during each optimizer step, so the numbers
are exactly torch's. A step is one batch; with `steps_per_epoch` the per-batch schedulers (OneCycleLR, CyclicLR)
step after every batch and all others once per epoch, as a real training loop does (6.2.1; NOTES.md: the
tutorial's loop gets this wrong). `make_scheduler` is the one code path that builds a scheduler from plain
values; the Train tab steps the object it returns inside its loop.

Public: NAMES, PER_BATCH, MAX_STEPS, ParamSpec, param_specs, default_params, describe, adjust_learning_rate,
AdjustLearningRate, BuiltScheduler, make_scheduler, plateau_metric, lr_curve, marks, curve_figure, to_code,
PITFALLS, pitfall_curve.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from torch.optim import lr_scheduler as torch_schedulers

from lab.errors import LabError, shown
from lab.figures import color, figure
from lab.safe_expr import check_expression, check_plain, compile_expression, parse_json

__all__ = [
    "NAMES",
    "PER_BATCH",
    "COMPOSITE",
    "MAX_STEPS",
    "ParamSpec",
    "param_specs",
    "default_params",
    "describe",
    "check_params",
    "adjust_learning_rate",
    "AdjustLearningRate",
    "BuiltScheduler",
    "make_scheduler",
    "plateau_metric",
    "lr_curve",
    "marks",
    "curve_figure",
    "to_code",
    "PRESETS",
    "PITFALLS",
    "pitfall_curve",
]

MAX_STEPS = 100_000
MAX_MEMBERS = 6  # schedulers inside SequentialLR / ChainedScheduler
MAX_LIST = 100  # milestones
MAX_PLOT_POINTS = 4000  # per trace; longer curves are drawn as a min/max envelope (the table/CSV keep every step)
CUSTOM = "AdjustLearningRate"
PER_BATCH = frozenset({"OneCycleLR", "CyclicLR"})  # designed to step after every batch (their docs say so)
COMPOSITE = frozenset({"SequentialLR", "ChainedScheduler"})
_SKIPPED = {"optimizer", "last_epoch", "scale_fn", "self"}  # not user parameters (scale_fn would need a callable)

# Docs order of torch's scheduler list; any scheduler a newer torch adds is appended alphabetically.
_ORDER = (
    "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR", "ExponentialLR",
    "PolynomialLR", "CosineAnnealingLR", "ChainedScheduler", "SequentialLR", "ReduceLROnPlateau", "CyclicLR",
    "OneCycleLR", "CosineAnnealingWarmRestarts",
)  # fmt: skip


def _torch_names() -> tuple[str, ...]:
    found = {
        name
        for name in torch_schedulers.__all__
        if name != "LRScheduler"
        and inspect.isclass(cls := getattr(torch_schedulers, name, None))
        and issubclass(cls, torch_schedulers.LRScheduler)
    }
    return tuple(n for n in _ORDER if n in found) + tuple(sorted(found - set(_ORDER)))


# ---------------------------------------------------------------------------------------------------------------
# The tutorial's custom schedule (6.2.2), made explicit: no global `args`, called at the START of each epoch.


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


NAMES: tuple[str, ...] = _torch_names() + (CUSTOM,)


# ---------------------------------------------------------------------------------------------------------------
# Parameter descriptions: names and defaults from inspect.signature, kinds/bounds/help from the table below.


@dataclass(frozen=True)
class ParamSpec:
    """One keyword argument of a scheduler, as a form field: `kind` is int, float, optional_int, choice, bool,
    int_list, expr (a safe lr_lambda string) or schedulers (a list of {"name", "params"})."""

    name: str
    kind: str
    default: Any  # torch's default; None when required
    required: bool
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    min_open: bool = False  # minimum itself excluded
    max_open: bool = False
    example: Any = None  # a value to start from when required (what the tab fills in)

    def accepted(self) -> str:
        """Words for what this field accepts, used in error messages."""
        if self.kind == "choice":
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "bool":
            return "true or false"
        if self.kind == "expr":
            return "an expression in epoch such as '0.95 ** epoch'"
        if self.kind == "schedulers":
            return f'a list of 1 to {MAX_MEMBERS} {{"name", "params"}} entries'
        what = {"int": "an integer", "optional_int": "an integer or empty", "float": "a number",
                "int_list": f"a list of up to {MAX_LIST} integers"}[self.kind]  # fmt: skip
        lo = None if self.minimum is None else f"{'>' if self.min_open else '>='} {self.minimum:g}"
        hi = None if self.maximum is None else f"{'<' if self.max_open else '<='} {self.maximum:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        return f"{what} {bounds}" if bounds else what


_STEPS = {"minimum": 1, "maximum": MAX_STEPS}
_COUNT = {"minimum": 0, "maximum": MAX_STEPS}
_FACTOR = {"minimum": 0.0, "maximum": 1.0}
_POSITIVE = {"minimum": 0.0, "min_open": True, "maximum": 1e6}
_NONNEG = {"minimum": 0.0, "maximum": 1e6}
_LAMBDA_HELP = "expression in epoch (0, 1, 2, ...) giving the factor"

# scheduler -> parameter -> (kind, one line of help, extras)
_TABLE: dict[str, dict[str, tuple[str, str, dict[str, Any]]]] = {
    "LambdaLR": {"lr_lambda": ("expr", f"lr = initial lr × factor; {_LAMBDA_HELP}", {"example": "0.95 ** epoch"})},
    "MultiplicativeLR": {
        "lr_lambda": ("expr", f"lr = previous lr × factor, from epoch 1 on; {_LAMBDA_HELP}", {"example": "0.95"})
    },
    "StepLR": {
        "step_size": ("int", "epochs between two decays", {**_STEPS, "example": 30}),
        "gamma": ("float", "factor applied to the lr at every decay", _NONNEG),
    },
    "MultiStepLR": {
        "milestones": ("int_list", "epochs at which the lr is multiplied by gamma", {**_STEPS, "example": [30, 80]}),
        "gamma": ("float", "factor applied at each milestone", _NONNEG),
    },
    "ConstantLR": {
        "factor": ("float", "the lr is initial lr × factor until total_iters", _FACTOR),
        "total_iters": ("int", "epochs at the reduced lr", _COUNT),
    },
    "LinearLR": {
        "start_factor": ("float", "factor at epoch 0", {**_FACTOR, "min_open": True}),
        "end_factor": ("float", "factor reached at total_iters and kept", _FACTOR),
        "total_iters": ("int", "epochs of the linear ramp", _STEPS),
    },
    "ExponentialLR": {"gamma": ("float", "factor applied to the lr every epoch", {**_NONNEG, "example": 0.95})},
    "PolynomialLR": {
        "total_iters": ("int", "epochs until the lr reaches 0", _STEPS),
        "power": ("float", "exponent of the polynomial decay", _NONNEG),
    },
    "CosineAnnealingLR": {
        "T_max": ("int", "epochs of half a cosine period: the lr reaches eta_min at T_max", {**_STEPS, "example": 100}),
        "eta_min": ("float", "lowest lr", _NONNEG),
    },
    "ChainedScheduler": {
        "schedulers": ("schedulers", "members stepped together every epoch; their factors multiply", {
            "example": [{"name": "ConstantLR", "params": {"factor": 0.5, "total_iters": 10}},
                        {"name": "ExponentialLR", "params": {"gamma": 0.97}}]}),
    },  # fmt: skip
    "SequentialLR": {
        "schedulers": ("schedulers", "members that take over one after another at the milestones", {
            "example": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                        {"name": "CosineAnnealingLR", "params": {"T_max": 95}}]}),
        "milestones": ("int_list", "epochs at which the next member takes over (one fewer than members)",
                       {**_STEPS, "example": [5]}),
    },  # fmt: skip
    "ReduceLROnPlateau": {
        "mode": ("choice", "min: the metric should fall (a loss); max: it should rise (an accuracy)", {}),
        "factor": ("float", "factor applied to the lr on a plateau", {**_FACTOR, "max_open": True}),
        "patience": ("int", "epochs without improvement tolerated before reducing", _COUNT),
        "threshold": ("float", "smallest change that counts as an improvement", _NONNEG),
        "threshold_mode": ("choice", "rel: relative to the best value; abs: absolute", {}),
        "cooldown": ("int", "epochs to wait after a reduction before counting again", _COUNT),
        "min_lr": ("float", "lower bound on the lr", _NONNEG),
        "eps": ("float", "reductions smaller than this are skipped", _NONNEG),
    },
    "CyclicLR": {
        "base_lr": ("float", "lower bound of the cycle (replaces the optimizer's lr)", {**_POSITIVE, "example": 0.01}),
        "max_lr": ("float", "upper bound of the cycle", {**_POSITIVE, "example": 0.1}),
        "step_size_up": ("int", "batches from base_lr up to max_lr", _STEPS),
        "step_size_down": ("optional_int", "batches back down (empty: same as step_size_up)", _STEPS),
        "mode": ("choice", "triangular; triangular2 halves the height each cycle; exp_range decays by gamma", {}),
        "gamma": ("float", "exp_range: factor per batch", _POSITIVE),
        "scale_mode": ("choice", "scale per cycle or per iteration (mode sets it unless a scale_fn is given)", {}),
        "cycle_momentum": ("bool", "also cycle the momentum, inversely to the lr", {}),
        "base_momentum": ("float", "momentum at the top of the cycle", _FACTOR),
        "max_momentum": ("float", "momentum at the bottom of the cycle", _FACTOR),
    },
    "OneCycleLR": {
        "max_lr": ("float", "peak lr", {**_POSITIVE, "example": 0.1}),
        "total_steps": ("optional_int", "batches in the cycle (empty: epochs × steps_per_epoch, else the curve)",
                        _STEPS),  # fmt: skip
        "epochs": ("optional_int", "with steps_per_epoch, an alternative to total_steps", _STEPS),
        "steps_per_epoch": ("optional_int", "with epochs, an alternative to total_steps", _STEPS),
        "pct_start": ("float", "fraction of the cycle spent increasing the lr", _FACTOR),
        "anneal_strategy": ("choice", "shape of the ramps: cosine or linear", {}),
        "cycle_momentum": ("bool", "also cycle the momentum, inversely to the lr", {}),
        "base_momentum": ("float", "momentum at the peak lr", _FACTOR),
        "max_momentum": ("float", "momentum at the start and end", _FACTOR),
        "div_factor": ("float", "initial lr = max_lr / div_factor", {**_POSITIVE, "minimum": 1.0, "min_open": False}),
        "final_div_factor": ("float", "final lr = initial lr / final_div_factor", _POSITIVE),
        "three_phase": ("bool", "a third phase annihilates the lr (fast.ai style)", {}),
    },
    "CosineAnnealingWarmRestarts": {
        "T_0": ("int", "epochs until the first restart", {**_STEPS, "example": 10}),
        "T_mult": ("int", "each period is T_mult times longer than the last", {"minimum": 1, "maximum": 100}),
        "eta_min": ("float", "lowest lr", _NONNEG),
    },
    CUSTOM: {
        "every": ("int", "epochs between two decays (the tutorial's 30)", _STEPS),
        "factor": ("float", "factor applied at every decay (the tutorial's 0.1)", _NONNEG),
    },
}


def _class(name: str) -> type:
    return AdjustLearningRate if name == CUSTOM else getattr(torch_schedulers, name)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or name not in NAMES:
        check_plain(name, "scheduler")  # quoted below: bounded first
        raise LabError(f"Scheduler {shown(name)} is not known; choose one of {', '.join(NAMES)}.")
    return name


def _choices(annotation: Any) -> tuple[str, ...]:
    # Literal['min', 'max'] annotations are strings under `from __future__ import annotations`
    text = str(annotation)
    if "Literal[" not in text:
        return ()
    inner = text[text.index("Literal[") + len("Literal[") : text.index("]", text.index("Literal["))]
    return tuple(part.strip().strip("'\"") for part in inner.split(","))


def param_specs(name: str) -> tuple[ParamSpec, ...]:
    """The user-settable keyword arguments of scheduler `name`, in signature order, with torch's defaults."""
    name = _check_name(name)
    table = _TABLE.get(name, {})
    specs = []
    for p in inspect.signature(_class(name)).parameters.values():
        if p.name in _SKIPPED:
            continue
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        if p.name in table:
            kind, help_text, extras = table[p.name]
        else:  # a parameter a newer torch added: infer the kind from the default
            kind = {bool: "bool", int: "int", float: "float", str: "choice"}.get(type(default), "float")
            help_text, extras = "see torch's documentation", {}
        choices = _choices(p.annotation) if kind == "choice" else ()
        if kind == "choice" and not choices:
            choices = (str(default),)
        specs.append(ParamSpec(name=p.name, kind=kind, default=default, required=required, help=help_text,
                               choices=choices, **extras))  # fmt: skip
    return tuple(specs)


def default_params(name: str) -> dict[str, Any]:
    """Starting values for a form: torch's defaults, and an example for each required parameter."""
    return {s.name: (s.example if s.required else s.default) for s in param_specs(name)}


# ---------------------------------------------------------------------------------------------------------------
# Validation: plain values in, keyword arguments torch accepts out (LabError names the field and the value).


def _coerce(owner: str, spec: ParamSpec, value: Any) -> Any:
    def bad(what: str = "") -> LabError:
        return LabError(f"{owner} {spec.name}={shown(value)} is not accepted{what}; use {spec.accepted()}.")

    def bounded(v: float) -> float:
        if not math.isfinite(v):
            raise bad()
        lo, hi = spec.minimum, spec.maximum
        if lo is not None and (v < lo or (spec.min_open and v == lo)):
            raise bad()
        if hi is not None and (v > hi or (spec.max_open and v == hi)):
            raise bad()
        return v

    def integer(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not v.is_integer()):
            if isinstance(v, str) and v.strip().lstrip("-").isdigit() and len(v.strip()) < 12:
                return integer(int(v.strip()))
            raise bad()
        return int(bounded(float(v)))

    kind = spec.kind
    if kind == "optional_int":
        return None if value is None or (isinstance(value, str) and not value.strip()) else integer(value)
    if kind == "int":
        return integer(value)
    if kind == "float":
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise bad() from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return bounded(float(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise bad()
    if kind == "choice":
        if value in spec.choices:
            return value
        raise bad()
    if kind == "int_list":
        items = value
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            if len(text) > 2000:
                raise bad(" (too long)")
            items = [part for part in text.replace(",", " ").split() if part]
        if not isinstance(items, (list, tuple)) or len(items) > MAX_LIST:
            raise bad()
        return [integer(v) for v in items]
    if kind == "expr":
        check_expression(value)  # raises LabError naming what is refused
        return value.strip()
    raise AssertionError(f"unhandled kind {kind}")  # schedulers are handled by _normalize


def _members(owner: str, value: Any) -> list[dict[str, Any]]:
    """`schedulers` of a composite: a list of {"name", "params"}, or the same as JSON text (the tab's field)."""
    if isinstance(value, str):  # bounded in length and depth before json.loads sees it
        value = parse_json(value, f"{owner} schedulers", example='[{"name": "LinearLR", "params": {}}]')
    shape = f'a list of 1 to {MAX_MEMBERS} {{"name": ..., "params": {{...}}}} entries'
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_MEMBERS:
        raise LabError(f"{owner} schedulers={shown(value)} is not accepted; use {shape}.")
    members = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "params"}:
            raise LabError(f"{owner} schedulers[{i}]={shown(entry)} is not accepted; use {shape}.")
        member = entry["name"]
        allowed = [n for n in NAMES if n not in COMPOSITE and n not in ("ReduceLROnPlateau", CUSTOM)]
        if not isinstance(member, str) or member not in allowed:
            raise LabError(f"{owner} schedulers[{i}] is {shown(member)}; a member must be one of {', '.join(allowed)}.")
        members.append({"name": member, "params": entry.get("params") or {}})
    return members


def _normalize(name: str, params: dict[str, Any] | None, *, depth: int = 0) -> dict[str, Any]:
    """Check `params` of scheduler `name` against its specs; returns plain, coerced values (members recursively)."""
    name = _check_name(name)
    params = _check_params(name, params)
    specs = {s.name: s for s in param_specs(name)}
    unknown = sorted(set(params) - set(specs), key=str)
    if unknown:
        raise LabError(f"{name} has no parameter {shown(unknown[0])}; it takes {', '.join(specs) or 'none'}.")
    out: dict[str, Any] = {}
    for pname, spec in specs.items():
        value = params.get(pname)
        if value is None or (isinstance(value, str) and not value.strip() and spec.kind != "expr"):
            if spec.required:
                hint = f" such as {json.dumps(spec.example)}" if spec.example is not None else ""
                raise LabError(f"{name} needs {pname} ({spec.help}); give {spec.accepted()}{hint}.")
            if spec.kind != "optional_int":
                continue  # torch's default applies
            value = None
        if spec.kind == "schedulers":
            out[pname] = [
                {"name": m["name"], "params": _normalize(m["name"], m["params"], depth=depth + 1)}
                for m in _members(name, value)
            ]
        else:
            out[pname] = _coerce(name, spec, value)
    if name == "SequentialLR":
        milestones, count = out.get("milestones", []), len(out["schedulers"])
        if len(milestones) != count - 1 or any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise LabError(
                f"SequentialLR milestones={milestones} is not accepted; give {count - 1} increasing epochs, "
                f"one fewer than its {count} schedulers."
            )
    return out


def check_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate plain `params` for scheduler `name` without building it; returns the coerced values (JSON-safe).

    Omitted optional parameters keep torch's defaults; OneCycleLR's total_steps stays None (the loop's length).
    """
    return _normalize(name, params)


def _is_per_batch(name: str, params: dict[str, Any]) -> bool:
    if name in COMPOSITE:
        return any(_is_per_batch(m["name"], m["params"]) for m in params["schedulers"])
    return name in PER_BATCH


# ---------------------------------------------------------------------------------------------------------------
# Building and stepping: one code path for curves, exported code and the Train tab.


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
                raise LabError("ReduceLROnPlateau needs a metric (e.g. the validation loss) at every step.")
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
            return _class(name)(**kwargs)
    return _class(name)(optimizer, **kwargs)


def make_scheduler(name: str, params: dict[str, Any] | None, optimizer: torch.optim.Optimizer, *,
                   total_steps: int, steps_per_epoch: int = 1) -> BuiltScheduler:  # fmt: skip
    """Build scheduler `name` on `optimizer` from plain `params` (as `lr_curve` takes them).

    `total_steps` is the number of optimizer steps (batches) the loop will make, `steps_per_epoch` the batches per
    epoch; per-epoch schedulers are stepped total_steps // steps_per_epoch times. Values torch refuses raise
    LabError. Build the optimizer first; building a scheduler sets its lr (as in torch).
    """
    total_steps, steps_per_epoch = _check_steps(total_steps, steps_per_epoch)
    norm = _normalize(name, params)
    per_batch = _is_per_batch(name, norm)
    n_steps = total_steps if per_batch else total_steps // steps_per_epoch
    scheduler = _torch_call(name, norm, lambda: _construct(name, norm, optimizer, n_steps))
    return BuiltScheduler(name=name, params=norm, scheduler=scheduler, per_batch=per_batch,
                          needs_metric=name == "ReduceLROnPlateau")  # fmt: skip


def _torch_call(name: str, params: dict[str, Any], fn: Any) -> Any:
    """Run `fn`, turning what torch raises for bad values into one LabError sentence."""
    try:
        return fn()
    except LabError:
        raise
    except ArithmeticError as exc:  # a Python float overflowing or dividing by zero inside the schedule
        what = "divides by zero" if isinstance(exc, ZeroDivisionError) else "overflows"
        raise LabError(f"{describe(name, params)} {what} while computing the lr; choose values that keep the lr "
                       "a finite number.") from None  # fmt: skip
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        reason = str(exc).split("\n")[0].rstrip(".") or type(exc).__name__
        raise LabError(f"torch refuses {describe(name, params)}: {reason}.") from None


def _check_params(name: str, params: Any) -> dict[str, Any]:
    """A copy of `params` as a dict; a list or a number (e.g. a JSON text field that held `[1, 2]`) is refused."""
    if params is None:
        return {}
    check_plain(params, f"{name} params")  # depth, size and digits bounded before anything walks or quotes it
    if not isinstance(params, Mapping):
        raise LabError(f"{name} params={shown(params)} is not accepted; use a dict of keyword arguments such as "
                       f"{{\"step_size\": 30}} (empty for torch's defaults).")  # fmt: skip
    return dict(params)


def _check_base_lr(base_lr: Any) -> float:
    check_plain(base_lr, "base_lr")
    if isinstance(base_lr, bool) or not isinstance(base_lr, (int, float)) or not 0 < base_lr <= 10:
        raise LabError(f"base_lr={shown(base_lr)} is not accepted; use a number above 0 and at most 10.")
    return float(base_lr)


def _check_call(name: Any, steps: Any, steps_per_epoch: Any, base_lr: Any) -> tuple[int, int, float]:
    """What lr_curve and to_code check before building anything, in the same order: name, steps, base_lr."""
    _check_name(name)
    steps, steps_per_epoch = _check_steps(steps, steps_per_epoch)
    return steps, steps_per_epoch, _check_base_lr(base_lr)


def _check_steps(steps: Any, steps_per_epoch: Any) -> tuple[int, int]:
    for field_name, value in (("steps", steps), ("steps_per_epoch", steps_per_epoch)):
        check_plain(value, field_name)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
        if not ok or not 1 <= value <= MAX_STEPS:
            raise LabError(f"{field_name}={shown(value)} is not accepted; use a whole number from 1 to {MAX_STEPS}.")
    steps, steps_per_epoch = int(steps), int(steps_per_epoch)
    if steps % steps_per_epoch:
        whole = max(1, round(steps / steps_per_epoch)) * steps_per_epoch
        raise LabError(
            f"steps={steps} is not a whole number of epochs of steps_per_epoch={steps_per_epoch}; "
            f"use a multiple such as {whole}."
        )
    return steps, steps_per_epoch


def plateau_metric(epochs: int, seed: int = 0) -> list[float]:
    """A noisy validation loss that falls, then plateaus near 0.25 (ReduceLROnPlateau's built-in input)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(epochs, dtype=torch.float64)
    noise = torch.randn(epochs, generator=g, dtype=torch.float64)
    return (0.25 + 0.75 * torch.exp(-t / 8) + 0.02 * noise).tolist()


def _metrics_per_epoch(metrics: Any, steps: int, epochs: int) -> list[float]:
    if metrics is None:
        return plateau_metric(epochs)
    try:
        values = [float(m) for m in metrics]
    except (TypeError, ValueError, OverflowError):
        raise LabError("metrics must be a list of numbers, one per step or one per epoch.") from None
    if len(values) == steps:
        values = values[steps // epochs - 1 :: steps // epochs]  # the value at the end of each epoch
    if len(values) != epochs or not all(math.isfinite(v) for v in values):
        raise LabError(
            f"metrics has {len(values)} values; give {steps} (one per step) or {epochs} (one per epoch) finite numbers."
        )
    return values


def lr_curve(name: str, params: dict[str, Any] | None = None, *, steps: int = 100, base_lr: float = 0.1,
             metrics: Sequence[float] | None = None, steps_per_epoch: int = 1) -> pd.DataFrame:  # fmt: skip
    """The lr of param group 0 in effect during each of `steps` optimizer steps, exactly as torch produces it.

    Columns: `step` (0..steps-1), `epoch` (step / steps_per_epoch), `lr`; ReduceLROnPlateau adds `metric` (the
    value it read at the end of the step's epoch). Per-batch schedulers step after every step, the others after
    every `steps_per_epoch` steps. `metrics`: ReduceLROnPlateau's input, one value per step or per epoch; a
    built-in noisy plateauing loss (`plateau_metric`) when None.
    """
    steps, steps_per_epoch, base_lr = _check_call(name, steps, steps_per_epoch, base_lr)
    epochs = steps // steps_per_epoch
    # The scheduler only reads and writes param_groups; a one-element CPU parameter is all it needs (no gradient
    # is ever computed, so placing it on the lab's device would only add start-up time, never change a number).
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=float(base_lr), momentum=0.9)
    built = make_scheduler(name, params, optimizer, total_steps=steps, steps_per_epoch=steps_per_epoch)
    # optimizer.step() never changes an lr; calling it once (no gradient: nothing is updated) is what torch's
    # "scheduler stepped before optimizer" check looks for, so the loop below can skip it (NOTES.md 6.2)
    optimizer.step()
    group = optimizer.param_groups[0]  # schedulers update this dict in place
    metric_values = _metrics_per_epoch(metrics, steps, epochs) if built.needs_metric else None

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

    lrs = np.asarray(_torch_call(name, built.params, run), dtype=np.float64)
    if not built.per_batch:
        lrs = np.repeat(lrs, steps_per_epoch)
    bad = np.flatnonzero(~np.isfinite(lrs))
    if bad.size:
        raise LabError(f"{describe(name, built.params)} makes the lr {lrs[bad[0]]} at step {bad[0]}; "
                       "choose values that keep it finite.")  # fmt: skip
    table = {"step": np.arange(steps), "epoch": np.arange(steps) / steps_per_epoch, "lr": lrs}
    if metric_values is not None:
        table["metric"] = np.repeat(np.asarray(metric_values, dtype=np.float64), steps_per_epoch)
    df = pd.DataFrame(table)
    df.attrs.update(name=name, params=built.params, per_batch=built.per_batch, steps_per_epoch=steps_per_epoch)
    return df


# ---------------------------------------------------------------------------------------------------------------
# Presentation: labels, milestone/restart marks, the figure.


def describe(name: str, params: dict[str, Any] | None = None, *, limit: int = 90) -> str:
    """A legend label: the call with the parameters that differ from torch's defaults, e.g. StepLR(step_size=30)."""
    name = name if isinstance(name, str) else shown(check_plain(name, "scheduler"))
    params = _check_params(name, params)
    defaults = {s.name: s.default for s in param_specs(name)} if name in NAMES else {}
    parts = []
    for key, value in params.items():
        if key == "schedulers" and isinstance(value, list):
            inner = [describe(m.get("name", "?"), m.get("params"), limit=limit) for m in value if isinstance(m, dict)]
            parts.append("[" + ", ".join(inner) + "]")
        elif key in defaults and value == defaults[key] and defaults[key] is not None:
            continue
        elif value is not None:
            parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    text = f"{name}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def marks(name: str, params: dict[str, Any], *, steps: int, steps_per_epoch: int = 1,
          curve: pd.DataFrame | None = None) -> list[tuple[int, str]]:  # fmt: skip
    """Steps where something happens: decays at milestones, restarts, hand-overs, plateau reductions.

    `params` as `lr_curve` takes them (its `attrs["params"]` too); checked like theirs.
    """
    steps, steps_per_epoch = _check_steps(steps, steps_per_epoch)
    params = _normalize(name, params)
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
        per = 1 if _is_per_batch(name, params) else steps_per_epoch
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
        return [(int(i), "plateau") for i in np.flatnonzero(lr[1:] < lr[:-1]) + 1]
    return [(e * to_step, label) for e, label in found[:200]]


def _decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_PLOT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep each bucket's min and max (in order), so fast oscillations stay visible as an envelope."""
    n = len(x)
    if n <= max_points:
        return x, y
    bucket = math.ceil(n / (max_points // 2))
    usable = n - n % bucket
    yb = y[:usable].reshape(-1, bucket)
    lo, hi = yb.argmin(axis=1), yb.argmax(axis=1)
    base = np.arange(0, usable, bucket)
    first, second = np.minimum(lo, hi) + base, np.maximum(lo, hi) + base
    idx = np.concatenate([np.stack([first, second], axis=1).ravel(), np.arange(usable, n)])
    return x[idx], y[idx]


def curve_figure(curves: Sequence[tuple[str, pd.DataFrame]], *, log_y: bool = False, in_epochs: bool = False,
                 marks: Sequence[tuple[int, str]] = (), title: str = "") -> go.Figure:  # fmt: skip
    """Plot lr curves: the first is the current schedule (drawn wide, underneath), the rest the comparison.

    `marks` (steps) become dotted vertical lines; a `metric` column on the first curve goes on a second axis.
    """
    xcol = "epoch" if in_epochs else "step"
    fig = figure(title, x=xcol, y="learning rate", height=420)
    for i, (label, df) in enumerate(curves):
        x, y = _decimate(df[xcol].to_numpy(), df["lr"].to_numpy())
        width, dash = (5, "solid") if i == 0 else (2, ("solid", "dash", "dot", "dashdot")[(i - 1) % 4])
        fig.add_trace(go.Scatter(x=x, y=y, name=label, mode="lines", opacity=0.55 if i == 0 else 1.0,
                                 line={"color": color(i), "width": width, "dash": dash, "shape": "hv"}))  # fmt: skip
    if curves and "metric" in curves[0][1]:
        df = curves[0][1]
        x, y = _decimate(df[xcol].to_numpy(), df["metric"].to_numpy())
        fig.add_trace(go.Scatter(x=x, y=y, name="metric (right axis)", mode="lines", yaxis="y2",
                                 line={"color": "#6b7280", "width": 1.5, "dash": "dot"}))  # fmt: skip
        fig.update_layout(yaxis2={"title": "metric", "overlaying": "y", "side": "right", "showgrid": False})
        fig.update_layout(margin={"r": 60})
    per = curves[0][1].attrs.get("steps_per_epoch", 1) if (curves and in_epochs) else 1
    fig.update_layout(shapes=[
        {"type": "line", "xref": "x", "yref": "paper", "x0": s / per, "x1": s / per, "y0": 0, "y1": 1,
         "line": {"color": "#9ca3af", "width": 1, "dash": "dot"}}
        for s, _ in marks
    ])  # fmt: skip
    if marks:  # labels on hover through an invisible marker row at the top
        xs = [s / per for s, _ in marks]
        fig.add_trace(go.Scatter(x=xs, y=[1.0] * len(xs), yaxis="y3", mode="markers", name="marks",
                                 marker={"symbol": "triangle-down", "size": 8, "color": "#9ca3af"},
                                 text=[label for _, label in marks], hovertemplate="%{text}<extra></extra>",
                                 showlegend=False))  # fmt: skip
        fig.update_layout(yaxis3={"overlaying": "y", "range": [0, 1.04], "visible": False, "fixedrange": True})
    if log_y:
        fig.update_yaxes(type="log", selector={"title": {"text": "learning rate"}})
        fig.update_layout(yaxis_type="log")
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Code export: a runnable script printing the same curve.


def _kwargs_code(name: str, params: dict[str, Any]) -> list[str]:
    defaults = {s.name: (s.default, s.required) for s in param_specs(name)}
    parts = []
    for key, value in params.items():
        default, required = defaults[key]
        if not required and value == default and key != "total_steps":
            continue
        parts.append(f"{key}=lambda epoch: {check_expression(value)}" if key == "lr_lambda" else f"{key}={value!r}")
    return parts


def _math_names(params: dict[str, Any]) -> set[str]:
    import ast

    texts = [params.get("lr_lambda", "")] + [m["params"].get("lr_lambda", "") for m in params.get("schedulers", [])]
    used = set()
    for text in texts:
        if text:
            used |= {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}
    return used & {"cos", "sin", "tan", "exp", "log", "sqrt", "floor", "ceil", "pi", "e"}


def to_code(name: str, params: dict[str, Any] | None = None, *, steps: int = 100, base_lr: float = 0.1,
            metrics: Sequence[float] | None = None, steps_per_epoch: int = 1) -> str:  # fmt: skip
    """Runnable PyTorch that prints the curve `lr_curve` returns for the same arguments (as `lrs`)."""
    steps, steps_per_epoch, base_lr = _check_call(name, steps, steps_per_epoch, base_lr)
    epochs = steps // steps_per_epoch
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=float(base_lr), momentum=0.9)
    built = make_scheduler(name, params, probe, total_steps=steps, steps_per_epoch=steps_per_epoch)
    norm = built.params
    for text in [norm.get("lr_lambda")] + [m["params"].get("lr_lambda") for m in norm.get("schedulers", [])]:
        if text:  # the float evaluator proves every epoch's value is small before Python ints see the lambda
            fn = compile_expression(text)
            for e in range(epochs + 2):
                fn(e)

    classes = sorted(({name} | {m["name"] for m in norm.get("schedulers", [])}) - {CUSTOM})
    lines = ['"""The lr schedule from the lab, stepped as a training loop steps it (tutorial 6.2)."""']
    math_names = sorted(_math_names(norm))
    lines += [f"from math import {', '.join(math_names)}" if math_names else "", "import torch"]
    if classes:
        lines.append(f"from torch.optim.lr_scheduler import {', '.join(classes)}")
    lines.append("")
    if name == CUSTOM:
        lines += [inspect.getsource(adjust_learning_rate).rstrip(), ""]
    if built.needs_metric:
        if metrics is None:
            lines += [inspect.getsource(plateau_metric).rstrip(), "", f"metrics = plateau_metric({epochs})"]
        else:
            lines.append(f"metrics = {_metrics_per_epoch(metrics, steps, epochs)!r}  # one per epoch")
        lines.append("")
    lines += [
        "param = torch.nn.Parameter(torch.zeros(1))  # stands in for model.parameters()",
        f"optimizer = torch.optim.SGD([param], lr={float(base_lr)!r}, momentum=0.9)",
    ]
    if name in COMPOSITE:
        names = []
        for i, m in enumerate(norm["schedulers"]):
            names.append(f"s{i + 1}")
            lines.append(f"s{i + 1} = {m['name']}({', '.join(['optimizer'] + _kwargs_code(m['name'], m['params']))})")
        rest = {k: v for k, v in norm.items() if k != "schedulers"}
        if name == "SequentialLR":
            args = ["optimizer", f"schedulers=[{', '.join(names)}]"] + _kwargs_code(name, rest)
        else:
            args = [f"[{', '.join(names)}]", "optimizer=optimizer"]
        lines.append(f"scheduler = {name}({', '.join(args)})")
    elif name != CUSTOM:
        lines.append(f"scheduler = {name}({', '.join(['optimizer'] + _kwargs_code(name, norm))})")
    if name == CUSTOM:
        every, factor = norm.get("every", 30), norm.get("factor", 0.1)
        call = f"adjust_learning_rate(optimizer, epoch, base_lr={float(base_lr)!r}, every={every}, factor={factor})"
        epoch_start, batch_end, epoch_end = [f"    {call}  # at the start of the epoch, not after it"], [], []
    else:
        step = "scheduler.step(metrics[epoch])" if built.needs_metric else "scheduler.step()"
        epoch_start = []
        batch_end = [f"        {step}  # per batch: {name} is a per-batch schedule"] if built.per_batch else []
        epoch_end = [] if built.per_batch else [f"    {step}  # once per epoch, inside the epoch loop"]
    lines += [
        "",
        f"EPOCHS, STEPS_PER_EPOCH = {epochs}, {steps_per_epoch}",
        "lrs = []  # the lr in effect during each batch",
        "for epoch in range(EPOCHS):",
        *epoch_start,
        "    for batch in range(STEPS_PER_EPOCH):",
        '        lrs.append(optimizer.param_groups[0]["lr"])',
        "        # forward, loss.backward() ... then:",
        "        optimizer.step()",
        *batch_end,
        *epoch_end,
        "",
        "for step, lr in enumerate(lrs):",
        '    print(step, f"{lr:.10g}")',
    ]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Presets: the tutorial's examples and the schedules people reach for. `compare` entries go beside the curve.

PRESETS: dict[str, dict[str, Any]] = {
    "Tutorial 6.2.2: adjust_learning_rate beside StepLR(30, 0.1)": {
        "name": CUSTOM, "params": {"every": 30, "factor": 0.1}, "steps": 100, "steps_per_epoch": 1,
        "compare": [("StepLR", {"step_size": 30, "gamma": 0.1})],
    },
    "Linear warm-up, then cosine (SequentialLR)": {
        "name": "SequentialLR", "steps": 100, "steps_per_epoch": 1, "compare": [],
        "params": {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                                  {"name": "CosineAnnealingLR", "params": {"T_max": 95}}], "milestones": [5]},
    },
    "OneCycleLR over 10 epochs of 100 batches": {
        "name": "OneCycleLR", "params": {"max_lr": 0.1}, "steps": 1000, "steps_per_epoch": 100, "compare": [],
    },
    "Cosine with warm restarts (T_0=10, T_mult=2)": {
        "name": "CosineAnnealingWarmRestarts", "params": {"T_0": 10, "T_mult": 2}, "steps": 150,
        "steps_per_epoch": 1, "compare": [],
    },
    "ReduceLROnPlateau on a noisy plateauing loss": {
        "name": "ReduceLROnPlateau", "params": {}, "steps": 100, "steps_per_epoch": 1, "compare": [],
    },
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Pitfalls (NOTES.md 6.2), each run live: the tutorial's loop against the correct one.


@dataclass(frozen=True)
class Pitfall:
    title: str
    explanation: str
    wrong: str  # the loop as the tutorial writes it
    right: str
    labels: tuple[str, str] = field(default=("tutorial's loop", "correct loop"))


PITFALLS: dict[str, Pitfall] = {
    "step_outside_loop": Pitfall(
        "scheduler.step() outside the epoch loop",
        "The tutorial's usage example puts `scheduler.step()` after the `for epoch` loop: it runs once, after "
        "training, so the lr never changes. It belongs inside the loop, after `optimizer.step()`.",
        "for epoch in range(100):\n    train(...)\n    optimizer.step()\nscheduler.step()  # after the loop",
        "for epoch in range(100):\n    for batch in loader:\n        ...\n        optimizer.step()\n"
        "    scheduler.step()  # once per epoch",
    ),
    "per_batch_stepped_per_epoch": Pitfall(
        "a per-batch scheduler stepped per epoch",
        "OneCycleLR (and CyclicLR) count batches: total_steps = epochs × batches per epoch. Stepped once per epoch "
        "it only walks the first few steps of its warm-up and never anneals.",
        "sched = OneCycleLR(opt, max_lr=0.1, total_steps=EPOCHS * len(loader))\nfor epoch in range(EPOCHS):\n"
        "    for batch in loader:\n        ...\n        opt.step()\n    sched.step()  # once per epoch",
        "sched = OneCycleLR(opt, max_lr=0.1, total_steps=EPOCHS * len(loader))\nfor epoch in range(EPOCHS):\n"
        "    for batch in loader:\n        ...\n        opt.step()\n        sched.step()  # after every batch",
    ),
    "adjust_after_epoch": Pitfall(
        "adjust_learning_rate called after the epoch",
        "The tutorial calls its `adjust_learning_rate(optimizer, epoch)` after training epoch `epoch`, so each new "
        "lr arrives one epoch late (epoch 30 still trains at the old lr). Call it at the start of the epoch, or "
        "use StepLR(optimizer, 30, 0.1).",
        "for epoch in range(EPOCHS):\n    train(...)\n    adjust_learning_rate(optimizer, epoch)",
        "for epoch in range(EPOCHS):\n    adjust_learning_rate(optimizer, epoch)\n    train(...)",
    ),
}


def pitfall_curve(kind: str, *, base_lr: float = 0.1) -> pd.DataFrame:
    """Run a pitfall's two loops with real torch objects: columns step, epoch, wrong, right (lr per batch)."""
    if not isinstance(kind, str) or kind not in PITFALLS:
        check_plain(kind, "pitfall")
        raise LabError(f"Pitfall {shown(kind)} is not known; choose one of {', '.join(PITFALLS)}.")
    base_lr = _check_base_lr(base_lr)
    epochs, per_epoch = {"step_outside_loop": (60, 1), "per_batch_stepped_per_epoch": (10, 20),
                         "adjust_after_epoch": (70, 1)}[kind]  # fmt: skip

    def loop(wrong: bool) -> list[float]:
        param = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([param], lr=base_lr, momentum=0.9)
        if kind == "step_outside_loop":
            sched = torch_schedulers.StepLR(opt, step_size=20, gamma=0.1)
        elif kind == "per_batch_stepped_per_epoch":
            sched = torch_schedulers.OneCycleLR(opt, max_lr=base_lr, total_steps=epochs * per_epoch)
        lrs = []
        for epoch in range(epochs):
            if kind == "adjust_after_epoch" and not wrong:
                adjust_learning_rate(opt, epoch, base_lr=base_lr)
            for _ in range(per_epoch):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()
                if kind == "per_batch_stepped_per_epoch" and not wrong:
                    sched.step()
            if kind == "adjust_after_epoch" and wrong:
                adjust_learning_rate(opt, epoch, base_lr=base_lr)
            elif kind == "step_outside_loop" and not wrong:
                sched.step()
            elif kind == "per_batch_stepped_per_epoch" and wrong:
                sched.step()
        if kind == "step_outside_loop" and wrong:
            sched.step()  # the tutorial's single call, after training has finished
        return lrs

    wrong, right = loop(True), loop(False)
    steps = np.arange(len(wrong))
    return pd.DataFrame({"step": steps, "epoch": steps / per_epoch, "wrong": wrong, "right": right})
