"""The Losses tab's views, one call each: plain hashable arguments in (the figures' words as `text` pairs), data out.

- `curves_view`: each loss and its gradient on one pixel as the prediction sweeps 0 -> 1;
- `mask_view`: every loss on a sample's prediction beside the tutorial's classes, the per-pixel maps, Dice/IoU;
- `tab_view`: the tab's first view, both of those and the code panel;
- `choose`: the loss the visitor picked, as the `LossSpec` the Train tab uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import torch.nn.functional as F

from lab.losses.code import Panel, panel
from lab.losses.core import LossSpec, pixel_losses, validate_params
from lab.losses.demo import as_logits, compare, curves, prediction
from lab.losses.figures import Text, curves_figure, maps_figure, pool_side, values_figure

__all__ = ["CurvesView", "MaskView", "TabView", "curves_view", "mask_view", "tab_view", "choose"]


@dataclass(frozen=True)
class CurvesView:
    frame: pd.DataFrame  # loss, target, p, logit, value, grad
    figure: go.Figure


@dataclass(frozen=True)
class MaskView:
    table: pd.DataFrame  # loss (canonical name), value, tutorial (NaN where the tutorial has no class)
    bars: go.Figure
    maps: go.Figure
    dice: float  # of the prediction thresholded at 0.5, against the true mask
    iou: float
    height: int
    width: int


@dataclass(frozen=True)
class TabView:
    curves: CurvesView
    mask: MaskView
    panel: Panel


def curves_view(names: tuple[str, ...] | list[str], smooth: float = 1.0, alpha: float | None = 0.25,
                gamma: float = 2.0, *, text: Text | None = None) -> CurvesView:  # fmt: skip
    """Loss and gradient curves of the losses `names` with the tab's parameters."""
    params = validate_params(smooth=smooth, alpha=alpha, gamma=gamma)
    frame = curves(list(names) if isinstance(names, (list, tuple)) else names, **params)
    return CurvesView(frame, curves_figure(frame, text))


def mask_view(sample: str, source: str, amount: float, smooth: float = 1.0, alpha: float | None = 0.25,
              gamma: float = 2.0, *, text: Text | None = None) -> MaskView:  # fmt: skip
    """Every loss on the prediction of `sample` (`source` and `amount` as in `demo.prediction`)."""
    from lab.segment import dice, iou, overlay

    params = validate_params(smooth=smooth, alpha=alpha, gamma=gamma)
    s, probs, targets = prediction(sample, source, amount)
    logits = as_logits(probs)
    table = compare(logits, targets, **params)
    per_pixel = pixel_losses(logits, targets, alpha=params["alpha"], gamma=params["gamma"])
    h, w = probs.shape[-2:]
    k = pool_side(h, w)
    pooled = {name: F.avg_pool2d(m.detach().float(), k)[0, 0].cpu().numpy()
              for name, m in (("p", probs), ("bce", per_pixel["bce"]), ("focal", per_pixel["focal"]))}  # fmt: skip
    maps = maps_figure(overlay(s.image, s.mask), pooled, k, text)
    pred = (probs[0, 0] > 0.5).cpu().numpy()
    return MaskView(table, values_figure(table, text), maps, dice(pred, s.mask), iou(pred, s.mask), int(h), int(w))


def tab_view(names: tuple[str, ...] | list[str], chosen: str, smooth: float, alpha: float | None, gamma: float,
             sample: str, source: str, amount: float, *, text: Text | None = None) -> TabView:  # fmt: skip
    """The tab's first view: the curves of `names`, every loss on the sample's prediction, the chosen loss's code."""
    return TabView(
        curves_view(names, smooth, alpha, gamma, text=text),
        mask_view(sample, source, amount, smooth, alpha, gamma, text=text),
        panel(chosen, sample, source, amount, smooth, alpha, gamma),
    )


def choose(chosen: str, smooth: float = 1.0, alpha: float | None = 0.25, gamma: float = 2.0) -> LossSpec:
    """The loss the Train tab will use: `chosen` with the parameters it takes among the tab's (all of them checked,
    so a bad alpha is refused even with Dice chosen, as the tab's other views refuse it)."""
    return LossSpec.of(chosen, **validate_params(smooth=smooth, alpha=alpha, gamma=gamma))
