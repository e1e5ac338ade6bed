"""LR schedules tab (tutorial 6.2): preview any torch scheduler, the tutorial's adjust_learning_rate, a comparison.

Every event asks `lab.schedules.preview` (or `view`, for a curve already validated) once and words what comes
back. A scheduler's parameters appear as fields: a fixed pool of components whose labels, help and visibility
follow the chosen scheduler, so gradio_client can drive every field. The comparison lives per session in gr.State
(validated `Curve`s); the address bar mirrors the whole view, the comparison as compact JSON, so a copied address
reopens it. A schedule the visitor picks or edits goes to `shared.schedule` as a `ScheduleSpec` for the Train tab;
opening the tab chooses nothing.
"""

from __future__ import annotations

import json
from typing import Any

import gradio as gr
import pandas as pd

import locales
from lab import schedules as S
from lab.errors import LabError, choice, number, shown
from lab.safe_expr import parse_json
from ui.cache import cached
from ui.common import Link, Shared, download_dir, error_box, first_view, guarded, run
from ui.i18n import i18n, t, words
from ui.widgets import PitfallSlots, code_panel, pitfall_slots, pitfall_view

DEFAULT_NAME = "StepLR"
DEFAULT_PARAMS = {"step_size": 30, "gamma": 0.1}  # the tutorial's StepLR(optimizer, 30, 0.1)
DEFAULT_STEPS, DEFAULT_SPE, DEFAULT_LR = 100, 1, 0.1
MAX_OVERLAYS = S.MAX_OVERLAYS
TABLE_ROWS = S.TABLE_ROWS  # longer curves show every k-th row; the CSV has every step
CSV_MAX_AGE_S = 3600
MARKS = ("decay", "milestone", "restart", "T_max", "plateau")

# which pooled component shows a parameter of each kind
SLOT_OF = {"int": "number", "float": "number", "optional_int": "number", "choice": "choice", "bool": "bool",
           "int_list": "text", "expr": "text", "schedulers": "text"}  # fmt: skip
SLOT_KINDS = ("number", "choice", "bool", "text")
# pitfall -> (has a table, has a figure); the order is the tutorial's
PITFALLS = {"usage_tab_error": (False, False), "step_outside_loop": (False, True), "optimizer_per_epoch": (True, True),
            "per_batch": (True, True), "plateau_metric": (False, True), "adjust_global_args": (False, False),
            "adjust_all_groups": (True, False), "adjust_late": (False, True)}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Field pool: which component shows which parameter (a snapshot of the registry, taken once at import)
# ----------------------------------------------------------------------------------------------------------


def _layout(specs: tuple[S.ParamSpec, ...]) -> dict[str, list[S.ParamSpec]]:
    slots: dict[str, list[S.ParamSpec]] = {kind: [] for kind in SLOT_KINDS}
    for spec in specs:
        slots[SLOT_OF[spec.kind]].append(spec)
    return slots


LAYOUT = {name: _layout(S.param_specs(name)) for name in S.NAMES}
POOL = {kind: max(len(LAYOUT[n][kind]) for n in S.NAMES) for kind in SLOT_KINDS}


def _shown(spec: S.ParamSpec, value: Any) -> Any:
    """A parameter value as its field shows it."""
    if value is None:
        return None if SLOT_OF[spec.kind] != "text" else ""
    if isinstance(value, str):
        return value
    if spec.kind == "int_list":
        return ", ".join(str(v) for v in value)
    if spec.kind == "schedulers":
        return json.dumps(value)
    return value


