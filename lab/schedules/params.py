"""The schedulers and their parameters: names, form fields (`ParamSpec`), and the one validation of plain values.

Names and defaults come from `inspect.signature` of the installed torch; kinds and bounds from the table below; a
parameter's help line is a catalogue key (`schedules.param.<Scheduler>.<name>`), worded by the page. Every check
goes through `lab.errors` (`number`, `choice`, `flag`), so a refusal reads "StepLR step_size is 0; a whole number
from 1 to 100,000 is accepted." in both languages.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch.optim import lr_scheduler as torch_schedulers

from lab.errors import LabError, Term, choice, flag, fmt, number, shown
from lab.safe_expr import check_expression, check_plain, parse_json

__all__ = [
    "NAMES", "CUSTOM", "PER_BATCH", "COMPOSITE", "MAX_STEPS", "MAX_MEMBERS", "MAX_LIST", "MAX_METRICS_CHARS",
    "ParamSpec", "param_specs", "default_params", "check_params", "check_name", "check_steps", "check_base_lr",
    "check_metrics", "metrics_from_text", "is_per_batch", "scheduler_class",
]  # fmt: skip

MAX_STEPS = 100_000
MAX_MEMBERS = 6  # schedulers inside SequentialLR / ChainedScheduler
MAX_LIST = 100  # milestones
MAX_METRICS_CHARS = 200_000  # the metrics text field
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


NAMES: tuple[str, ...] = _torch_names() + (CUSTOM,)


# ---------------------------------------------------------------------------------------------------------------
# Parameter descriptions: names and defaults from inspect.signature, kinds and bounds from the table below.


@dataclass(frozen=True)
class ParamSpec:
    """One keyword argument of a scheduler, as a form field: `kind` is int, float, optional_int, choice, bool,
    int_list, expr (a safe lr_lambda string) or schedulers (a list of {"name", "params"}).

    `help` is the catalogue key of its one line of help (`schedules.param.StepLR.step_size`)."""

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

    def accepted(self) -> Term:
        """What this field accepts, as a catalogue Term (error messages word it)."""
        lo, hi = fmt(self.minimum), fmt(self.maximum)
        if self.kind == "choice":
            return Term("accept.one_of", options=", ".join(repr(c) for c in self.choices))
        if self.kind == "bool":
            return Term("accept.flag")
        if self.kind in ("expr", "schedulers", "int_list", "optional_int"):
            return Term(f"schedules.accept.{self.kind}", low=lo, high=hi, count=MAX_LIST, members=MAX_MEMBERS)
        if self.kind == "int":
            return Term("accept.integer_range", low=lo, high=hi)
        if self.max_open:
            return Term("schedules.accept.number_below", low=lo, high=hi)
        return Term("accept.number_above" if self.min_open else "accept.number_range", low=lo, high=hi)


_STEPS = {"minimum": 1, "maximum": MAX_STEPS}
_COUNT = {"minimum": 0, "maximum": MAX_STEPS}
_FACTOR = {"minimum": 0.0, "maximum": 1.0}
_POSITIVE = {"minimum": 0.0, "min_open": True, "maximum": 1e6}
_NONNEG = {"minimum": 0.0, "maximum": 1e6}

# scheduler -> parameter -> (kind, extras); every parameter's help line is `schedules.param.<scheduler>.<parameter>`
_TABLE: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {
    "LambdaLR": {"lr_lambda": ("expr", {"example": "0.95 ** epoch"})},
    "MultiplicativeLR": {"lr_lambda": ("expr", {"example": "0.95"})},
    "StepLR": {"step_size": ("int", {**_STEPS, "example": 30}), "gamma": ("float", _NONNEG)},
    "MultiStepLR": {"milestones": ("int_list", {**_STEPS, "example": [30, 80]}), "gamma": ("float", _NONNEG)},
    "ConstantLR": {"factor": ("float", _FACTOR), "total_iters": ("int", _COUNT)},
    "LinearLR": {"start_factor": ("float", {**_FACTOR, "min_open": True}), "end_factor": ("float", _FACTOR),
                 "total_iters": ("int", _STEPS)},
    "ExponentialLR": {"gamma": ("float", {**_NONNEG, "example": 0.95})},
    "PolynomialLR": {"total_iters": ("int", _STEPS), "power": ("float", _NONNEG)},
    "CosineAnnealingLR": {"T_max": ("int", {**_STEPS, "example": 100}), "eta_min": ("float", _NONNEG)},
    "ChainedScheduler": {"schedulers": ("schedulers", {
        "example": [{"name": "ConstantLR", "params": {"factor": 0.5, "total_iters": 10}},
                    {"name": "ExponentialLR", "params": {"gamma": 0.97}}]})},
    "SequentialLR": {
        "schedulers": ("schedulers", {
            "example": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                        {"name": "CosineAnnealingLR", "params": {"T_max": 95}}]}),
        "milestones": ("int_list", {**_STEPS, "example": [5]}),
    },
    "ReduceLROnPlateau": {
        "mode": ("choice", {}), "factor": ("float", {**_FACTOR, "max_open": True}), "patience": ("int", _COUNT),
        "threshold": ("float", _NONNEG), "threshold_mode": ("choice", {}), "cooldown": ("int", _COUNT),
        "min_lr": ("float", _NONNEG), "eps": ("float", _NONNEG),
    },
    "CyclicLR": {
        "base_lr": ("float", {**_POSITIVE, "example": 0.01}), "max_lr": ("float", {**_POSITIVE, "example": 0.1}),
        "step_size_up": ("int", _STEPS), "step_size_down": ("optional_int", _STEPS), "mode": ("choice", {}),
        "gamma": ("float", _POSITIVE), "scale_mode": ("choice", {}), "cycle_momentum": ("bool", {}),
        "base_momentum": ("float", _FACTOR), "max_momentum": ("float", _FACTOR),
    },
    "OneCycleLR": {
        "max_lr": ("float", {**_POSITIVE, "example": 0.1}), "total_steps": ("optional_int", _STEPS),
        "epochs": ("optional_int", _STEPS), "steps_per_epoch": ("optional_int", _STEPS),
        "pct_start": ("float", _FACTOR), "anneal_strategy": ("choice", {}), "cycle_momentum": ("bool", {}),
        "base_momentum": ("float", _FACTOR), "max_momentum": ("float", _FACTOR),
        "div_factor": ("float", {**_POSITIVE, "minimum": 1.0, "min_open": False}),
        "final_div_factor": ("float", _POSITIVE), "three_phase": ("bool", {}),
    },
    "CosineAnnealingWarmRestarts": {"T_0": ("int", {**_STEPS, "example": 10}),
                                    "T_mult": ("int", {"minimum": 1, "maximum": 100}), "eta_min": ("float", _NONNEG)},
    CUSTOM: {"every": ("int", _STEPS), "factor": ("float", _NONNEG)},
}  # fmt: skip


def scheduler_class(name: str) -> type:
    """The class behind a name: torch's, or the lab's AdjustLearningRate (imported late: core imports this module)."""
    if name == CUSTOM:
        from lab.schedules.core import AdjustLearningRate

        return AdjustLearningRate
    return getattr(torch_schedulers, name)


def check_name(name: Any) -> str:
    """`name` when it is one of NAMES; else the one refusal sentence."""
    return choice("schedules.name", name, NAMES)


def _choices(annotation: Any) -> tuple[str, ...]:
    # Literal['min', 'max'] annotations are strings under `from __future__ import annotations`
    text = str(annotation)
    if "Literal[" not in text:
        return ()
    inner = text[text.index("Literal[") + len("Literal[") : text.index("]", text.index("Literal["))]
    return tuple(part.strip().strip("'\"") for part in inner.split(","))


_SPECS: dict[str, tuple[ParamSpec, ...]] = {}


def param_specs(name: str) -> tuple[ParamSpec, ...]:
    """The user-settable keyword arguments of scheduler `name`, in signature order, with torch's defaults."""
    name = check_name(name)
    if name in _SPECS:
        return _SPECS[name]
    table = _TABLE.get(name, {})
    specs = []
    for p in inspect.signature(scheduler_class(name)).parameters.values():
        if p.name in _SKIPPED:
            continue
        required = p.default is inspect.Parameter.empty
        default = None if required else p.default
        if p.name in table:
            kind, extras = table[p.name]
            help_key = f"schedules.param.{name}.{p.name}"
        else:  # a parameter a newer torch added: infer the kind from the default
            kind = {bool: "bool", int: "int", float: "float", str: "choice"}.get(type(default), "float")
            extras, help_key = {}, "schedules.param.unknown"
        choices = _choices(p.annotation) if kind == "choice" else ()
        if kind == "choice" and not choices:
            choices = (str(default),)
        specs.append(ParamSpec(name=p.name, kind=kind, default=default, required=required, help=help_key,
                               choices=choices, **extras))  # fmt: skip
    _SPECS[name] = tuple(specs)
    return _SPECS[name]


