"""The U drawn from a block table: encoder down the left, decoder up the right, the skips across.

Each level is a row, and the boxes are drawn in data coordinates, so they shrink with the plot and never cover
each other, from a phone's 390 px to a wide screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["u_figure"]

# The figure's few words, passed in by the tab in the visitor's language; these defaults are code, not prose.
LABELS = {"skip": "torch.cat", "params": "params", "output": "→"}
HALF_W, HALF_H = 0.42, 0.3  # a box's half width (in columns) and half height (in rows)


SLANT, BOTTOM_GAP, OUTPUT_GAP = 0.5, 0.25, 1.2  # columns: per level down an arm; to the bottom; to outc


def _column(side: str, level: int, depth: int) -> float:
    """A block's x: the arms slant by SLANT per level. Boxes of different levels sit in different rows, so only a
    row's two boxes (and outc beside up{depth}) must keep apart: 2 * (SLANT + BOTTOM_GAP) >= 1 box plus a gap."""
    bottom = SLANT * depth + BOTTOM_GAP
    return {"encoder": SLANT * level, "bottom": bottom, "decoder": 2 * bottom - SLANT * level,
            "output": 2 * bottom + OUTPUT_GAP}[side]  # fmt: skip


def u_figure(table: pd.DataFrame, title: str = "", *, labels: Mapping[str, str] | None = None) -> go.Figure:
    """The U drawn from `block_table`: each block a box at (x, -level) with its name, channels and output
    size; hovering shows its kind, output shape, parameters and FLOPs. `labels` words the skip lines ("skip") and
    the hover's "params" and "output"; `title` may break lines with <br>."""
    from lab.figures import color, figure

    words = {**LABELS, **(labels or {})}
    depth = int(table["level"].max())
    fig = figure(title, height=140 + 80 * (depth + 1), legend=False)
    pos = {row.block: (_column(row.side, row.level, depth), -row.level) for row in table.itertuples()}
    colors = {"encoder": color(0), "bottom": color(4), "decoder": color(2), "output": color(3)}
    # shapes, annotations and traces as plain dicts, added in one go: plotly validates each add_* call (~10 ms)
    shapes = [{"type": "rect", "x0": x - HALF_W, "x1": x + HALF_W, "y0": y - HALF_H, "y1": y + HALF_H,
               "fillcolor": colors[side], "opacity": 0.9, "line": {"width": 0}, "layer": "below"}
              for (x, y), side in zip(pos.values(), table["side"], strict=True)]  # fmt: skip
    annotations, traces = [], []
    order = list(table["block"])
    for a, b in zip(order, order[1:], strict=False):  # the data path, in forward order, edge to edge
        (x0, y0), (x1, y1) = pos[a], pos[b]
        if y0 == y1:  # up{depth} -> outc, side by side
            start, end = (x0 + HALF_W, y0), (x1 - HALF_W, y1)
        else:  # down a level on the left, up a level on the right
            sign = 1 if y1 < y0 else -1
            start, end = (x0, y0 - sign * HALF_H), (x1, y1 + sign * HALF_H)
        annotations.append({"x": end[0], "y": end[1], "ax": start[0], "ay": start[1], "xref": "x", "yref": "y",
                            "axref": "x", "ayref": "y", "text": "", "showarrow": True, "arrowhead": 2,
                            "arrowwidth": 1.5, "arrowcolor": "#64748b"})  # fmt: skip
    for row in table[table["side"] == "decoder"].itertuples():  # skips: encoder level -> decoder level
        (x0, y0), (x1, _) = pos["inc" if row.level == 0 else f"down{row.level}"], pos[row.block]
        traces.append({"type": "scatter", "x": [x0 + HALF_W, x1 - HALF_W], "y": [y0, y0], "mode": "lines",
                       "hoverinfo": "text", "hovertext": words["skip"],
                       "line": {"dash": "dot", "color": color(1), "width": 2}})  # fmt: skip
        if row.level == 0:  # named once, on the top skip, where the gap is widest
            annotations.append({"x": (x0 + x1) / 2, "y": y0, "text": words["skip"], "showarrow": False,
                                "yshift": 10, "font": {"size": 11, "color": color(1)}})  # fmt: skip
    hover = (f"%{{customdata[0]}}<br>{words['output']} %{{customdata[1]}}<br>%{{customdata[2]:,}} {words['params']}"
             "<br>%{customdata[3]:.3f} GFLOPs<extra></extra>")  # fmt: skip
    traces.append({
        "type": "scatter",
        "x": [pos[b][0] for b in table["block"]],
        "y": [pos[b][1] for b in table["block"]],
        "mode": "markers+text",
        "marker": {"size": 30, "opacity": 0},  # the hover target; the boxes are the shapes
        "text": [f"<b>{b}</b><br>{c} ch<br>{hw}"
                 for b, c, hw in zip(table["block"], table["out_channels"], table["out_hw"], strict=True)],
        "textfont": {"color": "white", "size": 9},
        "customdata": [list(c) for c in zip(table["kind"], table["output_shape"], table["params"].tolist(),
                                            (table["flops"] / 1e9).tolist(), strict=True)],
        "hovertemplate": hover,
    })  # fmt: skip
    fig.add_traces(traces)
    fig.update_layout(shapes=shapes, annotations=annotations, hovermode="closest",
                      margin={"l": 8, "r": 8, "t": 64 if title else 24, "b": 8})  # fmt: skip
    fig.update_xaxes(visible=False, range=[-0.6, _column("output", 0, depth) + 0.6], fixedrange=True)
    fig.update_yaxes(visible=False, range=[-depth - 0.5, 0.55], fixedrange=True)
    return fig
