"""Train a U-Net live (Train tab): 5.2's U-Net, 6.1's losses and 6.2's schedules in one training loop.

The tutorial builds each piece but never puts them together; this module does, the way a loop should run
(NOTES.md 6.2): `optimizer.step()` after every batch, the scheduler stepped after every batch (OneCycleLR,
CyclicLR) or once per epoch (all others) as it expects, ReduceLROnPlateau with a metric, the loss computed
from fp32 logits, validation in `model.eval()` on a held-out split.

Speed on a 2-core CPU (bench/train.py measures each choice):
- the images live on the device as one float tensor each; a batch is `batch_size` random square crops
  (with random flips and quarter turns) cut by tensor slicing: no DataLoader, no worker processes;
- channels_last memory layout and bf16 autocast where `lab.device.supports_bf16` says the device computes
  bf16 natively (AVX512-BF16/AMX CPUs, recent GPUs): about 2x per step on such a CPU;
- a small U (base 16 channels, depth 3: 0.27 M parameters) that learns the samples in seconds.

A run is seeded: the same inputs and seed give the same history on the same machine and thread count.
`Training` advances one step per iteration (the Train tab draws its curves between steps and stops a run by
no longer iterating); `train_unet` runs it to the end.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn as nn

from lab import losses, schedules
from lab.device import pick_device, supports_bf16
from lab.errors import LabError, shown
from lab.figures import color, figure
from lab.safe_expr import check_plain
from lab.segment import dice, iou, load_image, segment, to_tensor
from lab.unet import MAX_BASE_CHANNELS, MAX_DEPTH, UNet

__all__ = [
    "MAX_STEPS",
    "MAX_TIME_S",
    "MAX_BATCH",
    "MAX_IMAGES",
    "MAX_PIXELS",
    "MAX_LR",
    "FINAL_GRACE_S",
    "Pace",
    "OPTIMIZERS",
    "PRECISIONS",
    "HISTORY_COLUMNS",
    "DEFAULTS",
    "TrainResult",
    "Training",
    "train_unet",
    "split_indices",
    "prepare_pairs",
    "steps_per_epoch",
    "lr_preview",
    "history_figure",
    "pairs_from_files",
    "evaluate",
    "to_code",
]

MAX_STEPS = 5_000
MAX_TIME_S = 300.0
MAX_BATCH = 64
MAX_IMAGES = 2_000
MAX_PIXELS = 2**25  # all images together (33 M pixels, 400 MB as fp32 RGB): beyond that a 2-core Space runs out
MAX_LR = 10.0  # the lr field's cap, and the cap on every lr a schedule sets during a run
FINAL_GRACE_S = 5.0  # the last validation (and the tab's scoring of the validation images) may end this much late
OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
HISTORY_COLUMNS = ("step", "epoch", "loss", "lr", "val_dice", "elapsed_s")

# What the Train tab starts from; bench/train.py checks these reach validation Dice >= 0.90 on the samples in 30 s.
DEFAULTS: dict[str, Any] = {
    "base_channels": 16,  # width of the top level; each level down doubles it
    "depth": 3,  # 3 poolings: an 8x8 receptive grid at the bottom is enough for cells of 10-60 pixels
    "crop_size": 128,  # random square crops per batch item: 8 x 128**2 pixels per step
    "optimizer": "adamw",
    "lr": 3e-3,
    "weight_decay": 1e-4,
    # one cycle: warm up to max_lr over 15% of the run, then anneal to ~0; the anneal is what lifts Dice past 0.9
    # (a constant 3e-3 plateaus near 0.90; max_lr 6e-3 overshoots: measured in bench/results/train.md)
    "scheduler": ("OneCycleLR", {"max_lr": 3e-3, "pct_start": 0.15}),
    "steps": 300,
    "batch_size": 8,
    "time_limit_s": 60.0,
}


@dataclass
class TrainResult:
    """The trained model (eval mode, on the lab device) and one history row per step.

    history columns: step (1-based), epoch (1-based), loss (the batch's training loss), lr (in effect during the
    step), val_dice (mean Dice over the validation images, NaN on steps without validation), elapsed_s.
    """

    model: nn.Module
    history: pd.DataFrame
    train_index: list[int] = field(default_factory=list)
    val_index: list[int] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # model config + training settings (JSON-ready)
    stop_reason: str = "steps"  # "steps" or "time limit"


# ----------------------------------------------------------------------------------------------- checks


def _number(field_name: str, value: Any, low: float, high: float, *, integer: bool, low_open: bool = False) -> Any:
    check_plain(value, field_name)  # a 5,000-digit integer is refused before float() or repr() meets it
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    ok = ok and math.isfinite(float(value)) and (not integer or float(value).is_integer())
    ok = ok and (float(value) > low if low_open else float(value) >= low) and float(value) <= high
    if not ok:
        kind = "a whole number" if integer else "a number"
        lo = f"above {low:g}" if low_open else f"from {low:g}"
        raise LabError(f"Field '{field_name}' got {shown(value)}; use {kind} {lo} to {high:g}.")
    return int(value) if integer else float(value)


def _binary_mask(i: int, mask: Any) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3 and m.shape[2] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise LabError(f"Mask {i} has shape {m.shape}; use an HxW array of 0/1 (or 0/255, or booleans).")
    if m.dtype == np.bool_:
        return m
    if not np.issubdtype(m.dtype, np.number):
        raise LabError(f"Mask {i} has dtype {m.dtype}; use booleans or numbers 0 and 1 (or 0 and 255).")
    values = np.unique(m)
    if values.size > 2 or not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        shown = ", ".join(f"{v:g}" for v in values[:5].tolist()) + (", ..." if values.size > 5 else "")
        raise LabError(f"Mask {i} is not binary (values {shown}); use 0 and 1, 0 and 255, or booleans.")
    return m > 0


def prepare_pairs(images: Sequence[Any], masks: Sequence[Any], device: torch.device | None = None):
    """Check image/mask pairs and turn them into tensors on `device`.

    Returns (xs, ys): xs[i] (3, H_i, W_i) float32 in [0, 1] (exactly what `lab.segment.segment` feeds the model),
    ys[i] (1, H_i, W_i) float32 of 0/1. LabError for a count mismatch, different sizes within a pair, a mask that
    is not binary, or too many images or pixels.
    """
    device = pick_device() if device is None else device
    if len(images) != len(masks):
        raise LabError(f"Got {len(images)} images and {len(masks)} masks; give one mask per image.")
    if not 2 <= len(images) <= MAX_IMAGES:
        raise LabError(f"Got {len(images)} image/mask pairs; training takes from 2 to {MAX_IMAGES} pairs.")
    xs, ys, pixels = [], [], 0
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        m = _binary_mask(i, mask)
        img_shape = np.shape(image)
        if tuple(img_shape[:2]) != m.shape:
            raise LabError(
                f"Image {i} is {img_shape[1] if len(img_shape) > 1 else '?'} x {img_shape[0]} pixels but its mask is "
                f"{m.shape[1]} x {m.shape[0]}; an image and its mask must have the same size."
            )
        pixels += m.size
        if pixels > MAX_PIXELS:
            raise LabError(f"The images hold more than {MAX_PIXELS:,} pixels together; use fewer or smaller images.")
        xs.append(to_tensor(image, 3)[0].to(device))
        ys.append(torch.from_numpy(m.astype(np.float32)).to(device)[None])  # a copy: sample arrays are read-only
    return xs, ys


def _n_val(n: int, val_fraction: float) -> int:
    val_fraction = _number("val_fraction", val_fraction, 0.0, 0.9, integer=False, low_open=True)
    return min(n - 1, max(1, round(n * val_fraction)))


def steps_per_epoch(n_images: int, batch_size: int, val_fraction: float = 0.2) -> int:
    """Batches per epoch: as many as it takes to draw each training image once on average."""
    return math.ceil((n_images - _n_val(n_images, val_fraction)) / batch_size)


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded shuffle of range(n) cut into (train, validation); at least one image on each side."""
    n_val = _n_val(n, val_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[n_val:]), sorted(order[:n_val])


