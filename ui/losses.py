"""Losses tab (tutorial 6.1): Dice, IoU, Dice+BCE, Focal and torch's built-ins, compared and corrected.

Curves of each loss and its gradient on one pixel; every loss on a sample mask (degraded truth or the shipped
U-Net's prediction) beside the tutorial's own classes; every 6.1 pitfall live; 6.1.1's loss as a function and 6.1.2's
note on torch operations; the chosen loss as standalone code with the files it reads. Picking or editing the loss
hands a `lab.losses.LossSpec` to the Train tab through `shared.loss`.

Thin adapter over `lab.losses`: layout first, events last; each event calls its topic once and words the result.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from lab import losses as L
from lab.errors import choice, number
from lab.pitfall import Pitfall
from ui.cache import cached
from ui.common import Link, Shared, download_dir, error_box, first_view, guarded, light, run
from ui.i18n import i18n, t
from ui.widgets import PitfallSlots, code_panel, pitfall_slots, pitfall_view

__all__ = ["build", "open_view", "show_curves", "show_mask", "show_code", "choose", "show_pitfall", "fixed_pitfall",
           "PITFALLS", "BASICS", "TABLE_COLUMNS"]

DEFAULT_COMPARE = list(L.DEFAULT_COMPARE)
DEFAULT_CHOSEN = L.DEFAULT_CHOSEN
DEFAULT_SOURCE, DEFAULT_AMOUNT = L.DEFAULT_SOURCE, L.DEFAULT_AMOUNT
TABLE_COLUMNS = ["loss", "value", "tutorial's class"]  # the table's headers in English (API clients read these)
# pitfall name -> (has a table, has a figure); "focal" takes the tab's prediction, the others nothing
PITFALLS = {"dice_indentation": (False, False), "sigmoid_bce": (True, False), "autocast": (True, False),
            "focal": (True, True), "view": (False, False), "unused_args": (False, False), "loss_base": (False, False)}
BASICS = {"function": (False, False), "numpy": (True, False)}  # 6.1.1 and 6.1.2's note, in their own accordion


# ---------------------------------------------------------------------------------------------------------------
# Words: the figures' text, tables' headers


def _text() -> tuple[tuple[str, str], ...]:
    """The figures' words in the visitor's language, as the hashable pairs lab.losses takes."""
    return tuple((name, t(f"losses.{name}")) for name in L.TEXT)


def _mask_table(frame: pd.DataFrame) -> pd.DataFrame:
    worded = frame.assign(loss=[t(f"losses.name.{key}") for key in frame["loss"]]).round(6)
    return worded.set_axis([t("losses.table.loss"), t("losses.table.value"), t("losses.table.tutorial")], axis=1)


def _pitfall_table(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A pitfall's table with worded headers (and row names), numbers to 4 significant digits."""
    if frame is None:
        return None
    out = frame.copy()
    if "quantity" in out:
        out["quantity"] = [t(f"losses.focal.q.{key}") for key in out["quantity"]]
    for col in out.select_dtypes("float").columns:
        out[col] = [float(f"{v:.4g}") for v in out[col]]
    return out.set_axis([t(f"losses.col.{col}") for col in out.columns], axis=1)


def _worded(pitfall: Pitfall) -> Pitfall:
    """The autocast pitfall's sentence about CUDA, from its facts."""
    if pitfall.id == "losses.autocast":
        facts = pitfall.facts
        note = t("losses.autocast.cuda_ran", error=facts["cuda_error"]) if facts["cuda"] else \
            t("losses.autocast.no_cuda")
        return dataclasses.replace(pitfall, facts={**facts, "cuda_note": note})
    return pitfall


def _files(panel: L.Panel) -> list[str]:
    """Write the files a code panel reads into a fresh download folder, by their base names."""
    folder = download_dir("losses")
    for name, data in panel.files:
        (folder / Path(name).name).write_bytes(data)
    return [str(folder / Path(name).name) for name, _ in panel.files]


def _mask_outputs(view: L.MaskView) -> list[Any]:
    summary = t("losses.mask.summary", dice=view.dice, iou=view.iou, width=view.width, height=view.height)
    return [_mask_table(view.table), view.bars, view.maps, summary]


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: one lab call each

# Every view of this tab depends only on its settings and the page's words: computed once per server (issue 17).
_tab_view, _curves_view, _mask_view, _panel = (cached(L.tab_view), cached(L.curves_view), cached(L.mask_view),
                                               cached(L.panel))  # fmt: skip
_focal = cached(L.pitfalls.focal)


@cached
def _fixed(name: str) -> Pitfall:
    return L.PITFALLS[name]()



