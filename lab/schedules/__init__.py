"""Learning-rate schedules (tutorial 6.2): every torch scheduler and the tutorial's `adjust_learning_rate`.

Where things are:
- `params`: the scheduler names, their form fields (`ParamSpec`) and the one validation of plain values;
- `spec`: `ScheduleSpec` (what the LR tab hands the Train tab) and `Curve` (one validated curve of a comparison);
- `core`: building and stepping schedulers (`make_scheduler`, the Train tab's path too) and `lr_curve`, exactly
  torch's numbers; `marks` where something happens;
- `figures`: the lr figure, words passed in (`FigureText`);
- `code`: the standalone code panel (`to_code`);
- `preview`: `preview(...)`, the LR tab's one call per view, and `PRESETS`;
- `pitfalls`: the tutorial's mistakes in 6.2 (its usage example's TabError, its `adjust_learning_rate` with the
  global `args`...), run live (`run_all`).
"""

from lab.schedules.code import to_code
from lab.schedules.core import (
    AdjustLearningRate,
    BuiltScheduler,
    adjust_learning_rate,
    curve_frame,
    lr_curve,
    make_scheduler,
    marks,
    plateau_metric,
)  # fmt: skip
from lab.schedules.figures import MAX_PLOT_POINTS, FigureText, curve_figure
from lab.schedules.params import (
    COMPOSITE,
    CUSTOM,
    MAX_STEPS,
    NAMES,
    PER_BATCH,
    ParamSpec,
    check_params,
    default_params,
    metrics_from_text,
    param_specs,
)  # fmt: skip
from lab.schedules.pitfalls import PITFALLS, run_all
from lab.schedules.preview import (
    MAX_OVERLAYS,
    PRESETS,
    TABLE_ROWS,
    Preview,
    overlays_from_link,
    overlays_to_link,
    preview,
    view,
)  # fmt: skip
from lab.schedules.spec import Curve, ScheduleSpec, describe

__all__ = [
    "NAMES", "CUSTOM", "PER_BATCH", "COMPOSITE", "MAX_STEPS", "ParamSpec", "param_specs", "default_params",
    "check_params", "metrics_from_text", "describe", "ScheduleSpec", "Curve", "adjust_learning_rate",
    "AdjustLearningRate", "BuiltScheduler", "make_scheduler", "plateau_metric", "curve_frame", "lr_curve", "marks",
    "FigureText", "MAX_PLOT_POINTS", "curve_figure", "to_code", "MAX_OVERLAYS", "TABLE_ROWS", "Preview", "preview",
    "view", "overlays_from_link", "overlays_to_link", "PRESETS", "PITFALLS", "run_all",
]  # fmt: skip