def _params_dict(field_name: str, params: Any, example: str) -> dict[str, Any]:
    """Named parameters as a plain dict with text keys (None: none); LabError naming the field otherwise."""
    if params is None:
        return {}
    if not isinstance(params, Mapping) or not all(isinstance(key, str) for key in params):
        raise LabError(f"Field '{field_name}' got {shown(params)}; use an object of named parameters like {example}.")
    return dict(params)


def _loss_module(loss: Any) -> tuple[nn.Module, dict[str, Any]]:
    """`loss` as a name, (name, params), {"name", "params"} or an nn.Module -> (module, JSON description)."""
    if isinstance(loss, nn.Module):
        return loss, {"name": type(loss).__name__, "params": {}}
    check_plain(loss, "loss")  # depth, size and digits bounded before the checks below walk or quote it
    if isinstance(loss, Mapping):
        name, params = loss.get("name"), loss.get("params")
    elif isinstance(loss, (tuple, list)) and len(loss) == 2:
        name, params = loss
    else:
        name, params = loss, None
    if not isinstance(name, str) or not name:
        raise LabError(f"Field 'loss' got {shown(loss)}; use a loss name such as one of {', '.join(losses.NAMES)}.")
    params = _params_dict("loss parameters", params, '{"smooth": 1.0}')
    return losses.get(name, **params), {"name": losses.canonical(name), "params": params}


def _schedule_spec(scheduler: Any) -> tuple[str, dict[str, Any]] | None:
    """`scheduler` as None, a name, (name, params) or {"name", "params"} -> (name, params) or None (constant lr)."""
    if scheduler is None:
        return None
    check_plain(scheduler, "scheduler")
    if isinstance(scheduler, Mapping):
        name, params = scheduler.get("name"), scheduler.get("params")
    elif isinstance(scheduler, (tuple, list)) and len(scheduler) == 2:
        name, params = scheduler
    else:
        name, params = scheduler, None
    if name is None or (isinstance(name, str) and name in ("", "none", "None")):
        return None
    if not isinstance(name, str) or name not in schedules.NAMES:
        raise LabError(f"Field 'scheduler' got {shown(name)}; use none or one of {', '.join(schedules.NAMES)}.")
    return name, _params_dict("scheduler parameters", params, '{"step_size": 30}')


