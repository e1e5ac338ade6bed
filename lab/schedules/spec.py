"""Typed, validated, hashable descriptions of a schedule: what the LR tab hands the Train tab, and one curve of a
comparison. Both are frozen (a cache key, a `gr.State` value, an entry of a link) and are validated once, when made.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lab.errors import LabError, Term, shown
from lab.safe_expr import check_plain
from lab.schedules.params import (
    MAX_STEPS,
    NAMES,
    check_base_lr,
    check_metrics,
    check_name,
    check_params,
    check_steps,
    metrics_from_text,
    param_specs,
)  # fmt: skip

__all__ = ["ScheduleSpec", "Curve", "describe", "DEFAULT_STEPS", "DEFAULT_STEPS_PER_EPOCH", "DEFAULT_BASE_LR"]

DEFAULT_STEPS, DEFAULT_STEPS_PER_EPOCH, DEFAULT_BASE_LR = 100, 1, 0.1


@dataclass(frozen=True)
class ScheduleSpec:
    """A schedule chosen in the LR schedules tab, validated once, handed to the Train tab (and to `train_unet`).

    `params` are the scheduler's validated keyword arguments as canonical JSON text (sorted keys, values equal to
    torch's defaults left out), so a spec is hashable, compares by value (StepLR(30) is StepLR(30, gamma=0.1)) and
    round-trips exactly; `kwargs()` gives them back as plain values.
    """

    name: str
    params_json: str = "{}"

    @classmethod
    def of(cls, name: str, params: dict[str, Any] | None = None) -> ScheduleSpec:
        return cls(name, json.dumps(_canonical(name, check_params(name, params)), sort_keys=True))

    def kwargs(self) -> dict[str, Any]:
        return json.loads(self.params_json)


def _canonical(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Validated params without the values torch would use anyway (members of a composite too)."""
    defaults = {s.name: s.default for s in param_specs(name) if not s.required}
    out = {}
    for key, value in params.items():
        if key == "schedulers":
            value = [{"name": m["name"], "params": _canonical(m["name"], m["params"])} for m in value]
        elif key in defaults and value == defaults[key] and type(value) is type(defaults[key]):
            continue
        out[key] = value
    return out


def describe(name: str, params: dict[str, Any] | None = None, *, limit: int = 90) -> str:
    """A legend label: the call with the parameters that differ from torch's defaults, e.g. StepLR(step_size=30)."""
    name = name if isinstance(name, str) else shown(name)
    params = check_plain(params or {}, Term("field.schedules.params", scheduler=name))
    if not isinstance(params, dict):
        raise LabError("error.schedules.params_dict", scheduler=name, value=shown(params))
    defaults = {s.name: s.default for s in param_specs(name)} if name in NAMES else {}
    order = list(defaults)  # the signature's order, whatever order the dict has (a spec's keys are sorted)
    parts = []
    for key, value in sorted(params.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
        if key == "schedulers" and isinstance(value, list):
            inner = [describe(m.get("name", "?"), m.get("params"), limit=limit) for m in value if isinstance(m, dict)]
            parts.append("[" + ", ".join(inner) + "]")
        elif key in defaults and value == defaults[key] and defaults[key] is not None:
            continue
        elif value is not None:
            parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
    text = f"{name}({', '.join(parts)})"
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Curve:
    """One lr curve: a validated schedule and how it is stepped (`steps` batches, `steps_per_epoch`, the optimizer's
    `base_lr`); `metrics` is ReduceLROnPlateau's input, one value per epoch (None: the built-in plateauing loss)."""

    schedule: ScheduleSpec
    steps: int = DEFAULT_STEPS
    steps_per_epoch: int = DEFAULT_STEPS_PER_EPOCH
    base_lr: float = DEFAULT_BASE_LR
    metrics: tuple[float, ...] | None = None

    @classmethod
    def of(cls, name: str, params: dict[str, Any] | None = None, *, steps: int = DEFAULT_STEPS,
           steps_per_epoch: int = DEFAULT_STEPS_PER_EPOCH, base_lr: float = DEFAULT_BASE_LR,
           metrics: Any = None) -> Curve:  # fmt: skip
        """Validate everything once, in the order the refusals name it: scheduler, steps, lr, parameters, metrics."""
        check_name(name)
        steps, steps_per_epoch = check_steps(steps, steps_per_epoch)
        base_lr = check_base_lr(base_lr)
        schedule = ScheduleSpec.of(name, params)
        if name == "ReduceLROnPlateau" and isinstance(metrics, str):
            metrics = metrics_from_text(metrics)  # the tab's text field: empty is None
        if name != "ReduceLROnPlateau" or metrics is None:
            metrics = None  # only ReduceLROnPlateau reads a metric; None: the built-in plateauing loss
        else:
            metrics = check_metrics(metrics, steps, steps // steps_per_epoch)
        return cls(schedule, steps, steps_per_epoch, base_lr, metrics)

    @property
    def name(self) -> str:
        return self.schedule.name

    @property
    def epochs(self) -> int:
        return self.steps // self.steps_per_epoch

    @property
    def label(self) -> str:
        """The legend label: the call (`describe`), and the optimizer's lr when it is not the default 0.1."""
        label = describe(self.name, self.schedule.kwargs())
        return label if self.base_lr == DEFAULT_BASE_LR else f"{label} · lr {self.base_lr:g}"

    def to_link(self) -> list[Any]:
        """The compact JSON entry of a link: [name, params, steps, steps_per_epoch, base_lr(, metrics)]."""
        entry = [self.name, self.schedule.kwargs(), self.steps, self.steps_per_epoch, self.base_lr]
        return entry + [list(self.metrics)] if self.metrics is not None else entry

    @classmethod
    def from_link(cls, entry: Any) -> Curve:
        """A curve from its link entry (`to_link`); trailing values may be left out (100 steps, 1 per epoch, lr 0.1)."""
        if not isinstance(entry, (list, tuple)) or not 1 <= len(entry) <= 6:
            raise LabError("error.value", field="schedules.overlays", value=shown(entry),
                           accepted=Term("schedules.accept.overlay", steps=f"{MAX_STEPS:,}"))  # fmt: skip
        name, params, steps, spe, base_lr, metrics = (*entry, *[None] * (6 - len(entry)))
        return cls.of(name, params, steps=DEFAULT_STEPS if steps is None else steps,
                      steps_per_epoch=DEFAULT_STEPS_PER_EPOCH if spe is None else spe,
                      base_lr=DEFAULT_BASE_LR if base_lr is None else base_lr, metrics=metrics)  # fmt: skip
