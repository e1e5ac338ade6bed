"""LR schedules tab (tutorial 6.2): preview any torch scheduler, the tutorial's adjust_learning_rate, overlays.

A scheduler's parameters appear as fields (a fixed pool of components whose labels, help and visibility follow
the chosen scheduler, so gradio_client can drive every field); the curve is torch's own, stepped per batch or
per epoch as a loop would. Comparison curves live per session in gr.State. The current schedule goes to
`shared.schedule` for the Train tab.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

import gradio as gr
import pandas as pd

from lab import schedules as S
from lab.errors import LabError, shown
from lab.safe_expr import parse_json
from ui.common import Shared, code_box, download_dir, guarded

DEFAULT_NAME = "StepLR"
DEFAULT_PARAMS = {"step_size": 30, "gamma": 0.1}  # the tutorial's StepLR(optimizer, 30, 0.1)
DEFAULT_STEPS, DEFAULT_SPE, DEFAULT_LR = 100, 1, 0.1
MAX_OVERLAYS = 8
TABLE_ROWS = 1000  # longer curves show every k-th row; the CSV has every step
CSV_MAX_AGE_S = 3600

# which pooled component shows a parameter of each kind
SLOT_OF = {"int": "number", "float": "number", "optional_int": "number", "choice": "choice", "bool": "bool",
           "int_list": "text", "expr": "text", "schedulers": "text"}  # fmt: skip
SLOT_KINDS = ("number", "choice", "bool", "text")

INTRO = """### Learning-rate schedules (tutorial 6.2)
Pick a scheduler and set its parameters: the curve is **torch's own** (the real scheduler on an SGD optimizer,
momentum 0.9), one point per batch. With several batches per epoch, OneCycleLR and CyclicLR step after every
batch and the others once per epoch, as a training loop must. Add curves to the comparison, try the presets,
copy the exact values or the code."""

PARAMS_HELP = (
    "Empty optional fields keep torch's default. `lr_lambda` is a Python expression in `epoch` (numbers, "
    "`+ - * / // % **`, comparisons, `x if c else y`, `min max abs cos sin tan exp log sqrt floor ceil pi e`); "
    "it is parsed, never executed. Members of SequentialLR/ChainedScheduler are JSON: "
    '`[{"name": "LinearLR", "params": {"total_iters": 5}}, ...]`.'
)


# ----------------------------------------------------------------------------------------------------------
# Field pool: which component shows which parameter
# ----------------------------------------------------------------------------------------------------------


def _layout(name: str) -> dict[str, list[S.ParamSpec]]:
    slots: dict[str, list[S.ParamSpec]] = {kind: [] for kind in SLOT_KINDS}
    for spec in S.param_specs(name):
        slots[SLOT_OF[spec.kind]].append(spec)
    return slots


POOL = {kind: max(len(_layout(n)[kind]) for n in S.NAMES) for kind in SLOT_KINDS}


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
    layout = _layout(name)
    for kind in SLOT_KINDS:
        specs = layout[kind]
        for i in range(POOL[kind]):
            if i >= len(specs):  # hidden; a dropdown goes back to its placeholder (what gradio_client sends)
                updates.append(gr.update(visible=False, choices=[""], value="") if kind == "choice" else
                               gr.update(visible=False))  # fmt: skip
                continue
            spec = specs[i]
            default = "" if spec.required else f" (torch default: {spec.default!r})"
            label = f"{spec.name}{' (required)' if spec.required else ''}"
            extra: dict[str, Any] = {}
            if kind == "choice":
                extra["choices"] = list(spec.choices)
            if kind == "text":
                extra["lines"] = 4 if spec.kind == "schedulers" else 1
            updates.append(gr.update(visible=True, label=label, info=spec.help + default,
                                     value=_shown(spec, params.get(spec.name)), **extra))  # fmt: skip
    return updates


def _params_from_fields(name: str, values: list[Any]) -> dict[str, Any]:
    """Read the scheduler's parameters back from the pooled fields (same order as `_field_updates`)."""
    params: dict[str, Any] = {}
    layout = _layout(name)
    offset = 0
    for kind in SLOT_KINDS:
        # more slots than parameters: strict=False stops at the scheduler's last parameter
        for spec, value in zip(layout[kind], values[offset : offset + POOL[kind]], strict=False):
            if value is None or (isinstance(value, str) and not value.strip()):
                continue  # empty: torch's default (or a "needs ..." error when required)
            params[spec.name] = value
        offset += POOL[kind]
    return params