def _is_per_batch(name: str, params: dict[str, Any], total_steps: int) -> bool:
    # built once on a throwaway optimizer: building a scheduler changes its optimizer's lr
    probe = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0, momentum=0.9)
    return schedules.make_scheduler(name, params, probe, total_steps=total_steps).per_batch


def _check_lr_plan(spec: tuple[str, dict[str, Any]], plan: pd.DataFrame) -> None:
    """Refuse a schedule whose lr leaves [0, MAX_LR] at some step of the run (the lr field's cap holds for every
    step, not only the first): named by the scheduler, the step and the lr."""
    lrs = plan["lr"].to_numpy()
    bad = np.flatnonzero(~((lrs >= 0) & (lrs <= MAX_LR)))  # NaN fails both tests
    if bad.size:
        i = int(bad[0])
        step = int(plan["step"].iloc[i])
        raise LabError(
            f"Scheduler {schedules.describe(*spec)} would set the lr to {lrs[i]:.6g} at step {step}; the lr must "
            f"stay from 0 to {MAX_LR:g} at every step (lower the schedule's factors or the lr)."
        )


class Pace:
    """Seconds per unit of work (a training step, a pixel of validation) as measured so far, and whether the next
    piece can end by a deadline: a loop asks `fits` before starting work, so it never starts what cannot finish.

    The estimate is the slowest of the last few measured rates, so a machine that has just become loaded is believed
    at once; `prior` stands in until something is measured.
    """

    def __init__(self, prior: float = 0.0, clock: Callable[[], float] = time.perf_counter, keep: int = 3) -> None:
        self.prior, self.clock = prior, clock
        self.recent: collections.deque[float] = collections.deque(maxlen=keep)

    def estimate(self, units: float = 1.0) -> float:
        return units * (max(self.recent) if self.recent else self.prior)

    def fits(self, until: float | None, units: float = 1.0) -> bool:
        """Whether `units` of work started now end by `until` (a `clock()` time; None: no deadline)."""
        if until is None:
            return True
        now = self.clock()
        return now < until and now + self.estimate(units) <= until

    @contextlib.contextmanager
    def measure(self, units: float = 1.0) -> Iterator[None]:
        """Time the work inside the `with` block as `units` units."""
        start = self.clock()
        yield
        self.recent.append((self.clock() - start) / units)


# ----------------------------------------------------------------------------------------------- the loop


