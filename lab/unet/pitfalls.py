"""5.2's two mistakes, run live beside the fix.

- 5.2.1 calls U-Net's skips "residual connections" (残差连接) that fix degradation: that is ResNet (`x + f(x)`). U-Net
  concatenates the encoder's features (`torch.cat([x2, x1], dim=1)`); run as an addition on the same feature maps,
  the sum has half the channels the next DoubleConv was built for.
- The 5.2.1 figure is the original paper's U (unpadded 3x3 convs: 572 -> 388, skips cropped); the code uses
  padding=1 and pads the upsampled map, so its output has the input's size. Both U's run here on meta tensors.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from lab.errors import LabError, Term, number
from lab.pitfall import Pitfall, attempt
from lab.source import body, source
from lab.unet.blocks import UNet, Up
from lab.unet.build import MAX_DEPTH

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PITFALL_MAX_SIZE", "PaperUNet", "center_crop", "paper_min_size", "paper_vs_code", "figure_vs_code",
           "up_with_residual", "skip_concat", "run_pitfalls"]

PITFALL_MAX_SIZE = 4096  # the pitfall's input side: both U's run on meta tensors, so a size costs nothing


# ---------------------------------------------------------------------------------------------------------------
# The figure: the paper's U (Ronneberger et al. 2015), as real layers


def center_crop(skip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The figure's "copy and crop": the middle size[0] x size[1] of the encoder's feature map."""
    top, left = (skip.size(2) - size[0]) // 2, (skip.size(3) - size[1]) // 2
    return skip[..., top : top + size[0], left : left + size[1]]


