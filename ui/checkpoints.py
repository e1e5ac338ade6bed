"""Checkpoints tab (tutorial 5.4): save a model, play the four single/multi-GPU cases, load any file safely.

Thin adapter over `lab.checkpoints`: layout first, events last; every callback goes through `ui.common.guarded`.
The model comes from `shared.models` (what the Compose, U-Net, ResNet surgery and Train tabs built in this
session) or the lab's small default CNN; it is deep-copied before anything wraps or loads into it.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd
from torch import nn

from lab import checkpoints as ck
from lab.device import pick_device
from lab.errors import LabError, shown
from lab.inspect import count_params
from ui.common import code_box, download_dir, guarded

__all__ = [
    "build",
    "DEFAULT_LABEL",
    "LOADED_LABEL",
    "model_choices",
    "describe_model",
    "run_save",
    "run_cases",
    "show_case_code",
    "run_upload",
    "run_pitfalls",
]

DEFAULT_LABEL = "Default: small CNN"
LOADED_LABEL = "Checkpoints: loaded"  # where a compatible upload lands in shared.models
WRAP_CHOICES = [
    ("no wrapper (single GPU)", "none"),
    ("nn.DataParallel", "dataparallel"),
    ("DistributedDataParallel", "ddp"),
]
WHAT_CHOICES = [
    ("weights (state_dict)", "state_dict"),
    ("whole model (pickled)", "model"),
    ("training checkpoint (5.4.5)", "checkpoint"),
]
CASES = [("single", "single"), ("single", "multi"), ("multi", "single"), ("multi", "multi")]
CASE_CHOICES = [(f"saved {saved}, loaded {loaded}", f"{saved}-{loaded}") for saved, loaded in CASES]
_KEEP_S = 900  # downloads are copied into Gradio's cache when returned; our copies go after 15 min
# The one upload limit: what the lab's largest download needs (lab.checkpoints explains the number). app.py's
# launch(max_file_size=...) reads it here, so gradio_client, the upload route and `run_upload` agree.
UPLOAD_MAX_BYTES = ck.UPLOAD_MAX_BYTES
CONTENT_ROWS = 300  # rows of the "What the file holds" table; a longer listing ends with a row saying it was cut

INTRO = """### 5.4 · Saving and loading, without the traps
Save the model you built in another tab (or the small default CNN) as weights, a whole pickled model or a training
checkpoint in `.pt`, `.pth`, `.pkl` or `.safetensors`; the three torch suffixes are the same `torch.save` format
(5.4.1). Play the four single/multi-GPU cases of 5.4.4 live, and load any checkpoint file safely: it is read with
`weights_only=True` or safetensors, so a file that would run code is refused and nothing of it runs."""

CASES_TEXT = """**5.4.4 · The four cases.** `nn.DataParallel` and `DistributedDataParallel` keep your model as
`.module`, so every key gains a leading `module.`. Each cell saves the model (wrapped or not), builds a fresh model
with other random weights, loads the file into it (wrapped or not), and checks that both give bit-identical outputs
on the same input. Here DDP runs on the CPU in a one-process gloo group; on GPUs the keys are the same."""

PITFALL_TEXT = """Six mistakes from 5.4 (see the notes beside the tutorial), each run now on the chosen model. The
tutorial's other advice holds: in multi-GPU work save and load weights, never whole models, and load untrusted files
only with `weights_only=True` or as safetensors."""


# ----------------------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------------------


def _work_dir() -> Path:
    """A fresh directory for one download; directories older than 15 minutes are removed on the way."""
    return download_dir("checkpoints", keep_s=_KEEP_S)


def _slug(label: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "model"


def _model(models: dict | None, choice: str | None, *, private: bool = True) -> tuple[nn.Module, str]:
    """The chosen model and its label; a private copy (never the session's own object) unless only read."""
    models = models or {}
    if choice is not None and not isinstance(choice, str):
        raise LabError(
            f"Field 'model' is a {type(choice).__name__}; a model label such as {DEFAULT_LABEL!r} is accepted."
        )
    if choice in models and isinstance(models[choice], nn.Module):
        model = ck.unwrap(models[choice])
        return (copy.deepcopy(model).eval() if private else model), choice
    if choice not in (None, "", DEFAULT_LABEL):
        have = ", ".join(repr(k) for k in [DEFAULT_LABEL, *models])
        raise LabError(f"Field 'model' is {shown(choice)}, which this session has not built; choose one of {have}.")
    return ck.default_model().to(pick_device()), DEFAULT_LABEL


def _keys_md(keys: list[str], n: int = 3) -> str:
    listed = ", ".join(f"`{k}`" for k in keys[:n])
    return listed + (f" … ({len(keys)} keys)" if len(keys) > n else f" ({len(keys)} keys)")


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def model_choices(models: dict | None, current: str | None = None):
    """The dropdown's choices: the default CNN plus every model this session built in other tabs."""
    labels = [DEFAULT_LABEL] + sorted(k for k, v in (models or {}).items() if isinstance(v, nn.Module))
    value = current if current in labels else DEFAULT_LABEL
    return gr.update(choices=labels, value=value)


def describe_model(models: dict | None, choice: str | None) -> str:
    model, label = _model(models, choice, private=False)  # only read: no copy of a big model
    total, trainable = count_params(model)
    keys = list(model.state_dict())
    return (
        f"**{label}**: `{type(model).__name__}`, {total:,} parameters ({trainable:,} trainable), "
        f"{len(keys)} state_dict keys: {_keys_md(keys)}"
    )


# ----------------------------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------------------------


def run_save(models: dict | None, choice: str, what: str, fmt: str, wrapper: str, unwrap_first: bool):
    """Save the chosen model; returns (file to download, facts table, code)."""
    if wrapper not in ("none", *ck.WRAPPERS):
        raise LabError(f"Field 'wrapper' is {shown(wrapper)}; use none, dataparallel or ddp.")
    model, label = _model(models, choice)
    if wrapper != "none":
        model = ck.parallel_wrap(model, wrapper)
    path = _work_dir() / f"{_slug(label)}_{what}{fmt}"
    if what == "checkpoint":
        optimizer, scheduler, args = ck.training_objects(model)
        ck.save(
            model,
            path,
            what=what,
            optimizer=optimizer,
            scheduler=scheduler,
            epoch=0,
            args=args,
            unwrap_first=unwrap_first,
        )
    else:
        ck.save(model, path, what=what, unwrap_first=unwrap_first)
    info = ck.file_info(path, trusted=True)  # the lab just wrote it
    facts = pd.DataFrame(
        {
            "field": ["file", "size", "what", "keys", "first keys", "SHA-256"],
            "value": [
                info["file"],
                f"{_size(info['bytes'])} ({info['bytes']:,} bytes)",
                dict((v, k) for k, v in WHAT_CHOICES)[what],
                str(info["keys"]),
                ", ".join(info["first keys"]),
                info["sha256"],
            ],
        }
    )
    code = ck.save_code(what, fmt, wrapper=wrapper, unwrap_first=unwrap_first, name=Path(info["file"]).stem)
    return str(path), facts, code


def _case_markdown(result: ck.CaseResult) -> str:
    verdict = (
        "**outputs bit-identical** ✓" if result.equal else f"**outputs differ** (max |diff| {result.max_diff:.3g})"
    )
    return (
        f"#### Saved {result.saved}, loaded {result.loaded}\n"
        f"- keys in the file: {_keys_md(result.file_keys, 2)}\n"
        f"- keys of the model loaded into: {_keys_md(result.model_keys, 2)}\n"
        f"- fix: {result.fix}\n"
        f"- {verdict} (before loading they differed by up to {result.diff_before:.3g})"
    )


def run_cases(models: dict | None, choice: str, wrapper: str, shown: str):
    """Play the four cases of 5.4.4 on the chosen model; returns four cell texts and the shown case's code."""
    model, _ = _model(models, choice, private=False)  # play_case works on its own copies
    with tempfile.TemporaryDirectory(prefix="lab-cases-") as tmp:
        cells = [_case_markdown(ck.play_case(model, saved, loaded, tmp, wrapper=wrapper)) for saved, loaded in CASES]
    return (*cells, show_case_code(shown, wrapper))


def show_case_code(shown: str, wrapper: str) -> str:
    saved, _, loaded = (shown or "multi-single").partition("-")
    return ck.case_code(saved, loaded, wrapper)


def run_upload(file: str | None, models: dict | None, choice: str):
    """Load an uploaded checkpoint safely, report on it against the chosen model, load it when it fits.

    Returns (status, counts, contents, key table, code, models).
    """
    if not file:
        raise LabError("Field 'checkpoint' is empty; upload a .pt, .pth, .pkl or .safetensors file.")
    path = Path(file)
    obj = ck.load(path, max_bytes=UPLOAD_MAX_BYTES)  # untrusted: scanned, then weights_only or safetensors
    contents = ck.contents(obj, max_rows=CONTENT_ROWS)  # bounded: stops (and says so) at CONTENT_ROWS rows
    model, label = _model(models, choice)
    report = ck.compare(model, obj)
    models = dict(models or {})
    if report.ok:
        ck.load_into(model, obj)
        models[LOADED_LABEL] = model
        status = (
            f"**Loaded** into a copy of **{label}**: all {len(report.loaded)} keys matched. "
            f"It is now the model **{LOADED_LABEL}** in the dropdown above."
        )
    else:
        status = f"**Not loaded** into **{label}**: {report.problems()}."
    details = [f"- fix applied: {fix}" for fix in report.renamed] + [f"- {note}" for note in report.notes]
    if details:
        status += "\n" + "\n".join(details)
    frame = report.to_frame()
    order = {"mismatched": 0, "missing": 1, "unexpected": 2, "loaded": 3}
    frame = frame.sort_values("status", key=lambda s: s.map(order), kind="stable").head(300)
    code = ck.load_code(path.name, report, default=(label == DEFAULT_LABEL))
    return status, report.summary(), contents, frame, code, models


def run_pitfalls(models: dict | None, choice: str, wrapper: str):
    """Run the six 5.4 pitfalls on the chosen model; returns six markdown texts."""
    model, _ = _model(models, choice, private=False)  # each pitfall reads it or works on a copy
    with tempfile.TemporaryDirectory(prefix="lab-pitfalls-") as tmp:
        no_parens = ck.pitfall_state_dict_no_parens(model, tmp)
        gpu = ck.pitfall_map_location(model, tmp)
    assign = ck.pitfall_assign_state_dict(model)
    sliced = ck.pitfall_slice_seven(model)
    replaced = ck.pitfall_replace_everywhere(wrapper)
    double = ck.pitfall_double_wrap(model, wrapper)

    return (
        _no_parens_text(no_parens),
        _assign_text(assign),
        _slice_text(sliced),
        _replace_text(replaced),
        _double_wrap_text(double, wrapper),
        _map_location_text(gpu),
    )


def _no_parens_text(result: dict) -> str:
    return (
        "#### `torch.save(model.state_dict, path)`\n"
        "Without parentheses this pickles a bound method, dragging in the whole model: "
        f"{_size(result['wrong_bytes'])} instead of {_size(result['right_bytes'])}. "
        f"Loading it safely now:\n\n> {result['error']}\n\n"
        f"**Fix:** `torch.save(model.state_dict(), path)` ({result['right_keys']} tensors, "
        "loads with `weights_only=True`)."
    )


def _assign_text(result: dict) -> str:
    unchanged = "**unchanged**" if result["weights_unchanged"] else "changed"
    return (
        "#### `model.state_dict = sd`\n"
        f"Assigning replaces the method with a dict and loads nothing: the weights are {unchanged} and still "
        f"differ from the saved ones by up to {result['diff_after_assign']:.3g}.\n\n"
        f"**Fix:** `model.load_state_dict(sd)`: difference now {result['diff_after_load_state_dict']:.3g}."
    )


def _slice_text(result: dict) -> str:
    collapsed = f", and {result['collapsed']} keys collapse into others" if result["collapsed"] else ""
    return (
        "#### `{k[7:]: v for k, v in sd.items()}` on keys without `module.`\n"
        f"Cuts 7 characters from every key: {_keys_md(result['keys'], 2)} become "
        f"{_keys_md(result['sliced'], 2)}{collapsed}. Loading: {result['report'].problems()}.\n\n"
        "**Fix:** `k.removeprefix('module.')` or `consume_prefix_in_state_dict_if_present(sd, 'module.')`: "
        "leading prefix only, these keys stay as they are."
    )


def _replace_text(result: dict) -> str:
    return (
        "#### `k.replace('module.', '')` on a model with a layer named `module`\n"
        f"Removes every occurrence: {_keys_md(result['saved'], 2)} become {_keys_md(result['replaced'], 2)}. "
        f"Loading: {result['replace_report'].problems()}.\n\n**Fix:** strip the leading prefix only: "
        f"{_keys_md(result['stripped'], 2)}, all {len(result['strip_report'].loaded)} keys load."
    )


def _double_wrap_text(result: dict, wrapper: str) -> str:
    verdict = "bit-identical ✓" if result["equal"] else "differ"
    return (
        "#### Wrapping a wrapped model\n"
        f"`{wrapper}` around `{wrapper}` gives {_keys_md(result['keys'], 2)} instead of "
        f"{_keys_md(result['once_keys'], 1)}. `load_into` {'; '.join(result['report'].renamed)}; "
        f"outputs {verdict}.\n\n"
        "**Fix:** wrap once: `model = model.module if isinstance(model, nn.DataParallel) else model` "
        "before wrapping."
    )


def _map_location_text(gpu: dict) -> str:
    head = "#### `torch.load(path)` without `map_location` for a GPU-saved file\n"
    if gpu["cuda_available"]:
        body = (
            f"This machine has CUDA, so it loads, onto `{gpu['device_without']}`: the file decides the device. "
            "On a machine without a GPU the same call fails with *Attempting to deserialize object on a CUDA device*."
        )
    else:
        body = (
            "This machine has no GPU. A file written on `cuda:0` (its storages say so) loaded without "
            f"`map_location`, in torch's words:\n\n> {gpu['torch_error']}\n\nThe lab's message: {gpu['error_without']}"
        )
    return (
        head
        + body
        + (
            f"\n\n**Fix:** `torch.load(path, map_location='cpu', weights_only=True)` then `model.to(device)`: "
            f"{gpu['keys']} tensors on `{gpu['device_with_cpu']}`."
        )
    )


# ----------------------------------------------------------------------------------------------------------
# Layout, then events
# ----------------------------------------------------------------------------------------------------------


def build(shared) -> None:
    """Model picker; save; the four cases; upload and report; pitfalls."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for us (refresh the picker when it is selected)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=True):
        choice = gr.Dropdown(
            choices=[DEFAULT_LABEL],
            value=DEFAULT_LABEL,
            label="Model to work on",
            allow_custom_value=True,  # choices are per session (shared.models); the API may name any of them
            scale=1,
            elem_id="checkpoints-model",
        )
        model_info = gr.Markdown(elem_id="checkpoints-model-info")

    gr.Markdown("### Save")
    with gr.Row():
        with gr.Column(scale=2):
            what = gr.Radio(WHAT_CHOICES, value="state_dict", label="What to save", elem_id="checkpoints-what")
            fmt = gr.Radio(list(ck.FORMATS), value=".pth", label="Format", elem_id="checkpoints-format")
            wrapper = gr.Radio(
                WRAP_CHOICES,
                value="none",
                label="Wrap first, as multi-GPU training does",
                elem_id="checkpoints-wrapper",
            )
            unwrap_first = gr.Checkbox(
                value=False,
                label="Save model.module (unwrapped): the tutorial's advice for multi-GPU models",
                elem_id="checkpoints-unwrap",
            )
            save_btn = gr.Button("Save", variant="primary", elem_id="checkpoints-save")
        with gr.Column(scale=3):
            saved_file = gr.File(label="Checkpoint to download", interactive=False, elem_id="checkpoints-file")
            facts = gr.Dataframe(
                value=pd.DataFrame(columns=["field", "value"]),
                label="What was written",
                interactive=False,
                wrap=True,
                elem_id="checkpoints-facts",
            )
    save_code = code_box(elem_id="checkpoints-save-code")

    gr.Markdown(CASES_TEXT)
    with gr.Row():
        case_wrapper = gr.Radio(
            [(label, value) for label, value in WRAP_CHOICES if value != "none"],
            value="dataparallel",
            label="Multi-GPU wrapper",
            elem_id="checkpoints-case-wrapper",
        )
        cases_btn = gr.Button("Run the four cases", variant="primary", elem_id="checkpoints-cases-run")
    cells = []
    for saved in ("single", "multi"):
        with gr.Row(equal_height=True):
            for loaded in ("single", "multi"):
                cells.append(
                    gr.Markdown(
                        f"#### Saved {saved}, loaded {loaded}\n…",
                        container=True,
                        elem_id=f"checkpoints-case-{saved}-{loaded}",
                    )
                )
    case_shown = gr.Radio(CASE_CHOICES, value="multi-single", label="Code for case", elem_id="checkpoints-case-shown")
    case_code = code_box(label="PyTorch code for this case", elem_id="checkpoints-case-code")

    gr.Markdown("### Load a checkpoint safely")
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(
                label=f"Checkpoint (.pt .pth .pkl .safetensors, at most {UPLOAD_MAX_BYTES // 2**20} MiB)",
                elem_id="checkpoints-upload",
            )
            load_btn = gr.Button("Load safely", variant="primary", elem_id="checkpoints-load")
        with gr.Column(scale=3):
            load_status = gr.Markdown(elem_id="checkpoints-load-status")
            counts = gr.Dataframe(
                value=pd.DataFrame(columns=["status", "keys"]),
                label="Keys against the chosen model",
                interactive=False,
                elem_id="checkpoints-load-counts",
            )
    with gr.Row():
        inside = gr.Dataframe(
            value=pd.DataFrame(columns=["key", "kind", "shape", "dtype", "numel"]),
            label="What the file holds",
            interactive=False,
            max_height=360,
            elem_id="checkpoints-load-contents",
        )
        keys = gr.Dataframe(
            value=ck.LoadReport().to_frame(),
            label="Key by key",
            interactive=False,
            max_height=360,
            elem_id="checkpoints-load-keys",
        )
    load_code = code_box(label="PyTorch code that loads it the same way", elem_id="checkpoints-load-code")

    with gr.Accordion(
        "Pitfall: six ways 5.4's code saves or loads the wrong thing",
        open=False,
        elem_classes="pitfall",
        elem_id="checkpoints-pitfall",
    ) as pitfall:
        gr.Markdown(PITFALL_TEXT)
        pitfall_cells = []
        for row in range(3):
            with gr.Row(equal_height=True):
                for col in range(2):
                    pitfall_cells.append(
                        gr.Markdown(container=True, elem_id=f"checkpoints-pitfall-{2 * row + col + 1}")
                    )
        pitfall_btn = gr.Button("Run again", size="sm", elem_id="checkpoints-pitfall-run")

    # events last
    refresh = guarded(model_choices)
    info = guarded(describe_model)
    shared.models.change(refresh, [shared.models, choice], choice, api_name="checkpoints_models")
    if isinstance(tab, gr.Tab):
        tab.select(refresh, [shared.models, choice], choice, api_name="checkpoints_tab")
    choice.focus(refresh, [shared.models, choice], choice, api_name="checkpoints_focus")
    choice.change(info, [shared.models, choice], model_info, api_name="checkpoints_model_info")
    shared.demo.load(info, [shared.models, choice], model_info, api_name="checkpoints_default")

    save_btn.click(
        guarded(run_save),
        [shared.models, choice, what, fmt, wrapper, unwrap_first],
        [saved_file, facts, save_code],
        api_name="checkpoints_save",
    )
    case_inputs = [shared.models, choice, case_wrapper, case_shown]
    cases_btn.click(guarded(run_cases), case_inputs, [*cells, case_code], api_name="checkpoints_cases")
    case_shown.change(guarded(show_case_code), [case_shown, case_wrapper], case_code, api_name="checkpoints_case_code")
    load_btn.click(
        guarded(run_upload),
        [upload, shared.models, choice],
        [load_status, counts, inside, keys, load_code, shared.models],
        api_name="checkpoints_load",
    )
    pitfall_fn = guarded(run_pitfalls)
    pitfall_inputs = [shared.models, choice, case_wrapper]
    pitfall.expand(pitfall_fn, pitfall_inputs, pitfall_cells, api_name="checkpoints_pitfall_open")
    pitfall_btn.click(pitfall_fn, pitfall_inputs, pitfall_cells, api_name="checkpoints_pitfall")
