"""The surgery's figure: the Softmax head against the logits head, loss and gradient per step (5.3.1).

Titles, axes and series names come in as arguments (`CurveWords`), in the visitor's language; numbers are ours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from lab.figures import color, figure

__all__ = ["CurveWords", "softmax_figure"]


@dataclass(frozen=True)
class CurveWords:
    """The words of the figure (hashable, so a cached pitfall can be keyed by them)."""

    title: str = "CrossEntropyLoss: the logits head against the tutorial's Softmax head"
    step: str = "step"
    loss: str = "loss"
    grad: str = "gradient norm (log)"
    logits: str = "logits head"
    softmax: str = "Softmax head"
    floor: str = "Softmax head's floor"


def softmax_figure(history: pd.DataFrame, floor: float, words: CurveWords = CurveWords()) -> go.Figure:
    """Two panels over the training steps: the loss of both heads with the floor the Softmax head cannot cross,
    and the norm of each head's gradient (log axis). `history` has `step` and `<head> loss|grad` columns."""
    fig = figure(words.title, height=400)
    fig.set_subplots(rows=1, cols=2, horizontal_spacing=0.1)
    for i, (name, label) in enumerate((("logits", words.logits), ("softmax", words.softmax))):
        style = {"color": color(i), "width": 2.5}
        fig.add_trace(go.Scatter(x=history["step"], y=history[f"{name} loss"], name=label, mode="lines", line=style,
                                 legendgroup=name), row=1, col=1)  # fmt: skip
        fig.add_trace(go.Scatter(x=history["step"], y=history[f"{name} grad"], name=label, mode="lines", line=style,
                                 legendgroup=name, showlegend=False), row=1, col=2)  # fmt: skip
    fig.add_hline(y=floor, line={"dash": "dot", "color": color(3)}, row=1, col=1,
                  annotation_text=f"{words.floor} = {floor:.3f}", annotation_position="top right")  # fmt: skip
    fig.update_xaxes(title_text=words.step)
    fig.update_yaxes(title_text=words.loss, rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=words.grad, type="log", row=1, col=2)
    return fig
