"""Train tab (tutorial 5.2 + 6.1 + 6.2): a U-Net trained live with the loss and schedule chosen in their tabs.

Every settings change asks `lab.train.plan` once: the lr of each step, this run's code panel and its torchrun
script, or one sentence beside the settings when a value is refused. Start runs `lab.train.Training` one step at a
time inside a generator callback, yielding the loss, lr and validation-Dice curves about twice a second; Stop ends
the run between two steps and still shows its results (`lab.train.finish_run`: the held-out images segmented, the
pitfall, the code). Runs share one queue slot (`concurrency_id="train"`, limit 1): others wait and see their place.
A closed browser tab ends its training: Gradio stops iterating the generator of a disconnected client, and
`demo.unload` sets the session's stop flag as well. The session keeps its best validated model in
`shared.models["train"]` (what the U-Net and Checkpoints tabs use); a worse later run does not replace it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pandas as pd

from lab import losses as L
from lab import schedules as S
from lab import train as T
from lab.errors import choice, number
from lab.safe_expr import parse_json
from ui.cache import cached, heavy
from ui.common import Link, Shared, download_dir, error_box, first_view, guarded, run
from ui.i18n import i18n, t
from ui.widgets import code_panel, pitfall_slots, pitfall_view

TAB = "train"  # the tab's id: ?tab=train, and its key in shared.models
UPDATE_EVERY_S = 0.5  # how often the live curves are sent to the page
NO_SCHEDULE = T.NO_SCHEDULE
DATA_SAMPLES, DATA_UPLOAD = "samples", "upload"
BASE_CHOICES = [4, 8, 16, 32, 64]
CHECKPOINT = "unet_trained.safetensors"  # its config beside it: unet_trained.json (the U-Net tab knows the names)

# session -> stop flag of its pending or running training (set by Stop and by closing the browser tab)
_STOPS: dict[str, threading.Event] = {}
_STOPS_LOCK = threading.Lock()
RUNNING = 0  # trainings in progress in this process (tests watch it fall to 0 when a page closes)
_SAMPLES_ZIP: list[str] = []  # the sample pairs' zip, written once per process (rewritten if pruned)
PITFALL_ID = "train.eval_mode"
# what pitfall_view needs to know of the pitfall's slots (a table, no figure): the callbacks word the pitfall
# without holding the page's components
PITFALL = SimpleNamespace(pitfall_id=PITFALL_ID, table=True, plot=None)


# ----------------------------------------------------------------------------------------------- helpers


def _session(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "anonymous"


def _paths(files: list | None) -> tuple[str, ...]:
    return tuple(str(getattr(f, "name", f)) for f in (files or []))


def _form(source, files, base_channels, depth, loss_name, loss_params, optimizer, lr, sched_name, sched_params,
          steps, batch, time_limit) -> dict[str, Any]:  # fmt: skip
    """The tab's fields as `lab.train.form_training` takes them."""
    return {"data": source, "files": _paths(files), "base_channels": base_channels, "depth": depth,
            "loss": loss_name, "loss_params": loss_params, "optimizer": optimizer, "lr": lr,
            "scheduler": sched_name, "scheduler_params": sched_params, "steps": steps, "batch_size": batch,
            "time_limit_s": time_limit}  # fmt: skip


def _curve_words() -> T.CurveWords:
    return T.CurveWords(*(t(f"train.fig.{k}") for k in ("loss_title", "lr_title", "dice_title", "step", "loss", "lr",
                                                         "planned", "dice")))  # fmt: skip


def _plan_words() -> T.PlanWords:
    # no title: the plot's label says what it is
    return T.PlanWords("", t("train.fig.step"), t("train.fig.lr"), t("train.fig.lr"))


def _params_text(params: dict) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if v is not None)
    return f" · `{shown}`" if shown else ""