def default_params(name: str) -> dict[str, Any]:
    """Starting values for a form: torch's defaults, and an example for each required parameter."""
    return {s.name: (s.example if s.required else s.default) for s in param_specs(name)}


# ---------------------------------------------------------------------------------------------------------------
# Validation: plain values in, keyword arguments torch accepts out (LabError names the field and the value).


def _field(owner: str, param: str) -> Term:
    return Term("field.schedules.param", scheduler=owner, param=param)


def _number(field: Term, spec: ParamSpec, value: Any, *, integer: bool) -> int | float:
    x = number(field, value, spec.minimum, spec.maximum, integer=integer, low_open=spec.min_open)
    if spec.max_open and x == spec.maximum:
        raise LabError("error.value", field=field, value=shown(value), accepted=spec.accepted())
    return x


def _coerce(owner: str, spec: ParamSpec, value: Any) -> Any:
    field = _field(owner, spec.name)
    kind = spec.kind
    if kind == "optional_int":
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _number(field, spec, value, integer=True)
    if kind in ("int", "float"):
        return _number(field, spec, value, integer=kind == "int")
    if kind == "bool":
        return flag(field, value)
    if kind == "choice":
        return choice(field, value, spec.choices)
    if kind == "int_list":
        items = value
        if isinstance(value, str):
            text = value.strip().strip("[]()")
            items = None if len(text) > 2000 else [part for part in text.replace(",", " ").split() if part]
        if not isinstance(items, (list, tuple)) or len(items) > MAX_LIST:
            raise LabError("error.value", field=field, value=shown(value), accepted=spec.accepted())
        return [_number(field, spec, v, integer=True) for v in items]
    if kind == "expr":
        check_expression(value)  # raises LabError naming what is refused
        return value.strip()
    raise AssertionError(f"unhandled kind {kind}")  # schedulers are handled by _normalize


