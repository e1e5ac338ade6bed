"""One seeded run: `Training` checks everything, builds the model, optimizer and scheduler, then runs the loop of
`lab.train.loop` one step per iteration; `train_unet` runs it to the end.

Speed on a 2-core CPU (bench/train.py measures each choice): the images live on the device and a batch is
`batch_size` random crops cut by tensor slicing (no DataLoader, no worker processes); channels_last memory layout
and bf16 autocast where `lab.device.supports_bf16` says the device computes bf16 natively (AVX512-BF16/AMX CPUs,
recent GPUs): about 2x per step on such a CPU; a small U (base 16 channels, depth 3: 0.27 M parameters).

A run is seeded: the same inputs and seed give the same history on the same machine and thread count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from lab import schedules
from lab.device import pick_device, supports_bf16
from lab.errors import LabError, choice, flag, number
from lab.train.data import Split, prepare_pairs, smallest_crop, split_indices
from lab.train.loop import LoopSettings, Pace, make_optimizer, score, train_steps, validate
from lab.train.settings import (
    DEFAULTS,
    FINAL_GRACE_S,
    HISTORY_COLUMNS,
    MAX_BATCH,
    MAX_LR,
    MAX_STEPS,
    MAX_TIME_S,
    OPTIMIZERS,
    PRECISIONS,
    check_lr_plan,
    describe_loss,
    is_per_batch,
    loss_spec,
    lr_preview,
    schedule_spec,
    steps_per_epoch,
)  # fmt: skip
from lab.unet import MAX_BASE_CHANNELS, MAX_DEPTH, UNet

__all__ = ["TrainResult", "Training", "train_unet"]


@dataclass
class TrainResult:
    """The trained model (eval mode, on the lab device) and one history row per step.

    history columns: step (1-based), epoch (1-based), loss (the batch's training loss), lr (in effect during the
    step), val_dice (mean Dice over the validation images, NaN on steps without validation), elapsed_s.
    `start_dice`: the untrained model's validation Dice (step 0), so the curve starts where training started.
    """

    model: nn.Module
    history: pd.DataFrame
    train_index: list[int] = field(default_factory=list)
    val_index: list[int] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # model config + training settings (JSON-ready)
    stop_reason: str = "steps"  # "steps", "time limit" or "stopped"
    start_dice: float = math.nan


class Training:
    """One seeded training run of a U-Net on image/mask pairs, advanced one optimizer step per iteration.

    `for row in Training(images, masks, ...)` yields each step's history row (a dict with HISTORY_COLUMNS, plus
    `val_images`: how many validation images the row's val_dice scored, None when it was not validated); stop
    iterating to stop the run; `result()` then gives the model and the history so far. Every argument is checked
    in the constructor (LabError naming the field), so a wrong input fails before any training; so is the schedule:
    its lr must stay within [0, MAX_LR] at every step of the run.

    Before step 1 the untrained model is validated on the whole held-out set (`start_dice`, within the time limit);
    then every `val_every` steps and after the last. The time limit: see `lab.train.loop`. Periodic validations
    score the images that fit (`val_images` says how many); the final validation may use FINAL_GRACE_S more
    seconds, and leaves val_dice NaN if not even one image fits (the last score stands). `clock` is
    `time.perf_counter`; tests may replace it before iterating.
    """

    def __init__(
        self,
        images: Sequence[Any],
        masks: Sequence[Any],
        *,
        model: nn.Module | None = None,
        loss: Any = "dice_bce",
        loss_params: Mapping[str, Any] | None = None,
        lr: float = 1e-3,
        scheduler: Any = None,
        steps: int = 200,
        batch_size: int = 8,
        val_fraction: float = 0.2,
        seed: int = 0,
        time_limit_s: float | None = None,
        optimizer: str = "adamw",
        weight_decay: float = 1e-4,
        base_channels: int = DEFAULTS["base_channels"],
        depth: int = DEFAULTS["depth"],
        crop_size: int = DEFAULTS["crop_size"],
        val_every: int | None = None,
        precision: str = "auto",
        channels_last: bool = True,
        device: torch.device | str | None = None,
    ) -> None:
        self.steps = number("train.steps", steps, 1, MAX_STEPS, integer=True)
        self.batch_size = number("train.batch_size", batch_size, 1, MAX_BATCH, integer=True)
        self.time_limit_s = None if time_limit_s is None else number("train.time_limit_s", time_limit_s, 0,
                                                                       MAX_TIME_S, low_open=True)  # fmt: skip
        lr = number("train.lr", lr, 0.0, MAX_LR, low_open=True)
        weight_decay = number("train.weight_decay", weight_decay, 0.0, 1.0)
        self.seed = number("train.seed", seed, 0, 2**31 - 1, integer=True)
        val_fraction = number("train.val_fraction", val_fraction, 0.0, 0.9, low_open=True)
        optimizer = choice("train.optimizer", optimizer, OPTIMIZERS)
        precision = choice("train.precision", precision, PRECISIONS)
        self.channels_last = flag("train.channels_last", channels_last)
        self.device = pick_device() if device is None else torch.device(device)

        # model: a fresh seeded U-Net unless one is given (then it is trained in place)
        if model is None:
            base_channels = number("train.base_channels", base_channels, 2, MAX_BASE_CHANNELS, integer=True)
            depth = number("train.depth", depth, 1, MAX_DEPTH, integer=True)
            with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
                torch.manual_seed(self.seed)
                model = UNet(n_channels=3, n_classes=1, bilinear=True, base_channels=base_channels, depth=depth)
        if getattr(model, "n_classes", 1) != 1:
            raise LabError("error.train.classes", classes=model.n_classes)
        self.unit = 2 ** getattr(model, "depth", 0)  # inputs must be at least this big, crops a multiple of it

        # data: tensors on the device, a seeded split, crops no larger than the smallest training image
        self.xs, self.ys = prepare_pairs(images, masks, self.device)
        self.train_index, self.val_index = split_indices(len(self.xs), val_fraction, self.seed)
        self.data = Split(self.xs, self.ys, self.train_index, self.val_index)
        smallest = min(min(x.shape[-2:]) for x in self.xs)
        if smallest < self.unit:
            raise LabError("error.train.too_small", smallest=smallest, unit=self.unit)
        crop_size = number("train.crop_size", crop_size, self.unit, 1024, integer=True)
        self.crop = smallest_crop(self.xs, self.train_index, crop_size, self.unit)
        if self.batch_size == 1 and self.crop == self.unit:  # BatchNorm at the 1 x 1 bottom would see one value
            raise LabError("error.train.batch_one", crop=self.crop, twice=2 * self.unit)

        self.loss = loss_spec(loss, loss_params)
        self.loss_fn = (self.loss if isinstance(self.loss, nn.Module) else self.loss.build()).to(self.device)
        self.steps_per_epoch = steps_per_epoch(len(self.xs), self.batch_size, val_fraction)
        self.val_every = (
            max(5, min(50, self.steps // 25)) if val_every is None
            else number("train.val_every", val_every, 1, MAX_STEPS, integer=True)
        )  # fmt: skip

        self.use_bf16 = precision == "bf16" or (precision == "auto" and supports_bf16(self.device))
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = model.to(self.device).to(memory_format=self.memory_format).train()
        self.optimizer = make_optimizer(self.model, optimizer, lr, weight_decay)

        self.schedule = schedule_spec(scheduler)
        self.scheduler, per_batch = None, False
        # the whole run's lr, computed before any step (milliseconds): a schedule that would leave the cap is
        # refused now, not at the step where an lr of 1e300 overflows the optimizer's arithmetic
        self.preview = lr_preview(self.schedule, steps=self.steps, lr=lr, n_images=len(self.xs),
                                  batch_size=self.batch_size, val_fraction=val_fraction)  # fmt: skip
        if self.schedule is not None:
            check_lr_plan(self.schedule, self.preview)
            per_batch = is_per_batch(self.schedule, self.steps)
            epochs = math.ceil(self.steps / self.steps_per_epoch)
            self.scheduler = schedules.make_scheduler(
                self.schedule.name, self.schedule.kwargs(), self.optimizer,
                total_steps=self.steps if per_batch else epochs * self.steps_per_epoch,
                steps_per_epoch=1 if per_batch else self.steps_per_epoch,
            ).scheduler  # fmt: skip
        self.loop = LoopSettings(self.steps, self.batch_size, self.crop, self.steps_per_epoch, self.val_every,
                                 per_batch, self.use_bf16, self.memory_format)  # fmt: skip

        self.config = {
            "model": model.config() if hasattr(model, "config") else {},
            "loss": describe_loss(self.loss),
            "optimizer": {"name": optimizer, "lr": lr, "weight_decay": weight_decay},
            "scheduler": None if self.schedule is None else {"name": self.schedule.name,
                                                               "params": self.schedule.kwargs()},  # fmt: skip
            "per_batch": per_batch,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "crop_size": self.crop,
            "val_fraction": float(val_fraction),
            "n_val": len(self.val_index),
            "val_every": self.val_every,
            "seed": self.seed,
            "time_limit_s": self.time_limit_s,
            "precision": "bf16" if self.use_bf16 else "fp32",
            "channels_last": self.channels_last,
            "device": str(self.device),
        }
        self.generator = torch.Generator().manual_seed(self.seed)  # crops and flips (CPU: same on every device)
        self.rows: list[dict[str, Any]] = []
        self.start_dice = math.nan
        self.stop_reason = "steps"
        self.clock: Callable[[], float] = time.perf_counter
        self.started: float | None = None
        self.deadline: float | None = None  # clock() time by which steps and periodic validations end
        self.step_pace = Pace(clock=self._now)  # seconds per step
        self.val_pace = Pace(clock=self._now)  # seconds per validated pixel

    def _now(self) -> float:
        return self.clock()

    @property
    def final_deadline(self) -> float | None:
        """The clock() time by which the final validation (and the tab's scoring of the images) should end."""
        return None if self.deadline is None else self.deadline + FINAL_GRACE_S

    # ------------------------------------------------------------------------------------------- loop
    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.started = self.clock()
        self.deadline = None if self.time_limit_s is None else self.started + self.time_limit_s
        scores = validate(self.model, self.data, self.loop, self.val_pace, self.deadline)  # step 0: the start
        self.start_dice = float(np.mean(scores)) if scores else math.nan
        steps = train_steps(self.model, self.loss_fn, self.optimizer, self.scheduler, self.data, self.loop,
                            self.generator, paces=(self.step_pace, self.val_pace), started=self.started,
                            deadline=self.deadline, final_deadline=self.final_deadline)  # fmt: skip
        while True:
            try:
                row = next(steps)
            except StopIteration as end:
                self.stop_reason = end.value
                return
            if not self.rows or self.rows[-1] is not row:  # the final row comes again once it is scored
                self.rows.append(row)
            yield row

    def stop(self) -> None:
        """The caller stops iterating before the last step: the run is "stopped", and what follows (`finish`, the
        tab's scoring) gets FINAL_GRACE_S from now rather than what was left of the time limit."""
        self.stop_reason = "stopped"
        now = self.clock()
        self.started = now if self.started is None else self.started
        self.deadline = now if self.deadline is None else min(self.deadline, now)

    def finish(self) -> bool:
        """Score the last row if no validation scored it (a run stopped early), within the final deadline;
        whether it tried."""
        if not self.rows or self.rows[-1].get("val_images"):
            return False
        row = self.rows[-1]
        score(row, self.model, self.data, self.loop, (self.step_pace, self.val_pace), self.final_deadline)
        row["elapsed_s"] = self.clock() - self.started if self.started is not None else 0.0
        return True

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(HISTORY_COLUMNS))

    def result(self) -> TrainResult:
        """The model as trained so far (eval mode, contiguous weights so safetensors can save them) and the history."""
        model = self.model.to(memory_format=torch.contiguous_format).eval()
        return TrainResult(
            model=model,
            history=self.history(),
            train_index=list(self.train_index),
            val_index=list(self.val_index),
            config=dict(self.config, stop_reason=self.stop_reason, steps_done=len(self.rows)),
            stop_reason=self.stop_reason,
            start_dice=self.start_dice,
        )


