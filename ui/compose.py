"""Compose tab (tutorial 5.1): type layers or paste the tutorial's listings, pick Sequential / OrderedDict /
ModuleList / ModuleDict, see the model; 5.1.5's repeated residual blocks; the tutorial's pitfalls and walk-throughs.

Thin adapter over `lab.compose`: layout first, events last. Each event asks the topic once (`C.explore(...)` for
the view, `C.residual(...)` for 5.1.5, `C.PITFALLS[name]()` / `C.walk(name)` for a pitfall or walk-through) and
words the result in the visitor's language (`t`). Nothing is built at import or in build(): the tutorial's 5.1.2
MLP is computed when the tab is first opened (or on load when a link says `?tab=compose`), with the link's settings.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

import lab.compose as C
import locales
from lab.errors import fmt
from ui.cache import Held, cached
from ui.common import Link, error_box, first_view, run
from ui.i18n import i18n, t
from ui.widgets import PitfallSlots, code_panel, pitfall_slots, pitfall_view

__all__ = ["build", "run_compose", "run_residual", "run_pitfall", "run_walk", "LABEL"]

LABEL = "compose"  # this tab's id: the key of its model in shared.models
TABLE_COLUMNS = ["name", "type", "depth", "input_shape", "output_shape", "params", "trainable"]
ALIAS_PITFALL = "modulelist_forward"  # what the old `compose_pitfall` endpoint showed first


# ---------------------------------------------------------------------------------------------------------------
# Wording: the topic's data in the visitor's language


def _worded(table: pd.DataFrame) -> pd.DataFrame:
    """A table of the topic with its headers in the visitor's language."""
    frame = table.copy()
    frame.columns = [t(f"compose.col.{c}") for c in frame.columns]
    return frame


def _flops_text(flops: int) -> str:
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if flops >= scale:
            return t("compose.flops", value=f"{flops / scale:.2f}", unit=unit)
    return t("compose.flops", value=str(flops), unit="FLOPs")


def _totals(total: int, trainable: int, flops: int | None, shape: str, values: list[float], nonfinite: int) -> str:
    listed = ", ".join(f"{v:.4f}" for v in values) + (" …" if len(values) == 8 else "")
    if flops is None:  # 5.1.5's stack: no FLOPs counted
        text = t("compose.residual.totals", total=fmt(total), trainable=fmt(trainable), shape=shape)
    else:
        text = t("compose.totals", total=fmt(total), trainable=fmt(trainable), flops=_flops_text(flops), shape=shape)
    if values:
        text += t("compose.totals.values", values=listed)
    if nonfinite:
        text += t("compose.totals.nonfinite", count=fmt(nonfinite))
    return text


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: one lab call each

# Every view here depends only on its inputs: computed once per server (issue 17). The built model is then shared
# read-only between sessions (the Checkpoints tab saves, wraps and loads into its own copy).
_explore, _residual, _walk = cached(C.explore), cached(C.residual), cached(C.walk)


@cached
def _pitfall(name: str) -> Any:
    return C.PITFALLS[name]()



def run_compose(text: str, style: str, input_shape: str, models: dict | None = None):
    """Build and inspect the typed network; returns (printed, table, totals, code, equivalence, models)."""
    result = _explore(text, style, input_shape)
    # a new dict: this session's state only; the model itself stays in the bounded cache (ui.cache.Held)
    models = {**(models or {}), LABEL: Held(_explore, text, style, input_shape, attr="model")}
    equivalence = result.equivalence.copy()
    for column in ("diff_own", "diff_copied"):
        equivalence[column] = equivalence[column].map(lambda v: f"{v:.3g}")
    totals = _totals(result.total, result.trainable, result.flops, result.output_shape, result.first_values,
                     result.nonfinite)  # fmt: skip
    return result.printed, _worded(result.table), totals, result.code, _worded(equivalence), models


def run_residual(in_features: float, width: float, depth: float, classes: float):
    """5.1.5: build the residual stack; returns (printed, table, totals, code)."""
    result = _residual(in_features, width, depth, classes)
    totals = _totals(result.total, result.trainable, None, result.output_shape, result.first_values, 0)
    return result.printed, _worded(result.table), totals, result.code