_MEMBERS = tuple(n for n in NAMES if n not in COMPOSITE and n not in ("ReduceLROnPlateau", CUSTOM))


def _members(owner: str, value: Any) -> list[dict[str, Any]]:
    """`schedulers` of a composite: a list of {"name", "params"}, or the same as JSON text (the tab's field)."""
    field = _field(owner, "schedulers")
    if isinstance(value, str):  # bounded in length and depth before json.loads sees it
        value = parse_json(value, field, example='[{"name": "LinearLR", "params": {}}]')
    accepted = Term("schedules.accept.schedulers", members=MAX_MEMBERS)
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= MAX_MEMBERS:
        raise LabError("error.value", field=field, value=shown(value), accepted=accepted)
    members = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or "name" not in entry or set(entry) - {"name", "params"}:
            raise LabError("error.value", field=_field(owner, f"schedulers[{i}]"), value=shown(entry),
                           accepted=accepted)  # fmt: skip
        member = choice(_field(owner, f"schedulers[{i}]"), entry["name"], _MEMBERS)
        members.append({"name": member, "params": entry.get("params") or {}})
    return members


def _as_dict(name: str, params: Any) -> dict[str, Any]:
    """A copy of `params` as a dict; a list or a number (e.g. a JSON text field that held `[1, 2]`) is refused."""
    if params is None:
        return {}
    check_plain(params, Term("field.schedules.params", scheduler=name))  # depth, size, digits bounded first
    if not isinstance(params, Mapping):
        raise LabError("error.schedules.params_dict", scheduler=name, value=shown(params))
    return dict(params)


