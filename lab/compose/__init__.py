"""Compose (tutorial 5.1): one network written four ways (Sequential, Sequential + OrderedDict, ModuleList,
ModuleDict), and 5.1.5's repeated blocks with a skip connection.

A person types layers, one per line, or pastes the tutorial's listings as printed, and picks a style:

    fc1 = nn.Linear(784, 256)        # a named layer: the name is its key in the OrderedDict/ModuleDict styles
    nn.ReLU()                        # an unnamed layer: the dict styles call it relu1 (type in lower case + count)
    Linear(16 * 5 * 5, 120)          # `nn.`, `torch.nn.` or nothing in front; arithmetic on numbers is computed

The text is read with `ast`, never run: only classes from `LAYERS`, only literal arguments (and `+ - * / // %` on
numbers), the container forms of 5.1.2-5.1.4 (`lab.compose.parse`). Bounds: at most `MAX_LAYERS` layers and
`MAX_PARAMS` parameters, checked on the meta device before any weight is allocated; whole-number arguments within
+-`MAX_INT_ARGUMENT`, every argument of the type its constructor's annotation names; a forward pass on the meta
device bounds every output (`MAX_ACTIVATION_NUMEL`), the FLOPs (`MAX_FLOPS`) and the real work (`MAX_WORK`,
`lab.compose.cost.layer_work`) before anything runs.

ModuleList and ModuleDict only store layers (5.1.3: "nn.ModuleList does not define a network"): the lab wraps them
in `ListNet` / `DictNet`, whose `forward` runs the layers in order with a for loop.

Modules: `layers` (allow-list, bounds, examples, LayerSpec), `arguments` (literals and type hints), `parse` (text ->
specs), `nets` (ListNet, DictNet, ResidualBlock, ResidualMLP), `core` (build, copy_weights), `cost` (the meta pass
and the work model), `view` (explore, style_equivalence, residual: one call per view), `code` (the code panels),
`pitfalls` (the tutorial's mistakes, run live, and its listings walked through), `tutorial` (its MySequential).
"""

from lab.compose.code import residual_code, to_code
from lab.compose.core import (
    as_layers,
    build,
    check_style,
    checked_meta_layers,
    copy_weights,
    max_abs_diff,
    named_layers,
    parse_layers,
)
from lab.compose.cost import WORK_UNIT, layer_work, meta_check, upsample_output_shape
from lab.compose.layers import (
    DEFAULT_INPUT_SHAPE,
    DEFAULT_LAYERS,
    EXAMPLE_IDS,
    EXAMPLES,
    FORBIDDEN_KWARGS,
    LAYERS,
    MAX_ACTIVATION_NUMEL,
    MAX_FLOPS,
    MAX_INT_ARGUMENT,
    MAX_LAYERS,
    MAX_NAME_CHARS,
    MAX_PARAMS,
    MAX_TEXT_CHARS,
    MAX_WORK,
    STYLE_LABELS,
    STYLES,
    LayerSpec,
)
from lab.compose.nets import DictNet, ListNet, ResidualBlock, ResidualMLP
from lab.compose.parse import layer_names, parse_shape, parse_specs
from lab.compose.pitfalls import PITFALLS, WALKS, MySequentialFixed, Step, Walk, walk
from lab.compose.tutorial import MySequential
from lab.compose.view import (
    MAX_RESIDUAL_DEPTH,
    MAX_RESIDUAL_WIDTH,
    RESIDUAL_DEFAULTS,
    Composition,
    Residual,
    explore,
    residual,
    style_equivalence,
)

__all__ = [
    "STYLES", "STYLE_LABELS", "LAYERS", "MAX_LAYERS", "MAX_PARAMS", "MAX_ACTIVATION_NUMEL", "MAX_FLOPS", "MAX_WORK",
    "MAX_TEXT_CHARS", "MAX_NAME_CHARS", "MAX_INT_ARGUMENT", "FORBIDDEN_KWARGS", "DEFAULT_LAYERS",
    "DEFAULT_INPUT_SHAPE", "EXAMPLES", "EXAMPLE_IDS", "LayerSpec",
    "parse_specs", "parse_layers", "parse_shape", "layer_names",
    "ListNet", "DictNet", "ResidualBlock", "ResidualMLP",
    "build", "check_style", "checked_meta_layers", "named_layers", "as_layers", "copy_weights", "max_abs_diff",
    "WORK_UNIT", "layer_work", "upsample_output_shape", "meta_check",
    "Composition", "explore", "style_equivalence", "Residual", "residual", "RESIDUAL_DEFAULTS",
    "MAX_RESIDUAL_DEPTH", "MAX_RESIDUAL_WIDTH",
    "to_code", "residual_code",
    "PITFALLS", "WALKS", "Walk", "Step", "walk", "MySequential", "MySequentialFixed",
]