def _field_updates(name: str, params: dict[str, Any]) -> list[Any]:
    """gr.update for every pooled field, in pool order: the scheduler's parameters shown, the rest hidden."""
    updates = []
    layout = LAYOUT[name]
    for kind in SLOT_KINDS:
        specs = layout[kind]
        for i in range(POOL[kind]):
            if i >= len(specs):  # hidden; a dropdown goes back to its placeholder (what gradio_client sends)
                updates.append(gr.update(visible=False, choices=[""], value="") if kind == "choice" else
                               gr.update(visible=False))  # fmt: skip
                continue
            spec = specs[i]
            info = (t("schedules.field.info_required", help=t(spec.help)) if spec.required else
                    t("schedules.field.info", help=t(spec.help), default=repr(spec.default)))  # fmt: skip
            extra: dict[str, Any] = {}
            if kind == "choice":
                extra["choices"] = list(spec.choices)
            if kind == "text":
                extra["lines"] = 4 if spec.kind == "schedulers" else 1
            value = _shown(spec, params.get(spec.name))
            updates.append(gr.update(visible=True, label=spec.name, info=info, value=value, **extra))
    return updates


def _params_from_fields(name: str, values: list[Any]) -> dict[str, Any]:
    """Read the scheduler's parameters back from the pooled fields (same order as `_field_updates`)."""
    params: dict[str, Any] = {}
    layout = LAYOUT.get(name) if isinstance(name, str) else None
    if layout is None:  # an unknown scheduler: `preview` refuses it by name
        return params
    offset = 0
    for kind in SLOT_KINDS:
        # more slots than parameters: strict=False stops at the scheduler's last parameter
        for spec, value in zip(layout[kind], values[offset : offset + POOL[kind]], strict=False):
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # empty: torch's default (or a "needs ..." error when required)
            params[spec.name] = value
        offset += POOL[kind]
    return params


# ----------------------------------------------------------------------------------------------------------
# Words: what the server writes, in the visitor's language
# ----------------------------------------------------------------------------------------------------------


def _text() -> S.FigureText:
    return S.FigureText(step=t("schedules.axis.step"), epoch=t("schedules.axis.epoch"), lr=t("schedules.axis.lr"),
                        metric=t("schedules.axis.metric"), loss=t("schedules.axis.loss"),
                        marks=tuple((kind, t(f"schedules.mark.{kind}")) for kind in MARKS))  # fmt: skip


def _help(name: str, per_batch: bool) -> str:
    how = "composite" if name in S.COMPOSITE else "per_batch" if per_batch else "per_epoch"
    about = f"schedules.about.{name}" if locales.has(f"schedules.about.{name}") else "schedules.about.unknown"
    return t("schedules.help", name=name, how=t(f"schedules.how.{how}"), about=t(about))


def _summary(p: S.Preview) -> str:
    f = p.facts
    line = t("schedules.summary", label=f["label"], steps=f"{f['steps']:,}", epochs=f"{f['epochs']:,}",
             spe=f"{f['steps_per_epoch']:,}", first=f"{f['first']:.6g}", last=f"{f['last']:.6g}",
             low=f"{f['low']:.6g}", high=f"{f['high']:.6g}",
             how=t("schedules.stepped.per_batch" if f["per_batch"] else "schedules.stepped.per_epoch"))  # fmt: skip
    notes = [t("schedules.summary.same", number=p.same_as)] if p.same_as else []
    for what, error in p.skipped:
        if what == "params":
            notes.append(t("schedules.skipped.params", name=p.curve.name, reason=words(error)))
        elif what == "comparison":
            notes.append(t("schedules.skipped.comparison", reason=words(error)))
        else:
            notes.append(t("schedules.skipped.overlay", number=what, reason=words(error)))
    return "\n\n".join([line, *notes])


def _worded(df: pd.DataFrame) -> pd.DataFrame:
    """A table with its word headers in the visitor's language (labels and code stay as they are)."""
    return df.rename(columns={c: t(f"schedules.col.{c}") for c in df.columns
                              if isinstance(c, str) and locales.has(f"schedules.col.{c}")})  # fmt: skip


def _write_csv(p: S.Preview) -> str:
    path = download_dir("schedules", keep_s=CSV_MAX_AGE_S) / f"lr-{p.curve.name}.csv"
    p.comparison.to_csv(path, index=False)
    return str(path)