def _chosen(config: dict) -> str:
    """The loss and the schedule of a run, worded: what was chosen in their tabs (or here), with its parameters."""
    loss = config["loss"]
    line = t("train.chosen.loss", label=L.LABELS.get(loss["name"], loss["name"]), params=_params_text(loss["params"]))
    sched = config["scheduler"]
    if sched is None:
        return f"{line}  \n{t('train.chosen.constant', lr=config['optimizer']['lr'])}"
    when = t("train.when.batch") if config.get("per_batch") else t("train.when.epoch", spe=config.get("spe", "?"))
    call = S.describe(sched["name"], {k: v for k, v in sched["params"].items() if v is not None})
    return f"{line}  \n{t('train.chosen.schedule', schedule=call, when=when)}"


def _ddp_file(script: str) -> str:
    path = download_dir(TAB) / T.DDP_SCRIPT
    path.write_text(script, encoding="utf-8")
    return str(path)


def _samples_zip() -> str:
    if not _SAMPLES_ZIP or not Path(_SAMPLES_ZIP[0]).exists():
        _SAMPLES_ZIP[:] = [str(T.samples_zip(download_dir(TAB)))]
    return _SAMPLES_ZIP[0]


# ----------------------------------------------------------------------------------------------- the view before a run


# The plan of a run on the samples depends only on its settings and the page's words: once per server.
_planned = cached(T.plan)


def _plan(settings: tuple, curves: bool = False) -> tuple[T.Plan, list]:
    form = _form(*settings)
    planned = heavy(T.plan) if form["files"] else _planned  # an upload's plan stays this session's
    plan = planned(words=_plan_words(), curve_words=_curve_words() if curves else None, **form)
    config = dict(plan.config, spe=_steps_per_epoch(plan))
    return plan, [plan.figure, plan.code, _ddp_file(plan.ddp_script), _chosen(config)]


def preview(source, files, base_channels, depth, loss_name, loss_params, optimizer, lr, sched_name, sched_params,
            steps, batch, time_limit):  # fmt: skip
    """The run the settings describe, before any step: its lr curve, its code, its torchrun script, its loss and
    schedule worded (one call to lab.train.plan)."""
    return _plan((source, files, base_channels, depth, loss_name, loss_params, optimizer, lr, sched_name, sched_params,
                  steps, batch, time_limit))[1]  # fmt: skip


def _steps_per_epoch(plan: T.Plan) -> int:
    return math.ceil(plan.n_train / plan.config["batch_size"])


def open_view(*settings):
    """The tab's first view: the default run's code and lr preview (no training), its curves before step 1 (empty,
    the planned lr dotted), and the sample pairs' zip."""
    plan, outputs = _plan(settings, curves=True)
    return [*outputs, _samples_zip(), plan.curves]


def scheduler_defaults(name: str) -> str:
    """Torch's defaults (and an example for required parameters) when a scheduler is picked."""
    if not name or name == NO_SCHEDULE:
        return "{}"
    return json.dumps(S.default_params(name))


def show_upload(source: str):
    return gr.update(visible=source == DATA_UPLOAD)


def from_loss_tab(loss: Any) -> tuple[Any, Any]:
    """The Losses tab's choice: a `lab.losses.LossSpec` (or the older {"name", "params"} dict); None: keep ours."""
    if loss is None:
        return gr.skip(), gr.skip()
    if isinstance(loss, dict):
        name, params = loss.get("name") or "dice_bce", loss.get("params") or {}
    else:
        name, params = loss.name, loss.kwargs()
    return gr.update(value=L.canonical(name)), json.dumps(params)


def from_schedule_tab(schedule: Any) -> tuple[Any, Any]:
    """The LR schedules tab's choice: a `lab.schedules.ScheduleSpec` (or the older dict); None: keep ours."""
    if schedule is None:
        return gr.skip(), gr.skip()
    if isinstance(schedule, dict):
        name, params = schedule.get("name") or NO_SCHEDULE, schedule.get("params") or {}
    else:
        name, params = schedule.name, schedule.kwargs()
    return gr.update(value=name), json.dumps({k: v for k, v in params.items() if v is not None})


# ----------------------------------------------------------------------------------------------- the run


def arm(request: gr.Request):
    """Runs first on Start (outside the queue): a stop flag for this session's next run, so Stop also reaches a run
    still queued. A flag already waiting (the run got there first) is kept; a used one is replaced."""
    with _STOPS_LOCK:
        flag = _STOPS.get(_session(request))
        if flag is None or flag.is_set():
            _STOPS[_session(request)] = threading.Event()