def _metrics(text: str | None) -> list[float] | None:
    if not text or not text.strip():
        return None
    if len(text) > 200_000:
        raise LabError(f"metrics is {len(text)} characters long; at most 200000 are accepted.")
    try:
        return [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise LabError("metrics must be numbers separated by commas or spaces, one per epoch or per step.") from None


def _help(name: str) -> str:
    cls = S.AdjustLearningRate if name == "AdjustLearningRate" else getattr(S.torch_schedulers, name)
    first = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
    how = "steps after every batch" if name in S.PER_BATCH else "steps once per epoch"
    if name in S.COMPOSITE:
        how = "steps per batch if a member does, else per epoch"
    return f"**{name}** ({how}): {first}"


# ----------------------------------------------------------------------------------------------------------
# Callbacks (thin: lab computes, these arrange the outputs)
# ----------------------------------------------------------------------------------------------------------


def _write_csv(df: pd.DataFrame, name: str) -> str:
    path = download_dir("schedules", keep_s=CSV_MAX_AGE_S) / f"lr-{name}.csv"
    df.to_csv(path, index=False)
    return str(path)


def _table(df: pd.DataFrame, steps_per_epoch: int) -> pd.DataFrame:
    shown = df if steps_per_epoch > 1 else df.drop(columns="epoch")
    if len(shown) <= TABLE_ROWS:
        return shown
    k = -(-len(shown) // TABLE_ROWS)
    return pd.concat([shown.iloc[::k], shown.iloc[[-1]]]).drop_duplicates(subset="step")


def _compute(name: str, params: dict[str, Any], steps: Any, spe: Any, base_lr: Any, metrics: Any) -> dict[str, Any]:
    """The current schedule: curve, label, marks, code, and the {"name", "params"} for the Train tab."""
    steps = DEFAULT_STEPS if steps is None else steps
    spe = DEFAULT_SPE if spe is None else spe
    base_lr = DEFAULT_LR if base_lr is None else base_lr
    checked = S.check_params(name, params)
    df = S.lr_curve(name, params, steps=steps, steps_per_epoch=spe, base_lr=base_lr, metrics=metrics)
    steps, spe = int(steps), int(spe)
    label = S.describe(name, checked)
    if base_lr != DEFAULT_LR:
        label += f" · lr {base_lr:g}"
    return {
        "name": name,
        "params": checked,
        "label": label,
        "df": df,
        "marks": S.marks(name, df.attrs["params"], steps=steps, steps_per_epoch=spe, curve=df),
        "code": S.to_code(name, params, steps=steps, steps_per_epoch=spe, base_lr=base_lr, metrics=metrics),
        "spe": spe,
    }


def _figure(current: dict[str, Any] | None, overlays: list[dict[str, Any]], log_y: bool, in_epochs: bool):
    curves = ([(current["label"], current["df"])] if current else []) + [(o["label"], o["df"]) for o in overlays]
    return S.curve_figure(curves, log_y=bool(log_y), in_epochs=bool(in_epochs),
                          marks=current["marks"] if current else ())  # fmt: skip


def _summary(current: dict[str, Any]) -> str:
    df, spe = current["df"], current["spe"]
    lr = df["lr"]
    how = "per batch" if df.attrs["per_batch"] else "once per epoch"
    return (
        f"`{current['label']}` · stepped {how} · {len(df)} steps = {len(df) // spe} epochs of {spe} · lr starts at "
        f"{lr.iloc[0]:.6g}, ends at {lr.iloc[-1]:.6g}, min {lr.min():.6g}, max {lr.max():.6g}"
    )


def _view(current: dict[str, Any], overlays: list[dict[str, Any]], log_y: bool, in_epochs: bool) -> tuple:
    """Outputs shared by every event that changes the current schedule (VIEW_OUTPUTS order)."""
    return (
        _figure(current, overlays, log_y, in_epochs),
        _table(current["df"], current["spe"]),
        _write_csv(current["df"], current["name"]),
        current["code"],
        _summary(current),
        {"name": current["name"], "params": current["params"]},
        current,
    )


def _overlay_choices(overlays: list[dict[str, Any]]) -> Any:
    choices = [f"{i + 1} · {o['label']}" for i, o in enumerate(overlays)]
    return gr.update(choices=choices, value=choices[-1] if choices else None)


@guarded
def show_curve(name: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool, metrics: str,
               overlays: list[dict[str, Any]], *fields: Any) -> tuple:  # fmt: skip
    """The curve for the current fields (and the comparison), its table, CSV, code and summary."""
    params = _params_from_fields(name, list(fields))
    current = _compute(name, params, steps, spe, base_lr, _metrics(metrics))
    return _view(current, overlays or [], log_y, in_epochs)


def show_curve_on_open(*args: Any) -> tuple:
    """show_curve, leaving `shared.schedule` alone: only a schedule the user picks or edits goes to the Train tab."""
    out = list(show_curve(*args))
    out[5] = gr.skip()
    return tuple(out)


@guarded
def select_scheduler(name: str, steps: Any, spe: Any, base_lr: Any, log_y: bool, in_epochs: bool, metrics: str,
                     overlays: list[dict[str, Any]]) -> tuple:  # fmt: skip
    """A scheduler was picked: its fields with torch's defaults (examples for required ones), and its curve."""
    if name not in S.NAMES:
        raise LabError(f"Scheduler {shown(name)} is not known; choose one of {', '.join(S.NAMES)}.")
    params = S.default_params(name)  # OneCycleLR's total_steps stays empty: the curve's length
    current = _compute(name, params, steps, spe, base_lr, _metrics(metrics) if name == "ReduceLROnPlateau" else None)
    return (
        *_field_updates(name, params),
        gr.update(visible=name == "ReduceLROnPlateau"),
        _help(name),
        *_view(current, overlays or [], log_y, in_epochs),
    )


@guarded
def apply_preset(label: str, base_lr: Any, log_y: bool) -> tuple:
    """A preset: scheduler, fields, steps; its comparison curves replace the current comparison."""
    if not isinstance(label, str) or label not in S.PRESETS:
        raise LabError(f"Preset {shown(label)} is not known; choose one of {', '.join(S.PRESETS)}.")
    preset = S.PRESETS[label]
    name, params, steps, spe = preset["name"], preset["params"], preset["steps"], preset["steps_per_epoch"]
    in_epochs = spe > 1
    current = _compute(name, params, steps, spe, base_lr, None)
    overlays = [_compute(n, p, steps, spe, base_lr, None) for n, p in preset["compare"]]
    for entry in overlays:
        entry.pop("code")  # overlays keep only what the figure needs
    values = {**S.default_params(name), **params}
    return (
        name, steps, spe, in_epochs,
        *_field_updates(name, values),
        gr.update(visible=name == "ReduceLROnPlateau", value=""),
        _help(name),
        overlays,
        _overlay_choices(overlays),
        *_view(current, overlays, log_y, in_epochs),
    )  # fmt: skip


@guarded
def add_overlay(overlays: list[dict[str, Any]], current: dict[str, Any] | None, log_y: bool, in_epochs: bool) -> tuple:
    """Add the current curve to this session's comparison."""
    overlays = list(overlays or [])
    if current is None:
        raise LabError("There is no curve to add yet; pick a scheduler first.")
    if len(overlays) >= MAX_OVERLAYS:
        raise LabError(f"The comparison holds at most {MAX_OVERLAYS} curves; remove one or clear it first.")
    overlays.append({k: v for k, v in current.items() if k != "code"})
    return overlays, _figure(current, overlays, log_y, in_epochs), _overlay_choices(overlays)


@guarded
def remove_overlay(overlays: list[dict[str, Any]], picked: str | None, current: dict[str, Any] | None, log_y: bool,
                   in_epochs: bool) -> tuple:  # fmt: skip
    """Remove the picked curve from the comparison."""
    overlays = list(overlays or [])
    choices = [f"{i + 1} · {o['label']}" for i, o in enumerate(overlays)]
    if not overlays:
        raise LabError("The comparison is empty; add a curve first.")
    if picked not in choices:
        raise LabError(f"Curve {shown(picked)} is not in the comparison; pick one of the listed curves.")
    overlays.pop(choices.index(picked))
    return overlays, _figure(current, overlays, log_y, in_epochs), _overlay_choices(overlays)


@guarded
def clear_overlays(current: dict[str, Any] | None, log_y: bool, in_epochs: bool) -> tuple:
    """Empty the comparison."""
    return [], _figure(current, [], log_y, in_epochs), _overlay_choices([])


@guarded
def curve_json(name: str, params_json: str = "{}", steps: int = DEFAULT_STEPS, steps_per_epoch: int = DEFAULT_SPE,
               base_lr: float = DEFAULT_LR) -> dict:  # fmt: skip
    """For scripts: the curve of scheduler `name` with parameters as a JSON object (same rules as the fields).

    Returns {"name", "params", "label", "step", "epoch", "lr", "code"}; ReduceLROnPlateau adds "metric".
    """
    # bounded (length, nesting, digits) before json.loads: "[" * 20000 is a sentence, not a RecursionError
    params = parse_json("" if params_json is None else params_json, "params_json")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise LabError(f"params_json must be a JSON object like {{\"step_size\": 30}}, not {shown(params_json)}.")
    current = _compute(name, params, steps, steps_per_epoch, base_lr, None)
    df = current["df"]
    out = {"name": name, "params": current["params"], "label": current["label"], "code": current["code"]}
    out.update({col: df[col].tolist() for col in df.columns})
    return out


PITFALL_CHOICES = [(p.title, key) for key, p in S.PITFALLS.items()]


@guarded
def show_pitfall(kind: str, base_lr: Any) -> tuple:
    """Run the tutorial's loop and the correct one; both lr curves, the explanation and both loops."""
    base_lr = DEFAULT_LR if base_lr is None else base_lr
    if isinstance(base_lr, bool) or not isinstance(base_lr, (int, float)) or not 0 < base_lr <= 10:
        raise LabError(f"base_lr={shown(base_lr)} is not accepted; use a number above 0 and at most 10.")
    df = S.pitfall_curve(kind, base_lr=float(base_lr))
    pitfall = S.PITFALLS[kind]
    wrong = df.rename(columns={"wrong": "lr"})[["step", "epoch", "lr"]]
    right = df.rename(columns={"right": "lr"})[["step", "epoch", "lr"]]
    fig = S.curve_figure([(pitfall.labels[1], right), (pitfall.labels[0], wrong)], in_epochs=True,
                         title=pitfall.title)  # fmt: skip
    return fig, f"**{pitfall.title}.** {pitfall.explanation}", pitfall.wrong, pitfall.right


# ----------------------------------------------------------------------------------------------------------
# Layout, then events
# ----------------------------------------------------------------------------------------------------------


def build(shared: Shared) -> None:
    """Scheduler and its fields | curve, comparison, table, CSV, code | pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for us: draw the default curve when it is selected
    gr.Markdown(INTRO)
    first = _field_updates(DEFAULT_NAME, {**S.default_params(DEFAULT_NAME), **DEFAULT_PARAMS})
    with gr.Row():
        with gr.Column(scale=2, min_width=340):
            preset = gr.Dropdown(list(S.PRESETS), value=None, label="Presets", elem_id="schedules-preset",
                                 info="the tutorial's examples and common recipes")  # fmt: skip
            name = gr.Dropdown(list(S.NAMES), value=DEFAULT_NAME, label="Scheduler", elem_id="schedules-name")
            help_md = gr.Markdown(_help(DEFAULT_NAME), elem_id="schedules-help")
            fields: list[gr.components.Component] = []
            with gr.Group(elem_id="schedules-fields"):
                pos = 0
                for kind in SLOT_KINDS:
                    for i in range(POOL[kind]):
                        upd = first[pos]
                        kw = {k: v for k, v in upd.items() if k not in ("__type__",)}
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
            metrics = gr.Textbox(
                "", label="metrics for ReduceLROnPlateau", visible=False, lines=2, elem_id="schedules-metrics",
                info="validation losses, one per epoch or per step; empty: a built-in noisy loss that plateaus "
                "(drawn on the right axis)",
            )
            gr.Markdown(PARAMS_HELP, elem_classes="schedules-params-help")
            with gr.Row():
                # bounds are checked by lab (its message names the field; gradio's own does not)
                steps = gr.Number(DEFAULT_STEPS, label="steps (batches)", precision=0, elem_id="schedules-steps",
                                  info=f"1 to {S.MAX_STEPS:,}")  # fmt: skip
                spe = gr.Number(DEFAULT_SPE, label="steps per epoch", precision=0, elem_id="schedules-spe",
                                info="batches per epoch")  # fmt: skip
                base_lr = gr.Number(DEFAULT_LR, label="optimizer lr", elem_id="schedules-base-lr")
            with gr.Row():
                log_y = gr.Checkbox(False, label="log-scale lr", elem_id="schedules-log")
                in_epochs = gr.Checkbox(False, label="x axis in epochs", elem_id="schedules-epochs")
        with gr.Column(scale=3):
            plot = gr.Plot(label="learning rate per step", elem_id="schedules-plot")
            summary = gr.Markdown(elem_id="schedules-summary")
            with gr.Row(equal_height=True):
                pick = gr.Dropdown([], value=None, label="Comparison (kept for this session)", scale=4,
                                   elem_id="schedules-pick")  # fmt: skip
                with gr.Column(scale=1, min_width=150):
                    add_btn = gr.Button("Add current", variant="primary", size="sm", elem_id="schedules-add")
                    remove_btn = gr.Button("Remove picked", size="sm", elem_id="schedules-remove")
                    clear_btn = gr.Button("Clear all", size="sm", elem_id="schedules-clear")
            table = gr.Dataframe(label="Exact values (the CSV has every step)", interactive=False, max_height=300,
                                 elem_id="schedules-table")  # fmt: skip
            csv_file = gr.File(label="CSV", interactive=False, elem_id="schedules-csv")
    code = code_box(elem_id="schedules-code")
    with gr.Accordion("Pitfall: where scheduler.step() goes", open=False, elem_classes="pitfall",
                      elem_id="schedules-pitfall") as pitfall:  # fmt: skip
        pitfall_kind = gr.Radio(PITFALL_CHOICES, value=PITFALL_CHOICES[0][1], label="Pitfall",
                                elem_id="schedules-pitfall-kind")  # fmt: skip
        pitfall_md = gr.Markdown(elem_id="schedules-pitfall-text")
        pitfall_plot = gr.Plot(elem_id="schedules-pitfall-plot")
        with gr.Row():
            pitfall_wrong = gr.Code(label="The tutorial's loop", language="python", interactive=False)
            pitfall_right = gr.Code(label="Correct", language="python", interactive=False)

    overlays = gr.State([])
    current = gr.State(None)

    # events last
    view = [plot, table, csv_file, code, summary, shared.schedule, current]
    common = [steps, spe, base_lr, log_y, in_epochs, metrics]
    triggers = [steps.submit, steps.blur, spe.submit, spe.blur, base_lr.submit, base_lr.blur, log_y.input,
                in_epochs.input, metrics.submit, metrics.blur]  # fmt: skip
    for f in fields:
        triggers += [f.input] if isinstance(f, (gr.Dropdown, gr.Checkbox)) else [f.submit, f.blur]
    gr.on(triggers, show_curve, inputs=[name, *common, overlays, *fields], outputs=view,
          api_name="schedules_curve", trigger_mode="always_last")  # fmt: skip
    if isinstance(tab, gr.Tab):  # opening the tab draws the curve but chooses nothing for the Train tab
        tab.select(show_curve_on_open, inputs=[name, *common, overlays, *fields], outputs=view,
                   api_name="schedules_open", trigger_mode="always_last")  # fmt: skip
    name.input(select_scheduler, inputs=[name, *common, overlays], outputs=[*fields, metrics, help_md, *view],
               api_name="schedules_select", trigger_mode="always_last")  # fmt: skip
    preset.input(apply_preset, inputs=[preset, base_lr, log_y],
                 outputs=[name, steps, spe, in_epochs, *fields, metrics, help_md, overlays, pick, *view],
                 api_name="schedules_preset")  # fmt: skip
    add_btn.click(add_overlay, [overlays, current, log_y, in_epochs], [overlays, plot, pick],
                  api_name="schedules_add")  # fmt: skip
    remove_btn.click(remove_overlay, [overlays, pick, current, log_y, in_epochs], [overlays, plot, pick],
                     api_name="schedules_remove")  # fmt: skip
    clear_btn.click(clear_overlays, [current, log_y, in_epochs], [overlays, plot, pick],
                    api_name="schedules_clear")  # fmt: skip
    gr.api(curve_json, api_name="schedules_curve_json")  # API only: name + JSON params -> the exact curve
    gr.on([pitfall.expand, pitfall_kind.input], show_pitfall, inputs=[pitfall_kind, base_lr],
          outputs=[pitfall_plot, pitfall_md, pitfall_wrong, pitfall_right], api_name="schedules_pitfall")  # fmt: skip