def run_pitfall(name: str, slots: PitfallSlots) -> list[Any]:
    """Run one pitfall live and lay it out in `slots`."""
    return pitfall_view(slots, _pitfall(name))


def run_walk(name: str) -> str:
    """Run one walk-through of the tutorial's listings: each step's code, then what it printed."""
    walk = _walk(name)
    parts = [f"#### {t(f'compose.walk.{name}')}"]
    for step in walk.steps:
        parts += [f"```python\n{step.code.rstrip()}\n```", f"{t('compose.walk.printed')}\n```text\n{step.printed}\n```"]
    return "\n\n".join(parts)


def _shows_pitfall(name: str, slots: PitfallSlots):
    def show() -> list[Any]:
        return run_pitfall(name, slots)

    return show


def _shows_walk(name: str):
    def show() -> str:
        return run_walk(name)

    return show


def _example_label(label: str) -> str:
    """gr.Examples shows its labels as given (no i18n there): both languages, "Small CNN · 小型 CNN"."""
    key = f"compose.example.{C.EXAMPLE_IDS[label]}"
    english, chinese = locales.text("en", key), locales.text("zh", key)
    return english if english == chinese else f"{english} · {chinese}"


def _layers_link(text: str) -> str:
    C.parse_specs(text)  # a link's text must parse; the view then checks the rest
    return text


def _shape_link(text: str) -> str:
    C.parse_shape(text)
    return text


# ---------------------------------------------------------------------------------------------------------------
# Layout, then events