def stop(request: gr.Request) -> str:
    """Ask this session's training to end after its current step (or before it starts, when queued)."""
    with _STOPS_LOCK:
        flag = _STOPS.get(_session(request))
    if flag is None:
        return t("train.stop.none")
    flag.set()
    return t("train.stop.asked")


def _status(training: T.Training, row: dict) -> str:
    n_val = len(training.val_index)
    scored = [r for r in training.rows if r.get("val_images")]
    if scored:
        last = scored[-1]
        dice = (t("train.status.dice", dice=last["val_dice"]) if last["val_images"] == n_val
                else t("train.status.dice_part", dice=last["val_dice"], scored=last["val_images"], total=n_val))
    elif not math.isnan(training.start_dice):
        dice = t("train.status.dice_start", dice=training.start_dice)
    else:
        dice = ""
    return t("train.status.step", step=row["step"], total=training.steps, loss=row["loss"], lr=row["lr"], dice=dice,
             elapsed=row["elapsed_s"], device=training.device.type, precision=training.config["precision"])


def _final_status(report: T.RunReport, n_val: int, why: str) -> str:
    if report.scored == n_val and len(report.table) == n_val:
        dice = t("train.final.all", dice=report.dice, count=n_val)
    elif len(report.table):
        dice = t("train.final.part", dice=float(report.table["dice"].mean()), count=len(report.table), total=n_val)
    elif report.scored:
        dice = t("train.final.last", dice=report.dice)
    else:
        dice = t("train.final.none")
    history = report.result.history
    steps = int(history["step"].iloc[-1]) if len(history) else 0
    elapsed = float(history["elapsed_s"].iloc[-1]) if len(history) else 0.0
    return t("train.status.done", why=t(f"train.why.{why}"), steps=steps, elapsed=elapsed, dice=dice)


def _keep_best(report: T.RunReport, models: dict, best: dict | None) -> tuple[dict, dict, str]:
    """The session's best validated model stays in shared.models["train"]: a worse later run does not replace it.
    Returns (models, best, the sentence saying which model the other tabs use)."""
    best = dict(best or {"runs": 0})
    run_no = best["runs"] = best["runs"] + 1
    dice = report.dice if report.scored else -math.inf
    if "run" not in best or dice >= best["dice"]:
        best.update(run=run_no, dice=dice)
        return {**(models or {}), TAB: report.result.model}, best, t("train.best.this", run=run_no)
    return models or {}, best, t("train.best.kept", best=best["run"], best_dice=best["dice"], run=run_no)


def _table(frame: pd.DataFrame) -> pd.DataFrame:
    headers = {c: t(f"train.col.{c}") for c in T.EVAL_COLUMNS}
    return frame.round(4).rename(columns=headers)


def _pitfall_table(pitfall) -> pd.DataFrame:
    frame = pitfall.table.copy()
    frame["name"] = [t("train.col.mean") if n == "mean" else n for n in frame["name"]]
    return frame.rename(columns={"name": t("train.col.name"), "eval": "model.eval()", "train": "model.train()"})


def _save(result: T.TrainResult) -> list[str]:
    from lab.checkpoints import save_with_config

    folder = download_dir(TAB)  # pruned after 15 min: gradio serves its own cached copy
    return [str(p) for p in save_with_config(result.model, folder / CHECKPOINT, result.model.config())]


