"""The Losses tab's figures (plotly, the lab's style). Their words come in from the tab as `text`.

`text` is a mapping, or hashable pairs `(name, words)`, of the names in `TEXT` (figure titles, axes, legends) and
`name.<loss>` for each loss in NAMES; a name without words shows as itself, so a script may pass none.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from lab.figures import color, figure
from lab.losses.core import NAMES

__all__ = ["TEXT", "Text", "words", "curves_figure", "values_figure", "maps_figure", "share_figure", "pool_side",
           "MAX_MAP_SIDE"]

Text = Mapping[str, str] | Sequence[tuple[str, str]]
TEXT = (
    "curves.title", "curves.target1", "curves.target0", "curves.grad", "curves.x", "curves.y_loss", "curves.y_grad",
    "values.title", "values.y", "values.lab", "values.tutorial",
    "maps.title", "maps.pooled", "maps.image", "maps.prob", "maps.bce", "maps.focal",
    "share.title", "share.x", "share.y", "share.bce", "share.tutorial", "share.focal",
    *(f"name.{name}" for name in NAMES),
)  # fmt: skip
MAX_MAP_SIDE = 128  # heat maps are mean-pooled to at most this many cells a side (keeps the page light)


class _Words(dict):
    def __missing__(self, key: str) -> str:
        return key


def words(text: Text | None) -> dict[str, str]:
    """`text` as a dict whose missing names read as themselves."""
    return _Words(text.items() if isinstance(text, Mapping) else (text or ()))


def curves_figure(df: pd.DataFrame, text: Text | None = None) -> go.Figure:
    """2 x 2 grid: value (top) and gradient (bottom) against p, for target 1 (left) and target 0 (right)."""
    w = words(text)
    fig = figure(w["curves.title"], height=560)
    fig.set_subplots(2, 2, shared_xaxes=True, vertical_spacing=0.1, horizontal_spacing=0.08,
                     subplot_titles=(w["curves.target1"], w["curves.target0"], w["curves.grad"], w["curves.grad"]))
    traces, rows, cols = [], [], []
    for i, (key, part) in enumerate(df.groupby("loss", sort=False)):
        label = w[f"name.{key}"]
        for col, target in ((1, 1), (2, 0)):
            curve = part[part["target"] == target]
            for row, field in ((1, "value"), (2, "grad")):
                traces.append(go.Scatter(
                    x=curve["p"].to_numpy(), y=curve[field].to_numpy(), name=label, legendgroup=key,
                    mode="lines", line={"color": color(i)}, showlegend=(row == 1 and col == 1),
                    hovertemplate=f"{label}: %{{y:.4g}}<extra></extra>",
                ))
                rows.append(row)
                cols.append(col)
    fig.add_traces(traces, rows=rows, cols=cols)  # one call: plotly validates per call, and that is the cost
    fig.update_layout(
        legend={"y": 1.06},
        xaxis3={"title": {"text": w["curves.x"]}},
        xaxis4={"title": {"text": w["curves.x"]}},
        yaxis={"title": {"text": w["curves.y_loss"]}},
        yaxis3={"title": {"text": w["curves.y_grad"]}},
    )
    return fig


def values_figure(df: pd.DataFrame, text: Text | None = None) -> go.Figure:
    """Bars of every loss's value on the prediction (`compare`'s frame), the tutorial's classes beside them."""
    w = words(text)
    labels = [w[f"name.{key}"] for key in df["loss"]]
    fig = figure(w["values.title"], y=w["values.y"], height=340)
    fig.add_trace(go.Bar(x=labels, y=df["value"], name=w["values.lab"], marker_color=color(0),
                         hovertemplate="%{x}: %{y:.5g}<extra></extra>"))  # fmt: skip
    has = df["tutorial"].notna().to_numpy()
    fig.add_trace(go.Bar(x=[label for label, h in zip(labels, has, strict=True) if h], y=df.loc[has, "tutorial"],
                         name=w["values.tutorial"], marker_color=color(1),
                         hovertemplate="%{x}: %{y:.5g}<extra></extra>"))  # fmt: skip
    fig.update_layout(barmode="group", hovermode="closest")
    return fig


def _png_data_uri(image: np.ndarray) -> str:
    """An RGB uint8 HxWx3 array as a PNG data URI: a fraction of the bytes of plotly's nested-list `z`."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def maps_figure(image: np.ndarray, maps: Mapping[str, np.ndarray], pool: int, text: Text | None = None) -> go.Figure:
    """1 x 4: the image with the true mask (RGB uint8 HxWx3 overlay), then the heat maps `maps["p"]` (prediction),
    `maps["bce"]` and `maps["focal"]` (per-pixel losses), each already mean-pooled by `pool` pixels a side."""
    w = words(text)
    k = pool
    title = w["maps.title"] + (" " + w["maps.pooled"].format(k=k) if k > 1 else "")
    fig = figure(title, height=330, legend=False)
    fig.set_subplots(1, 4, horizontal_spacing=0.03,
                     subplot_titles=(w["maps.image"], w["maps.prob"], w["maps.bce"], w["maps.focal"]))
    traces = [go.Image(source=_png_data_uri(image), hovertemplate="x %{x}, y %{y}<extra></extra>")]
    bars = {"p": 0.485, "bce": 0.74, "focal": 0.995}  # colour bars right of panels 2-4
    scales = {"p": "Gray", "bce": "Inferno", "focal": "Inferno"}
    for name in ("p", "bce", "focal"):
        traces.append(go.Heatmap(
            z=maps[name], colorscale=scales[name], x0=k / 2 - 0.5, dx=k, y0=k / 2 - 0.5, dy=k,
            colorbar={"x": bars[name], "len": 0.8, "thickness": 10},
            hovertemplate=f"x %{{x}}, y %{{y}}: {name} %{{z:.4g}}<extra></extra>",
        ))
    fig.add_traces(traces, rows=[1] * 4, cols=[1, 2, 3, 4])  # one call each: plotly validates per call
    axes: dict[str, Any] = {}
    for suffix in ("", "2", "3", "4"):
        axes[f"xaxis{suffix}"] = {"showticklabels": False, "showgrid": False}
        axes[f"yaxis{suffix}"] = {"autorange": "reversed", "scaleanchor": f"x{suffix}", "showticklabels": False,
                                  "showgrid": False}  # fmt: skip
    fig.update_layout(hovermode="closest", **axes)
    return fig


def pool_side(height: int, width: int) -> int:
    """How many pixels a side one heat-map cell averages so that no side exceeds MAX_MAP_SIDE cells."""
    return max(1, math.ceil(max(height, width) / MAX_MAP_SIDE))


def share_figure(p_t: np.ndarray, shares: Mapping[str, np.ndarray], text: Text | None = None) -> go.Figure:
    """Cumulative share of |gradient| against p_t (pixels sorted from wrong to right), one line per loss in `shares`
    ("bce", "tutorial", "focal"): BCE's line wide, the tutorial's dashed over it."""
    w = words(text)
    fig = figure(w["share.title"], y=w["share.y"], x=w["share.x"], height=360)
    for i, (name, share) in enumerate(shares.items()):
        label = w[f"share.{name}"]
        fig.add_trace(go.Scatter(
            x=p_t, y=share, name=label, mode="lines",
            line={"color": color(i), "dash": "dash" if name == "tutorial" else "solid", "width": 4 if i == 0 else 2},
            hovertemplate=f"{label}: %{{y:.3f}}<extra></extra>",
        ))
    fig.update_yaxes(range=[0, 1.02])
    return fig
