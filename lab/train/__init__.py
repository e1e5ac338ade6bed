"""Train a U-Net live (Train tab): 5.2's U-Net, 6.1's losses and 6.2's schedules in one training loop.

The tutorial builds each piece but never puts them together; this package does, the way a loop should run
(docs/tutorial-notes.md 6.2): `optimizer.step()` after every batch, the scheduler stepped after every batch (OneCycleLR,
CyclicLR) or once per epoch (all others) as it expects, ReduceLROnPlateau with a metric, the loss computed from
fp32 logits, validation in `model.eval()` on a held-out split, a time limit checked before every step.

Modules: `settings` (bounds, defaults, the loss and schedule specs, the lr plan), `data` (pairs, split, crops),
`loop` (the loop's pieces, printed as they are in the code panel), `training` (`Training`, `train_unet`),
`evaluate` (per-image scores after a run), `figures`, `pitfalls` (validating without `model.eval()`), `code` (the
standalone script of a run), `ddp` (the same run as a torchrun script on many GPUs or machines), `view` (what the
tab shows before a run), `standalone` and `strip` (source without the lab's checks, for
both scripts).
"""

from lab.train.code import to_code
from lab.train.data import (
    SAMPLES_FOLDER,
    Split,
    pair_tensors,
    pairs_from_files,
    prepare_pairs,
    random_batch,
    random_crop,
    read_pairs,
    samples_zip,
    smallest_crop,
    split_indices,
)  # fmt: skip
from lab.train.ddp import DDP_SCRIPT, to_ddp_script
from lab.train.evaluate import EVAL_COLUMNS, evaluate
from lab.train.figures import CurveWords, history_figure, lr_plan_figure
from lab.train.loop import LoopSettings, Pace, dice_score, logits_of, score, step_scheduler, train_steps, validate
from lab.train.pitfalls import eval_mode
from lab.train.settings import (
    DEFAULTS,
    FINAL_GRACE_S,
    HISTORY_COLUMNS,
    MAX_BATCH,
    MAX_IMAGES,
    MAX_LR,
    MAX_PIXELS,
    MAX_STEPS,
    MAX_TIME_S,
    NO_SCHEDULE,
    OPTIMIZERS,
    PRECISIONS,
    loss_spec,
    lr_preview,
    schedule_spec,
    steps_per_epoch,
)  # fmt: skip
from lab.train.training import Training, TrainResult, train_unet
from lab.train.view import Plan, PlanWords, RunReport, finish_run, form_training, pitfall_on, plan

__all__ = [
    "MAX_STEPS", "MAX_TIME_S", "MAX_BATCH", "MAX_IMAGES", "MAX_PIXELS", "MAX_LR", "FINAL_GRACE_S", "Pace",
    "OPTIMIZERS", "PRECISIONS", "HISTORY_COLUMNS", "DEFAULTS", "NO_SCHEDULE", "TrainResult", "Training",
    "train_unet", "split_indices", "prepare_pairs", "pair_tensors", "steps_per_epoch", "lr_preview",
    "history_figure", "lr_plan_figure", "CurveWords", "pairs_from_files", "read_pairs", "samples_zip",
    "SAMPLES_FOLDER", "evaluate", "EVAL_COLUMNS", "to_code", "to_ddp_script", "DDP_SCRIPT", "eval_mode",
    "loss_spec", "schedule_spec", "Split", "LoopSettings", "logits_of", "dice_score", "validate", "score",
    "step_scheduler", "train_steps", "random_crop", "random_batch", "smallest_crop", "Plan", "PlanWords", "plan",
    "RunReport", "finish_run", "form_training", "pitfall_on",
]