def train_run(source, files, base_channels, depth, loss_name, loss_params, optimizer, lr, sched_name, sched_params,
              steps, batch, time_limit, models: dict, best: dict | None, request: gr.Request,
              progress=gr.Progress()):  # noqa: B008 - Gradio reads the default to inject a tracker  # fmt: skip
    """Train and stream: (status, curves, gallery, per-image table, checkpoint files, code, torchrun script,
    shared.models, best, *pitfall)."""
    global RUNNING
    session = _session(request)
    with _STOPS_LOCK:
        flag = _STOPS.setdefault(session, threading.Event())
        RUNNING += 1
    skip = gr.skip()
    try:
        form = _form(source, files, base_channels, depth, loss_name, loss_params, optimizer, lr, sched_name,
                     sched_params, steps, batch, time_limit)  # fmt: skip
        training, names, images, masks = T.form_training(**form)
        words, total, last_sent = _curve_words(), training.steps, 0.0

        def curves():
            return T.history_figure(training.history(), words, steps=total, preview=training.preview,
                                    start_dice=training.start_dice)  # fmt: skip

        status = t("train.status.start", train=len(training.train_index), val=len(training.val_index))
        yield status, curves(), *[skip] * 11
        for row in [] if flag.is_set() else training:  # Stop pressed while queued: no step at all
            if flag.is_set():
                break
            now = time.perf_counter()
            if now - last_sent >= UPDATE_EVERY_S:
                last_sent = now
                done = row["step"] / total
                if training.time_limit_s:
                    done = max(done, row["elapsed_s"] / training.time_limit_s)
                progress(min(done, 1.0), desc=t("train.progress.step", step=row["step"], total=total))
                yield _status(training, row), curves(), *[skip] * 11
        stopped = flag.is_set() and training.stop_reason == "steps" and len(training.rows) < training.steps
        if stopped:
            training.stop()
        progress(1.0, desc=t("train.progress.segmenting"))
        report = T.finish_run(training, names, images, masks, data=source)
        gallery = [(image, t("train.caption", name=name, dice=dice)) for image, name, dice in report.overlays]
        new_models, new_best, which = _keep_best(report, models, best)
        why = {"steps": "steps", "time limit": "time", "stopped": "stopped"}[report.result.stop_reason]
        figure = T.history_figure(report.result.history, words, steps=total, preview=training.preview,
                                  start_dice=report.result.start_dice)  # fmt: skip
        yield (_final_status(report, len(training.val_index), why) + which, figure, gallery, _table(report.table),
               _save(report.result), report.code, _ddp_file(report.ddp_script), new_models, new_best,
               *pitfall_view(PITFALL, report.pitfall, table=_pitfall_table(report.pitfall)))  # fmt: skip
    finally:
        with _STOPS_LOCK:
            RUNNING -= 1
            if _STOPS.get(session) is flag:
                del _STOPS[session]


@cached
def _shipped_pitfall() -> Any:
    """The pitfall on the shipped small U-Net: the same for every visitor who has not trained, once per server."""
    return T.pitfall_on(None)


def run_pitfall(models: dict | None):
    """The pitfall again: on the session's trained U-Net if there is one, else on the shipped small U-Net."""
    model = (models or {}).get(TAB)
    pitfall = _shipped_pitfall() if model is None else heavy(T.pitfall_on)(model)
    return pitfall_view(PITFALL, pitfall, table=_pitfall_table(pitfall))


def end_session(request: gr.Request) -> None:
    """A closed browser tab: stop its training (Gradio also stops iterating a disconnected client's generator)."""
    with _STOPS_LOCK:
        flag = _STOPS.get(_session(request))
    if flag is not None:
        flag.set()


# ----------------------------------------------------------------------------------------------- links


def _whole(field: str, low: int, high: int):
    return lambda text: number(field, text, low, high, integer=True)


def _json_text(field: str):
    def parse(text: str) -> str:
        value = parse_json(text, field)
        if value is not None and not isinstance(value, dict):
            raise ValueError(text)
        return text

    return parse


def _links(c: dict) -> list[Link]:
    return [
        Link("data", c["source"], lambda text: choice("train.data", text, [DATA_SAMPLES, DATA_UPLOAD])),
        Link("base", c["base"], lambda text: choice("train.base_channels", number("train.base_channels", text,
                                                                                  integer=True), BASE_CHOICES)),
        Link("depth", c["depth"], _whole("train.depth", 1, 5)),
        Link("loss", c["loss"], lambda text: choice("train.loss", text, L.NAMES)),
        Link("loss_params", c["loss_params"], _json_text("loss parameters")),
        Link("optimizer", c["optimizer"], lambda text: choice("train.optimizer", text, T.OPTIMIZERS)),
        Link("lr", c["lr"], lambda text: number("train.lr", text, 0.0, T.MAX_LR, low_open=True)),
        Link("scheduler", c["sched"], lambda text: choice("train.scheduler", text, [NO_SCHEDULE, *S.NAMES])),
        Link("scheduler_params", c["sched_params"], _json_text("scheduler parameters")),
        Link("steps", c["steps"], _whole("train.steps", 1, T.MAX_STEPS)),
        Link("batch", c["batch"], _whole("train.batch_size", 1, T.MAX_BATCH)),
        Link("limit", c["limit"], lambda text: number("train.time_limit_s", text, 0.0, T.MAX_TIME_S, low_open=True)),
    ]


