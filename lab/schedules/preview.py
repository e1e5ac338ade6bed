"""One call per view of the LR tab: `preview` validates once and returns everything the tab shows.

The current curve, the comparison (every curve a column, aligned by step: the table and the CSV), the figure (words
passed in as `FigureText`), the code panel and the summary numbers. Its inputs are plain values or hashable
`Curve`s, so the whole call can be cached. `PRESETS` are the tutorial's examples and common recipes, as data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lab.errors import LabError, Term, shown
from lab.safe_expr import parse_json
from lab.schedules.code import curve_code
from lab.schedules.core import curve_frame, curve_marks
from lab.schedules.figures import PLAIN, FigureText, curve_figure
from lab.schedules.params import CUSTOM, ParamSpec, default_params, param_specs
from lab.schedules.spec import DEFAULT_BASE_LR, DEFAULT_STEPS, DEFAULT_STEPS_PER_EPOCH, Curve

__all__ = ["MAX_OVERLAYS", "TABLE_ROWS", "Preview", "preview", "view", "overlays_from_link", "overlays_to_link",
           "PRESETS"]  # fmt: skip

MAX_OVERLAYS = 8  # curves in a comparison (and in a link)
TABLE_ROWS = 1000  # longer comparisons show every k-th step (and the last) on the page; the CSV has every step


@dataclass
class Preview:
    """What the LR tab shows for one schedule and its comparison."""

    curve: Curve  # the current curve, validated
    overlays: tuple[Curve, ...]  # the comparison, validated (a link's unusable entries left out: `skipped`)
    frame: pd.DataFrame  # the current curve: step, epoch, lr[, metric]; attrs as lr_curve's
    comparison: pd.DataFrame  # step, epoch, lr[, metric], then one lr column per comparison curve ("#1 <label>")
    table: pd.DataFrame  # `comparison` thinned to TABLE_ROWS rows (every k-th step and the last)
    labels: tuple[str, ...]  # legend labels: the current curve, then each comparison curve
    same_as: int | None  # the comparison curve (1-based) identical to the current one: drawn once, not twice
    figure: go.Figure
    marks: list[tuple[int, str]]
    code: str  # standalone PyTorch printing the current curve
    facts: dict[str, Any]  # label, name, per_batch, steps, epochs, steps_per_epoch, first, last, low, high, curves
    specs: tuple[ParamSpec, ...]  # the scheduler's form fields
    form: dict[str, Any]  # what each field shows: the curve's parameters over the form's defaults
    # lenient: what was left out ("params", "comparison" or a comparison curve's number), and why
    skipped: list[tuple[str, LabError]] = field(default_factory=list)


def overlays_to_link(overlays: Sequence[Curve]) -> str:
    """The comparison as compact JSON for the address bar: a list of `Curve.to_link()` entries."""
    return json.dumps([c.to_link() for c in overlays], separators=(",", ":")) if overlays else ""


def overlays_from_link(text: Any) -> str:
    """A link's comparison, checked in shape (JSON, a list of at most MAX_OVERLAYS entries); returned as canonical
    JSON text. Each entry is validated when drawn (`preview(..., lenient=True)` leaves out one it cannot draw)."""
    entries = parse_json(text, "schedules.overlays", example='[["StepLR",{"step_size":30}]]')
    if entries is None:
        return ""
    if not isinstance(entries, list) or len(entries) > MAX_OVERLAYS:
        raise LabError("error.value", field="schedules.overlays", value=shown(text),
                       accepted=Term("schedules.accept.overlays", count=MAX_OVERLAYS))  # fmt: skip
    return json.dumps(entries, separators=(",", ":"))


def _params(name: str, params: Any) -> Any:
    """The form's parameters: a dict, or its JSON text (a link's `params=`)."""
    if isinstance(params, str):
        params = parse_json(params, Term("field.schedules.params", scheduler=name))
    return params


def _thin(df: pd.DataFrame) -> pd.DataFrame:
    if len(df) <= TABLE_ROWS:
        return df
    k = -(-len(df) // TABLE_ROWS)
    return pd.concat([df.iloc[::k], df.iloc[[-1]]]).drop_duplicates(subset="step")


def preview(name: str, params: dict[str, Any] | str | None = None, *, steps: int = DEFAULT_STEPS,
            steps_per_epoch: int = DEFAULT_STEPS_PER_EPOCH, base_lr: float = DEFAULT_BASE_LR, metrics: Any = None,
            overlays: Sequence[Curve | Sequence[Any]] | str = (), log_y: bool = False, in_epochs: bool = False,
            text: FigureText = PLAIN, with_defaults: bool = False, lenient: bool = False) -> Preview:  # fmt: skip
    """Everything the LR tab shows, validated once.

    `params` a dict or its JSON text; with `with_defaults` they go over the form's starting values (torch's defaults,
    an example for each required parameter), as when a scheduler is picked. `metrics` ReduceLROnPlateau's input
    (numbers, or their text). `overlays` the comparison: `Curve`s, link entries (`Curve.to_link()`) or a link's JSON
    text. With `lenient` (a link being opened), parameters the scheduler refuses fall back to its defaults and
    comparison entries that cannot be drawn are left out, each recorded in `skipped`; otherwise they raise LabError.
    """
    skipped: list[tuple[str, LabError]] = []
    if isinstance(overlays, str):
        try:
            overlays = json.loads(overlays_from_link(overlays) or "[]")
        except LabError as exc:
            if not lenient:
                raise
            overlays = []
            skipped.append(("comparison", exc))
    try:
        params = _params(name, params)
        if with_defaults:
            params = {**default_params(name), **(params or {})}
        curve = Curve.of(name, params, steps=steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                         metrics=metrics)  # fmt: skip
    except LabError as exc:
        if not lenient or params in (None, {}, ""):
            raise
        curve = Curve.of(name, default_params(name), steps=steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                         metrics=metrics)  # fmt: skip
        skipped.append(("params", exc))
    return view(curve, overlays, log_y=log_y, in_epochs=in_epochs, text=text, lenient=lenient, skipped=skipped)


def view(curve: Curve, overlays: Sequence[Curve | Sequence[Any]] = (), *, log_y: bool = False, in_epochs: bool = False,
         text: FigureText = PLAIN, lenient: bool = False,
         skipped: list[tuple[str, LabError]] | None = None) -> Preview:  # fmt: skip
    """`preview` of an already validated curve (what the tab's comparison buttons redraw)."""
    skipped = list(skipped or [])
    if len(overlays) > MAX_OVERLAYS:
        raise LabError("error.schedules.overlays_full", count=MAX_OVERLAYS)
    frame = curve_frame(curve)
    kept: list[Curve] = []
    frames: list[pd.DataFrame] = []
    for i, entry in enumerate(overlays, start=1):
        try:
            other = entry if isinstance(entry, Curve) else Curve.from_link(entry)
            frames.append(frame if other == curve else curve_frame(other))
            kept.append(other)
        except LabError as exc:
            if not lenient:
                raise
            skipped.append((str(i), exc))
    same_as = next((i for i, other in enumerate(kept, start=1) if other == curve), None)
    labels = (curve.label, *(f"#{i} {c.label}" for i, c in enumerate(kept, start=1)))

    comparison = frame.copy()
    comparison.attrs = {}
    for label, other in zip(labels[1:], frames, strict=True):
        column = other[["step", "lr"]].rename(columns={"lr": label})
        comparison = comparison.merge(column, on="step", how="outer")
    comparison = comparison.sort_values("step", ignore_index=True)
    comparison["step"] = comparison["step"].astype(int)

    marks = curve_marks(curve.name, frame.attrs["params"], steps=curve.steps, steps_per_epoch=curve.steps_per_epoch,
                        curve=frame)  # fmt: skip
    legend = [labels[0] if same_as is None else f"{labels[0]} = #{same_as}", *labels[1:]]
    figure = curve_figure(list(zip(legend, [frame, *frames], strict=True)), log_y=bool(log_y),
                          in_epochs=bool(in_epochs), marks=marks, text=text,
                          skip={same_as} if same_as else set())  # fmt: skip
    lr = frame["lr"]
    facts = {
        "label": curve.label, "name": curve.name, "per_batch": bool(frame.attrs["per_batch"]), "steps": curve.steps,
        "epochs": curve.epochs, "steps_per_epoch": curve.steps_per_epoch, "first": float(lr.iloc[0]),
        "last": float(lr.iloc[-1]), "low": float(lr.min()), "high": float(lr.max()), "curves": 1 + len(kept),
    }  # fmt: skip
    form = {**default_params(curve.name), **curve.schedule.kwargs()}
    return Preview(curve=curve, overlays=tuple(kept), frame=frame, comparison=comparison, table=_thin(comparison),
                   labels=labels, same_as=same_as, figure=figure, marks=marks, code=curve_code(curve), facts=facts,
                   specs=param_specs(curve.name), form=form, skipped=skipped)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Presets: the tutorial's examples and the schedules people reach for. `compare` entries go beside the curve.

PRESETS: dict[str, dict[str, Any]] = {
    "tutorial_6_2_2": {  # the tutorial's adjust_learning_rate, and the two built-ins that do the same job
        "name": CUSTOM, "params": {"every": 30, "factor": 0.1}, "steps": 100, "steps_per_epoch": 1,
        "compare": [("StepLR", {"step_size": 30, "gamma": 0.1}), ("LambdaLR", {"lr_lambda": "0.1 ** (epoch // 30)"})],
    },
    "warmup_cosine": {
        "name": "SequentialLR", "steps": 100, "steps_per_epoch": 1, "compare": [],
        "params": {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                                  {"name": "CosineAnnealingLR", "params": {"T_max": 95}}], "milestones": [5]},
    },
    "one_cycle": {
        "name": "OneCycleLR", "params": {"max_lr": 0.1}, "steps": 1000, "steps_per_epoch": 100,
        "compare": [("OneCycleLR", {"max_lr": 0.1, "three_phase": True})],
    },
    "warm_restarts": {
        "name": "CosineAnnealingWarmRestarts", "params": {"T_0": 10, "T_mult": 2}, "steps": 150,
        "steps_per_epoch": 1, "compare": [],
    },
    "plateau": {"name": "ReduceLROnPlateau", "params": {}, "steps": 100, "steps_per_epoch": 1, "compare": []},
}  # fmt: skip
