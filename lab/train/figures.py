"""The Train tab's figures: the live curves of a run and the lr it will follow. Words come from the caller."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from lab.figures import color, figure

__all__ = ["CurveWords", "history_figure", "lr_plan_figure"]


@dataclass(frozen=True)
class CurveWords:
    """The words of the curves, in the page's language: subplot titles, the x axis, each trace's name."""

    loss_title: str
    lr_title: str
    dice_title: str
    step: str
    loss: str
    lr: str
    planned: str
    dice: str


def history_figure(
    history: pd.DataFrame,
    words: CurveWords,
    *,
    steps: int | None = None,
    preview: pd.DataFrame | None = None,
    start_dice: float = math.nan,
) -> go.Figure:
    """Training loss, learning rate and validation Dice against the step, side by side.

    `steps` fixes the x range (so a live curve grows across it); `preview` (from `lr_preview`) is drawn dotted
    under the lr actually used; `start_dice` (the untrained model's score) is the Dice curve's point at step 0.
    Every trace has a `meta` (loss, lr, planned, dice) that does not change with the language (plotly.js keeps it).
    """
    fig = figure("", x="", y="", height=330, legend=False)
    fig.set_subplots(1, 3, subplot_titles=(words.loss_title, words.lr_title, words.dice_title),
                     horizontal_spacing=0.1)  # fmt: skip
    lrs = list(history["lr"])
    if preview is not None and len(preview):
        lrs += list(preview["lr"])
        fig.add_trace(go.Scatter(x=preview["step"].tolist(), y=preview["lr"].tolist(), name=words.planned,
                                 meta="planned", mode="lines", line={"color": "#9ca3af", "dash": "dot", "shape": "hv"}),
                      row=1, col=2)  # fmt: skip
    # plain lists, not numpy arrays: plotly would send those base64-packed, unreadable for a page script
    steps_done = history["step"].tolist()
    fig.add_trace(go.Scatter(x=steps_done, y=history["loss"].tolist(), name=words.loss, meta="loss", mode="lines",
                             line={"color": color(0)}), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=steps_done, y=history["lr"].tolist(), name=words.lr, meta="lr", mode="lines",
                             line={"color": color(1), "shape": "hv"}), row=1, col=2)  # fmt: skip
    scored = history.dropna(subset=["val_dice"])
    x, y = scored["step"].tolist(), scored["val_dice"].tolist()
    if not math.isnan(start_dice):
        x, y = [0, *x], [start_dice, *y]
    fig.add_trace(go.Scatter(x=x, y=y, name=words.dice, meta="dice", mode="lines+markers",
                             line={"color": color(2)}, marker={"size": 5}), row=1, col=3)  # fmt: skip
    fig.update_yaxes(range=[0, 1.02], row=1, col=3)
    if lrs:  # from 0, so a constant lr reads as what it is
        fig.update_yaxes(range=[0, 1.1 * max(lrs)], exponentformat="e", row=1, col=2)
    if steps:
        fig.update_xaxes(range=[0, steps])
    fig.update_xaxes(title_text=words.step)
    fig.update_annotations(font_size=13)  # the subplot titles: short enough for a phone's third of a screen
    fig.update_layout(hovermode="x", margin={"t": 40, "l": 50, "r": 20})
    return fig


def lr_plan_figure(preview: pd.DataFrame, *, title: str, step: str, lr: str, name: str) -> go.Figure:
    """The lr a run will use at each step (from `lr_preview`), drawn as the optimizer sees it: a step function."""
    fig = figure(title, x=step, y=lr, height=260, legend=False)
    fig.add_trace(go.Scatter(x=preview["step"].tolist(), y=preview["lr"].tolist(), name=name, meta="planned",
                             mode="lines", line={"color": color(1), "shape": "hv"}))  # fmt: skip
    top = float(preview["lr"].max()) if len(preview) else 1.0
    fig.update_yaxes(range=[0, 1.1 * top if top > 0 else 1.0], exponentformat="e")
    fig.update_layout(margin={"t": 40, "b": 40})
    return fig
