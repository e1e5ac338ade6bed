"""U-Net assembled from blocks (tutorial 5.2): DoubleConv, Down, Up, OutConv and the UNet built from them.

The blocks are the tutorial's (5.2.3), with the same submodule names, so with the defaults
`UNet(3, 2, bilinear)` has exactly the tutorial's state_dict keys and shapes and its checkpoints load.
Two things are added: `base_channels` and `depth` make the U narrower/wider and shallower/deeper, and
inputs smaller than 2**depth are refused with a LabError instead of failing deep inside MaxPool2d.

Note on 5.2.1: the skip connections of U-Net *concatenate* encoder features onto the decoder's
(`torch.cat([x2, x1], dim=1)` in `Up`); they are not ResNet's residual additions. And unlike the
original paper's figure (unpadded convs, 572 -> 388, cropped skips), these convs use padding=1, so the
output has the input's height and width.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING

import torch
import torch.nn as nn
import torch.nn.functional as F

from lab.errors import LabError, shown

if TYPE_CHECKING:  # pandas and plotly load only when a table or figure is asked for
    import pandas as pd
    import plotly.graph_objects as go

__all__ = [
    "DoubleConv", "Down", "Up", "OutConv", "UNet", "MAX_DEPTH", "MAX_BASE_CHANNELS", "MAX_PARAMS", "MAX_INPUT_SIDE",
    "unet_param_count", "check_build", "block_table", "u_figure", "to_code", "paper_vs_code", "paper_min_size",
    "PITFALL_MAX_SIZE",
]

MAX_DEPTH = 6  # 2**6 = 64: the smallest input a depth-6 U accepts; deeper buys nothing on lab-sized images
MAX_BASE_CHANNELS = 256


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None) -> None:
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        # bias=False: BatchNorm's shift makes a conv bias redundant
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.double_conv(x)


class Down(nn.Module):
    """Downscaling with maxpool then double conv: (N, C_in, H, W) -> (N, C_out, H//2, W//2)"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool_conv(x)


class Up(nn.Module):
    """Upscaling, pad to the skip's size, concatenate the skip, then double conv"""

    def __init__(self, in_channels: int, out_channels: int, bilinear: bool = True) -> None:
        super().__init__()
        if bilinear:
            # parameter-free upsampling keeps in_channels; the first conv halves them (mid = in // 2)
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = DoubleConv(in_channels, out_channels, in_channels // 2)
        else:
            self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)  # (N, C, 2h, 2w); 2h may be one short of the skip's H when H was odd
        diff_y = x2.size(2) - x1.size(2)
        diff_x = x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        # the skip connection: concatenation along channels, not a residual addition
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    """1x1 convolution to one logit map per class"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _check_config(n_channels: int, n_classes: int, base_channels: int, depth: int) -> None:
    for field, value, low, high in (
        ("n_channels", n_channels, 1, 64),
        ("n_classes", n_classes, 1, 256),
        ("base_channels", base_channels, 2, MAX_BASE_CHANNELS),
        ("depth", depth, 1, MAX_DEPTH),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise LabError(f"U-Net {field} got {shown(value)}; use a whole number from {low} to {high}.")
    if base_channels % 2:
        raise LabError(f"U-Net base_channels got {base_channels}; use an even number (the decoder halves channels).")


MAX_PARAMS = 100_000_000  # UNet() refuses bigger U-Nets before allocating a single weight


def _double_conv_params(c_in: int, c_out: int, c_mid: int) -> int:
    # two bias-free 3x3 convs, each followed by a BatchNorm (weight + bias)
    return c_in * c_mid * 9 + 2 * c_mid + c_mid * c_out * 9 + 2 * c_out


def _param_count(n_channels: int, n_classes: int, bilinear: bool, base_channels: int, depth: int) -> int:
    """The parameter count of UNet(...) in closed form, mirroring __init__ block by block."""
    ch = _level_channels(base_channels, depth)
    factor = 2 if bilinear else 1
    total = _double_conv_params(n_channels, ch[0], ch[0])  # inc
    for i in range(1, depth + 1):  # down{i}
        out = ch[i] // factor if i == depth else ch[i]
        total += _double_conv_params(ch[i - 1], out, out)
    for j in range(1, depth + 1):  # up{j}
        c_in = ch[depth - j + 1]
        out = ch[depth - j] if j == depth else ch[depth - j] // factor
        if bilinear:
            total += _double_conv_params(c_in, out, c_in // 2)
        else:  # ConvTranspose2d(c_in, c_in // 2, 2, stride=2) with bias, then DoubleConv(c_in, out)
            total += c_in * (c_in // 2) * 4 + c_in // 2 + _double_conv_params(c_in, out, out)
    return total + ch[0] * n_classes + n_classes  # outc: 1x1 conv with bias


def _level_channels(base_channels: int, depth: int) -> list[int]:
    """Channels at each level of the U, top to bottom: base, 2*base, ..., base * 2**depth."""
    return [base_channels * 2**i for i in range(depth + 1)]


class UNet(nn.Module):
    """The tutorial's U-Net (5.2.4), generalised to any width (`base_channels`) and `depth`.

    Encoder: inc, down1..down{depth}; decoder: up1..up{depth} (up1 is the deepest), outc.
    Input (N, n_channels, H, W) with H, W >= 2**depth, output logits (N, n_classes, H, W).
    """

    def __init__(
        self,
        n_channels: int = 3,
        n_classes: int = 2,
        bilinear: bool = True,
        base_channels: int = 64,
        depth: int = 4,
    ) -> None:
        super().__init__()
        _check_config(n_channels, n_classes, base_channels, depth)
        params = _param_count(n_channels, n_classes, bool(bilinear), base_channels, depth)
        if params > MAX_PARAMS:  # refuse before allocating: UNet(3, 2, True, 256, 6) would be 4.4 G parameters
            raise LabError(
                f"This U-Net would have {params / 1e6:,.1f} M parameters; at most {MAX_PARAMS // 1_000_000} M are "
                "accepted (lower base_channels or depth)."
            )
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bool(bilinear)
        self.base_channels = base_channels
        self.depth = depth

        ch = _level_channels(base_channels, depth)  # default: [64, 128, 256, 512, 1024]
        factor = 2 if bilinear else 1  # bilinear Up keeps channels, so the bottom produces half of them
        self.inc = DoubleConv(n_channels, ch[0])
        for i in range(1, depth + 1):
            out = ch[i] // factor if i == depth else ch[i]
            self.add_module(f"down{i}", Down(ch[i - 1], out))
        for j in range(1, depth + 1):
            level = depth - j  # the level this Up lands on (its skip comes from there)
            out = ch[level] if j == depth else ch[level] // factor
            self.add_module(f"up{j}", Up(ch[level + 1], out, bilinear))
        self.outc = OutConv(ch[0], n_classes)

    @property
    def min_size(self) -> int:
        return 2**self.depth

    def config(self) -> dict:
        """The constructor arguments, to rebuild the same architecture."""
        return {
            "n_channels": self.n_channels,
            "n_classes": self.n_classes,
            "bilinear": self.bilinear,
            "base_channels": self.base_channels,
            "depth": self.depth,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != self.n_channels:
            raise LabError(
                f"U-Net input has shape {tuple(x.shape)}; expected (N, {self.n_channels}, H, W) "
                f"with H and W at least {self.min_size}."
            )
        if min(x.shape[-2:]) < self.min_size:
            raise LabError(
                f"U-Net input size {x.size(2)} x {x.size(3)} is too small for depth {self.depth}; "
                f"height and width must be at least 2**{self.depth} = {self.min_size}."
            )
        skips = [self.inc(x)]  # x1: (N, base, H, W)
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))  # x{i+1}: (N, C_i, H / 2**i, W / 2**i)
        x = skips.pop()  # the bottom of the U
        for j in range(1, self.depth + 1):
            x = getattr(self, f"up{j}")(x, skips.pop())  # climb one level, concatenating its skip
        return self.outc(x)  # (N, n_classes, H, W)


def unet_param_count(
    n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64, depth: int = 4
) -> int:
    """Parameters of `UNet(...)`, counted from the architecture alone (no weights, not even on meta)."""
    _check_config(n_channels, n_classes, base_channels, depth)
    return _param_count(n_channels, n_classes, bool(bilinear), base_channels, depth)


# ----------------------------------------------------------------------------------------- inspection
MAX_INPUT_SIDE = 1024  # largest input height/width the builder analyses


def check_build(
    n_channels: int, n_classes: int, bilinear: bool, base_channels: int, depth: int, height: int, width: int
) -> int:
    """Validate a builder request without allocating weights; returns the parameter count."""
    _check_config(n_channels, n_classes, base_channels, depth)  # first: the sizes' bound is 2**depth
    for field, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise LabError(f"Input {field} got {shown(value)}; use a whole number of pixels.")
        if value > MAX_INPUT_SIDE:
            raise LabError(f"Input {field} {value} is above {MAX_INPUT_SIDE}; use 2**depth to {MAX_INPUT_SIDE} pixels.")
        if value < 2**depth:
            raise LabError(
                f"Input {field} {value} is smaller than 2**depth = {2**depth} for depth {depth}; "
                f"use {2**depth} to {MAX_INPUT_SIDE} pixels or a smaller depth."
            )
    params = unet_param_count(n_channels, n_classes, bilinear, base_channels, depth)
    if params > MAX_PARAMS:
        raise LabError(
            f"This U-Net has {params / 1e6:.1f} M parameters; at most {MAX_PARAMS // 1_000_000} M are accepted "
            "(lower base channels or depth)."
        )
    return params


def block_table(
    n_channels: int = 3,
    n_classes: int = 2,
    bilinear: bool = True,
    base_channels: int = 64,
    depth: int = 4,
    height: int = 256,
    width: int = 256,
) -> pd.DataFrame:
    """One row per block of the U, in forward order: block, kind, side, level, input/output shape,
    channels, params and FLOPs (torch.utils.flop_counter, batch 1). Computed on the meta device, so a
    1024 x 1024 analysis of a 100 M-parameter U-Net costs no memory and no arithmetic."""
    import pandas as pd
    from torch.utils.flop_counter import FlopCounterMode

    check_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    with torch.device("meta"):
        # eval(): at 2**depth px the bottom map is 1 x 1, where training-mode BatchNorm refuses a batch of one
        model = UNet(n_channels, n_classes, bilinear, base_channels, depth).eval()
        x = torch.empty(1, n_channels, height, width)
    shapes: dict[str, tuple] = {}
    names = ["inc", *[f"down{i}" for i in range(1, depth + 1)], *[f"up{j}" for j in range(1, depth + 1)], "outc"]
    hooks = [
        getattr(model, n).register_forward_hook(
            lambda mod, inp, out, n=n: shapes.__setitem__(n, ([tuple(i.shape) for i in inp], tuple(out.shape)))
        )
        for n in names
    ]
    counter = FlopCounterMode(display=False, depth=None)
    with counter:
        model(x)
    for h in hooks:
        h.remove()
    flops = {k: sum(v.values()) for k, v in counter.get_flop_counts().items()}
    rows = []
    for n in names:
        block = getattr(model, n)
        ins, out = shapes[n]
        if n == "inc":
            side, level = "encoder", 0
        elif n.startswith("down"):
            level = int(n[4:])
            side = "bottom" if level == depth else "encoder"
        elif n.startswith("up"):
            side, level = "decoder", depth - int(n[2:])
        else:
            side, level = "output", 0
        rows.append(
            {
                "block": n,
                "kind": type(block).__name__,
                "side": side,
                "level": level,
                "input_shape": " + ".join(str(list(s)) for s in ins),
                "output_shape": str(list(out)),
                "out_channels": out[1],
                "out_hw": f"{out[2]}x{out[3]}",
                "params": sum(p.numel() for p in block.parameters()),
                "flops": int(flops.get(f"UNet.{n}", 0)),
            }
        )
    return pd.DataFrame(rows)


def u_figure(table: pd.DataFrame, title: str = "") -> go.Figure:
    """The U drawn from `block_table`: encoder down the left, decoder up the right, skips across.

    Each block is a box at (column, -level) labelled with its name, channels and output size; hovering
    shows its kind, output shape, parameters and FLOPs."""
    import plotly.graph_objects as go

    from lab.figures import color, figure

    depth = int(table["level"].max())
    step = 0.55  # horizontal shift per level, so the two arms slant into a U
    bottom_x = depth * step + 0.8
    fig = figure(title, height=120 + 80 * (depth + 1), legend=False)
    pos: dict[str, tuple[float, float]] = {}
    for row in table.itertuples():
        x = {
            "encoder": row.level * step,
            "bottom": bottom_x,
            "decoder": 2 * bottom_x - row.level * step,
            "output": 2 * bottom_x + 0.9,
        }[row.side]
        pos[row.block] = (x, -row.level)
    order = list(table["block"])
    for a, b in zip(order, order[1:], strict=False):  # the data path, in forward order
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_annotation(x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", text="",
                           showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor="#64748b",
                           standoff=22, startstandoff=22)
    for row in table[table["side"] == "decoder"].itertuples():  # skips: encoder level -> decoder level
        enc = "inc" if row.level == 0 else f"down{row.level}"
        (x0, y0), (x1, _) = pos[enc], pos[row.block]
        fig.add_trace(go.Scatter(x=[x0, x1], y=[y0, y0], mode="lines", hoverinfo="skip",
                                 line={"dash": "dot", "color": color(1), "width": 2}))
        fig.add_annotation(x=(x0 + x1) / 2, y=y0, text="skip: concat", showarrow=False, yshift=9,
                           font={"size": 10, "color": color(1)})
    colors = {"encoder": color(0), "bottom": color(4), "decoder": color(2), "output": color(3)}
    for side, part in table.groupby("side", sort=False):
        labels = [f"<b>{b}</b><br>{c} ch<br>{hw}"
                  for b, c, hw in zip(part["block"], part["out_channels"], part["out_hw"], strict=True)]
        fig.add_trace(
            go.Scatter(
                x=[pos[b][0] for b in part["block"]],
                y=[pos[b][1] for b in part["block"]],
                mode="markers+text",
                marker={"size": 46, "symbol": "square", "color": colors[side], "opacity": 0.9},
                text=labels,
                textfont={"color": "white", "size": 10},
                customdata=list(zip(part["kind"], part["output_shape"], part["params"], part["flops"] / 1e9,
                                    strict=True)),
                hovertemplate="%{customdata[0]}<br>out %{customdata[1]}<br>%{customdata[2]:,} params"
                "<br>%{customdata[3]:.3f} GFLOPs<extra></extra>",
            )
        )
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(visible=False, range=[-0.6, 2 * bottom_x + 1.5])
    fig.update_yaxes(visible=False, range=[-depth - 0.7, 0.6])
    return fig


# The code panel shows the very blocks the lab runs (their source), then a UNet without the lab's input checks.
_CODE_IMPORTS = """import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
"""
_CODE_UNET = '''class UNet(nn.Module):
    """The tutorial's UNet(n_channels, n_classes, bilinear) with a chosen width and depth."""

    def __init__(self, n_channels, n_classes, bilinear=True, base_channels=64, depth=4):
        super().__init__()
        self.depth = depth
        ch = [base_channels * 2**i for i in range(depth + 1)]  # channels per level of the U
        factor = 2 if bilinear else 1
        self.inc = DoubleConv(n_channels, ch[0])
        for i in range(1, depth + 1):
            self.add_module(f"down{i}", Down(ch[i - 1], ch[i] // factor if i == depth else ch[i]))
        for j in range(1, depth + 1):
            level = depth - j
            out = ch[level] if j == depth else ch[level] // factor
            self.add_module(f"up{j}", Up(ch[level + 1], out, bilinear))
        self.outc = OutConv(ch[0], n_classes)

    def forward(self, x):
        skips = [self.inc(x)]
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))
        x = skips.pop()
        for j in range(1, self.depth + 1):
            x = getattr(self, f"up{j}")(x, skips.pop())
        return self.outc(x)
'''


def to_code(
    n_channels: int = 3,
    n_classes: int = 2,
    bilinear: bool = True,
    base_channels: int = 64,
    depth: int = 4,
    height: int = 256,
    width: int = 256,
) -> str:
    """Runnable, self-contained PyTorch that builds the same U-Net, prints it, counts its parameters
    and FLOPs (on the meta device: no memory, no arithmetic) and reports the output shape."""
    check_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    blocks = "\n\n".join(inspect.getsource(block) for block in (DoubleConv, Down, Up, OutConv))
    return (
        f"{_CODE_IMPORTS}\n\n{blocks}\n\n{_CODE_UNET}"
        + f"""

config = dict(n_channels={n_channels}, n_classes={n_classes}, bilinear={bool(bilinear)},
              base_channels={base_channels}, depth={depth})
model = UNet(**config)
print(model)
params = sum(p.numel() for p in model.parameters())
print(f"{{params:,}} parameters")

# shapes and FLOPs for one {height} x {width} image, computed on the meta device
with torch.device("meta"):
    meta_model = UNet(**config).eval()  # BatchNorm in eval mode: a 1 x 1 bottom map is fine for a batch of one
    x = torch.empty(1, {n_channels}, {height}, {width})
counter = FlopCounterMode(display=False)
with counter:
    out = meta_model(x)
flops = counter.get_total_flops()
print("output shape", tuple(out.shape), f"{{flops / 1e9:.2f}} GFLOPs")
"""
    )


PITFALL_MAX_SIZE = 4096  # the pitfall's input side: a table of sizes, computed on meta tensors, costs nothing


def _paper_failure(size: int, depth: int) -> str | None:
    """Where the paper's unpadded U breaks on a size x size input, or None when it does not.

    Pure arithmetic mirroring the layers: MaxPool2d(2) floors, each DoubleConv takes 4 px, an up-step doubles.
    The U works when every map keeps at least 1 px and every cropped skip is at least as large as the upsampled
    map it joins (that one always holds: a decoder map is never larger than the encoder map of its level).
    """
    side, skips = size, []
    for level in range(depth + 1):
        side = side // 2 if level else side
        if side - 4 < 1:
            return f"encoder level {level}"
        side -= 4
        skips.append(side)
    skips.pop()
    for level in range(depth - 1, -1, -1):
        side *= 2
        if skips[level] < side:
            return f"the skip of decoder level {level}"
        if side - 4 < 1:
            return f"decoder level {level}"
        side -= 4
    return None


@functools.lru_cache(maxsize=MAX_DEPTH)
def paper_min_size(depth: int) -> int:
    """The smallest input side the paper's unpadded U takes at `depth` (188 at depth 4: the 16k + 124 rule gives
    the sizes whose every pooling is even). Every larger side works too, since no map shrinks as the input grows."""
    return next(s for s in range(2**depth, PITFALL_MAX_SIZE + 1) if _paper_failure(s, depth) is None)


def paper_vs_code(size: int = 572, depth: int = 4) -> pd.DataFrame:
    """The 5.2 pitfall, computed live: feature-map sizes of the paper's U (unpadded 3x3 convs, skips
    cropped to fit) beside the tutorial's code (padding=1, upsampled map padded), level by level.
    Each size comes from running the actual layers on a meta tensor.

    Accepted: depth 1 to MAX_DEPTH, size from `paper_min_size(depth)` (764 at depth 6) to PITFALL_MAX_SIZE.
    """
    import pandas as pd

    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise LabError(f"Pitfall depth got {shown(depth)}; use a whole number from 1 to {MAX_DEPTH}.")
    low = paper_min_size(depth)
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= PITFALL_MAX_SIZE:
        raise LabError(f"Pitfall input size got {shown(size)}; use a whole number from {low} to {PITFALL_MAX_SIZE} "
                       f"for depth {depth}.")  # fmt: skip
    where = _paper_failure(size, depth)
    if where is not None:
        raise LabError(
            f"With unpadded convs a {size} px input shrinks to nothing by {where} at depth {depth}; "
            f"use {low} to {PITFALL_MAX_SIZE} px for depth {depth} (or a smaller depth)."
        )
    rows = []
    with torch.device("meta"):
        valid = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))  # the paper: no padding, -2 px per conv
        same = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))  # the code
        pool = nn.MaxPool2d(2)
        up = nn.Upsample(scale_factor=2)
        p = c = torch.empty(1, 1, size, size)
        skips_p, skips_c = [], []
        for level in range(depth + 1):
            if level:
                p, c = pool(p), pool(c)
            p_in, c_in = p.size(-1), c.size(-1)
            p, c = valid(p), same(c)
            skips_p.append(p.size(-1))
            skips_c.append(c.size(-1))
            rows.append({"stage": f"encoder level {level}", "paper: in -> out": f"{p_in} -> {p.size(-1)}",
                         "code: in -> out": f"{c_in} -> {c.size(-1)}", "skip handling": ""})
        skips_p.pop()
        skips_c.pop()
        for level in range(depth - 1, -1, -1):
            p, c = up(p), up(c)
            sp, sc = skips_p.pop(), skips_c.pop()
            pad = f"code pads {c.size(-1)} -> {sc}" if c.size(-1) != sc else f"code needs no pad ({sc})"
            crop = f"paper crops skip {sp} -> {p.size(-1)}; {pad}"
            c = torch.empty(1, 1, sc, sc)  # the code pads the upsampled map to the skip's size
            p_in, c_in = p.size(-1), c.size(-1)
            p, c = valid(p), same(c)
            rows.append({"stage": f"decoder level {level}", "paper: in -> out": f"{p_in} -> {p.size(-1)}",
                         "code: in -> out": f"{c_in} -> {c.size(-1)}", "skip handling": crop})
    return pd.DataFrame(rows)
