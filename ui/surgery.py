"""ResNet surgery tab (tutorial 5.3): new head, extra input, extra output, freeze; before and after side by side.

Thin adapter over `lab.surgery`: layout first, events last. Each event asks the topic once (`S.view(...)` for the
surgery, `S.PITFALLS[name](...)` for a pitfall) and words the result in the visitor's language (`t`). Nothing is
built at import or in build(): the default surgery is computed when the tab is first opened (or on load when a
link says `?tab=surgery`), with the settings of the link.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

import lab.surgery as S
from ui.cache import Held, cached, heavy
from ui.common import Link, error_box, first_view, run
from ui.i18n import i18n, t
from ui.widgets import PitfallSlots, code_panel, pitfall_slots, pitfall_view

__all__ = ["build", "run_surgery", "run_pitfall", "LABEL", "DEFAULT"]

LABEL = "surgery"  # this tab's id: the key of its model in shared.models
DEFAULT = S.Surgery()  # the tutorial's 5.3.1: resnet50, fc1 2048 -> 128, dropout 0.5, 10 classes
DEFAULT_BATCH, DEFAULT_SIZE = 2, 224
CHANGED_BG = "background-color: rgba(249, 115, 22, 0.16)"  # the pitfall orange, light
# The pitfalls in page order, and the tab's inputs each one takes (by name).
PITFALL_INPUTS = {"softmax": (), "extra_input": ("arch",), "unused_input": ("arch",), "device": (),
                  "pretrained": (), "frozen_bn": ("arch",)}
WORD_CELLS = ("head", "version", "side", "model", "kind")  # columns whose cells are word ids
COUNTS = ("params", "trainable", "head_params")  # columns shown with thousands separators
PERCENTS = ("zeroed", "accuracy")  # columns of fractions, shown as percentages


# ---------------------------------------------------------------------------------------------------------------
# Wording: the topic's data in the visitor's language


def _word(value: Any) -> Any:
    """A cell of a word column in the page's language (`""` stays empty)."""
    return t(f"surgery.cell.{value}") if isinstance(value, str) and value else value


def worded(table: pd.DataFrame | None, *, tint: str | None = None):
    """A table of the topic with word headers and word cells in the visitor's language; counts with thousands
    separators, booleans as yes/no, fractions as percentages; rows whose `tint` column is set are tinted."""
    if table is None:
        return None
    frame = table.copy()
    for column in frame.columns:
        if column == "change":
            frame[column] = [t(f"surgery.change.{v}") if v else "" for v in frame[column]]
        elif column in WORD_CELLS:
            frame[column] = [_word(v) for v in frame[column]]
        elif frame[column].dtype == bool:
            frame[column] = [t("surgery.cell.yes") if v else t("surgery.cell.no") for v in frame[column]]
    formats = {t(f"surgery.col.{c}"): "{:,}" for c in COUNTS if c in frame.columns}
    formats.update({t(f"surgery.col.{c}"): "{:.0%}" for c in PERCENTS if c in frame.columns})
    marked = list(frame[tint] != "") if tint in frame.columns else None
    frame.columns = [t(f"surgery.col.{c}") for c in frame.columns]
    styler = frame.style.format(formats, precision=4)
    if marked is not None:
        styler = styler.apply(lambda row: [CHANGED_BG if marked[row.name] else ""] * len(row), axis=1)
    return styler


def _load_note(view: S.SurgeryView) -> str:
    if view.load is None:
        return t("surgery.load.random")
    target = t(f"surgery.load.target.{view.load.target}")
    if view.load.fixes:
        return t("surgery.load.fixes", count=view.load.count, name=view.load.name, target=target,
                 fixes="; ".join(view.load.fixes))  # fmt: skip
    return t("surgery.load.loaded", count=view.load.count, name=view.load.name, target=target)


def _printed(parts: tuple[tuple[str, str], ...], *, head: str = "", retrained: tuple[str, ...] = ()) -> str:
    lines = [head] if head else []
    lines += [f"({name}): {text}" for name, text in parts]
    if retrained:
        lines.append(t("surgery.print.retrained", names=", ".join(retrained)))
    return "\n".join(lines) if parts or retrained else "\n".join([*lines, t("surgery.print.nothing")])


# ---------------------------------------------------------------------------------------------------------------
# Callbacks: one lab call each

# Without an uploaded file, a surgery and a pitfall are the same for every visitor: computed once per server. The
# surgery's model is then shared read-only (the Checkpoints tab saves and wraps its own copy).
_view = cached(S.view)


@cached
def _pitfall(name: str, *args: Any, **kwargs: Any) -> Any:
    return S.PITFALLS[name](*args, **kwargs)