def open_view(names: list[str], chosen: str, smooth: Any, alpha: Any, gamma: Any, sample: str, source: str,
              amount: Any) -> list[Any]:  # fmt: skip
    """The tab's first view: the curves, every loss on the sample's prediction, the code and its files."""
    view = _tab_view(tuple(names or ()), chosen, smooth, alpha, gamma, sample, source, amount, text=_text())
    return [view.curves.figure, *_mask_outputs(view.mask), view.panel.code, _files(view.panel)]


def show_curves(names: list[str], smooth: Any, alpha: Any, gamma: Any):
    """Loss and gradient curves of the chosen losses."""
    return _curves_view(tuple(names or ()), smooth, alpha, gamma, text=_text()).figure


def show_mask(sample: str, source: str, amount: Any, smooth: Any, alpha: Any, gamma: Any) -> list[Any]:
    """Every loss on the chosen prediction: table, bars, heat maps, and a one-line summary."""
    return _mask_outputs(_mask_view(sample, source, amount, smooth, alpha, gamma, text=_text()))


def show_code(chosen: str, sample: str, source: str, amount: Any, smooth: Any, alpha: Any, gamma: Any) -> list[Any]:
    """The chosen loss's class and a call on the prediction shown, and the files that code reads."""
    panel = _panel(chosen, sample, source, amount, smooth, alpha, gamma)
    return [panel.code, _files(panel)]


def choose(chosen: str, smooth: Any, alpha: Any, gamma: Any) -> L.LossSpec:
    """The loss the Train tab will use (canonical name, its own parameters only)."""
    return L.choose(chosen, smooth, alpha, gamma)


def show_pitfall(slots: PitfallSlots, sample: str, source: str, amount: Any, alpha: Any, gamma: Any) -> list[Any]:
    """The tutorial's FocalLoss against the per-pixel one on this prediction."""
    pitfall = _focal(sample, source, amount, alpha, gamma, text=_text())
    return pitfall_view(slots, pitfall, table=_pitfall_table(pitfall.table))


def fixed_pitfall(slots: PitfallSlots, name: str) -> list[Any]:
    """One pitfall that takes no input, run live."""
    pitfall = _worded(_fixed(name))
    return pitfall_view(slots, pitfall, table=_pitfall_table(pitfall.table))


# ---------------------------------------------------------------------------------------------------------------
# Links: the view's settings in the address bar


def _link_names(raw: str) -> list[str]:
    """`["dice","iou"]` (as the address bar writes a list) or `dice,iou`; at most 1,000 characters (a JSON list that
    long cannot nest deep enough to trouble the parser)."""
    if len(raw) > 1000:
        raise ValueError("too long")
    return L.loss_names(json.loads(raw) if raw.lstrip().startswith("[") else raw.split(","))


def _link_param(name: str):
    return lambda raw: L.validate_params(**{name: raw})[name]


LINK_PARSERS = {
    "losses": _link_names,
    "loss": L.canonical,
    "smooth": _link_param("smooth"),
    "alpha": lambda raw: None if raw.strip().lower() in ("none", "null") else _link_param("alpha")(raw),
    "gamma": _link_param("gamma"),
    "sample": L.check_sample,
    "source": lambda raw: choice("losses.source", raw, L.SOURCES),
    "amount": lambda raw: number("losses.amount", raw, 0.0, 1.0),
}


# ---------------------------------------------------------------------------------------------------------------
# Layout, then events


def _loss_choices() -> list[tuple[Any, str]]:
    return [(i18n(f"losses.name.{name}"), name) for name in L.NAMES]


