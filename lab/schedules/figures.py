"""The lr figure: the current curve drawn wide underneath, the comparison above it, marks where something happens.

Words (title, axes, the metric's legend, the marks' hover text) come in as `FigureText`, written by the tab in the
visitor's language; the defaults are the column names.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lab.figures import color, figure

__all__ = ["FigureText", "PLAIN", "MAX_PLOT_POINTS", "curve_figure"]

MAX_PLOT_POINTS = 4000  # per trace; longer curves are drawn as a min/max envelope (the table/CSV keep every step)


@dataclass(frozen=True)
class FigureText:
    """The words of an lr figure (hashable, so a figure's inputs can be a cache key)."""

    title: str = ""
    step: str = "step"  # x axis per step
    epoch: str = "epoch"  # x axis per epoch
    lr: str = "lr"  # y axis
    metric: str = "metric"  # ReduceLROnPlateau's metric, on the right axis
    loss: str = "loss"  # a pitfall's loss curves
    marks: tuple[tuple[str, str], ...] = ()  # mark kind ("decay", "restart", ...) -> its word on hover

    def mark(self, kind: str) -> str:
        return dict(self.marks).get(kind, kind)


PLAIN = FigureText()  # the column names: what a figure says when no words are given


def _decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_PLOT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Keep each bucket's min and max (in order), so fast oscillations stay visible as an envelope."""
    n = len(x)
    if n <= max_points:
        return x, y
    bucket = math.ceil(n / (max_points // 2))
    usable = n - n % bucket
    yb = y[:usable].reshape(-1, bucket)
    lo, hi = yb.argmin(axis=1), yb.argmax(axis=1)
    base = np.arange(0, usable, bucket)
    first, second = np.minimum(lo, hi) + base, np.maximum(lo, hi) + base
    idx = np.concatenate([np.stack([first, second], axis=1).ravel(), np.arange(usable, n)])
    return x[idx], y[idx]


def curve_figure(curves: Sequence[tuple[str, pd.DataFrame]], *, log_y: bool = False, in_epochs: bool = False,
                 marks: Sequence[tuple[int, str]] = (), title: str | None = None, text: FigureText | None = None,
                 skip: Collection[int] = (), ycol: str = "lr") -> go.Figure:  # fmt: skip
    """Plot lr curves: the first is the current schedule (drawn wide, underneath), the rest the comparison.

    `marks` (steps) become dotted vertical lines; a `metric` column on the first curve goes on a second axis.
    Curves whose index is in `skip` are not drawn (a comparison entry identical to the current curve), and every
    other curve keeps its colour. `ycol` is the column drawn (a pitfall draws its loss the same way).
    """
    text = text or FigureText()
    xcol = "epoch" if in_epochs else "step"
    fig = figure(text.title if title is None else title, x=text.epoch if in_epochs else text.step,
                 y=text.loss if ycol == "loss" else text.lr, height=420)  # fmt: skip
    for i, (label, df) in enumerate(curves):
        if i in skip:
            continue
        x, y = _decimate(df[xcol].to_numpy(), df[ycol].to_numpy())
        width, dash = (5, "solid") if i == 0 else (2, ("solid", "dash", "dot", "dashdot")[(i - 1) % 4])
        fig.add_trace(go.Scatter(x=x, y=y, name=label, mode="lines", opacity=0.55 if i == 0 else 1.0,
                                 line={"color": color(i), "width": width, "dash": dash, "shape": "hv"}))  # fmt: skip
    if curves and "metric" in curves[0][1]:
        df = curves[0][1]
        x, y = _decimate(df[xcol].to_numpy(), df["metric"].to_numpy())
        fig.add_trace(go.Scatter(x=x, y=y, name=text.metric, mode="lines", yaxis="y2",
                                 line={"color": "#6b7280", "width": 1.5, "dash": "dot"}))  # fmt: skip
        fig.update_layout(yaxis2={"title": text.metric, "overlaying": "y", "side": "right", "showgrid": False})
        fig.update_layout(margin={"r": 60})
    per = curves[0][1].attrs.get("steps_per_epoch", 1) if (curves and in_epochs) else 1
    fig.update_layout(shapes=[
        {"type": "line", "xref": "x", "yref": "paper", "x0": s / per, "x1": s / per, "y0": 0, "y1": 1,
         "line": {"color": "#9ca3af", "width": 1, "dash": "dot"}}
        for s, _ in marks
    ])  # fmt: skip
    if marks:  # words on hover through an invisible marker row at the top
        xs = [s / per for s, _ in marks]
        fig.add_trace(go.Scatter(x=xs, y=[1.0] * len(xs), yaxis="y3", mode="markers", name="marks",
                                 marker={"symbol": "triangle-down", "size": 8, "color": "#9ca3af"},
                                 text=[text.mark(kind) for _, kind in marks], hovertemplate="%{text}<extra></extra>",
                                 showlegend=False))  # fmt: skip
        fig.update_layout(yaxis3={"overlaying": "y", "range": [0, 1.04], "visible": False, "fixedrange": True})
    if log_y:
        fig.update_layout(yaxis_type="log")
    return fig
