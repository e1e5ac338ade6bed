"""Everything the Compose tab shows, one call per view: `explore` (the typed network), `style_equivalence`
(the four styles compute one function) and `residual` (5.1.5's repeated blocks with a skip connection)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from lab.compose.code import residual_code, to_code
from lab.compose.core import as_layers, build, check_style, copy_weights, max_abs_diff, named_layers
from lab.compose.cost import meta_check
from lab.compose.layers import STYLE_LABELS, STYLES, LayerSpec
from lab.compose.nets import ResidualMLP
from lab.compose.parse import parse_shape, parse_specs
from lab.device import pick_device
from lab.errors import LabError, number
from lab.inspect import count_params, example_inputs, forward_report, render_shape

__all__ = ["Traced", "Composition", "explore", "style_equivalence", "Residual", "residual", "RESIDUAL_DEFAULTS",
           "MAX_RESIDUAL_DEPTH", "MAX_RESIDUAL_WIDTH"]


def style_equivalence(
    layers: str | Sequence[tuple[str | None, nn.Module]], input_shape: str | Sequence[int], *, seed: int = 1
) -> pd.DataFrame:
    """Build the network in all four styles, each with its own random weights, copy the first style's weights
    into the others, run all four on one input: one row per style with the max abs difference to `sequential`
    before (`diff_own`) and after copying (`diff_copied`: 0.0, the same function)."""
    shape = parse_shape(input_shape)
    if isinstance(layers, str):
        specs = parse_specs(layers)
    else:
        _, _, maybe = as_layers(layers)
        if any(s is None for s in maybe):
            raise LabError("error.compose.not_parsed")
        specs = list(maybe)
    meta_check(specs, shape)  # explore's bounds: shapes, output sizes, FLOPs and work, on the meta device first
    return _equivalence_table(specs, shape, seed)


def _equivalence_table(specs: Sequence[LayerSpec], shape: tuple[int, ...], seed: int) -> pd.DataFrame:
    """`style_equivalence` for specs that passed `meta_check` on this shape."""
    device = pick_device()
    reference = build(named_layers(specs, seed, checked=True), STYLES[0])
    (x,) = example_inputs(reference, [shape], device=device)
    reference.eval()
    with torch.no_grad():  # x.clone() each time: an in-place first layer (ReLU(inplace=True)) would change x
        ref_out = reference(x.clone())
    rows = []
    for i, style in enumerate(STYLES):
        # fresh weights with another seed, so "before" shows the styles really differ until the copy
        model = build(named_layers(specs, seed + i + 1, checked=True), style).eval()
        with torch.no_grad():
            before = max_abs_diff(model(x.clone()), ref_out)
            copy_weights(reference, model)
            out = model(x.clone())
            after = max_abs_diff(out, ref_out)
        rows.append({"style": STYLE_LABELS[style], "class": type(model).__name__,
                     "first_key": next(iter(model.state_dict()), ""), "output_shape": render_shape(out),
                     "diff_own": before, "diff_copied": after})  # fmt: skip
        del model
    return pd.DataFrame(rows)


@dataclass
class Traced:
    """A model and what a tab shows about it: its print, its per-layer table, its counts, one forward's output and
    the code that rebuilds it."""

    model: nn.Module
    printed: str
    table: pd.DataFrame
    total: int
    trainable: int
    output_shape: str
    first_values: list[float]
    code: str


@dataclass
class Composition(Traced):
    """The result of `explore`: the typed network, its cost and the four styles' proof."""

    flops: int  # per forward pass, counted by torch.utils.flop_counter on the meta device
    nonfinite: int  # NaN/inf entries in the output (a Softplus(beta=0), a huge Linear without normalisation)
    equivalence: pd.DataFrame
    work: float = 0.0  # per forward pass, in lab.compose.cost.layer_work's units (bounded by MAX_WORK)


def explore(text: str, style: str, input_shape: str | Sequence[int]) -> Composition:
    """Parse, check on meta, build on `pick_device()`, trace one forward, export code, prove style equivalence."""
    check_style(style)
    specs = parse_specs(text)
    shape = parse_shape(input_shape)
    flops, work = meta_check(specs, shape)
    layers = named_layers(specs, 0, checked=True)  # meta_check ran the constructors and bounds on meta
    model = build(layers, style)
    report = forward_report(model, [shape])
    total, trainable = count_params(model)
    out = report.output
    is_tensor = isinstance(out, torch.Tensor)
    values = out.detach().flatten()[:8].float().cpu().tolist() if is_tensor else []
    nonfinite = int((~torch.isfinite(out)).sum().item()) if is_tensor and out.is_floating_point() else 0
    return Composition(model=model, printed=str(model), table=report.table, total=total, trainable=trainable,
                       output_shape=render_shape(out), first_values=values, flops=flops, nonfinite=nonfinite,
                       code=to_code(layers, style, input_shape=shape), equivalence=_equivalence_table(specs, shape, 1),
                       work=work)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.1.5: repeated blocks and a skip connection, which no chain of layers expresses

MAX_RESIDUAL_DEPTH = 8
MAX_RESIDUAL_WIDTH = 512
MAX_RESIDUAL_IN = 4096
RESIDUAL_DEFAULTS = {"in_features": 784, "width": 64, "depth": 3, "num_classes": 10}
RESIDUAL_SEED = 0
RESIDUAL_BATCH = 2


class Residual(Traced):
    """The result of `residual`: 5.1.5's stack and what the tab shows about it."""


def residual(in_features: int = 784, width: int = 64, depth: int = 3, num_classes: int = 10) -> Residual:
    """Build `ResidualMLP(in_features, width, depth, num_classes)` (seed 0), trace one forward on a (2, in_features)
    input: its print, per-layer table, counts, output and code."""
    in_features = number("compose.in_features", in_features, 1, MAX_RESIDUAL_IN, integer=True)
    width = number("compose.width", width, 1, MAX_RESIDUAL_WIDTH, integer=True)
    depth = number("compose.depth", depth, 1, MAX_RESIDUAL_DEPTH, integer=True)
    num_classes = number("compose.classes", num_classes, 1, 1000, integer=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RESIDUAL_SEED)
        model = ResidualMLP(in_features, width, depth, num_classes)
    model = model.eval()  # stays on the CPU: small, and the code panel's numbers match exactly
    report = forward_report(model, [(RESIDUAL_BATCH, in_features)])
    total, trainable = count_params(model)
    out = report.output
    return Residual(model=model, printed=str(model), table=report.table, total=total, trainable=trainable,
                    output_shape=render_shape(out), first_values=out.detach().flatten()[:8].tolist(),
                    code=residual_code(in_features, width, depth, num_classes, RESIDUAL_BATCH, RESIDUAL_SEED))