def _pick(overlays: tuple[S.Curve, ...] | list[S.Curve]) -> Any:
    choices = [f"{i} · {c.label}" for i, c in enumerate(overlays, start=1)]
    return gr.update(choices=choices, value=choices[-1] if choices else None)


def _view(p: S.Preview) -> tuple:
    """The outputs every drawing event fills, in VIEW order: plot, table, CSV, code, summary."""
    return p.figure, _worded(p.table), _write_csv(p), p.code, _summary(p)


def _defaults(steps: Any, spe: Any, base_lr: Any) -> dict[str, Any]:
    """An emptied number field (or an API client's null) means the default."""
    return {"steps": DEFAULT_STEPS if steps is None else steps,
            "steps_per_epoch": DEFAULT_SPE if spe is None else spe,
            "base_lr": DEFAULT_LR if base_lr is None else base_lr}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Callbacks: one lab call each, then words
# ----------------------------------------------------------------------------------------------------------


# A curve, its figure, table and code depend only on the settings and the page's words: computed once per server
# for plain settings (a link's, a preset's), under a heavy-work slot otherwise (issue 17).
_preview, _view_of, _run_all = cached(S.preview), cached(S.view), cached(S.run_all)


def show_curve(name: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool, metrics: str,
               overlays: list[S.Curve], *fields: Any) -> tuple:  # fmt: skip
    """The curve for the current fields (and the comparison): the params link, plot, table, CSV, code, summary; the
    current curve and the schedule for the Train tab."""
    p = _preview(name, _params_from_fields(name, list(fields)), **_defaults(steps, spe, base_lr), metrics=metrics,
                  overlays=overlays or (), log_y=bool(log_y), in_epochs=bool(in_epochs), text=_text())  # fmt: skip
    return (p.curve.schedule.params_json, *_view(p), p.curve, p.curve.schedule)


def redraw(name: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool, metrics: str,
           overlays: list[S.Curve], *fields: Any) -> tuple:  # fmt: skip
    """show_curve for a change of how the curve is stepped or drawn: the schedule itself did not change, so
    `shared.schedule` stays as it is."""
    return show_curve(name, steps, spe, base_lr, log_y, in_epochs, metrics, overlays, *fields)[:-1]


def select_scheduler(name: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool, metrics: str,
                     overlays: list[S.Curve]) -> tuple:  # fmt: skip
    """A scheduler was picked: its fields with torch's defaults (examples for required ones), and its curve."""
    p = _preview(name, None, with_defaults=True, **_defaults(steps, spe, base_lr), metrics=metrics,
                  overlays=overlays or (), log_y=bool(log_y), in_epochs=bool(in_epochs), text=_text())  # fmt: skip
    return (*_field_updates(p.curve.name, p.form), gr.Column(visible=p.curve.name == "ReduceLROnPlateau"),
            _help(p.curve.name, p.facts["per_batch"]), p.curve.schedule.params_json, *_view(p), p.curve,
            p.curve.schedule)  # fmt: skip


def apply_preset(preset: str, base_lr: Any, log_y: bool) -> tuple:
    """A preset: scheduler, fields, steps; its comparison curves replace the current comparison."""
    preset = choice("schedules.preset", preset, S.PRESETS)
    setup = S.PRESETS[preset]
    name, steps, spe = setup["name"], setup["steps"], setup["steps_per_epoch"]
    base_lr = DEFAULT_LR if base_lr is None else base_lr
    p = _preview(name, setup["params"], with_defaults=True, steps=steps, steps_per_epoch=spe, base_lr=base_lr,
                  overlays=[[n, params, steps, spe, base_lr] for n, params in setup["compare"]], log_y=bool(log_y),
                  in_epochs=spe > 1, text=_text())  # fmt: skip
    return (
        name, steps, spe, spe > 1,
        *_field_updates(name, p.form),
        gr.Column(visible=name == "ReduceLROnPlateau"), "",
        _help(name, p.facts["per_batch"]),
        list(p.overlays), _pick(p.overlays), S.overlays_to_link(p.overlays),
        p.curve.schedule.params_json, *_view(p), p.curve, p.curve.schedule,
    )  # fmt: skip


