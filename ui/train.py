"""Train tab (tutorial 5.2 + 6.1 + 6.2): a U-Net trained live with the loss and schedule chosen in their tabs.

Start runs `lab.train.Training` one step at a time inside a generator callback, yielding the loss, lr and
validation-Dice curves about twice a second; Stop ends the run between two steps and still shows its results.
Runs share one queue slot (`concurrency_id="train"`, limit 1): others wait and see their place in the queue.
A closed browser tab ends its training: Gradio stops iterating the generator of a disconnected client, and
`demo.unload` sets the session's stop flag as well. At the end: the validation images segmented by the trained
model with Dice per image, the checkpoint (safetensors + config JSON) the U-Net and Checkpoints tabs load back,
the model in `shared.models["Train"]`, and the code that reproduces the run.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from lab import losses as L
from lab import schedules as S
from lab import train as T
from lab.errors import LabError
from lab.safe_expr import parse_json
from ui.common import Shared, code_box, download_dir, guarded

LABEL = "Train"  # key in shared.models
UPDATE_EVERY_S = 0.5  # how often the live curves are sent to the page
NO_SCHEDULE = "none"
DATA_SAMPLES, DATA_UPLOAD = "Sample images", "Upload image/mask pairs"
BASE_CHOICES = [4, 8, 16, 32, 64]
TABLE_COLUMNS = ["name", "dice", "iou", "true_pixels", "predicted_pixels"]

INTRO = """### Train a U-Net (5.2 + 6.1 + 6.2)
The U-Net of 5.2 trained on the sample images (or your own image/mask pairs) with the loss of the **Losses** tab
and the schedule of the **LR schedules** tab. The loop steps the optimizer after every batch and the scheduler
after every batch (OneCycleLR, CyclicLR) or once per epoch (all others), as the tutorial's pieces require.
Batches are random 128-pixel crops; a fifth of the images is held out and scored (Dice) every few steps.
The defaults (OneCycleLR: warm-up, then anneal; it sets the lr itself from `max_lr`) reach a validation Dice
of 0.9 on the samples in well under a minute on 2 CPU cores."""

UPLOAD_HELP = "Images as `<name>.png`, masks as `<name>_mask.png` (black background, white object), 2 to 2000 pairs."

PITFALL = """The trained model is scored twice below on the same validation images: once in `model.eval()` (BatchNorm
uses the running statistics it learned) and once left in `model.train()` mode, as a loop that forgets
`model.eval()` before validating does. In train mode BatchNorm normalises each image with its *own* statistics,
so the scores change with what else is in the batch; a model whose running statistics are still young can even
look better in train mode. Always switch: `model.eval()` to validate or predict, `model.train()` before the next
training step (the tutorial never shows either)."""

# session -> stop flag of its pending or running training (set by Stop and by closing the browser tab)
_STOPS: dict[str, threading.Event] = {}
_STOPS_LOCK = threading.Lock()
RUNNING = 0  # trainings in progress in this process (tests watch it fall to 0 when a page closes)


# ----------------------------------------------------------------------------------------------- helpers


def _json_params(text: str, field: str) -> dict[str, Any]:
    # bounded (length, nesting, digits) before json.loads: "[" * 20000 is a sentence, not a RecursionError
    value = parse_json(text if text is not None else "", field, example='{"smooth": 1.0}')
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LabError(f"Field '{field}' holds {type(value).__name__}; write a JSON object like {{\"smooth\": 1.0}}.")
    return value


def _schedule(name: str, params_text: str) -> tuple[str, dict] | None:
    if not name or name == NO_SCHEDULE:
        return None
    return name, _json_params(params_text, "scheduler parameters")


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _data(source: str, files: list | None) -> tuple[list[str], list, list]:
    if source == DATA_UPLOAD:
        paths = [getattr(f, "name", f) for f in (files or [])]
        if not paths:
            raise LabError("No files uploaded; upload image/mask pairs (<name>.png with <name>_mask.png).")
        return T.pairs_from_files(paths)
    from lab.segment import samples

    found = samples()
    return [s.name for s in found], [s.image for s in found], [s.mask for s in found]


def _n_images(source: str, files: list | None) -> int:
    if source == DATA_UPLOAD:
        n = sum(1 for f in (files or []) if not Path(getattr(f, "name", f)).stem.endswith("_mask"))
        return max(n, 2)
    from lab.segment import ASSETS

    return max(2, len(list((ASSETS / "samples").glob("*_mask.png"))))


# ----------------------------------------------------------------------------------------------- callbacks


def preview(sched_name: str, sched_params: str, lr: float, steps: float, batch: float, source: str, files: list | None):
    """The lr curve the run will follow, drawn inline under the scheduler's fields."""
    df = T.lr_preview(_schedule(sched_name, sched_params), steps=steps, lr=lr, n_images=_n_images(source, files),
                      batch_size=batch)  # fmt: skip
    fig = S.curve_figure([(S.describe(sched_name) if sched_name != NO_SCHEDULE else "constant lr", df)])
    fig.update_layout(height=260, margin={"t": 30})
    return fig.update_yaxes(range=[0, 1.1 * float(df["lr"].max())])