def run_surgery(arch: str, weights: str | None, new_head: bool, hidden: str, dropout: float, classes: float,
                extra_input: bool, extra_size: float, extra_output: bool, freeze: bool, batch: float, size: float,
                models: dict | None = None):
    """Build, operate, compare and forward-check; returns the 8 views and the session's models dict."""
    settings = {"new_head": new_head, "hidden": hidden, "num_classes": classes, "dropout": dropout,
                "extra_input": extra_input, "extra_size": extra_size, "extra_output": extra_output, "freeze": freeze,
                "batch": batch, "size": size}
    surgery = heavy(S.view) if weights else _view  # an upload's surgery is this session's alone
    view = surgery(arch, **settings, weights_path=weights or None)
    changes = view.changes
    (total0, trainable0), (total, trainable) = view.before_counts, view.after_counts
    before_md = (f"{t('surgery.before.totals', arch=view.surgery.arch, total=total0, trainable=trainable0)}\n\n"
                 f"{_load_note(view)}")  # fmt: skip
    after_md = t("surgery.after.totals", model=type(view.model).__name__, total=total, trainable=trainable,
                 d_total=total - total0, d_trainable=trainable - trainable0)  # fmt: skip
    signature = f"# {changes.signature}" if changes.signature else ""
    # a new dict: this session's state only; without an upload the model stays in the bounded cache (ui.cache.Held)
    held = view.model if weights else Held(_view, arch, **settings, weights_path=None, attr="model")
    models = {**(models or {}), LABEL: held}
    return (before_md, worded(changes.before), _printed(changes.replaced), after_md,
            worded(changes.after, tint="change"), _printed(changes.added, head=signature, retrained=changes.retrained),
            worded(view.forward), view.code, models)  # fmt: skip


def _curve_words() -> S.CurveWords:
    return S.CurveWords(title=t("surgery.fig.title"), step=t("surgery.fig.step"), loss=t("surgery.fig.loss"),
                        grad=t("surgery.fig.grad"), logits=t("surgery.fig.logits"), softmax=t("surgery.fig.softmax"),
                        floor=t("surgery.fig.floor"))  # fmt: skip


def run_pitfall(name: str, slots: PitfallSlots, *args: Any) -> list[Any]:
    """Run one pitfall live (`args`: the tab inputs it takes) and lay it out in `slots`."""
    pitfall = _pitfall(name, *args, words=_curve_words()) if name == "softmax" else _pitfall(name, *args)
    return pitfall_view(slots, pitfall, table=worded(pitfall.table))


def _shows(name: str, slots: PitfallSlots, takes: tuple[str, ...]):
    """The callback of one pitfall, with the tab inputs it takes as its named parameters (the API names them)."""
    if takes == ("arch",):
        def show_for(arch: str) -> list[Any]:
            return run_pitfall(name, slots, arch)

        return show_for

    def show() -> list[Any]:
        return run_pitfall(name, slots)

    return show


def _flag(text: str) -> bool:
    """A checkbox's value in a link: "true" or "false"."""
    if text.strip().lower() not in ("true", "false"):
        raise ValueError(text)
    return text.strip().lower() == "true"


# ---------------------------------------------------------------------------------------------------------------
# Layout, then events


