"""What the Train tab shows from its settings alone, before any step: one call, plain values in, data out.

`form_training` turns the tab's fields (JSON text for the loss and scheduler parameters) into a checked `Training`;
`plan` adds what the page shows before Start: the lr each step will use (and its figure), the run's code panel and
its torchrun script. A wrong setting is refused here, beside the settings, before the visitor presses Start.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from lab.errors import LabError, Term, choice, number, shown
from lab.pitfall import Pitfall
from lab.safe_expr import parse_json
from lab.segment import overlay
from lab.train.code import to_code
from lab.train.data import pairs_from_files
from lab.train.ddp import to_ddp_script
from lab.train.evaluate import evaluate
from lab.train.figures import CurveWords, history_figure, lr_plan_figure
from lab.train.pitfalls import eval_mode
from lab.train.settings import MAX_TIME_S, NO_SCHEDULE
from lab.train.training import Training, TrainResult

__all__ = ["DATA_SOURCES", "PlanWords", "Plan", "read_form_data", "form_training", "plan", "RunReport", "finish_run",
           "pitfall_on"]

DATA_SOURCES = ("samples", "upload")


@dataclass(frozen=True)
class PlanWords:
    """The lr figure's words, in the page's language."""

    title: str
    step: str
    lr: str
    name: str


@dataclass
class Plan:
    """A run as configured: its config (JSON-ready), the lr of each step and its figure, the code panel, the
    torchrun script, and how many images it trains and validates on."""

    config: dict[str, Any]
    preview: pd.DataFrame
    figure: go.Figure
    code: str
    ddp_script: str
    n_train: int
    n_val: int
    curves: go.Figure | None = None


def _params(text: Any, field: str) -> dict[str, Any]:
    """A JSON parameters field (`field`: "loss_params" or "scheduler_params") as a dict; empty text: no parameters."""
    words = field.replace("_params", " parameters")  # parse_json's own sentences name the field in English
    # bounded (length, nesting, digits) before json.loads: "[" * 20000 is a sentence, not a RecursionError
    value = parse_json(text if text is not None else "", words, example='{"smooth": 1.0}')
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LabError("error.value", field=f"train.{field}", value=shown(value),
                       accepted=Term("accept.train.named_params"))  # fmt: skip
    return value


def read_form_data(data: str, files: Sequence[str] = ()) -> tuple[list[str], list[Any], list[Any]]:
    """(names, images, masks) of the tab's data choice: the shipped samples, or uploaded pairs."""
    choice("train.data", data, DATA_SOURCES)
    if data == "upload":
        if not files:
            raise LabError("error.train.no_files")
        return pairs_from_files(list(files))
    from lab.segment import samples

    found = samples()
    return [s.name for s in found], [s.image for s in found], [s.mask for s in found]


def form_training(
    *, data: str, files: Sequence[str] = (), base_channels: Any, depth: Any, loss: str, loss_params: str,
    optimizer: str, lr: Any, scheduler: str, scheduler_params: str, steps: Any, batch_size: Any, time_limit_s: Any,
) -> tuple[Training, list[str], list[Any], list[Any]]:  # fmt: skip
    """A checked Training from the tab's fields, with the data it trains on: (training, names, images, masks)."""
    # the page always bounds a run's time
    time_limit_s = number("train.time_limit_s", time_limit_s, 0, MAX_TIME_S, low_open=True)
    loss_spec = (loss, _params(loss_params, "loss_params"))
    schedule = None if not scheduler or scheduler == NO_SCHEDULE else (scheduler, _params(scheduler_params,
                                                                                         "scheduler_params"))
    names, images, masks = read_form_data(data, files)
    training = Training(images, masks, loss=loss_spec, lr=lr, scheduler=schedule, steps=steps, batch_size=batch_size,
                        time_limit_s=time_limit_s, optimizer=optimizer, base_channels=base_channels,
                        depth=depth)  # fmt: skip
    return training, names, images, masks


def plan(*, words: PlanWords, curve_words: CurveWords | None = None, **fields: Any) -> Plan:
    """The run the tab's fields describe, before any step (the fields as `form_training` takes them); with
    `curve_words`, also the run's curves before step 1 (empty, the planned lr dotted)."""
    fields["files"] = tuple(fields.get("files") or ())
    training, _, _, _ = form_training(**fields)
    config = training.config
    figure = lr_plan_figure(training.preview, title=words.title, step=words.step, lr=words.lr, name=words.name)
    curves = None if curve_words is None else history_figure(training.history(), curve_words, steps=training.steps,
                                                             preview=training.preview)  # fmt: skip
    return Plan(config=config, preview=training.preview, figure=figure, code=to_code(config, data=fields["data"]),
                ddp_script=to_ddp_script(config), n_train=len(training.train_index), n_val=len(training.val_index),
                curves=curves)  # fmt: skip


@dataclass
class RunReport:
    """What the tab shows after a run: the result, the held-out images segmented (overlays, a table), the final
    validation Dice and on how many images, the pitfall run on the trained model, the code and torchrun script."""

    result: TrainResult
    table: pd.DataFrame
    overlays: list[Any]  # (overlay image, name, dice) per scored image
    dice: float  # the final validation Dice: of the table when it covers every held-out image, else the last score
    scored: int  # how many held-out images `dice` covers (0: no score)
    pitfall: Pitfall
    code: str
    ddp_script: str


def finish_run(training: Training, names: Sequence[str], images: Sequence[Any], masks: Sequence[Any], *,
               data: str) -> RunReport:  # fmt: skip
    """After the loop (all steps, the time limit, or Stop): score the last row if needed, then segment the held-out
    images and run the pitfall within the run's final deadline (so a large held-out set cannot stretch the limit)."""
    training.finish()
    result = training.result()
    until, pace = training.final_deadline, training.val_pace
    val = result.val_index
    table = evaluate(result.model, [images[i] for i in val], [masks[i] for i in val], [names[i] for i in val],
                     until=until, pace=pace)  # fmt: skip
    scored = val[: len(table)]
    overlays = [(overlay(images[i], m), names[i], d)
                for i, m, d in zip(scored, table.attrs["masks"], table["dice"], strict=True)]  # fmt: skip
    if len(table) == len(val):
        dice, count = float(table["dice"].mean()), len(table)
    else:  # the last validation of the whole held-out set during training
        whole = [r for r in training.rows if r.get("val_images") == len(val)]
        dice, count = (whole[-1]["val_dice"], len(val)) if whole else (math.nan, 0)
    pitfall = eval_mode(result.model, [images[i] for i in scored], [masks[i] for i in scored],
                        [names[i] for i in scored], until=until, pace=pace)  # fmt: skip
    return RunReport(result=result, table=table, overlays=overlays, dice=dice, scored=count, pitfall=pitfall,
                     code=to_code(result.config, data=data), ddp_script=to_ddp_script(result.config))


def pitfall_on(model: Any = None) -> Pitfall:
    """The pitfall on the sample images the shipped small U-Net never saw: with `model` (a 1-class U-Net, e.g. the
    session's trained one) or, without one, the shipped U-Net itself."""
    from lab.segment import pretrained, pretrained_info, samples

    seen = set(pretrained_info()["train"]["samples"])
    held = [s for s in samples() if s.name not in seen]
    model = pretrained() if model is None or getattr(model, "n_classes", None) != 1 else model
    return eval_mode(model, [s.image for s in held], [s.mask for s in held], [s.name for s in held])
