"""Checkpoints tab (tutorial 5.4): save a model, play the four single/multi-GPU cases, load any file safely, and
watch 5.4's pitfalls run live.

Thin adapter over `lab.checkpoints`: each event asks one view of it and words the result with `t(...)`. The model
comes from `shared.models` (by tab id: what the Compose, U-Net, ResNet surgery and Train tabs built in this
session) or is the lab's small default CNN; the lab works on copies of it, so a session's model is never changed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from torch import nn

from lab import checkpoints as ck
from lab.errors import LabError, Term, shown
from lab.errors import choice as one_of
from ui.cache import Held, cached, heavy, resolve
from ui.common import Link, download_dir, error_box, first_view, run
from ui.i18n import i18n, t, words
from ui.widgets import code_panel, pitfall_slots, pitfall_view

__all__ = [
    "build", "DEFAULT", "LOADED", "MODEL_IDS", "UPLOAD_MAX_BYTES", "CONTENT_ROWS", "model_choices", "describe_model",
    "run_save", "run_cases", "show_case_code", "run_upload", "run_pitfalls", "run_cuda_pitfall", "open_view",
]  # fmt: skip

DEFAULT = "default"  # the default CNN's id in the picker
LOADED = "checkpoints"  # where a compatible upload lands in shared.models: this tab's own id
MODEL_IDS = (DEFAULT, "compose", "unet", "surgery", "train", LOADED)
# Values older clients and other tabs still send: their English labels, as ids
_ALIASES = {"Default: small CNN": DEFAULT, "Checkpoints: loaded": LOADED, "Compose": "compose", "U-Net": "unet",
            "ResNet surgery": "surgery", "Train": "train"}  # fmt: skip
# The one upload limit: what the lab's largest download needs (lab.checkpoints.io explains the number). app.py's
# launch(max_file_size=...) reads it here, so gradio_client, the upload route and `run_upload` agree.
UPLOAD_MAX_BYTES = ck.UPLOAD_MAX_BYTES
CONTENT_ROWS = 300  # rows of the "What the file holds" table; a longer listing ends with a row saying it was cut
_KEEP_S = 900  # downloads are copied into Gradio's cache when returned; our copies go after 15 min
_FILE_STEM = {DEFAULT: "default_cnn"}  # a download's name starts with the model's id
_SLOTS_WITH_TABLE = ("checkpoints.prefixed_into_plain", "checkpoints.slice_seven", "checkpoints.replace_everywhere")
_PITFALL_IDS = ("checkpoints.no_parens", "checkpoints.double_wrap", "checkpoints.assign_state_dict",
                "checkpoints.prefixed_into_plain", "checkpoints.slice_seven", "checkpoints.replace_everywhere",
                "checkpoints.map_location", "checkpoints.whole_dataparallel", "checkpoints.weights_only")  # fmt: skip
_COLUMNS = {"field": "field", "value": "value", "status": "status", "keys": "keys", "key": "key", "kind": "kind",
            "shape": "shape", "dtype": "dtype", "numel": "numel", "model key": "model_key", "key in file": "file_key",
            "saved shape": "saved_shape", "model shape": "model_shape", "missing": "missing",
            "unexpected": "unexpected", "order": "order", "initialized before": "init_before",
            "initialized after": "init_after"}  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Words: models, keys, tables
# ----------------------------------------------------------------------------------------------------------


def _label(model_id: str) -> str:
    """A model in the picker: the default CNN, the upload loaded here, or the tab that built it."""
    if model_id == DEFAULT:
        return t("checkpoints.default_model")
    if model_id == LOADED:
        return t("checkpoints.loaded_model")
    return t(f"tab.{model_id}")


def _session(models: dict | None) -> dict[str, nn.Module]:
    """This session's models by tab id (a tab that still keys by its English label is read as its id)."""
    out = {}
    for key, model in (models or {}).items():
        model_id = _ALIASES.get(key, key)
        if isinstance(model, (nn.Module, Held)) and model_id in MODEL_IDS:
            out[model_id] = model
    return out