def _comparison(current: S.Curve | None, overlays: list[S.Curve], log_y: bool, in_epochs: bool) -> tuple:
    """Outputs of the comparison buttons: comparison state, plot, pick list, its link, table, CSV, summary."""
    if current is None:
        raise LabError("error.schedules.no_curve")
    p = _view_of(current, overlays, log_y=bool(log_y), in_epochs=bool(in_epochs), text=_text())
    return (list(p.overlays), p.figure, _pick(p.overlays), S.overlays_to_link(p.overlays), _worded(p.table),
            _write_csv(p), _summary(p))  # fmt: skip


def add_overlay(overlays: list[S.Curve], current: S.Curve | None, log_y: bool, in_epochs: bool) -> tuple:
    """Add the current curve to this session's comparison (once: adding it again changes nothing)."""
    overlays = list(overlays or [])
    if current is not None and current not in overlays:
        if len(overlays) >= MAX_OVERLAYS:
            raise LabError("error.schedules.overlays_full", count=MAX_OVERLAYS)
        overlays.append(current)
    return _comparison(current, overlays, log_y, in_epochs)


def remove_overlay(overlays: list[S.Curve], picked: str | None, current: S.Curve | None, log_y: bool,
                   in_epochs: bool) -> tuple:  # fmt: skip
    """Remove the picked curve from the comparison."""
    overlays = list(overlays or [])
    choices = [f"{i} · {c.label}" for i, c in enumerate(overlays, start=1)]
    if not overlays:
        raise LabError("error.schedules.overlays_empty")
    if picked not in choices:
        raise LabError("error.schedules.overlay_missing", value=shown(picked))
    overlays.pop(choices.index(picked))
    return _comparison(current, overlays, log_y, in_epochs)


def clear_overlays(current: S.Curve | None, log_y: bool, in_epochs: bool) -> tuple:
    """Empty the comparison."""
    return _comparison(current, [], log_y, in_epochs)


def open_view(name: str, params: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool,
              metrics: str, comparison: str) -> tuple:  # fmt: skip
    """The tab's first view, or the view a link describes: a link's parameters or comparison curves that cannot be
    drawn are left out with a note under the curve. Chooses nothing for the Train tab."""
    p = _preview(name, params or None, with_defaults=not params, **_defaults(steps, spe, base_lr), metrics=metrics,
                  overlays=comparison or "", log_y=bool(log_y), in_epochs=bool(in_epochs), text=_text(),
                  lenient=True)  # fmt: skip
    return (*_field_updates(p.curve.name, p.form), gr.Column(visible=p.curve.name == "ReduceLROnPlateau"),
            _help(p.curve.name, p.facts["per_batch"]), *_view(p), list(p.overlays), _pick(p.overlays),
            p.curve)  # fmt: skip


def curve_json(name: str, params_json: str = "{}", steps: int = DEFAULT_STEPS, steps_per_epoch: int = DEFAULT_SPE,
               base_lr: float = DEFAULT_LR) -> dict:  # fmt: skip
    """For scripts: the curve of scheduler `name` with parameters as a JSON object (same rules as the fields).

    Returns {"name", "params", "label", "step", "epoch", "lr", "code"}; ReduceLROnPlateau adds "metric".
    """
    # JSON text is bounded (length, nesting, digits) before json.loads: "[" * 20000 is a sentence, not a crash
    p = _preview(name, "" if params_json is None else params_json, **_defaults(steps, steps_per_epoch, base_lr))
    out = {"name": p.curve.name, "params": p.frame.attrs["params"], "label": p.curve.label, "code": p.code}
    out.update({col: p.frame[col].tolist() for col in p.frame.columns})
    return out