def train_unet(
    images: Sequence[Any],
    masks: Sequence[Any],
    *,
    model: nn.Module | None = None,
    loss: Any = "dice_bce",
    lr: float = 1e-3,
    scheduler: Any = None,
    steps: int = 200,
    batch_size: int = 8,
    val_fraction: float = 0.2,
    seed: int = 0,
    time_limit_s: float | None = None,
    on_step: Callable[[int, dict[str, Any]], Any] | None = None,
    **options: Any,
) -> TrainResult:
    """Train a U-Net (a fresh seeded one unless `model` is given) on image/mask pairs; see `Training`.

    `images`: HxW or HxWx3 arrays (uint8 or float in [0, 1]); `masks`: HxW binary arrays of the same sizes (sizes
    may differ between pairs). `loss`: a `lab.losses.LossSpec`, a name from lab.losses (parameters in the option
    `loss_params`), (name, params) or a module. `scheduler`: None, a `lab.schedules.ScheduleSpec` or (name, params)
    as in lab.schedules.lr_curve. Stops after `steps` or `time_limit_s` seconds, whichever comes first.
    `on_step(step, row)` is called after every step (a row may be re-sent once with its final val_dice).
    `options`: loss_params, optimizer ("adamw" | "sgd"), weight_decay, base_channels, depth, crop_size, val_every,
    precision ("auto" | "fp32" | "bf16"), channels_last, device.
    """
    run = Training(
        images, masks, model=model, loss=loss, lr=lr, scheduler=scheduler, steps=steps, batch_size=batch_size,
        val_fraction=val_fraction, seed=seed, time_limit_s=time_limit_s, **options,
    )  # fmt: skip
    for row in run:
        if on_step is not None:
            on_step(row["step"], row)
    return run.result()