def scheduler_defaults(name: str) -> str:
    """Torch's defaults (and an example for required parameters) when a scheduler is picked."""
    if not name or name == NO_SCHEDULE:
        return "{}"
    return json.dumps(S.default_params(name))


def show_upload(source: str):
    return gr.update(visible=source == DATA_UPLOAD)


def from_loss_tab(loss: dict) -> tuple[Any, str]:
    loss = loss or {}
    return gr.update(value=L.canonical(loss.get("name") or "dice_bce")), json.dumps(loss.get("params") or {})


def from_schedule_tab(schedule: dict) -> tuple[Any, str]:
    schedule = schedule or {}
    name = schedule.get("name") or NO_SCHEDULE
    return gr.update(value=name), json.dumps(schedule.get("params") or {})


def arm(request: gr.Request):
    """Runs first on Start (outside the queue): a fresh stop flag, so Stop also reaches a run still queued."""
    with _STOPS_LOCK:
        _STOPS[_session(request)] = threading.Event()


def stop(request: gr.Request) -> str:
    """Ask this session's training to end after its current step (or before it starts, when queued)."""
    with _STOPS_LOCK:
        flag = _STOPS.get(_session(request))
    if flag is None:
        return "No training is running."
    flag.set()
    return "Stopping after the current step..."


def _outputs(status, fig, gallery=None, table=None, files=None, code=None, models=None, pitfall=None) -> tuple:
    keep = gr.skip()
    return (status, fig, *(keep if v is None else v for v in (gallery, table, files, code, models, pitfall)))


def run(
    source: str,
    files: list | None,
    base_channels: float,
    depth: float,
    loss_name: str,
    loss_params: str,
    optimizer: str,
    lr: float,
    sched_name: str,
    sched_params: str,
    steps: float,
    batch: float,
    time_limit: float,
    models: dict,
    request: gr.Request,
    progress=gr.Progress(),  # noqa: B008 - Gradio reads the default to inject a tracker
):
    """Train and stream: (status, curves, gallery, per-image table, checkpoint files, code, shared.models, pitfall)."""
    global RUNNING
    session = _session(request)
    with _STOPS_LOCK:
        flag = _STOPS.setdefault(session, threading.Event())
        RUNNING += 1
    try:
        if time_limit is None:  # the page always bounds a run's time
            raise LabError(f"Field 'time limit' is empty; use a number of seconds above 0 and up to {T.MAX_TIME_S:g}.")
        names, images, masks = _data(source, files)
        schedule = _schedule(sched_name, sched_params)
        training = T.Training(
            images, masks, loss=(loss_name, _json_params(loss_params, "loss parameters")), lr=lr, scheduler=schedule,
            steps=steps, batch_size=batch, time_limit_s=time_limit, optimizer=optimizer,
            base_channels=base_channels, depth=depth,
        )  # fmt: skip
        plan = T.lr_preview(schedule, steps=training.steps, lr=lr, n_images=len(images), batch_size=training.batch_size)
        total = training.steps
        last_sent = 0.0
        yield _outputs(f"Training on {len(training.train_index)} images, validating on {len(training.val_index)}...",
                       T.history_figure(training.history(), steps=total, preview=plan))  # fmt: skip
        for row in [] if flag.is_set() else training:  # Stop pressed while queued: no step at all
            if flag.is_set():
                break
            now = time.perf_counter()
            if now - last_sent >= UPDATE_EVERY_S:
                last_sent = now
                done = row["step"] / total
                if training.time_limit_s:
                    done = max(done, row["elapsed_s"] / training.time_limit_s)
                progress(min(done, 1.0), desc=f"step {row['step']}/{total}")
                yield _outputs(_status(training, row), T.history_figure(training.history(), steps=total, preview=plan))
        if flag.is_set() and training.stop_reason == "steps" and len(training.rows) < training.steps:
            training.stop()
        training.finish()  # a run stopped between validations: score the final model (within the grace)
        result = training.result()
        progress(1.0, desc="segmenting the validation images")
        # scored within the run's final deadline too, so a large held-out set cannot stretch the time limit
        until, pace = training.final_deadline, training.val_pace
        val_names = [names[i] for i in result.val_index]
        table = T.evaluate(result.model, [images[i] for i in result.val_index], [masks[i] for i in result.val_index],
                           val_names, until=until, pace=pace)  # fmt: skip
        scored = result.val_index[: len(table)]
        from lab.segment import overlay

        gallery = [(overlay(images[i], m), f"{n} · Dice {d:.3f}")
                   for i, n, m, d in zip(scored, val_names, table.attrs["masks"], table["dice"], strict=False)]
        # strict=False: `scored` is the first len(table) validation images, val_names has them all
        paths = _save(result)
        code = T.to_code(result.config, data="samples" if source == DATA_SAMPLES else "upload")
        pitfall = T.eval_vs_train_mode(result.model, [images[i] for i in scored], [masks[i] for i in scored],
                                       val_names[: len(scored)], until=until, pace=pace)  # fmt: skip
        new_models = {**(models or {}), LABEL: result.model}
        row = result.history.iloc[-1].to_dict() if len(result.history) else {}
        status = _final_status(result, row, table, len(result.val_index))
        yield _outputs(status, T.history_figure(result.history, steps=total, preview=plan), gallery,
                       table.round(4), [str(p) for p in paths], code, new_models, pitfall)  # fmt: skip
    finally:
        with _STOPS_LOCK:
            RUNNING -= 1
            if _STOPS.get(session) is flag:
                del _STOPS[session]