def build(shared) -> None:
    """The surgery tab: controls and forward check on top, before | after, the code, the pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for this tab
    gr.Markdown(i18n("surgery.intro"))
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                arch = gr.Dropdown(list(S.ARCHS), value=DEFAULT.arch, label=i18n("surgery.arch"),
                                   elem_id="surgery-arch")  # fmt: skip
                weights = gr.File(label=i18n("surgery.weights"), file_types=[".pt", ".pth", ".pkl", ".safetensors"],
                                  type="filepath", height=130, elem_id="surgery-weights")  # fmt: skip
            with gr.Group():
                new_head = gr.Checkbox(value=True, label=i18n("surgery.new_head"), elem_id="surgery-new-head")
                with gr.Row():
                    hidden = gr.Textbox(value="128", label=i18n("surgery.hidden"), elem_id="surgery-hidden")
                    dropout = gr.Slider(0.0, S.MAX_DROPOUT, value=DEFAULT.dropout, step=0.05,
                                        label=i18n("surgery.dropout"), elem_id="surgery-dropout")  # fmt: skip
                    classes = gr.Number(value=DEFAULT.num_classes, precision=0, label=i18n("surgery.classes"),
                                        elem_id="surgery-classes")  # fmt: skip
            with gr.Group():
                with gr.Row():
                    extra_input = gr.Checkbox(value=False, label=i18n("surgery.extra_input"),
                                              elem_id="surgery-extra-input")  # fmt: skip
                    extra_size = gr.Number(value=1, precision=0, label=i18n("surgery.extra_size"),
                                           elem_id="surgery-extra-size")  # fmt: skip
                with gr.Row():
                    extra_output = gr.Checkbox(value=False, label=i18n("surgery.extra_output"),
                                               elem_id="surgery-extra-output")  # fmt: skip
                    freeze = gr.Checkbox(value=False, label=i18n("surgery.freeze"), info=i18n("surgery.freeze.info"),
                                         elem_id="surgery-freeze")  # fmt: skip
            with gr.Row():
                batch = gr.Number(value=DEFAULT_BATCH, precision=0, label=i18n("surgery.batch"),
                                  elem_id="surgery-batch")  # fmt: skip
                size = gr.Number(value=DEFAULT_SIZE, precision=0, label=i18n("surgery.size"), elem_id="surgery-size")
            error = error_box("surgery-error")
            apply = gr.Button(i18n("surgery.run"), variant="primary", elem_id="surgery-run")
        with gr.Column(scale=3):
            forward = gr.Dataframe(label=i18n("surgery.forward"), interactive=False, elem_id="surgery-forward")
    with gr.Row(equal_height=False):
        with gr.Column():
            before_md = gr.Markdown(i18n("surgery.before.empty"), elem_id="surgery-before-totals")
            before_table = gr.Dataframe(label=i18n("surgery.before.table"), interactive=False,
                                        elem_id="surgery-before-table")  # fmt: skip
            before_print = gr.Code(label=i18n("surgery.before.print"), language=None, lines=4,
                                   elem_id="surgery-before-print")  # fmt: skip
        with gr.Column():
            after_md = gr.Markdown(i18n("surgery.after.empty"), elem_id="surgery-after-totals")
            after_table = gr.Dataframe(label=i18n("surgery.after.table"), interactive=False,
                                       elem_id="surgery-after-table")  # fmt: skip
            after_print = gr.Code(label=i18n("surgery.after.print"), language=None, lines=4,
                                  elem_id="surgery-after-print")  # fmt: skip
    panel = code_panel("surgery", "5.3", "surgery.code.title", elem_id="surgery-code")

    named = {"arch": arch}
    pitfalls = []
    for name, takes in PITFALL_INPUTS.items():
        slug = name.replace("_", "-")
        with gr.Accordion(i18n(f"surgery.pitfall.{name}"), open=False, elem_classes="pitfall",
                          elem_id=f"surgery-pitfall-{slug}") as accordion:  # fmt: skip
            slots = pitfall_slots(f"surgery.{name}", table=True, plot=name == "softmax")
            pitfall_error = error_box(f"surgery-{slug}-error")
            again = gr.Button(i18n("pitfall.run"), size="sm", elem_id=f"surgery-{slug}-run")
        pitfalls.append((name, accordion, again, slots, pitfall_error, takes))

    # events last
    inputs = [arch, weights, new_head, hidden, dropout, classes, extra_input, extra_size, extra_output, freeze,
              batch, size, shared.models]  # fmt: skip
    outputs = [before_md, before_table, before_print, after_md, after_table, after_print, forward, panel.code,
               shared.models]  # fmt: skip
    run(apply.click, run_surgery, inputs, outputs, api_name="surgery_apply", error=error)
    links = [
        Link("arch", arch, S.check_arch), Link("head", new_head, _flag),
        Link("hidden", hidden, lambda s: ", ".join(map(str, S.parse_hidden(s)))),
        Link("dropout", dropout, S.check_dropout), Link("classes", classes, S.check_classes),
        Link("extra", extra_input, _flag), Link("extra_size", extra_size, S.check_extra_size),
        Link("output", extra_output, _flag), Link("freeze", freeze, _flag),
        Link("batch", batch, S.check_batch), Link("size", size, S.check_size),
    ]
    first_view(shared, tab, "surgery", run_surgery, inputs, outputs, links=links, error=error,
               api_name="surgery_open", light=True)  # fmt: skip
    panel.wire("surgery", "surgery_notebook")
    for name, accordion, again, slots, pitfall_error, takes in pitfalls:
        show, ins = _shows(name, slots, takes), [named[n] for n in takes]
        for trigger, api_name in ((accordion.expand, f"surgery_pitfall_{name}_open"),
                                  (again.click, f"surgery_pitfall_{name}")):  # fmt: skip
            run(trigger, show, ins, slots.components, api_name=api_name, error=pitfall_error, light=True)