def _normalize(name: str, params: Any) -> dict[str, Any]:
    """Check `params` of scheduler `name` against its specs; returns plain, coerced values (members recursively)."""
    name = check_name(name)
    params = _as_dict(name, params)
    specs = {s.name: s for s in param_specs(name)}
    unknown = sorted(set(params) - set(specs), key=str)
    if unknown:
        known = ", ".join(specs) if specs else Term("schedules.none")
        raise LabError("error.schedules.unknown_param", scheduler=name, param=shown(unknown[0]), known=known)
    out: dict[str, Any] = {}
    for pname, spec in specs.items():
        value = params.get(pname)
        if value is None or (isinstance(value, str) and not value.strip() and spec.kind != "expr"):
            if spec.required:
                example = Term("schedules.such_as", example=json.dumps(spec.example)) if spec.example else ""
                raise LabError("error.schedules.required", scheduler=name, param=pname, help=Term(spec.help),
                               accepted=spec.accepted(), example=example)  # fmt: skip
            if spec.kind != "optional_int":
                continue  # torch's default applies
            value = None
        if spec.kind == "schedulers":
            out[pname] = [{"name": m["name"], "params": _normalize(m["name"], m["params"])}
                          for m in _members(name, value)]  # fmt: skip
        else:
            out[pname] = _coerce(name, spec, value)
    if name == "SequentialLR":
        milestones, count = out.get("milestones", []), len(out["schedulers"])
        if len(milestones) != count - 1 or any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
            raise LabError("error.schedules.milestones", value=shown(milestones), count=str(count - 1),
                           members=str(count))  # fmt: skip
    return out


def check_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Validate plain `params` for scheduler `name` without building it; returns the coerced values (JSON-safe).

    Omitted optional parameters keep torch's defaults; OneCycleLR's total_steps stays None (the loop's length).
    """
    return _normalize(name, params)


def is_per_batch(name: str, params: dict[str, Any]) -> bool:
    """Whether a loop steps this (validated) schedule after every batch: OneCycleLR, CyclicLR, or a composite of one."""
    if name in COMPOSITE:
        return any(is_per_batch(m["name"], m["params"]) for m in params["schedulers"])
    return name in PER_BATCH


# ---------------------------------------------------------------------------------------------------------------
# How a curve is stepped: steps, steps per epoch, the optimizer's lr, ReduceLROnPlateau's metric.


def check_steps(steps: Any, steps_per_epoch: Any) -> tuple[int, int]:
    """Both as ints from 1 to MAX_STEPS, `steps` a whole number of epochs."""
    steps = number("schedules.steps", steps, 1, MAX_STEPS, integer=True)
    steps_per_epoch = number("schedules.steps_per_epoch", steps_per_epoch, 1, MAX_STEPS, integer=True)
    if steps % steps_per_epoch:
        whole = max(1, round(steps / steps_per_epoch)) * steps_per_epoch
        raise LabError("error.schedules.whole_epochs", steps=str(steps), steps_per_epoch=str(steps_per_epoch),
                       example=str(whole))  # fmt: skip
    return steps, steps_per_epoch


def check_base_lr(base_lr: Any) -> float:
    return number("schedules.base_lr", base_lr, 0, 10, low_open=True)


def metrics_from_text(text: Any) -> tuple[float, ...] | None:
    """The metrics text field (numbers separated by commas or spaces) as numbers; None when empty."""
    if text is None:
        return None
    if not isinstance(text, str) or len(text) > MAX_METRICS_CHARS:
        raise LabError("error.value", field="schedules.metrics", value=shown(text),
                       accepted=Term("accept.text", max_chars=fmt(MAX_METRICS_CHARS)))  # fmt: skip
    if not text.strip():
        return None
    try:
        return tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        raise LabError("error.schedules.metrics_numbers") from None


def check_metrics(metrics: Any, steps: int, epochs: int) -> tuple[float, ...]:
    """ReduceLROnPlateau's input as one finite value per epoch (given one per step: the value at each epoch's end)."""
    if isinstance(metrics, str):
        metrics = metrics_from_text(metrics)
    if isinstance(metrics, (bytes, Mapping)) or not hasattr(metrics, "__len__") or len(metrics) > MAX_STEPS:
        raise LabError("error.schedules.metrics_numbers")
    try:
        values = [float(m) for m in metrics]
    except (TypeError, ValueError, OverflowError):
        raise LabError("error.schedules.metrics_numbers") from None
    if len(values) == steps and steps != epochs:
        values = values[steps // epochs - 1 :: steps // epochs]  # the value at the end of each epoch
    if len(values) != epochs or not all(math.isfinite(v) for v in values):
        raise LabError("error.schedules.metrics_count", count=str(len(values)), steps=str(steps), epochs=str(epochs))
    return tuple(values)