def build(shared: Shared) -> None:
    tab = gr.context.Context.block  # the gr.Tab app.py opened for this tab
    gr.Markdown(i18n("losses.intro"))
    with gr.Accordion(i18n("losses.guide.title"), open=False, elem_id="losses-guide"):
        gr.Markdown(i18n("losses.guide"))
    with gr.Row():
        compare = gr.Dropdown(_loss_choices(), value=DEFAULT_COMPARE, multiselect=True, label=i18n("losses.compare"),
                              elem_id="losses-compare", scale=3)  # fmt: skip
        chosen = gr.Dropdown(_loss_choices(), value=DEFAULT_CHOSEN, label=i18n("losses.chosen"),
                             elem_id="losses-chosen", scale=2)  # fmt: skip
    with gr.Row():
        smooth = gr.Number(1.0, label=i18n("losses.smooth"), info=i18n("losses.smooth.info"), step=0.1,
                           elem_id="losses-smooth")  # fmt: skip
        alpha = gr.Number(0.25, label=i18n("losses.alpha"), info=i18n("losses.alpha.info"), step=0.05,
                          elem_id="losses-alpha")  # fmt: skip
        gamma = gr.Number(2.0, label=i18n("losses.gamma"), info=i18n("losses.gamma.info"), step=0.5,
                          elem_id="losses-gamma")  # fmt: skip
    with gr.Row():
        names = L.sample_names()
        sample = gr.Dropdown(names, value=L.default_sample() or None, label=i18n("losses.sample"),
                             elem_id="losses-sample")  # fmt: skip
        source = gr.Radio([(i18n(f"losses.source.{s}"), s) for s in L.SOURCES], value=DEFAULT_SOURCE,
                          label=i18n("losses.source"), elem_id="losses-source")  # fmt: skip
        amount = gr.Slider(0, 1, value=DEFAULT_AMOUNT, step=0.05, label=i18n("losses.amount"),
                           info=i18n("losses.amount.info"), elem_id="losses-amount")  # fmt: skip
    error = error_box("losses-error")  # a refused setting's sentence, right under the settings

    curves_plot = gr.Plot(label=i18n("losses.curves.label"), elem_id="losses-curves")
    gr.Markdown(i18n("losses.mask.heading"))
    summary = gr.Markdown(elem_id="losses-summary")
    with gr.Row():
        table = gr.Dataframe(label=i18n("losses.table.label"), interactive=False, elem_id="losses-table", scale=2)
        bars = gr.Plot(label=i18n("losses.bars.label"), elem_id="losses-bars", scale=3)
    maps = gr.Plot(label=i18n("losses.maps.label"), elem_id="losses-maps")

    with gr.Accordion(i18n("pitfall.accordion"), open=False, elem_classes="pitfall",
                      elem_id="losses-pitfall") as pitfall_box:  # fmt: skip
        slots = {name: pitfall_slots(f"losses.{name}", table=has_table, plot=has_plot)
                 for name, (has_table, has_plot) in PITFALLS.items()}  # fmt: skip
    with gr.Accordion(i18n("losses.basics"), open=False, elem_id="losses-basics") as basics_box:
        basics = {name: pitfall_slots(f"losses.{name}", table=has_table, plot=has_plot)
                  for name, (has_table, has_plot) in BASICS.items()}  # fmt: skip

    panel = code_panel("losses", "6.1", "losses.code.title", elem_id="losses-code", label=i18n("losses.code.label"))
    files = gr.File(label=i18n("losses.code.files"), file_count="multiple", interactive=False, elem_id="losses-files")

    # ------------------------------------------------------------------------------------------------ events
    params = [smooth, alpha, gamma]
    mask_inputs = [sample, source, amount]
    # a number is taken when the visitor presses Enter or leaves the field, the rest as they change it
    param_edits = [e for p in params for e in (p.submit, p.blur)]
    mask_edits = [sample.input, source.input, amount.input]
    mask_outputs = [table, bars, maps, summary]
    code_outputs = [panel.code, files]

    links = [Link(name, component, LINK_PARSERS[name]) for name, component in
             (("losses", compare), ("loss", chosen), ("smooth", smooth), ("alpha", alpha), ("gamma", gamma),
              ("sample", sample), ("source", source), ("amount", amount))]  # fmt: skip
    first_view(shared, tab, "losses", open_view, [compare, chosen, *params, *mask_inputs],
               [curves_plot, *mask_outputs, *code_outputs], links=links, error=error,
               api_name="losses_open", light=True)  # fmt: skip

    run([compare.input, *param_edits], show_curves, [compare, *params], [curves_plot], api_name="losses_curves",
        error=error, trigger_mode="always_last")  # fmt: skip
    run([*mask_edits, *param_edits], show_mask, [*mask_inputs, *params], mask_outputs, api_name="losses_mask",
        error=error, trigger_mode="always_last")  # fmt: skip
    run([chosen.input, *mask_edits, *param_edits], show_code, [chosen, *mask_inputs, *params], code_outputs,
        api_name="losses_code", error=error, trigger_mode="always_last")  # fmt: skip
    # the Train tab's loss: only when the visitor picks or edits it, never merely by opening the tab
    run([chosen.input, *param_edits], choose, [chosen, *params], [shared.loss], api_name="losses_choose", error=error,
        trigger_mode="always_last", light=True)  # fmt: skip

    focal = slots["focal"]
    run([pitfall_box.expand, *mask_edits, alpha.submit, alpha.blur, gamma.submit, gamma.blur],
        functools.partial(show_pitfall, focal), [*mask_inputs, alpha, gamma],
        focal.components, api_name="losses_pitfall", error=error, trigger_mode="always_last", light=True)  # fmt: skip
    for box, group in ((pitfall_box, slots), (basics_box, basics)):
        for name, slot in group.items():
            if name != "focal":
                callback = light(guarded(functools.partial(fixed_pitfall, slot, name)))  # cached
                box.expand(callback, None, slot.components, api_name=f"losses_pitfall_{name}")
    panel.wire("losses", "losses_notebook")
