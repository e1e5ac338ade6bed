"""Custom losses for segmentation (tutorial 6.1): Dice, IoU, Dice+BCE and Focal, made right, and the Losses tab.

Every loss here takes *logits* and a mask, like `nn.BCEWithLogitsLoss`, and is an `nn.Module`:

- binary mode (default): logits and targets of the same shape, or logits (N, 1, H, W) with targets (N, H, W);
  targets are 0/1 (bool, int or float); the score is pooled over the whole batch, as the tutorial does.
- multiclass mode (`mode="multiclass"`): logits (N, C, H, W), integer targets (N, H, W) in [0, C); softmax over C,
  one-hot targets, one score per class pooled over the batch, then the mean over the C classes.

Names for `get()` (case-insensitive; spaces, dashes, underscores and a trailing "Loss" are ignored, so
"DiceBCELoss", "dice-bce" and "dice_bce" are the same): see `NAMES`, their parameters in `PARAMS`.

Modules, bottom-up:
- `binary`: the four binary classes written to be read: what the code panel prints and the lab runs;
- `core`: the registry (`NAMES`, `PARAMS`, `LABELS`, `canonical`, `get`), the checks, the classes with `mode=`,
  torch's built-ins on logits, `LossSpec` (the loss the Losses tab hands to the Train tab);
- `tutorial`: 6.1's own code as printed (`TUTORIAL`, the DiceLoss text that does not compile, `my_loss`);
- `demo`: curves on one pixel, degradations of a sample mask, every loss on it (`compare`);
- `figures`, `view`: the tab's figures (words passed in) and its views, one call each;
- `code`: the standalone code panel; `pitfalls`: every 6.1 mistake of docs/tutorial-notes.md, run live beside the fix.
"""

from lab.losses.core import (  # noqa: I001 - core first: the others build on it
    BUILTINS, LABELS, MODES, NAMES, PARAMS, BuiltinLoss, DiceBCELoss, DiceLoss, FocalLoss, IoULoss, LossSpec, Param,
    binary_pair, canonical, get, params_for, pixel_losses, validate_params,
)  # fmt: skip
from lab.losses.tutorial import DICE_AS_PRINTED, TUTORIAL, my_loss, tutorial_code
from lab.losses.demo import (
    DEFAULT_AMOUNT, DEFAULT_CHOSEN, DEFAULT_COMPARE, DEFAULT_SOURCE, DEGRADATIONS, MAX_PIXELS, PROB_EPS, SOURCES,
    as_logits, check_sample, compare, curves, default_sample, degrade, loss_names, prediction, sample_names,
)  # fmt: skip
from lab.losses.figures import TEXT, curves_figure, maps_figure, values_figure
from lab.losses.code import Panel, class_code, panel, to_code
from lab.losses.view import CurvesView, MaskView, TabView, choose, curves_view, mask_view, tab_view
from lab.losses import pitfalls
from lab.losses.pitfalls import PITFALLS, saturation_table

__all__ = [
    "NAMES", "LABELS", "MODES", "PARAMS", "BUILTINS", "Param", "DiceLoss", "IoULoss", "DiceBCELoss", "FocalLoss",
    "BuiltinLoss", "LossSpec", "canonical", "get", "params_for", "validate_params", "pixel_losses", "binary_pair",
    "TUTORIAL", "DICE_AS_PRINTED", "my_loss", "tutorial_code",
    "DEGRADATIONS", "SOURCES", "MAX_PIXELS", "PROB_EPS", "DEFAULT_COMPARE", "DEFAULT_CHOSEN", "DEFAULT_SOURCE",
    "DEFAULT_AMOUNT", "as_logits", "degrade", "curves", "compare", "loss_names", "prediction", "sample_names",
    "default_sample", "check_sample",
    "TEXT", "curves_figure", "values_figure", "maps_figure",
    "Panel", "class_code", "to_code", "panel",
    "CurvesView", "MaskView", "TabView", "curves_view", "mask_view", "tab_view", "choose",
    "pitfalls", "PITFALLS", "saturation_table",
]  # fmt: skip