def build(shared) -> None:
    """The Compose tab: inputs left, printed model and totals right, table, proof and code below, then 5.1.5, the
    walk-throughs and the pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for this tab
    gr.Markdown(i18n("compose.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            layers = gr.Code(value=C.DEFAULT_LAYERS, language="python", interactive=True, lines=8, max_lines=30,
                             label=i18n("compose.layers"), elem_id="compose-layers")  # line numbers: errors name lines
            style = gr.Radio(choices=[(C.STYLE_LABELS[s], s) for s in C.STYLES], value="sequential",
                             label=i18n("compose.style"), elem_id="compose-style")  # fmt: skip
            shape = gr.Textbox(value=C.DEFAULT_INPUT_SHAPE, label=i18n("compose.shape"), elem_id="compose-shape")
            error = error_box("compose-error")
            button = gr.Button(i18n("compose.run"), variant="primary", elem_id="compose-run")
            gr.Examples(examples=[list(pair) for pair in C.EXAMPLES.values()],
                        example_labels=[_example_label(label) for label in C.EXAMPLES],
                        inputs=[layers, shape], cache_examples=False,  # fills the inputs only; nothing runs at start-up
                        label=i18n("compose.examples"), api_name="compose_example",
                        elem_id="compose-examples")  # fmt: skip
            gr.Markdown(i18n("compose.allowed"), elem_id="compose-allowed")
            gr.Markdown(", ".join(f"`{name}`" for name in sorted(C.LAYERS)), elem_id="compose-layer-list")
        with gr.Column(scale=3):
            printed = gr.Code(label=i18n("compose.printed"), language=None, lines=8, elem_id="compose-printed")
            totals = gr.Markdown(elem_id="compose-totals")
    table = gr.Dataframe(value=pd.DataFrame(columns=TABLE_COLUMNS), label=i18n("compose.table"), interactive=False,
                         elem_id="compose-table")  # fmt: skip
    equivalence = gr.Dataframe(label=i18n("compose.equivalence"), interactive=False, elem_id="compose-equivalence")
    panel = code_panel("compose", "5.1", "compose.code.title", elem_id="compose-code")

    with gr.Accordion(i18n("compose.residual"), open=False, elem_id="compose-residual") as residual_box:
        gr.Markdown(i18n("compose.residual.intro"))
        defaults = C.RESIDUAL_DEFAULTS
        with gr.Row():
            in_features = gr.Number(value=defaults["in_features"], precision=0,
                                    label=i18n("compose.residual.in_features"), elem_id="compose-residual-in")
            width = gr.Number(value=defaults["width"], precision=0, label=i18n("compose.residual.width"),
                              elem_id="compose-residual-width")  # fmt: skip
            depth = gr.Number(value=defaults["depth"], precision=0, label=i18n("compose.residual.depth"),
                              elem_id="compose-residual-depth")  # fmt: skip
            classes = gr.Number(value=defaults["num_classes"], precision=0, label=i18n("compose.residual.classes"),
                                elem_id="compose-residual-classes")  # fmt: skip
        residual_error = error_box("compose-residual-error")
        residual_button = gr.Button(i18n("compose.residual.run"), elem_id="compose-residual-run")
        with gr.Row(equal_height=False):
            residual_printed = gr.Code(label=i18n("compose.printed"), language=None, lines=8,
                                       elem_id="compose-residual-printed")  # fmt: skip
            with gr.Column():
                residual_totals = gr.Markdown(elem_id="compose-residual-totals")
                residual_table = gr.Dataframe(label=i18n("compose.table"), interactive=False,
                                              elem_id="compose-residual-table")  # fmt: skip
        residual_panel = code_panel("compose", "5.1.5", "compose.residual.code.title", elem_id="compose-residual-code")

    walks = []
    with gr.Accordion(i18n("compose.walks"), open=False, elem_id="compose-walks") as walks_box:
        for name in C.WALKS:
            walks.append((name, gr.Markdown(elem_id=f"compose-walk-{name}")))
        walk_error = error_box("compose-walk-error")

    pitfalls = []
    for name in C.PITFALLS:
        slug = name.replace("_", "-")
        with gr.Accordion(i18n(f"compose.pitfall.{name}"), open=False, elem_classes="pitfall",
                          elem_id=f"compose-pitfall-{slug}") as accordion:  # fmt: skip
            slots = pitfall_slots(f"compose.{name}")
            pitfall_error = error_box(f"compose-{slug}-error")
            again = gr.Button(i18n("pitfall.run"), size="sm", elem_id=f"compose-{slug}-run")
        pitfalls.append((name, accordion, again, slots, pitfall_error))
    alias = gr.Button(visible=False, elem_id="compose-pitfall-alias")  # the old endpoints' name, for API clients

    # events last
    inputs = [layers, style, shape, shared.models]
    outputs = [printed, table, totals, panel.code, equivalence, shared.models]
    run(button.click, run_compose, inputs, outputs, api_name="compose_build", error=error)
    run(style.input, run_compose, inputs, outputs, api_name="compose_style", error=error)
    links = [Link("layers", layers, _layers_link), Link("style", style, C.check_style),
             Link("shape", shape, _shape_link)]
    first_view(shared, tab, "compose", run_compose, inputs, outputs, links=links, error=error,
               api_name="compose_open", light=True)  # fmt: skip
    panel.wire("compose", "compose_notebook")

    residual_inputs = [in_features, width, depth, classes]
    residual_outputs = [residual_printed, residual_table, residual_totals, residual_panel.code]
    for trigger, api_name in ((residual_box.expand, "compose_residual_open"),
                              (residual_button.click, "compose_residual")):  # fmt: skip
        run(trigger, run_residual, residual_inputs, residual_outputs, api_name=api_name, error=residual_error,
            light=True)
    residual_panel.wire("compose", "compose_residual_notebook")

    for name, box in walks:
        run(walks_box.expand, _shows_walk(name), [], [box], api_name=f"compose_walk_{name}", error=walk_error,
            light=True)
    for name, accordion, again, slots, pitfall_error in pitfalls:
        show = _shows_pitfall(name, slots)
        for trigger, api_name in ((accordion.expand, f"compose_pitfall_{name}_open"),
                                  (again.click, f"compose_pitfall_{name}")):  # fmt: skip
            run(trigger, show, [], slots.components, api_name=api_name, error=pitfall_error, light=True)
        if name == ALIAS_PITFALL:
            for api_name in ("compose_pitfall", "compose_pitfall_open"):
                run(alias.click, show, [], slots.components, api_name=api_name, error=pitfall_error, light=True)