class Training:
    """One seeded training run of a U-Net on image/mask pairs, advanced one optimizer step per iteration.

    `for row in Training(images, masks, ...)` yields each step's history row (a dict with HISTORY_COLUMNS, plus
    `val_images`: how many validation images the row's val_dice scored, None when it was not validated); stop
    iterating to stop the run; `result()` then gives the model and the history so far. Every argument is checked
    in the constructor (LabError naming the field), so a wrong input fails before any training; so is the schedule:
    its lr must stay within [0, MAX_LR] at every step of the run.

    The time limit (issue 12): the clock is read before every step and before every validation image, and a step
    or an image starts only if the pace measured so far (`Pace`: the slowest recent step; seconds per validated
    pixel) says it ends within the limit. Periodic validations score the images that fit (`val_images` says how
    many); the final validation may use FINAL_GRACE_S more seconds, and leaves val_dice NaN if not even one image
    fits (the last score stands). So a run ends within the limit plus one step (a step slower than all before it)
    plus FINAL_GRACE_S. `clock` is `time.perf_counter`; tests may replace it before iterating.
    """

    def __init__(
        self,
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
        self.steps = _number("steps", steps, 1, MAX_STEPS, integer=True)
        self.batch_size = _number("batch_size", batch_size, 1, MAX_BATCH, integer=True)
        self.time_limit_s = (
            None
            if time_limit_s is None
            else _number("time_limit_s", time_limit_s, 0, MAX_TIME_S, integer=False, low_open=True)
        )
        lr = _number("lr", lr, 0.0, MAX_LR, integer=False, low_open=True)
        weight_decay = _number("weight_decay", weight_decay, 0.0, 1.0, integer=False)
        self.seed = _number("seed", seed, 0, 2**31 - 1, integer=True)
        if optimizer not in OPTIMIZERS:
            raise LabError(f"Field 'optimizer' got {optimizer!r}; use one of {', '.join(OPTIMIZERS)}.")
        if precision not in PRECISIONS:
            raise LabError(f"Field 'precision' got {precision!r}; use one of {', '.join(PRECISIONS)}.")
        self.device = pick_device() if device is None else torch.device(device)

        # model: a fresh seeded U-Net unless one is given (then it is trained in place)
        if model is None:
            base_channels = _number("base_channels", base_channels, 2, MAX_BASE_CHANNELS, integer=True)
            depth = _number("depth", depth, 1, MAX_DEPTH, integer=True)
            with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
                torch.manual_seed(self.seed)
                model = UNet(n_channels=3, n_classes=1, bilinear=True, base_channels=base_channels, depth=depth)
        if getattr(model, "n_classes", 1) != 1:
            raise LabError(f"The model has {model.n_classes} output classes; training here needs 1 (foreground logit).")
        self.unit = 2 ** getattr(model, "depth", 0)  # inputs must be at least this big, crops a multiple of it

        # data: tensors on the device, a seeded split, crops no larger than the smallest training image
        self.xs, self.ys = prepare_pairs(images, masks, self.device)
        self.train_index, self.val_index = split_indices(len(self.xs), val_fraction, self.seed)
        smallest = min(min(self.xs[i].shape[-2:]) for i in range(len(self.xs)))
        if smallest < self.unit:
            raise LabError(f"The smallest image is {smallest} pixels a side; this U-Net needs at least {self.unit}.")
        crop_size = _number("crop_size", crop_size, self.unit, 1024, integer=True)
        train_smallest = min(min(self.xs[i].shape[-2:]) for i in self.train_index)
        self.crop = min(crop_size, train_smallest) // self.unit * self.unit
        if self.batch_size == 1 and self.crop == self.unit:  # BatchNorm at the 1 x 1 bottom would see one value
            raise LabError(
                f"With batch_size 1 and {self.crop} px crops the bottom of this U-Net is 1 x 1 pixel, and BatchNorm "
                f"needs more than one value per channel to train; use batch_size 2 or more, or crops (and training "
                f"images) of at least {2 * self.unit} px."
            )

        self.loss_fn, loss_desc = _loss_module(loss)
        self.loss_fn = self.loss_fn.to(self.device)
        self.steps_per_epoch = steps_per_epoch(len(self.xs), self.batch_size, val_fraction)
        self.val_every = (
            max(5, min(50, self.steps // 25)) if val_every is None
            else _number("val_every", val_every, 1, MAX_STEPS, integer=True)
        )  # fmt: skip

        self.use_bf16 = precision == "bf16" or (precision == "auto" and supports_bf16(self.device))
        self.channels_last = bool(channels_last)
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.model = model.to(self.device).to(memory_format=self.memory_format).train()
        params = [p for p in self.model.parameters() if p.requires_grad]
        if optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)

        spec = _schedule_spec(scheduler)
        self.scheduler = None
        if spec is not None:
            # the whole run's lr, computed before any step (milliseconds): a schedule that would leave the cap is
            # refused now, not at the step where an lr of 1e300 overflows the optimizer's arithmetic
            _check_lr_plan(spec, lr_preview(spec, steps=self.steps, lr=lr, n_images=len(self.xs),
                                            batch_size=self.batch_size, val_fraction=val_fraction))  # fmt: skip
            name, sched_params = spec
            epochs = math.ceil(self.steps / self.steps_per_epoch)
            per_batch = _is_per_batch(name, sched_params, self.steps)
            self.scheduler = schedules.make_scheduler(
                name,
                sched_params,
                self.optimizer,
                total_steps=self.steps if per_batch else epochs * self.steps_per_epoch,
                steps_per_epoch=1 if per_batch else self.steps_per_epoch,
            )

        self.config = {
            "model": model.config() if hasattr(model, "config") else {},
            "loss": loss_desc,
            "optimizer": {"name": optimizer, "lr": lr, "weight_decay": weight_decay},
            "scheduler": None if spec is None else {"name": spec[0], "params": spec[1]},  # as given: JSON-ready
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
        self.stop_reason = "steps"
        self.clock: Callable[[], float] = time.perf_counter
        self.started: float | None = None
        self.deadline: float | None = None  # clock() time by which steps and periodic validations end
        self.step_pace = Pace(clock=self._now)  # seconds per step
        self.val_pace = Pace(clock=self._now)  # seconds per validated pixel
        self.val_scored = 0  # images the last validation scored

    # ------------------------------------------------------------------------------------------- pieces
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch_size` random crops of training images, each flipped/turned at random: (B, 3, c, c), (B, 1, c, c)."""
        c, g = self.crop, self.generator
        picks = torch.randint(len(self.train_index), (self.batch_size,), generator=g).tolist()
        xs, ys = [], []
        for k in picks:
            x, y = self.xs[self.train_index[k]], self.ys[self.train_index[k]]
            h, w = x.shape[-2:]
            top = int(torch.randint(h - c + 1, (1,), generator=g))
            left = int(torch.randint(w - c + 1, (1,), generator=g))
            turn = int(torch.randint(8, (1,), generator=g))  # the 8 symmetries of a square
            x, y = x[:, top : top + c, left : left + c], y[:, top : top + c, left : left + c]
            if turn & 4:
                x, y = x.flip(-1), y.flip(-1)
            x, y = torch.rot90(x, turn & 3, (-2, -1)), torch.rot90(y, turn & 3, (-2, -1))
            xs.append(x)
            ys.append(y)
        return torch.stack(xs).contiguous(memory_format=self.memory_format), torch.stack(ys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits in fp32 (the loss must never see bf16: sums over 10^5 pixels would round)."""
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.use_bf16):
            logits = self.model(x)
        return logits.float()

    def _now(self) -> float:
        return self.clock()

    @property
    def final_deadline(self) -> float | None:
        """The clock() time by which the final validation (and the tab's scoring of the images) should end."""
        return None if self.deadline is None else self.deadline + FINAL_GRACE_S

    @torch.no_grad()
    def validate(self, until: float | None = None) -> float:
        """Mean Dice (threshold 0.5) over the whole validation images in eval mode (BatchNorm's running stats).

        With `until` (a `clock()` time), images are scored in order while the pace says the next one ends by then:
        the mean is over those (`val_scored` of them), NaN when not even the first fits.
        """
        if not self.val_pace.recent:  # nothing measured yet: a forward pass costs about half a step per pixel
            self.val_pace.prior = self.step_pace.estimate() / (2 * self.batch_size * self.crop**2)
        self.model.eval()
        scores = []
        try:
            for i in self.val_index:
                pixels = self.xs[i].shape[-2] * self.xs[i].shape[-1]
                if not self.val_pace.fits(until, pixels):
                    break
                with self.val_pace.measure(pixels):
                    x = self.xs[i][None].contiguous(memory_format=self.memory_format)
                    pred = self.forward(x)[0] > 0  # logit > 0  <=>  sigmoid > 0.5
                    true = self.ys[i] > 0.5
                    total = int(pred.sum()) + int(true.sum())
                    scores.append(1.0 if total == 0 else 2.0 * int((pred & true).sum()) / total)
        finally:
            self.model.train()
        self.val_scored = len(scores)
        return float(np.mean(scores)) if scores else math.nan

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
        self._validate_row(self.rows[-1], self.final_deadline)
        return True

    def _validate_row(self, row: dict[str, Any], until: float | None) -> None:
        row["val_dice"] = self.validate(until)
        row["val_images"] = self.val_scored
        row["elapsed_s"] = self.clock() - self.started if self.started is not None else 0.0

    def _check_lr(self, step: int, lr: float) -> None:
        # the plan was checked in __init__; this guards what a ReduceLROnPlateau (or a bug) might still do
        if not 0.0 <= lr <= MAX_LR:
            raise LabError(f"The lr at step {step} is {lr:.6g}; it must stay from 0 to {MAX_LR:g} (lower the "
                           "schedule's factors or the lr).")  # fmt: skip

    def _step_scheduler(self, step: int) -> None:
        s = self.scheduler
        if s is None:
            return
        if s.per_batch:
            s.step(self.rows[-1]["loss"])
        elif step % self.steps_per_epoch == 0:  # end of an epoch
            s.step(float(np.mean([r["loss"] for r in self.rows[-self.steps_per_epoch :]])))

    # ------------------------------------------------------------------------------------------- loop
    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.started = self.clock()
        self.deadline = None if self.time_limit_s is None else self.started + self.time_limit_s
        for step in range(len(self.rows) + 1, self.steps + 1):
            if not self.step_pace.fits(self.deadline):  # the clock, before every step
                self.stop_reason = "time limit"
                break
            lr = float(self.optimizer.param_groups[0]["lr"])
            self._check_lr(step, lr)
            with self.step_pace.measure():
                x, y = self.batch()
                loss = self.loss_fn(self.forward(x), y)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise LabError(
                        f"Training diverged at step {step} (loss {value}); lower the learning rate (now {lr:g})."
                    )
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                row = {"step": step, "epoch": (step - 1) // self.steps_per_epoch + 1, "loss": value, "lr": lr,
                       "val_dice": math.nan, "val_images": None}  # fmt: skip
                self.rows.append(row)
                self._step_scheduler(step)
            if step == self.steps:
                self._validate_row(row, self.final_deadline)
            elif step % self.val_every == 0:  # within the limit: the images that fit
                self._validate_row(row, self.deadline)
            row["elapsed_s"] = self.clock() - self.started
            yield row
        if self.stop_reason != "steps" and self.finish():  # stopped early: score the final model too
            yield self.rows[-1]

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
    may differ between pairs). `loss`: a name from lab.losses, (name, params) or a module. `scheduler`: None or
    (name, params) as in lab.schedules.lr_curve. Stops after `steps` or `time_limit_s` seconds, whichever comes
    first. `on_step(step, row)` is called after every step (a row may be re-sent once with its final val_dice).
    `options`: optimizer ("adamw" | "sgd"), weight_decay, base_channels, depth, crop_size, val_every,
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


# ----------------------------------------------------------------------------------------------- around the loop


def lr_preview(
    scheduler: Any, *, steps: int, lr: float, n_images: int, batch_size: int, val_fraction: float = 0.2
) -> pd.DataFrame:
    """The lr each step of a run will use (columns step 1..steps, lr), from lab.schedules.lr_curve stepped the way
    `Training` steps the scheduler. Exact for every scheduler but ReduceLROnPlateau, which reacts to the run's own
    loss (its preview uses lr_curve's built-in plateauing metric)."""
    steps = _number("steps", steps, 1, MAX_STEPS, integer=True)
    lr = _number("lr", lr, 0.0, MAX_LR, integer=False, low_open=True)
    spec = _schedule_spec(scheduler)
    if spec is None:
        return pd.DataFrame({"step": np.arange(1, steps + 1), "lr": np.full(steps, lr)})
    name, params = spec
    if _is_per_batch(name, params, steps):
        df = schedules.lr_curve(name, params, steps=steps, base_lr=lr)
    else:
        spe = steps_per_epoch(n_images, _number("batch_size", batch_size, 1, MAX_BATCH, integer=True), val_fraction)
        df = schedules.lr_curve(name, params, steps=math.ceil(steps / spe) * spe, base_lr=lr, steps_per_epoch=spe)
    return pd.DataFrame({"step": np.arange(1, steps + 1), "lr": df["lr"].to_numpy()[:steps]})


def history_figure(
    history: pd.DataFrame, *, steps: int | None = None, preview: pd.DataFrame | None = None
) -> go.Figure:
    """Training loss, learning rate and validation Dice against the step, side by side.

    `steps` fixes the x range (so a live curve grows across it); `preview` (from `lr_preview`) is drawn dotted
    under the lr actually used.
    """
    fig = figure("", x="", y="", height=330, legend=False)
    titles = ("training loss", "learning rate", "validation Dice")
    fig.set_subplots(1, 3, subplot_titles=titles, horizontal_spacing=0.08)
    lrs = list(history["lr"])
    if preview is not None and len(preview):
        lrs += list(preview["lr"])
        fig.add_trace(go.Scatter(x=preview["step"].tolist(), y=preview["lr"].tolist(), name="lr planned", mode="lines",
                                 line={"color": "#9ca3af", "dash": "dot", "shape": "hv"}), row=1, col=2)  # fmt: skip
    # plain lists, not numpy arrays: plotly would send those base64-packed, unreadable for a page script
    steps_done = history["step"].tolist()
    fig.add_trace(go.Scatter(x=steps_done, y=history["loss"].tolist(), name="loss", mode="lines",
                             line={"color": color(0)}), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=steps_done, y=history["lr"].tolist(), name="lr", mode="lines",
                             line={"color": color(1), "shape": "hv"}), row=1, col=2)  # fmt: skip
    scored = history.dropna(subset=["val_dice"])
    fig.add_trace(go.Scatter(x=scored["step"].tolist(), y=scored["val_dice"].tolist(), name="val Dice",
                             mode="lines+markers", line={"color": color(2)}, marker={"size": 5}),
                  row=1, col=3)  # fmt: skip
    fig.update_yaxes(range=[0, 1.02], row=1, col=3)
    if lrs:  # from 0, so a constant lr reads as what it is
        fig.update_yaxes(range=[0, 1.1 * max(lrs)], exponentformat="e", row=1, col=2)
    if steps:
        fig.update_xaxes(range=[0, steps])
    fig.update_xaxes(title_text="step")
    fig.update_layout(hovermode="x", margin={"t": 40, "l": 50})
    return fig


def pairs_from_files(paths: Sequence[str]) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Uploaded files -> (names, images, masks): `<name>.<ext>` pairs with `<name>_mask.<ext>` (any image format).

    Bounded before and while decoding: more than `MAX_IMAGES` pairs are refused before any is opened, and
    decoding stops once the images pass `MAX_PIXELS` together (`load_image` bounds each file: 10 MB, 2048 px).
    """
    from pathlib import Path

    files = {Path(p).stem: p for p in paths}
    names = sorted(k for k in files if not k.endswith("_mask"))
    lonely = [k for k in files if k.endswith("_mask") and k.removesuffix("_mask") not in files]
    unmatched = [k for k in names if f"{k}_mask" not in files]
    if lonely or unmatched:
        listed = ", ".join(shown(k) for k in (lonely + unmatched)[:4])  # names are the visitor's: shortened
        raise LabError(f"Files without a partner: {listed}; upload each image as <name>.png with <name>_mask.png.")
    if len(names) > MAX_IMAGES:
        raise LabError(f"Got {len(names):,} image/mask pairs; training takes from 2 to {MAX_IMAGES:,} pairs.")
    images, masks, pixels = [], [], 0
    for name in names:
        images.append(load_image(files[name]))
        pixels += images[-1].shape[0] * images[-1].shape[1]
        if pixels > MAX_PIXELS:  # prepare_pairs' limit, checked before the next file is decoded
            raise LabError(f"The images hold more than {MAX_PIXELS:,} pixels together; use fewer or smaller images.")
        m = load_image(files[f"{name}_mask"])
        if m.ndim == 3:  # an RGB(A) mask: its channels must agree
            if not all(np.array_equal(m[..., 0], m[..., c]) for c in range(1, min(3, m.shape[2]))):
                raise LabError(f"Mask {shown(name + '_mask')} is a colour image; use a black-and-white (0/255) mask.")
            m = m[..., 0]
        masks.append(m)
    return names, images, masks


def _same_counts(images: Sequence[Any], masks: Sequence[Any], names: Sequence[str]) -> None:
    if not len(images) == len(masks) == len(names):
        raise LabError(f"Got {len(images)} images, {len(masks)} masks and {len(names)} names; give one of each per "
                       "image.")  # fmt: skip


def _within(images: Sequence[Any], until: float | None, pace: Pace | None, work: float) -> Iterator[int]:
    """Indices of `images` in order while `pace` says the next one (`work` units per pixel) ends by `until`; each
    image's time is measured into `pace` as the caller's loop body runs."""
    pace = Pace() if pace is None else pace
    for i, image in enumerate(images):
        units = work * max(1, int(np.prod(np.shape(image)[:2])))
        if not pace.fits(until, units):
            return
        with pace.measure(units):
            yield i


def evaluate(model: nn.Module, images: Sequence[Any], masks: Sequence[Any], names: Sequence[str], *,
             until: float | None = None, pace: Pace | None = None) -> pd.DataFrame:  # fmt: skip
    """Dice and IoU per image of `model`'s masks (lab.segment.segment, threshold 0.5); `attrs["masks"]` keeps them.

    With `until` (a `pace.clock()` time; `pace` in seconds per pixel, e.g. `Training.val_pace`), images are
    segmented in order while the next is expected to end by then: the table covers those only.
    """
    _same_counts(images, masks, names)
    rows, predicted = [], []
    for i in _within(images, until, pace, 1.0):
        pred = segment(model, images[i]).mask
        true = np.asarray(masks[i]) > 0
        predicted.append(pred)
        rows.append({"name": names[i], "dice": dice(pred, true), "iou": iou(pred, true),
                     "true_pixels": int(true.sum()), "predicted_pixels": int(pred.sum())})  # fmt: skip
    df = pd.DataFrame(rows, columns=["name", "dice", "iou", "true_pixels", "predicted_pixels"])
    df.attrs["masks"] = predicted
    return df


def eval_vs_train_mode(
    model: nn.Module, images: Sequence[Any], masks: Sequence[Any], names: Sequence[str], *,
    until: float | None = None, pace: Pace | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The pitfall of validating without `model.eval()`: Dice per image in eval mode and in train mode.

    Train mode runs on a copy (its BatchNorm would otherwise overwrite the model's running statistics), each image
    alone as a batch of one, so BatchNorm normalises it with its own statistics. `until` and `pace` as in
    `evaluate` (two passes per image count as two pixels' work per pixel).
    """
    import copy

    _same_counts(images, masks, names)
    device = next(model.parameters()).device
    depth = getattr(model, "depth", 0)
    careless = copy.deepcopy(model).train()
    rows = []
    with torch.no_grad():
        for i in _within(images, until, pace, 2.0):
            true = np.asarray(masks[i]) > 0
            good = segment(model, images[i]).mask
            x = to_tensor(images[i], getattr(model, "n_channels", 3)).to(device)
            bottom = (x.shape[-2] >> depth) * (x.shape[-1] >> depth)  # values per channel at the U's bottom
            # train-mode BatchNorm of one value per channel is undefined (torch refuses it): no score then
            bad_dice = dice((careless(x)[0, 0] > 0).cpu().numpy(), true) if bottom > 1 else math.nan
            rows.append({"name": names[i], "dice model.eval()": dice(good, true), "dice model.train()": bad_dice})
    df = pd.DataFrame(rows, columns=["name", "dice model.eval()", "dice model.train()"])
    mean = {"name": "mean", **{c: df[c].mean() for c in df.columns[1:]}}
    return pd.DataFrame([*rows, mean], columns=df.columns).round(4)


_CODE = '''\
"""Train a U-Net as the lab's Train tab did: same data, seed and settings give the same history on this machine."""
import collections
import contextlib
import math
import time
from collections.abc import Callable, Iterator

import numpy as np
import torch

from lab.device import pick_device
from lab.losses import get as get_loss
from lab.schedules import make_scheduler
from lab.segment import samples, to_tensor
from lab.unet import UNet

device = pick_device()
seed, steps, batch_size, crop = {seed}, {steps}, {batch_size}, {crop}
time_limit_s = {time_limit_s}
use_bf16, memory_format = {use_bf16}, {memory_format}

# data: images as (3, H, W) floats in [0, 1], masks as (1, H, W) floats of 0/1, all on the device
{data}
xs = [to_tensor(image)[0].to(device) for image in images]
ys = [torch.from_numpy((np.asarray(m) > 0).astype(np.float32))[None].to(device) for m in masks]
order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed)).tolist()
val_idx, train_idx = sorted(order[:{n_val}]), sorted(order[{n_val}:])  # {n_val} held out
steps_per_epoch = math.ceil(len(train_idx) / batch_size)

torch.manual_seed(seed)  # the model's initial weights
model = UNet({model_config})
model = model.to(device).to(memory_format=memory_format).train()
loss_fn = get_loss({loss_args}).to(device)
optimizer = {optimizer}
{scheduler}
g = torch.Generator().manual_seed(seed)  # crops, flips and turns


def batch():
    """batch_size random crop x crop squares of the training images, each flipped/turned at random."""
    picks = torch.randint(len(train_idx), (batch_size,), generator=g).tolist()
    bx, by = [], []
    for k in picks:
        x, y = xs[train_idx[k]], ys[train_idx[k]]
        h, w = x.shape[-2:]
        top = int(torch.randint(h - crop + 1, (1,), generator=g))
        left = int(torch.randint(w - crop + 1, (1,), generator=g))
        turn = int(torch.randint(8, (1,), generator=g))
        x, y = x[:, top : top + crop, left : left + crop], y[:, top : top + crop, left : left + crop]
        if turn & 4:
            x, y = x.flip(-1), y.flip(-1)
        bx.append(torch.rot90(x, turn & 3, (-2, -1)))
        by.append(torch.rot90(y, turn & 3, (-2, -1)))
    return torch.stack(bx).contiguous(memory_format=memory_format), torch.stack(by)


def forward(x):
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        logits = model(x)
    return logits.float()  # the loss sees fp32 logits


{pace}


# the time limit: a step (or a validation image) starts only if the pace measured so far says it ends in time
step_pace, val_pace = Pace(), Pace()  # seconds per step, seconds per validated pixel


@torch.no_grad()
def validate(until=None):
    """Mean Dice over the validation images; with `until`, over those that fit before it (NaN if none does)."""
    if not val_pace.recent:  # nothing measured yet: a forward pass costs about half a step per pixel
        val_pace.prior = step_pace.estimate() / (2 * batch_size * crop**2)
    model.eval()  # BatchNorm: running statistics
    scores = []
    for i in val_idx:
        pixels = xs[i].shape[-2] * xs[i].shape[-1]
        if not val_pace.fits(until, pixels):
            break
        with val_pace.measure(pixels):
            pred = forward(xs[i][None].contiguous(memory_format=memory_format))[0] > 0
            true = ys[i] > 0.5
            total = int(pred.sum()) + int(true.sum())
            scores.append(1.0 if total == 0 else 2.0 * int((pred & true).sum()) / total)
    model.train()
    return float(np.mean(scores)) if scores else float("nan")


history, recent = [], []
start = time.perf_counter()
deadline = None if time_limit_s is None else start + time_limit_s
final_until = None if deadline is None else deadline + {grace}  # the last validation may end a little later
for step in range(1, steps + 1):
    if not step_pace.fits(deadline):
        break
    lr = optimizer.param_groups[0]["lr"]
    with step_pace.measure():
        x, y = batch()
        loss = loss_fn(forward(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()  # once per batch
        recent.append(loss.item())
{step_scheduler}
    if step == steps:
        val_dice = validate(final_until)
    else:
        val_dice = validate(deadline) if step % {val_every} == 0 else float("nan")
    history.append((step, loss.item(), lr, val_dice))
    if val_dice == val_dice:
        print(f"step {{step}}: loss {{loss.item():.4f}}  lr {{lr:.3g}}  val Dice {{val_dice:.3f}}")
if history and history[-1][0] < steps and history[-1][3] != history[-1][3]:  # stopped by the time limit,
    history[-1] = (*history[-1][:3], validate(final_until))  # the final model not scored yet: score it too
model = model.to(memory_format=torch.contiguous_format).eval()
'''


def _kwargs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def to_code(config: Mapping[str, Any], *, data: str = "samples") -> str:
    """Runnable code for a run described by `TrainResult.config`: the same loop written out, printing the same
    history. `data="samples"` trains on lab.segment.samples(); "upload" leaves `images, masks` to fill in."""
    if data == "samples":
        data_code = "images, masks = zip(*[(s.image, s.mask) for s in samples()])"
    else:
        data_code = (
            "from lab.train import pairs_from_files\n"
            "names, images, masks = pairs_from_files([...])  # your <name>.png and <name>_mask.png files"
        )
    opt = config["optimizer"]
    if opt["name"] == "adamw":
        optimizer = f"torch.optim.AdamW(model.parameters(), lr={opt['lr']!r}, weight_decay={opt['weight_decay']!r})"
    else:
        optimizer = (f"torch.optim.SGD(model.parameters(), lr={opt['lr']!r}, momentum=0.9, "
                     f"weight_decay={opt['weight_decay']!r})")  # fmt: skip
    sched = config.get("scheduler")
    if sched is None:
        scheduler, step_scheduler = "scheduler = None  # constant lr", ""
    else:
        probe_batch = _is_per_batch(sched["name"], sched["params"], config["steps"])
        if probe_batch:
            scheduler = (f"scheduler = make_scheduler({sched['name']!r}, {sched['params']!r}, optimizer, "
                         "total_steps=steps)  # steps after every batch")  # fmt: skip
            step_scheduler = "        scheduler.step(recent[-1])  # per batch (only ReduceLROnPlateau reads the metric)"
        else:
            scheduler = (
                f"scheduler = make_scheduler({sched['name']!r}, {sched['params']!r}, optimizer,\n"
                "    total_steps=math.ceil(steps / steps_per_epoch) * steps_per_epoch,\n"
                "    steps_per_epoch=steps_per_epoch)  # steps once per epoch"
            )
            step_scheduler = (
                "        if step % steps_per_epoch == 0:  # end of an epoch (ReduceLROnPlateau reads its mean loss)\n"
                "            scheduler.step(float(np.mean(recent[-steps_per_epoch:])))"
            )
    return _CODE.format(
        seed=config["seed"], steps=config["steps"], batch_size=config["batch_size"], crop=config["crop_size"],
        time_limit_s=config.get("time_limit_s"), use_bf16=config["precision"] == "bf16",
        memory_format="torch.channels_last" if config.get("channels_last", True) else "torch.contiguous_format",
        data=data_code, n_val=config["n_val"], model_config=_kwargs(config["model"]),
        loss_args=", ".join([repr(config["loss"]["name"]), *filter(None, [_kwargs(config["loss"]["params"])])]),
        optimizer=optimizer, scheduler=scheduler,
        step_scheduler=step_scheduler, val_every=config["val_every"],
        pace=inspect.getsource(Pace).rstrip(), grace=FINAL_GRACE_S,
    )  # fmt: skip
