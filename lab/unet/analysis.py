"""What the builder shows of a U-Net: one row per block (shapes, parameters, FLOPs), the U drawn, the code.

Everything is computed on the meta device: a 1024 x 1024 analysis of a 100 M-parameter U-Net costs no memory
and no arithmetic, so a builder request is answered before (and without) allocating a single weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from lab.unet.build import UNet, checked_build

if TYPE_CHECKING:  # pandas and plotly load only when a table or figure is asked for
    import pandas as pd
    import plotly.graph_objects as go

__all__ = ["block_table", "BuilderView", "builder_view"]


def _block_names(depth: int) -> list[str]:
    return ["inc", *[f"down{i}" for i in range(1, depth + 1)], *[f"up{j}" for j in range(1, depth + 1)], "outc"]


def _side(name: str, depth: int) -> tuple[str, int]:
    """Where a block sits in the U: (side, level), level 0 at the top."""
    if name == "inc":
        return "encoder", 0
    if name.startswith("down"):
        level = int(name[4:])
        return ("bottom" if level == depth else "encoder"), level
    if name.startswith("up"):
        return "decoder", depth - int(name[2:])
    return "output", 0


def _analyse(config: dict, height: int, width: int) -> tuple[pd.DataFrame, torch.nn.Module]:
    """(the block table, the meta-device model it was measured on) for a checked config.

    A block's FLOPs are the growth of the counter's total while that block runs (the blocks are siblings, never
    nested): FlopCounterMode's own per-module breakdown rests on global module hooks, which other threads' forwards
    (another visitor's build or segmentation) would leak into, while its total counts only this thread's operations.
    """
    import pandas as pd
    from torch.utils.flop_counter import FlopCounterMode

    depth = config["depth"]
    with torch.device("meta"):
        # eval(): at 2**depth px the bottom map is 1 x 1, where training-mode BatchNorm refuses a batch of one
        model = UNet(**config).eval()
        x = torch.empty(1, config["n_channels"], height, width)
    names = _block_names(depth)
    counter = FlopCounterMode(display=False)
    before: dict[str, int] = {}
    seen: dict[str, tuple] = {}

    def started(name: str):
        return lambda mod, inp: before.__setitem__(name, counter.get_total_flops())

    def finished(name: str):
        return lambda mod, inp, out: seen.__setitem__(name, (inp, out, counter.get_total_flops() - before[name]))

    hooks = [h for n in names for h in (getattr(model, n).register_forward_pre_hook(started(n)),
                                        getattr(model, n).register_forward_hook(finished(n)))]  # fmt: skip
    try:
        with counter:
            model(x)
    finally:
        for h in hooks:
            h.remove()
    rows = []
    for n in names:
        block, (ins, out, flops) = getattr(model, n), seen[n]
        side, level = _side(n, depth)
        rows.append({
            "block": n,
            "kind": type(block).__name__,
            "side": side,
            "level": level,
            "input_shape": " + ".join(str(list(i.shape)) for i in ins),
            "output_shape": str(list(out.shape)),
            "out_channels": out.size(1),
            "out_hw": f"{out.size(2)}x{out.size(3)}",
            "params": sum(p.numel() for p in block.parameters()),
            "flops": int(flops),
            "gflops": round(flops / 1e9, 4),
        })  # fmt: skip
    return pd.DataFrame(rows), model


def block_table(n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64,
                depth: int = 4, height: int = 256, width: int = 256) -> pd.DataFrame:  # fmt: skip
    """One row per block of the U, in forward order: block, kind, side, level, input/output shape, channels,
    params and FLOPs (torch.utils.flop_counter, batch 1, a multiply-add counts 2; also as GFLOPs, 4 decimals)."""
    config, height, width = checked_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    return _analyse(config, height, width)[0]


@dataclass(frozen=True)
class BuilderView:
    """The builder's view of one U-Net, as data: what the tab shows, none of it worded."""

    config: dict  # the checked constructor arguments
    height: int
    width: int
    table: pd.DataFrame  # block_table
    figure: go.Figure  # the U, drawn by u_figure
    params: int
    flops: int  # per image, batch 1
    output_shape: tuple[int, ...]
    printed: str  # print(model)
    code: str  # the code panel: builds, prints and measures the same U

    @property
    def megabytes(self) -> float:
        """The weights' size in fp32 (MiB)."""
        return self.params * 4 / 2**20

    @property
    def gflops(self) -> float:
        return self.flops / 1e9


def builder_view(n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64,
                 depth: int = 4, height: int = 256, width: int = 256, *, title: str = "",
                 labels: dict | None = None) -> BuilderView:  # fmt: skip
    """The whole builder view in one call: table, figure (titled `title`, worded by `labels`, see u_figure),
    print(model) and code. Plain arguments in, data out: nothing here depends on who asks."""
    from lab.unet.code import to_code
    from lab.unet.figures import u_figure

    config, height, width = checked_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    table, model = _analyse(config, height, width)
    return BuilderView(
        config=config, height=height, width=width, table=table, figure=u_figure(table, title, labels=labels),
        params=int(table["params"].sum()), flops=int(table["flops"].sum()),
        output_shape=(1, config["n_classes"], height, width), printed=str(model),
        code=to_code(**config, height=height, width=width),
    )  # fmt: skip
