"""U-Net from blocks (tutorial 5.2): DoubleConv, Down, Up, OutConv and the U they assemble into.

- `blocks`: the four blocks and the U exactly as the code panels print them (torch only).
- `build`: the lab's `UNet` (the same U, its arguments checked, its size bounded before allocation), limits.
- `analysis`: the builder's view: a per-block table (shapes, parameters, FLOPs on the meta device) and
  `builder_view`, the one call behind the tab's builder; `figures`: the U drawn; `code`: the builder's code panel.
- `pitfalls`: 5.2.1's "residual connections" (U-Net concatenates) and the figure's 572 -> 388 vs the code's
  padding=1, both run live; `tutorial`: the tutorial's own 5.2.4 assembly, the reference for parity.

With the defaults `UNet(3, 2, bilinear)` has exactly the tutorial's state_dict keys and shapes, so its checkpoints
load. Segmenting images with a U-Net is `lab.segment`.
"""

from lab.unet.blocks import DoubleConv, Down, OutConv, Up  # noqa: I001 - blocks first: build subclasses their UNet
from lab.unet.build import (
    MAX_BASE_CHANNELS, MAX_CHANNELS, MAX_CLASSES, MAX_DEPTH, MAX_INPUT_SIDE, MAX_PARAMS, UNet, check_build,
    check_config, checked_build, level_channels, unet_param_count,
)  # fmt: skip
from lab.unet.analysis import BuilderView, block_table, builder_view
from lab.unet.code import to_code
from lab.unet.figures import u_figure
from lab.unet.pitfalls import (
    PITFALL_MAX_SIZE, figure_vs_code, paper_min_size, paper_vs_code, run_pitfalls, skip_concat,
)  # fmt: skip

__all__ = [
    "DoubleConv", "Down", "Up", "OutConv", "UNet", "MAX_DEPTH", "MAX_BASE_CHANNELS", "MAX_CHANNELS", "MAX_CLASSES",
    "MAX_PARAMS", "MAX_INPUT_SIDE", "level_channels", "check_config", "unet_param_count", "checked_build",
    "check_build", "block_table", "BuilderView", "builder_view", "u_figure", "to_code", "PITFALL_MAX_SIZE",
    "paper_min_size", "paper_vs_code", "figure_vs_code", "skip_concat", "run_pitfalls",
]