def show_pitfalls(base_lr: Any, slots: list[PitfallSlots]) -> list[Any]:
    """Run every pitfall of 6.2 live (the tutorial's code beside the fix) with the tab's optimizer lr; the updates
    of `slots` (one per pitfall, in PITFALLS order)."""
    updates: list[Any] = []
    for slot, pitfall in zip(slots, _run_all(DEFAULT_LR if base_lr is None else base_lr, _text()), strict=True):
        updates += pitfall_view(slot, pitfall, table=_worded(pitfall.table) if pitfall.table is not None else None)
    return updates


# ----------------------------------------------------------------------------------------------------------
# Links: each setting of the view in the address bar; a value a link may not ask for is ignored with a note
# ----------------------------------------------------------------------------------------------------------


def _link_params(raw: str) -> str:
    value = parse_json(raw, "schedules.params_json")
    if not isinstance(value, dict):
        raise ValueError("params must be a JSON object")
    return json.dumps(value, sort_keys=True)


def _link_flag(raw: str) -> bool:
    if raw.strip().lower() not in ("true", "false"):
        raise ValueError(raw)
    return raw.strip().lower() == "true"


def _link_metrics(raw: str) -> str:
    S.metrics_from_text(raw)  # numbers only, bounded
    return raw


LINK_PARSERS = {
    "scheduler": lambda raw: choice("schedules.name", raw, S.NAMES),
    "params": _link_params,
    "steps": lambda raw: number("schedules.steps", raw, 1, S.MAX_STEPS, integer=True),
    "spe": lambda raw: number("schedules.steps_per_epoch", raw, 1, S.MAX_STEPS, integer=True),
    "lr": lambda raw: number("schedules.base_lr", raw, 0, 10, low_open=True),
    "log": _link_flag,
    "epochs": _link_flag,
    "metrics": _link_metrics,
    "cmp": S.overlays_from_link,
}


# ----------------------------------------------------------------------------------------------------------
# Layout, then events
# ----------------------------------------------------------------------------------------------------------


def _pool(first: list[Any]) -> list[gr.components.Component]:
    """The pooled parameter fields, showing `first` (the default scheduler's) until the first view words them."""
    fields: list[gr.components.Component] = []
    specs = [s for kind in SLOT_KINDS for s in LAYOUT[DEFAULT_NAME][kind]]
    pos = 0
    for kind in SLOT_KINDS:
        for i in range(POOL[kind]):
            kw = {k: v for k, v in first[pos].items() if k not in ("__type__", "info")}
            if kw.get("visible"):
                kw["info"] = i18n(next(s.help for s in specs if s.name == kw["label"]))
            kw.setdefault("visible", False)
            elem_id = f"schedules-{kind}-{i}"
            # hidden fields hold a placeholder value so gradio_client can leave them out
            if kind == "number":
                kw.setdefault("value", 0)
                fields.append(gr.Number(elem_id=elem_id, **kw))
            elif kind == "choice":
                kw.setdefault("choices", [""])
                kw.setdefault("value", "")
                fields.append(gr.Dropdown(elem_id=elem_id, **kw))
            elif kind == "bool":
                fields.append(gr.Checkbox(elem_id=elem_id, **kw))
            else:
                kw.setdefault("value", "")
                fields.append(gr.Textbox(elem_id=elem_id, **kw))
            pos += 1
    return fields