# ----------------------------------------------------------------------------------------------- layout + events


def build(shared: Shared) -> None:
    """Settings on the left (errors beside them, the lr preview under them); Start, Stop and the torchrun script
    above the live curves on the right; results, the pitfall and the code below."""
    tab = gr.context.Context.block  # the gr.Tab app.py opened for this tab
    d = T.DEFAULTS
    gr.Markdown(i18n("train.intro"), elem_id="train-intro")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            error = error_box("train-error")
            with gr.Row():
                sources = [(i18n("train.data.samples"), DATA_SAMPLES), (i18n("train.data.upload"), DATA_UPLOAD)]
                source = gr.Radio(sources, value=DATA_SAMPLES, label=i18n("train.data"), elem_id="train-source")
                samples_zip = gr.DownloadButton(i18n("train.samples_zip"), size="sm", variant="secondary",
                                                elem_id="train-samples-zip")  # fmt: skip
            files = gr.File(label=i18n("train.files"), file_count="multiple", file_types=["image"], visible=False,
                            elem_id="train-files")  # fmt: skip
            with gr.Row():
                base = gr.Dropdown(BASE_CHOICES, value=d["base_channels"], label=i18n("train.base_channels"),
                                   elem_id="train-base")  # fmt: skip
                depth = gr.Slider(1, 5, value=d["depth"], step=1, label=i18n("train.depth"), elem_id="train-depth")
            chosen = gr.Markdown(elem_id="train-chosen")
            with gr.Row():
                loss = gr.Dropdown([(L.LABELS[n], n) for n in L.NAMES], value="dice_bce", label=i18n("train.loss"),
                                   elem_id="train-loss")  # fmt: skip
                loss_params = gr.Textbox("{}", label=i18n("train.loss_params"), info=i18n("train.params.info"),
                                         placeholder='{"smooth": 1.0}', elem_id="train-loss-params")  # fmt: skip
            with gr.Row():
                optimizer = gr.Radio(list(T.OPTIMIZERS), value=d["optimizer"], label=i18n("train.optimizer"),
                                     elem_id="train-opt")  # fmt: skip
                lr = gr.Number(d["lr"], label=i18n("train.lr"), minimum=0, maximum=T.MAX_LR, elem_id="train-lr")
            with gr.Row():
                sched = gr.Dropdown([(i18n("train.scheduler.none"), NO_SCHEDULE), *S.NAMES], value=d["scheduler"][0],
                                    label=i18n("train.scheduler"), elem_id="train-sched")  # fmt: skip
                sched_params = gr.Textbox(json.dumps(d["scheduler"][1]), label=i18n("train.scheduler_params"),
                                          info=i18n("train.params.info"), placeholder='{"step_size": 30}',
                                          elem_id="train-sched-params")  # fmt: skip
            with gr.Row():
                steps = gr.Number(d["steps"], label=i18n("train.steps"), info=i18n("train.steps.info"), precision=0,
                                  min_width=100, elem_id="train-steps")  # fmt: skip
                batch = gr.Number(d["batch_size"], label=i18n("train.batch"), info=i18n("train.batch.info"),
                                  precision=0, min_width=100, elem_id="train-batch")  # fmt: skip
                limit = gr.Number(d["time_limit_s"], label=i18n("train.limit"), info=i18n("train.limit.info"),
                                  min_width=100, elem_id="train-limit")  # fmt: skip
            lr_plot = gr.Plot(label=i18n("train.lr_preview"), elem_id="train-lr-preview")
        with gr.Column(scale=3, min_width=320):
            with gr.Row(equal_height=True, elem_id="train-buttons"):
                start = gr.Button(i18n("train.start"), variant="primary", elem_id="train-start", min_width=90)
                stop_btn = gr.Button(i18n("train.stop"), variant="stop", elem_id="train-stop", min_width=90)
                ddp = gr.DownloadButton(i18n("train.ddp"), variant="secondary", elem_id="train-ddp", min_width=160)
            status = gr.Markdown(i18n("train.status.ready"), elem_id="train-status")
            curves = gr.Plot(label=i18n("train.curves"), elem_id="train-curves")
            gallery = gr.Gallery(label=i18n("train.gallery"), columns=3, height=420, elem_id="train-gallery")
            table = gr.Dataframe(label=i18n("train.table"), interactive=False, elem_id="train-table")
            checkpoint = gr.File(label=i18n("train.checkpoint"), file_count="multiple", interactive=False,
                                 elem_id="train-checkpoint")  # fmt: skip
    with gr.Accordion(i18n("train.pitfall.accordion"), open=False, elem_classes="pitfall",
                      elem_id="train-pitfall"):  # fmt: skip
        with gr.Row():
            gr.Markdown(i18n("train.pitfall.note"))
            again = gr.Button(i18n("pitfall.run"), size="sm", elem_id="train-pitfall-run", min_width=120)
        pitfall_error = error_box("train-pitfall-error")
        slots = pitfall_slots(PITFALL_ID, table=True)
    panel = code_panel(TAB, "6.2", "train.code.title", label=i18n("train.code"), elem_id="train-code", lines=14,
                       max_lines=40)  # fmt: skip
    gr.Markdown(i18n("train.ddp.explain"), elem_id="train-ddp-explain")
    best = gr.State(None)  # {"runs", "run", "dice"}: which run's model shared.models["train"] holds

    # ------------------------------------------------------------------------------------------- events
    settings = [source, files, base, depth, loss, loss_params, optimizer, lr, sched, sched_params, steps, batch, limit]
    plan_outputs = [lr_plot, panel.code, ddp, chosen]
    controls = dict(zip(["source", "files", "base", "depth", "loss", "loss_params", "optimizer", "lr", "sched",
                         "sched_params", "steps", "batch", "limit"], settings, strict=True))  # fmt: skip
    first_view(shared, tab, TAB, open_view, settings, [*plan_outputs, samples_zip, curves], links=_links(controls),
               error=error, api_name="train_open", light=True)  # fmt: skip

    source.change(guarded(show_upload), source, files, api_name="train_source")
    shared.loss.change(guarded(from_loss_tab), shared.loss, [loss, loss_params], api_name="train_from_loss")
    # A scheduler and its parameters change together; the preview runs once both are in place (listening to the
    # dropdown's .change would draw the new scheduler with the old parameters and refuse them).
    shared.schedule.change(guarded(from_schedule_tab), shared.schedule, [sched, sched_params],
                           api_name="train_from_schedule").then(
        guarded(preview), settings, plan_outputs, api_name="train_preview_from_schedule")  # fmt: skip
    sched.input(guarded(scheduler_defaults), sched, sched_params, api_name="train_sched_defaults").then(
        guarded(preview), settings, plan_outputs, api_name="train_preview_new_scheduler")  # fmt: skip
    changes = [c.change for c in (source, files, base, depth, loss, optimizer, lr, steps, batch, limit)]
    run([*changes, loss_params.input, sched_params.input], preview, settings, plan_outputs, api_name="train_preview",
        error=error, trigger_mode="always_last")  # fmt: skip

    outputs = [status, curves, gallery, table, checkpoint, panel.code, ddp, shared.models, best, *slots.components]
    start.click(arm, None, None, queue=False, api_name="train_arm", show_progress="hidden")
    run(start.click, train_run, [*settings, shared.models, best], outputs, api_name="train_start", error=error,
        concurrency_limit=1, concurrency_id="train", show_progress="full", show_progress_on=[status])  # fmt: skip
    stop_btn.click(guarded(stop), None, status, queue=False, api_name="train_stop")
    run(again.click, run_pitfall, shared.models, slots.components, api_name="train_pitfall", error=pitfall_error,
        light=True)  # fmt: skip
    panel.wire(TAB, "train_notebook")
    shared.demo.unload(end_session)