def _status(training: T.Training, row: dict) -> str:
    scored = [r for r in training.rows if r.get("val_images")]
    dice_text = ""
    if scored:
        last, n_val = scored[-1], len(training.val_index)
        part = "" if last["val_images"] == n_val else f" ({last['val_images']} of {n_val} images: the time limit)"
        dice_text = f" · validation Dice {last['val_dice']:.3f}{part}"
    return (f"**Step {row['step']}/{training.steps}** · loss {row['loss']:.4f} · lr {row['lr']:.2e}{dice_text} · "
            f"{row['elapsed_s']:.1f} s on {training.device.type}, {training.config['precision']}")  # fmt: skip


def _final_status(result: T.TrainResult, row: dict, table: pd.DataFrame, n_val: int) -> str:
    why = {"steps": "all steps done", "time limit": "time limit reached", "stopped": "stopped"}[result.stop_reason]
    if len(table) == n_val:
        dice = f"validation Dice {table['dice'].mean():.3f} (mean of {len(table)} images)"
    elif len(table):
        dice = (f"validation Dice {table['dice'].mean():.3f} (mean of the {len(table)} of {n_val} images segmented "
                "within the time limit)")  # fmt: skip
    else:
        last = result.history["val_dice"].dropna()
        dice = (f"validation Dice {last.iloc[-1]:.3f} (the last score during training)" if len(last)
                else "no validation score")  # fmt: skip
        dice += "; the time limit left no time to segment the validation images"
    return (f"**Done ({why})** after {int(row.get('step', 0))} steps in {row.get('elapsed_s', 0):.1f} s · {dice} · "
            f"the model is in `shared.models['{LABEL}']` for the Checkpoints tab.")  # fmt: skip


def _save(result: T.TrainResult) -> tuple[Path, Path]:
    from lab.checkpoints import save_with_config

    folder = download_dir("train")  # pruned after 15 min: gradio serves its own cached copy
    return save_with_config(result.model, folder / "unet_trained.safetensors", result.model.config())


def end_session(request: gr.Request) -> None:
    """A closed browser tab: stop its training (Gradio also stops iterating a disconnected client's generator)."""
    with _STOPS_LOCK:
        flag = _STOPS.get(_session(request))
    if flag is not None:
        flag.set()


# ----------------------------------------------------------------------------------------------- layout + events