class PaperUNet(nn.Module):
    """The U of the figure: unpadded 3x3 convs (-2 px each), no BatchNorm, up-conv 2x2, crop the skip, concatenate"""

    def __init__(self, n_channels: int = 1, n_classes: int = 2, depth: int = 4, base_channels: int = 64) -> None:
        super().__init__()
        ch = [base_channels * 2**i for i in range(depth + 1)]

        def twice(c_in: int, c_out: int) -> nn.Sequential:  # (3x3 conv => ReLU) * 2, unpadded: -4 px
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3), nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3), nn.ReLU(inplace=True)
            )

        self.pool = nn.MaxPool2d(2)
        self.down = nn.ModuleList([twice(n_channels, ch[0]), *(twice(ch[i - 1], ch[i]) for i in range(1, depth + 1))])
        self.up = nn.ModuleList(nn.ConvTranspose2d(ch[i], ch[i - 1], 2, stride=2) for i in range(depth, 0, -1))
        self.conv = nn.ModuleList(twice(ch[i], ch[i - 1]) for i in range(depth, 0, -1))
        self.out = nn.Conv2d(ch[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(self.pool(x) if i else x)
            skips.append(x)
        skips.pop()  # the bottom
        for up, conv in zip(self.up, self.conv, strict=True):
            x = up(x)
            x = conv(torch.cat([center_crop(skips.pop(), x.shape[-2:]), x], dim=1))
        return self.out(x)


def _paper_failure(size: int, depth: int) -> tuple[str, int] | None:
    """Where the paper's U breaks on a size x size input, as (side, level), or None when it does not.

    Pure arithmetic mirroring PaperUNet: MaxPool2d(2) floors, each level's two convs take 4 px, an up-conv doubles.
    The U works when every map keeps at least 1 px and every skip is at least as large as the map it is cropped to.
    """
    side, skips = size, []
    for level in range(depth + 1):
        side = side // 2 if level else side
        if side - 4 < 1:
            return "encoder", level
        side -= 4
        skips.append(side)
    skips.pop()
    for level in range(depth - 1, -1, -1):
        side *= 2
        if skips[level] < side or side - 4 < 1:
            return "decoder", level
        side -= 4
    return None


@functools.lru_cache(maxsize=MAX_DEPTH)
def paper_min_size(depth: int) -> int:
    """The smallest input side the paper's unpadded U takes at `depth` (188 at depth 4: the 16k + 124 rule gives
    the sizes whose every pooling is even). Every larger side works too, since no map shrinks as the input grows."""
    return next(s for s in range(2**depth, PITFALL_MAX_SIZE + 1) if _paper_failure(s, depth) is None)


def _check(size, depth) -> tuple[int, int]:
    """(size, depth) checked: a size the paper's U cannot take is refused saying where it breaks."""
    depth = number("unet.pitfall_depth", depth, 1, MAX_DEPTH, integer=True)
    low = paper_min_size(depth)
    try:
        whole = number("unet.pitfall_size", size, 1, PITFALL_MAX_SIZE, integer=True)
    except LabError:
        whole = None
    where = None if whole is None else _paper_failure(whole, depth)
    if where is not None:
        raise LabError("error.unet.paper_too_small", size=whole, depth=depth, low=low, high=PITFALL_MAX_SIZE,
                       where=Term(f"unet.stage.{where[0]}", level=where[1]))  # fmt: skip
    return number("unet.pitfall_size", size, low, PITFALL_MAX_SIZE, integer=True), depth  # else the usual sentence


def _sizes(model: nn.Module, modules: dict[str, nn.Module], x: torch.Tensor) -> dict[str, tuple[int, int]]:
    """{name: (input side, output side)} of `modules` while `model` runs on `x` (hooks, on meta tensors)."""
    seen: dict[str, tuple[int, int]] = {}
    hooks = [m.register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, (i[0].size(-1), o.size(-1))))
             for n, m in modules.items()]  # fmt: skip
    try:
        model(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def paper_vs_code(size: int = 572, depth: int = 4) -> pd.DataFrame:
    """Feature-map sides of the paper's U beside the tutorial's code, level by level, read off both models as they
    run (forward hooks on meta tensors). Columns: side ("encoder"/"decoder"), level, paper_in, paper_out,
    paper_skip (decoder: the encoder map cropped to paper_in), code_up (decoder: the upsampled side before the
    pad), code_in, code_out. Accepted: depth 1 to MAX_DEPTH, size from `paper_min_size(depth)` to PITFALL_MAX_SIZE.
    """
    import pandas as pd

    size, depth = _check(size, depth)
    with torch.device("meta"):
        # the code's U with the paper's 2x2 up-convs (bilinear=False: same sizes, and faster to trace on meta)
        paper, code = PaperUNet(1, 2, depth).eval(), UNet(1, 2, False, 64, depth).eval()
        x = torch.empty(1, 1, size, size)
    p = _sizes(paper, {**{f"e{i}": m for i, m in enumerate(paper.down)},
                       **{f"d{depth - 1 - j}": m for j, m in enumerate(paper.conv)}}, x)  # fmt: skip
    levels = range(1, depth + 1)
    c = _sizes(code, {"e0": code.inc, **{f"e{i}": getattr(code, f"down{i}").maxpool_conv[1] for i in levels},
                      **{f"u{depth - j}": getattr(code, f"up{j}").up for j in levels},
                      **{f"d{depth - j}": getattr(code, f"up{j}").conv for j in levels}}, x)  # fmt: skip
    rows = [{"side": "encoder", "level": lv, "paper_in": p[f"e{lv}"][0], "paper_out": p[f"e{lv}"][1],
             "paper_skip": None, "code_up": None, "code_in": c[f"e{lv}"][0], "code_out": c[f"e{lv}"][1]}
            for lv in range(depth + 1)]  # fmt: skip
    rows += [{"side": "decoder", "level": lv, "paper_in": p[f"d{lv}"][0], "paper_out": p[f"d{lv}"][1],
              "paper_skip": p[f"e{lv}"][1], "code_up": c[f"u{lv}"][1], "code_in": c[f"d{lv}"][0],
              "code_out": c[f"d{lv}"][1]} for lv in range(depth - 1, -1, -1)]  # fmt: skip
    return pd.DataFrame(rows).astype({"paper_skip": "Int64", "code_up": "Int64"})


def _figure_u(size: int, depth: int) -> tuple[int, ...]:
    """The figure's U on a size x size image: shapes only (meta tensors)."""
    with torch.device("meta"):
        out = PaperUNet(n_channels=1, n_classes=2, depth=depth)(torch.empty(1, 1, size, size))
    return tuple(out.shape)


def _code_u(size: int, depth: int) -> tuple[int, ...]:
    """The tutorial's code on the same image, with the paper's 2x2 up-convs."""
    with torch.device("meta"):
        out = UNet(n_channels=1, n_classes=2, bilinear=False, depth=depth).eval()(torch.empty(1, 1, size, size))
    return tuple(out.shape)


def figure_vs_code(size: int = 572, depth: int = 4) -> Pitfall:
    """The figure's unpadded U against the code's padded one on a size x size image, and their sizes per level."""
    size, depth = _check(size, depth)
    wrong, right = attempt(lambda: _figure_u(size, depth)), attempt(lambda: _code_u(size, depth))
    table = paper_vs_code(size, depth)
    out = int(table["paper_out"].iloc[-1])
    call = f"size, depth = {size}, {depth}\n"
    return Pitfall(
        id="unet.figure_vs_code",
        section="5.2.1",
        wrong_code=source(center_crop, PaperUNet) + f"\n\n{call}" + body(_figure_u, keep_return=False),
        right_code=call + body(_code_u, keep_return=False),
        wrong=wrong,
        right=right,
        facts={"size": size, "depth": depth, "paper_out": out, "lost": size - out, "min_size": paper_min_size(depth)},
        table=table,
    )


# ---------------------------------------------------------------------------------------------------------------
# The skips: concatenation, not a residual addition


def up_with_residual(up: Up, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Up.forward as 5.2.1's words have it: a residual connection (ResNet's x + f(x)) where the code concatenates"""
    x1 = up.up(x1)  # (the sample's 256 px need no padding)
    x = x2 + x1  # 残差连接: the sum keeps C channels ...
    return up.conv(x)  # ... but this DoubleConv was built for the C + C of torch.cat


def _feature_maps(sample: str) -> tuple[nn.Module, str, torch.Tensor, torch.Tensor]:
    """The shipped U-Net and what its top Up block receives on a sample: (model, block name, x1, x2)."""
    from lab.segment import pretrained, samples, to_tensor

    model = pretrained("cpu")
    name = f"up{model.depth}"
    seen: dict[str, tuple] = {}
    getattr(model, name).register_forward_pre_hook(lambda m, args: seen.__setitem__("args", args))
    image = next(s.image for s in samples() if s.name == sample)
    with torch.inference_mode():
        model(to_tensor(image, model.n_channels))
    x1, x2 = seen["args"]
    return model, name, x1, x2


def skip_concat(sample: str = "cells_06") -> Pitfall:
    """The shipped U-Net's top Up block on a sample's real feature maps: torch.cat (what runs) vs x2 + x1."""
    import pandas as pd

    model, name, x1, x2 = _feature_maps(sample)
    up = getattr(model, name)
    with torch.inference_mode():
        wrong = attempt(lambda: up_with_residual(up, x1, x2), lambda out: str(tuple(out.shape)))
        right = attempt(lambda: up(x1, x2), lambda out: str(tuple(out.shape)))
        upsampled = up.up(x1)
        cat, add = torch.cat([x2, upsampled], dim=1), x2 + upsampled
    c = x2.size(1)
    # one pixel where channel 0 of both maps is alive (a ReLU output is often 0), to show what each operation keeps
    both = torch.minimum(x2[0, 0].abs(), upsampled[0, 0].abs())
    y, x = divmod(int(both.argmax()), both.size(1))
    expects = up.conv.double_conv[0].in_channels

    def row(expr: str, t: torch.Tensor) -> dict:
        return {"tensor": expr, "shape": str(tuple(t.shape)), "channels": t.size(1),
                "value_0": round(float(t[0, 0, y, x]), 4),
                "value_c": round(float(t[0, c, y, x]), 4) if t.size(1) > c else None}  # fmt: skip

    table = pd.DataFrame([row("x2", x2), row(f"{name}.up(x1)", upsampled), row("torch.cat([x2, x1], dim=1)", cat),
                          row("x2 + x1", add)])  # fmt: skip
    return Pitfall(
        id="unet.skip_concat",
        section="5.2.1",
        wrong_code=source(up_with_residual) + f"\nup_with_residual(model.{name}, x1, x2)\n",
        right_code=source(Up.forward) + f"\nmodel.{name}(x1, x2)\n",
        wrong=wrong,
        right=right,
        facts={"sample": sample, "block": name, "channels": c, "cat_channels": cat.size(1),
               "add_channels": add.size(1), "expects": expects, "y": y, "x": x},  # fmt: skip
        table=table,
    )


def run_pitfalls(size: int = 572, depth: int = 4) -> list[Pitfall]:
    """Both 5.2 pitfalls, for the tab's pitfall panel: [figure_vs_code(size, depth), skip_concat()]."""
    return [figure_vs_code(size, depth), skip_concat()]