def build(shared: Shared) -> None:
    """Scheduler and its fields | curve, comparison, table, CSV | code | pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for us: the first view is drawn when it is selected
    gr.Markdown(i18n("schedules.intro"))
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            preset = gr.Dropdown([(i18n(f"schedules.preset.{key}"), key) for key in S.PRESETS], value=None,
                                 label=i18n("schedules.preset"), info=i18n("schedules.preset.info"),
                                 elem_id="schedules-preset")  # fmt: skip
            name = gr.Dropdown(list(S.NAMES), value=DEFAULT_NAME, label=i18n("schedules.name"),
                               elem_id="schedules-name")  # fmt: skip
            help_md = gr.Markdown(elem_id="schedules-help")
            with gr.Group(elem_id="schedules-fields"):
                fields = _pool(_field_updates_at_build())
            with gr.Column(visible=False) as metrics_group:
                metrics = gr.Textbox("", label=i18n("schedules.metrics"), info=i18n("schedules.metrics.info"),
                                     lines=2, elem_id="schedules-metrics")  # fmt: skip
            gr.Markdown(i18n("schedules.params_help"), elem_classes="schedules-params-help")
            with gr.Row():
                # bounds are checked by lab (its sentence names the field; gradio's own does not)
                steps = gr.Number(DEFAULT_STEPS, label=i18n("schedules.steps"), info=i18n("schedules.steps.info"),
                                  precision=0, elem_id="schedules-steps")  # fmt: skip
                spe = gr.Number(DEFAULT_SPE, label=i18n("schedules.spe"), info=i18n("schedules.spe.info"), precision=0,
                                elem_id="schedules-spe")  # fmt: skip
                base_lr = gr.Number(DEFAULT_LR, label=i18n("schedules.base_lr"), info=i18n("schedules.base_lr.info"),
                                    elem_id="schedules-base-lr")  # fmt: skip
            with gr.Row():
                log_y = gr.Checkbox(False, label=i18n("schedules.log"), elem_id="schedules-log")
                in_epochs = gr.Checkbox(False, label=i18n("schedules.epochs"), elem_id="schedules-epochs")
            error = error_box("schedules-error")  # a refused input's sentence, beside the inputs
        with gr.Column(scale=3):
            plot = gr.Plot(label=i18n("schedules.plot"), elem_id="schedules-plot")
            summary = gr.Markdown(elem_id="schedules-summary")
            with gr.Row(equal_height=True):
                pick = gr.Dropdown([], value=None, label=i18n("schedules.pick"), scale=4, elem_id="schedules-pick")
                with gr.Column(scale=1, min_width=150):
                    add_btn = gr.Button(i18n("schedules.add"), variant="primary", size="sm", elem_id="schedules-add")
                    remove_btn = gr.Button(i18n("schedules.remove"), size="sm", elem_id="schedules-remove")
                    clear_btn = gr.Button(i18n("schedules.clear"), size="sm", elem_id="schedules-clear")
            cmp_error = error_box("schedules-cmp-error")
            table = gr.Dataframe(label=i18n("schedules.table"), interactive=False, max_height=300,
                                 elem_id="schedules-table")  # fmt: skip
            csv_file = gr.File(label=i18n("schedules.csv"), interactive=False, elem_id="schedules-csv")
    panel = code_panel("schedules", "6.2", "schedules.code.title", elem_id="schedules-code")
    with gr.Accordion(i18n("pitfall.accordion"), open=False, elem_classes="pitfall",
                      elem_id="schedules-pitfall") as pitfall_box:  # fmt: skip
        rerun = gr.Button(i18n("pitfall.run"), size="sm", elem_id="schedules-pitfall-run")
        pitfall_error = error_box("schedules-pitfall-error")
        slots = [pitfall_slots(f"schedules.{key}", table=has_table, plot=has_plot)
                 for key, (has_table, has_plot) in PITFALLS.items()]  # fmt: skip
    # the address bar's copies of what has no component of its own: the parameters and the comparison
    params_link = gr.Textbox("", visible=False, elem_id="schedules-params-link")  # empty: the scheduler's defaults
    cmp_link = gr.Textbox("", visible=False, elem_id="schedules-cmp-link")
    overlays = gr.State([])
    current = gr.State(None)

    # events last
    view = [plot, table, csv_file, panel.code, summary]
    common = [steps, spe, base_lr, log_y, in_epochs, metrics]
    links = [Link("scheduler", name, LINK_PARSERS["scheduler"]), Link("params", params_link, _link_params),
             *(Link(key, c, LINK_PARSERS[key]) for key, c in
               (("steps", steps), ("spe", spe), ("lr", base_lr), ("log", log_y), ("epochs", in_epochs),
                ("metrics", metrics), ("cmp", cmp_link)))]  # fmt: skip
    first_view(shared, tab, "schedules", open_view, [name, params_link, *common, cmp_link],
               [*fields, metrics_group, help_md, *view, overlays, pick, current], links=links, error=error,
               api_name="schedules_open", light=True)  # fmt: skip

    field_triggers = []
    for f in fields:
        field_triggers += [f.input] if isinstance(f, (gr.Dropdown, gr.Checkbox)) else [f.submit, f.blur]
    run(field_triggers, show_curve, [name, *common, overlays, *fields], [params_link, *view, current, shared.schedule],
        api_name="schedules_curve", error=error, clear=view, trigger_mode="always_last")  # fmt: skip
    run([steps.submit, steps.blur, spe.submit, spe.blur, base_lr.submit, base_lr.blur, log_y.input, in_epochs.input,
         metrics.submit, metrics.blur], redraw, [name, *common, overlays, *fields], [params_link, *view, current],
        api_name="schedules_redraw", error=error, clear=view,
        trigger_mode="always_last")  # fmt: skip
    run(name.input, select_scheduler, [name, *common, overlays],
        [*fields, metrics_group, help_md, params_link, *view, current, shared.schedule], api_name="schedules_select",
        error=error, clear=view, trigger_mode="always_last")  # fmt: skip
    run(preset.input, apply_preset, [preset, base_lr, log_y],
        [name, steps, spe, in_epochs, *fields, metrics_group, metrics, help_md, overlays, pick, cmp_link, params_link,
         *view, current, shared.schedule], api_name="schedules_preset", error=error,
        clear=view)  # fmt: skip
    comparison = [overlays, plot, pick, cmp_link, table, csv_file, summary]
    run(add_btn.click, add_overlay, [overlays, current, log_y, in_epochs], comparison, api_name="schedules_add",
        error=cmp_error, clear=[])  # fmt: skip
    run(remove_btn.click, remove_overlay, [overlays, pick, current, log_y, in_epochs], comparison,
        api_name="schedules_remove", error=cmp_error, clear=[])  # fmt: skip
    run(clear_btn.click, clear_overlays, [current, log_y, in_epochs], comparison, api_name="schedules_clear",
        error=cmp_error, clear=[])  # fmt: skip
    gr.api(guarded(curve_json), api_name="schedules_curve_json")  # API only: name + JSON params -> the exact curve

    def pitfalls(base_lr: Any) -> list[Any]:
        return show_pitfalls(base_lr, slots)

    run([pitfall_box.expand, rerun.click], pitfalls, [base_lr], [c for s in slots for c in s.components],
        api_name="schedules_pitfall", light=True, error=pitfall_error)  # fmt: skip
    panel.wire("schedules", "schedules_notebook")


def _field_updates_at_build() -> list[dict[str, Any]]:
    """The default scheduler's fields before any request (labels are parameter names; help is added by _pool)."""
    values = {**S.default_params(DEFAULT_NAME), **DEFAULT_PARAMS}
    out = []
    for kind in SLOT_KINDS:
        specs = LAYOUT[DEFAULT_NAME][kind]
        for i in range(POOL[kind]):
            out.append({"visible": True, "label": specs[i].name, "value": _shown(specs[i], values.get(specs[i].name))}
                       if i < len(specs) else {"visible": False})  # fmt: skip
    return out