def build(shared: Shared) -> None:
    gr.Markdown(INTRO)
    d = T.DEFAULTS
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=340):
            source = gr.Radio([DATA_SAMPLES, DATA_UPLOAD], value=DATA_SAMPLES, label="Data", elem_id="train-source")
            files = gr.File(label=UPLOAD_HELP, file_count="multiple", file_types=["image"], visible=False,
                            elem_id="train-files")  # fmt: skip
            with gr.Row():
                base = gr.Dropdown(BASE_CHOICES, value=d["base_channels"], label="Base channels",
                                   elem_id="train-base")  # fmt: skip
                depth = gr.Slider(1, 5, value=d["depth"], step=1, label="Depth", elem_id="train-depth")
            with gr.Row():
                loss = gr.Dropdown([(L.LABELS[n], n) for n in L.NAMES], value="dice_bce", label="Loss",
                                   elem_id="train-loss")  # fmt: skip
                loss_params = gr.Textbox("{}", label="Loss parameters (JSON)", elem_id="train-loss-params")
            with gr.Row():
                optimizer = gr.Radio(list(T.OPTIMIZERS), value=d["optimizer"], label="Optimizer", elem_id="train-opt")
                lr = gr.Number(d["lr"], label="Learning rate", minimum=0, maximum=T.MAX_LR, elem_id="train-lr")
            with gr.Row():
                sched = gr.Dropdown([NO_SCHEDULE, *S.NAMES], value=d["scheduler"][0], label="Scheduler",
                                    elem_id="train-sched")  # fmt: skip
                sched_params = gr.Textbox(json.dumps(d["scheduler"][1]), label="Scheduler parameters (JSON)",
                                          elem_id="train-sched-params")  # fmt: skip
            lr_plot = gr.Plot(label="Learning rate preview", elem_id="train-lr-preview")
            with gr.Row():
                steps = gr.Number(d["steps"], label=f"Steps (max {T.MAX_STEPS})", precision=0, elem_id="train-steps")
                batch = gr.Number(d["batch_size"], label=f"Batch size (max {T.MAX_BATCH})", precision=0,
                                  elem_id="train-batch")  # fmt: skip
                limit = gr.Number(d["time_limit_s"], label=f"Time limit, s (max {T.MAX_TIME_S:g})",
                                  elem_id="train-limit")  # fmt: skip
            with gr.Row():
                start = gr.Button("Start", variant="primary", elem_id="train-start")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="train-stop")
        with gr.Column(scale=3):
            status = gr.Markdown("Press **Start** to train.", elem_id="train-status")
            curves = gr.Plot(label="Training curves", elem_id="train-curves")
            gallery = gr.Gallery(label="Validation images segmented by the trained model (Dice per image)",
                                 columns=3, height=420, elem_id="train-gallery")  # fmt: skip
            table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="Per validation image", interactive=False,
                                 elem_id="train-table")  # fmt: skip
            checkpoint = gr.File(label="Checkpoint: weights (.safetensors) + config (.json)", file_count="multiple",
                                 interactive=False, elem_id="train-checkpoint")  # fmt: skip
    with gr.Accordion("Pitfall: validating without model.eval()", open=False, elem_classes="pitfall",
                      elem_id="train-pitfall"):  # fmt: skip
        gr.Markdown(PITFALL)
        pitfall = gr.Dataframe(label="Validation Dice of the trained model: eval() vs train() mode", interactive=False,
                               elem_id="train-pitfall-table")  # fmt: skip
    code = code_box(elem_id="train-code")

    # ------------------------------------------------------------------------------------------- events
    source.change(guarded(show_upload), source, files, api_name="train_source")
    shared.loss.change(guarded(from_loss_tab), shared.loss, [loss, loss_params], api_name="train_from_loss")
    # A scheduler and its parameters change together; the preview runs once both are in place (listening to each
    # field's .change would draw the new scheduler with the old parameters and raise a spurious error).
    preview_inputs = [sched, sched_params, lr, steps, batch, source, files]
    shared.schedule.change(guarded(from_schedule_tab), shared.schedule, [sched, sched_params],
                           api_name="train_from_schedule").then(
        guarded(preview), preview_inputs, lr_plot, api_name="train_preview_from_schedule")  # fmt: skip
    sched.input(guarded(scheduler_defaults), sched, sched_params, api_name="train_sched_defaults").then(
        guarded(preview), preview_inputs, lr_plot, api_name="train_preview_new_scheduler")  # fmt: skip
    fields = (lr, steps, batch, source, files)
    gr.on([shared.demo.load, sched_params.input, *(c.change for c in fields)], guarded(preview), preview_inputs,
          lr_plot, api_name="train_preview", trigger_mode="always_last")  # fmt: skip
    inputs = [source, files, base, depth, loss, loss_params, optimizer, lr, sched, sched_params, steps, batch, limit,
              shared.models]  # fmt: skip
    outputs = [status, curves, gallery, table, checkpoint, code, shared.models, pitfall]
    start.click(arm, None, None, queue=False, api_name="train_arm", show_progress="hidden").then(
        guarded(run), inputs, outputs, api_name="train_start", concurrency_limit=1, concurrency_id="train",
        show_progress="full", show_progress_on=[status],
    )  # fmt: skip
    stop_btn.click(guarded(stop), None, status, queue=False, api_name="train_stop")
    shared.demo.unload(end_session)