def _id(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        raise LabError("error.checkpoints.model_type", kind=type(value).__name__)
    return _ALIASES.get(value or DEFAULT, value or DEFAULT)


def _pick(models: dict | None, value: Any) -> tuple[nn.Module | None, str]:
    """The chosen model (None: the default CNN) and its id; the session's own object, which the lab only reads."""
    model_id, session = _id(value), _session(models)
    if model_id == DEFAULT:
        return None, DEFAULT
    if model_id not in session:
        have = ", ".join(repr(k) for k in [DEFAULT, *session])
        raise LabError("error.checkpoints.model_not_built", value=shown(value), have=have)
    return resolve(session[model_id]), model_id  # a built model comes back from the cache (ui.cache.Held)


def _keys_md(keys: list[str], n: int = 3) -> str:
    listed = ", ".join(f"`{k}`" for k in keys[:n])
    return t("checkpoints.keys.more" if len(keys) > n else "checkpoints.keys.all", keys=listed, count=len(keys))


def _size(n: int) -> str:
    """"28.2 KiB (28,913 bytes)"."""
    if n < 1024:
        return t("checkpoints.size.small", bytes=f"{n:,}")
    value, unit = n / 1024, "KiB"
    for bigger in ("MiB", "GiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return t("checkpoints.size", size=f"{value:,.1f} {unit}", bytes=f"{n:,}")


def _worded(frame: pd.DataFrame, status: bool = False) -> pd.DataFrame:
    """A lab table for the page: word headers and cells that are catalogue Terms (or statuses) in the visitor's
    language; names, shapes and numbers stay as they are."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: words(v) if isinstance(v, Term) else v)
    if status and "status" in frame.columns:
        frame["status"] = frame["status"].map(lambda s: t(f"checkpoints.status_word.{s}"))
    if "order" in frame.columns:
        frame["order"] = frame["order"].map(lambda s: t(f"checkpoints.order.{s}"))
    return frame.rename(columns={c: t(f"checkpoints.col.{_COLUMNS[c]}") for c in frame.columns if c in _COLUMNS})


# ----------------------------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------------------------


def model_choices(models: dict | None, current: str | None = None):
    """The picker: the default CNN plus every model this session built in other tabs (or loaded here)."""
    session = _session(models)
    ids = [DEFAULT, *(model_id for model_id in MODEL_IDS if model_id in session)]
    value = _ALIASES.get(current, current) if isinstance(current, str) else DEFAULT
    return gr.update(choices=[(_label(i), i) for i in ids], value=value if value in ids else DEFAULT)


def _described(info: ck.ModelInfo, model_id: str) -> str:
    return t("checkpoints.model.info", label=_label(model_id), model=info.model_type, params=f"{info.params:,}",
             trainable=f"{info.trainable:,}", keys=_keys_md(info.keys))  # fmt: skip


def describe_model(models: dict | None, choice: str | None) -> str:
    model, model_id = _pick(models, choice)
    return _described(ck.model_info(model), model_id)


def _save_outputs(view: ck.SaveView, what: str, model_id: str) -> tuple[str, pd.DataFrame, str]:
    info = view.info
    if view.origin == "":
        code_note = t("checkpoints.code.none", model=view.model_type)
    elif view.origin == DEFAULT:
        code_note = t("checkpoints.code.default")
    else:
        code_note = t("checkpoints.code.rebuilt", tab=_label(view.origin), model=view.model_type)
        if model_id in ("train", LOADED):
            code_note += t(f"checkpoints.code.weights_from.{model_id}")
    facts = pd.DataFrame({
        "field": [t(f"checkpoints.fact.{k}") for k in ("file", "size", "what", "keys", "first_keys", "sha", "code")],
        "value": [info["file"], _size(info["bytes"]), t(f"checkpoints.what.{what}"), str(info["keys"]),
                  ", ".join(info["first keys"]), info["sha256"], code_note],
    })  # fmt: skip
    return str(view.path), _worded(facts), view.code


def run_save(models: dict | None, choice: str, what: str, fmt: str, wrapper: str, unwrap_first: bool):
    """Save the chosen model; returns (file to download, facts table, code)."""
    model, model_id = _pick(models, choice)
    view = ck.save_view(model, what=what, fmt=fmt, wrapper=wrapper, unwrap_first=unwrap_first,
                        directory=download_dir("checkpoints", keep_s=_KEEP_S), name=_FILE_STEM.get(model_id, model_id))
    return _save_outputs(view, what, model_id)


def _case_markdown(result: ck.CaseResult) -> str:
    fix = words(result.fix)
    if result.report.fixes:
        fix = t("checkpoints.case.fix_load", fix=fix, fixes="; ".join(words(f) for f in result.report.fixes))
    verdict = "checkpoints.case.equal" if result.equal else "checkpoints.case.differ"
    return "\n".join([
        t("checkpoints.case.title", saved=t(f"checkpoints.side.{result.saved}"),
          loaded=t(f"checkpoints.side.{result.loaded}")),
        t("checkpoints.case.file_keys", keys=_keys_md(result.file_keys, 2)),
        t("checkpoints.case.model_keys", keys=_keys_md(result.model_keys, 2)),
        t("checkpoints.case.fix", fix=fix),
        t(verdict, diff=f"{result.max_diff:.3g}", before=f"{result.diff_before:.3g}"),
    ])  # fmt: skip


def run_cases(models: dict | None, choice: str, wrapper: str, shown_case: str):
    """Play the four cases of 5.4.4 on the chosen model; returns four cell texts and the shown case's code."""
    model, _ = _pick(models, choice)
    view = ck.cases_view(model, wrapper=wrapper, shown=shown_case or "multi-single")
    return (*(_case_markdown(r) for r in view.results), view.code)


def show_case_code(shown_case: str, wrapper: str, models: dict | None = None, choice: str | None = None) -> str:
    model, _ = _pick(models, choice)
    return ck.case_view(model, wrapper=wrapper, shown=shown_case or "multi-single")


def run_upload(file: str | None, models: dict | None, choice: str):
    """Load an uploaded checkpoint safely, report on it against the chosen model, load it when it fits.

    Returns (status, counts, contents, key table, code, models).
    """
    if not file:
        raise LabError("error.checkpoints.no_upload")
    model, model_id = _pick(models, choice)
    view = ck.load_view(Path(file), model, max_bytes=UPLOAD_MAX_BYTES, rows=CONTENT_ROWS)
    report = view.report
    if view.loaded is not None:
        status = t("checkpoints.status.loaded", model=_label(model_id), count=len(report.loaded),
                   loaded=_label(LOADED))  # fmt: skip
        models = {**(models or {}), LOADED: view.loaded}  # a new dict: this session's state only
    else:
        status = t("checkpoints.status.not_loaded", model=_label(model_id), problems=words(report.problem_term()))
        models = models if models is not None else {}
    details = [t("checkpoints.status.fix", fix=words(f)) for f in report.fixes]
    details += [t("checkpoints.status.note", note=words(n)) for n in report.note_terms]
    if details:
        status += "\n" + "\n".join(details)
    return (status, _worded(report.summary(), status=True), _worded(view.contents), _worded(view.keys, status=True),
            view.code, models)  # fmt: skip


def _pitfall_updates(slots: list, found: list) -> list:
    by_id = {p.id: p for p in found}
    updates = []
    for slot in slots:
        pitfall = by_id[slot.pitfall_id]
        table = _worded(pitfall.table) if pitfall.table is not None else None
        updates += pitfall_view(slot, pitfall, table=table)
    return updates


def run_pitfalls(models: dict | None, choice: str, wrapper: str, slots: list | None = None):
    """Run 5.4's pitfalls on the chosen model; returns the updates of their panels (or the Pitfalls, without
    `slots`)."""
    model, _ = _pick(models, choice)
    found = _default_pitfalls(wrapper) if model is None else heavy(ck.pitfalls)(model, wrapper)
    return found if slots is None else _pitfall_updates(slots, found)


@cached
def _default_pitfalls(wrapper: str) -> list:
    """5.4's pitfalls on the default CNN: the same for every visitor, once per server."""
    return ck.pitfalls(None, wrapper)


_cuda_pitfall = cached(ck.pitfall_cuda_visible_devices)


def run_cuda_pitfall(slots: list | None = None):
    """Both orders of CUDA_VISIBLE_DEVICES, each in a fresh Python; the updates of its panel."""
    found = _cuda_pitfall()  # two fresh Pythons: the same answer on this machine for every visitor
    return [found] if slots is None else _pitfall_updates(slots, [found])


@cached
def _default_opening(*, period: int, **settings: Any) -> ck.OpeningView:
    """The first view of the default CNN, once per server and `period` (a 15-minute slot): its file's folder is
    pruned 15 minutes after it was made, when its slot's views are no longer asked for."""
    directory = download_dir("checkpoints", keep_s=_KEEP_S)
    return ck.opening_view(None, **settings, directory=directory, name=_FILE_STEM[DEFAULT])


def open_view(models: dict | None, choice: str, what: str, fmt: str, wrapper: str, unwrap_first: bool,
              case_wrapper: str, case_shown: str) -> list:  # fmt: skip
    """The first view: the chosen model (the default CNN on a fresh page) saved with the settings shown, and the
    four cases played. A link naming a model this session has not built shows the default CNN, with a note."""
    try:
        model, model_id = _pick(models, choice)
        note = ""
    except LabError:
        model, model_id = None, DEFAULT
        wanted = _id(choice) if isinstance(choice, str) else ""
        note = t("checkpoints.model.missing", label=_label(wanted)) + "\n\n" if wanted in MODEL_IDS else ""
    settings = {"what": what, "fmt": fmt, "wrapper": wrapper, "unwrap_first": unwrap_first,
                "case_wrapper": case_wrapper, "case_shown": case_shown or "multi-single"}
    if model is None:  # the default CNN (seeded): the same view for every visitor
        view = _default_opening(**settings, period=int(time.time() // _KEEP_S))
    else:
        view = heavy(ck.opening_view)(model, **settings, directory=download_dir("checkpoints", keep_s=_KEEP_S),
                                      name=_FILE_STEM.get(model_id, model_id))  # fmt: skip
    cells = [_case_markdown(result) for result in view.cases.results]
    return [note + _described(view.info, model_id), *_save_outputs(view.save, what, model_id), *cells, view.cases.code]


# ----------------------------------------------------------------------------------------------------------
# Links: the settings in the address bar
# ----------------------------------------------------------------------------------------------------------


def _one_of(field: str, options: tuple) -> Any:
    return lambda raw: one_of(field, raw, options)


def _flag(raw: str) -> bool:
    value = {"true": True, "false": False}.get(str(raw).strip().lower())
    if value is None:
        raise ValueError(raw)
    return value


# ----------------------------------------------------------------------------------------------------------
# Layout, then events
# ----------------------------------------------------------------------------------------------------------


def build(shared) -> None:
    """Model picker; save; the four cases; upload and report; pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for us
    gr.Markdown(i18n("checkpoints.intro"))
    with gr.Row(equal_height=True):
        picker = gr.Dropdown(
            choices=[(i18n("checkpoints.default_model"), DEFAULT)], value=DEFAULT, label=i18n("checkpoints.model"),
            allow_custom_value=True,  # choices are per session (shared.models); the API may name any of them
            scale=1, elem_id="checkpoints-model",
        )  # fmt: skip
        model_info = gr.Markdown(elem_id="checkpoints-model-info")

    gr.Markdown(i18n("checkpoints.save.heading"))
    with gr.Row():
        with gr.Column(scale=2):
            what = gr.Radio([(i18n(f"checkpoints.what.{w}"), w) for w in ck.WHATS], value="state_dict",
                            label=i18n("checkpoints.what"), elem_id="checkpoints-what")  # fmt: skip
            fmt = gr.Radio(list(ck.FORMATS), value=".pth", label=i18n("checkpoints.format"),
                           elem_id="checkpoints-format")  # fmt: skip
            wrapper = gr.Radio([(i18n("checkpoints.wrapper.none"), "none"), ("nn.DataParallel", "dataparallel"),
                                ("DistributedDataParallel", "ddp")], value="none",
                               label=i18n("checkpoints.wrapper"), info=i18n("checkpoints.wrapper.info"),
                               elem_id="checkpoints-wrapper")  # fmt: skip
            unwrap_first = gr.Checkbox(value=False, label=i18n("checkpoints.unwrap"), elem_id="checkpoints-unwrap")
            save_btn = gr.Button(i18n("checkpoints.save"), variant="primary", elem_id="checkpoints-save")
            save_error = error_box("checkpoints-save-error")
        with gr.Column(scale=3):
            saved_file = gr.File(label=i18n("checkpoints.file"), interactive=False, elem_id="checkpoints-file")
            facts = gr.Dataframe(label=i18n("checkpoints.facts"),
                                 interactive=False, wrap=True, elem_id="checkpoints-facts")  # fmt: skip
    save_panel = code_panel("checkpoints", "5.4.2", "checkpoints.code.save.title", elem_id="checkpoints-save-code",
                            label=i18n("checkpoints.save_code"))  # fmt: skip

    gr.Markdown(i18n("checkpoints.cases.text"))
    with gr.Row():
        case_wrapper = gr.Radio([("nn.DataParallel", "dataparallel"), ("DistributedDataParallel", "ddp")],
                                value="dataparallel", label=i18n("checkpoints.case_wrapper"),
                                elem_id="checkpoints-case-wrapper")  # fmt: skip
        cases_btn = gr.Button(i18n("checkpoints.cases.run"), variant="primary", elem_id="checkpoints-cases-run")
    cases_error = error_box("checkpoints-cases-error")
    cells = []
    for saved in ("single", "multi"):
        with gr.Row(equal_height=True):
            for loaded in ("single", "multi"):
                cells.append(gr.Markdown(container=True, elem_id=f"checkpoints-case-{saved}-{loaded}"))
    case_shown = gr.Radio([(i18n(f"checkpoints.case.choice.{name.replace('-', '_')}"), name) for name in ck.CASE_NAMES],
                          value="multi-single", label=i18n("checkpoints.case_shown"),
                          elem_id="checkpoints-case-shown")  # fmt: skip
    case_panel = code_panel("checkpoints", "5.4.4", "checkpoints.code.case.title", elem_id="checkpoints-case-code",
                            label=i18n("checkpoints.case_code"))  # fmt: skip

    gr.Markdown(i18n("checkpoints.load.heading"))
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label=i18n("checkpoints.upload"), elem_id="checkpoints-upload")
            load_btn = gr.Button(i18n("checkpoints.load"), variant="primary", elem_id="checkpoints-load")
            load_error = error_box("checkpoints-load-error")
        with gr.Column(scale=3):
            load_status = gr.Markdown(elem_id="checkpoints-load-status")
            counts = gr.Dataframe(label=i18n("checkpoints.counts"), interactive=False,
                                  elem_id="checkpoints-load-counts")  # fmt: skip
    with gr.Row():
        inside = gr.Dataframe(label=i18n("checkpoints.inside"), interactive=False, max_height=360,
                              elem_id="checkpoints-load-contents")  # fmt: skip
        keys = gr.Dataframe(label=i18n("checkpoints.keys"), interactive=False, max_height=360,
                            elem_id="checkpoints-load-keys")  # fmt: skip
    load_panel = code_panel("checkpoints", "5.4.4", "checkpoints.code.load.title", elem_id="checkpoints-load-code",
                            label=i18n("checkpoints.load_code"))  # fmt: skip

    with gr.Accordion(i18n("checkpoints.pitfalls"), open=False, elem_classes="pitfall",
                      elem_id="checkpoints-pitfall") as pitfall_box:  # fmt: skip
        gr.Markdown(i18n("checkpoints.pitfalls.intro"))
        pitfall_error = error_box("checkpoints-pitfall-error")
        slots = [pitfall_slots(pid, table=pid in _SLOTS_WITH_TABLE) for pid in _PITFALL_IDS]
        pitfall_btn = gr.Button(i18n("pitfall.run"), size="sm", elem_id="checkpoints-pitfall-run")
    with gr.Accordion(i18n("checkpoints.cuda"), open=False, elem_classes="pitfall",
                      elem_id="checkpoints-cuda") as cuda_box:  # fmt: skip
        gr.Markdown(i18n("checkpoints.cuda.intro"))
        cuda_error = error_box("checkpoints-cuda-error")
        cuda_slots = [pitfall_slots("checkpoints.cuda_visible_devices", table=True)]
        cuda_btn = gr.Button(i18n("pitfall.run"), size="sm", elem_id="checkpoints-cuda-run")

    # events last
    refresh = [shared.models, picker]
    shared.models.change(model_choices, refresh, picker, api_name="checkpoints_models")
    if isinstance(tab, gr.Tab):
        tab.select(model_choices, refresh, picker, api_name="checkpoints_tab")
    picker.focus(model_choices, refresh, picker, api_name="checkpoints_focus")
    # the visitor's pick (not a link restoring a model this session has yet to build: the first view says so)
    run(picker.input, describe_model, refresh, [model_info], api_name="checkpoints_model_info", error=save_error)

    view_inputs = [shared.models, picker, what, fmt, wrapper, unwrap_first, case_wrapper, case_shown]
    view_outputs = [model_info, saved_file, facts, save_panel.code, *cells, case_panel.code]
    links = [Link("model", picker, _one_of("checkpoints.model", MODEL_IDS)),
             Link("what", what, _one_of("checkpoints.what", ck.WHATS)),
             Link("format", fmt, _one_of("checkpoints.format", ck.FORMATS)),
             Link("wrapper", wrapper, _one_of("checkpoints.save_wrapper", ("none", *ck.WRAPPERS))),
             Link("unwrap", unwrap_first, _flag),
             Link("case_wrapper", case_wrapper, _one_of("checkpoints.wrapper", ck.WRAPPERS))]  # fmt: skip
    if isinstance(tab, gr.Tab):
        first_view(shared, tab, "checkpoints", open_view, view_inputs, view_outputs, links=links, error=save_error,
                   api_name="checkpoints_default", light=True)  # fmt: skip

    run(save_btn.click, run_save, [shared.models, picker, what, fmt, wrapper, unwrap_first],
        [saved_file, facts, save_panel.code], api_name="checkpoints_save", error=save_error)  # fmt: skip
    run(cases_btn.click, run_cases, [shared.models, picker, case_wrapper, case_shown], [*cells, case_panel.code],
        api_name="checkpoints_cases", error=cases_error)  # fmt: skip
    run(case_shown.change, show_case_code, [case_shown, case_wrapper, shared.models, picker], [case_panel.code],
        api_name="checkpoints_case_code", error=cases_error)  # fmt: skip
    run(load_btn.click, run_upload, [upload, shared.models, picker],
        [load_status, counts, inside, keys, load_panel.code, shared.models], api_name="checkpoints_load",
        error=load_error)  # fmt: skip

    def pitfalls(models: dict | None, choice: str, wrapper: str):
        return run_pitfalls(models, choice, wrapper, slots)

    def cuda():
        return run_cuda_pitfall(cuda_slots)

    pitfall_outputs = [c for slot in slots for c in slot.components]
    pitfall_inputs = [shared.models, picker, case_wrapper]
    run(pitfall_box.expand, pitfalls, pitfall_inputs, pitfall_outputs, api_name="checkpoints_pitfall_open", light=True,
        error=pitfall_error)  # fmt: skip
    run(pitfall_btn.click, pitfalls, pitfall_inputs, pitfall_outputs, api_name="checkpoints_pitfall", light=True,
        error=pitfall_error)  # fmt: skip
    cuda_outputs = [c for slot in cuda_slots for c in slot.components]
    run(cuda_box.expand, cuda, [], cuda_outputs, api_name="checkpoints_pitfall_cuda_open", light=True, error=cuda_error)
    run(cuda_btn.click, cuda, [], cuda_outputs, api_name="checkpoints_pitfall_cuda", light=True, error=cuda_error)

    save_panel.wire("checkpoints", "checkpoints_save_notebook")
    case_panel.wire("checkpoints", "checkpoints_case_notebook")
    load_panel.wire("checkpoints", "checkpoints_load_notebook")
