"""The lab's U-Net: the blocks' UNet with its inputs checked, sized before a single weight is allocated.

`UNet` here is `blocks.UNet` (same name, state_dict and forward) plus what a lab serving strangers needs: every
constructor argument checked through `lab.errors`, a parameter budget checked in closed form before allocation,
inputs smaller than 2**depth refused with a sentence instead of failing deep inside MaxPool2d.
"""

from __future__ import annotations

import torch

from lab.errors import LabError, Term, flag, number, shown
from lab.unet import blocks

__all__ = [
    "MAX_DEPTH", "MAX_BASE_CHANNELS", "MAX_CHANNELS", "MAX_CLASSES", "MAX_PARAMS", "MAX_INPUT_SIDE", "UNet",
    "level_channels", "check_config", "unet_param_count", "checked_build", "check_build",
]

MAX_DEPTH = 6  # 2**6 = 64: the smallest input a depth-6 U accepts; deeper buys nothing on lab-sized images
MAX_BASE_CHANNELS = 256
MAX_CHANNELS = 64  # input channels
MAX_CLASSES = 256
MAX_PARAMS = 100_000_000  # UNet() refuses bigger U-Nets before allocating a single weight
MAX_INPUT_SIDE = 1024  # largest input height/width the builder analyses


def level_channels(base_channels: int, depth: int) -> list[int]:
    """Channels at each level of the U, top to bottom: base, 2*base, ..., base * 2**depth."""
    return [base_channels * 2**i for i in range(depth + 1)]


def _double_conv_params(c_in: int, c_out: int, c_mid: int) -> int:
    # two bias-free 3x3 convs, each followed by a BatchNorm (weight + bias)
    return c_in * c_mid * 9 + 2 * c_mid + c_mid * c_out * 9 + 2 * c_out


def _param_count(n_channels: int, n_classes: int, bilinear: bool, base_channels: int, depth: int) -> int:
    """The parameter count of UNet(...) in closed form, mirroring blocks.UNet.__init__ block by block."""
    ch = level_channels(base_channels, depth)
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


def check_config(n_channels, n_classes, bilinear, base_channels, depth) -> dict:
    """The constructor arguments checked and normalised (`"3"` or 3.0 -> 3), or one LabError naming the field."""
    config = {
        "n_channels": number("unet.n_channels", n_channels, 1, MAX_CHANNELS, integer=True),
        "n_classes": number("unet.n_classes", n_classes, 1, MAX_CLASSES, integer=True),
        "bilinear": flag("unet.bilinear", bilinear),
        "base_channels": number("unet.base_channels", base_channels, 2, MAX_BASE_CHANNELS, integer=True),
        "depth": number("unet.depth", depth, 1, MAX_DEPTH, integer=True),
    }
    if config["base_channels"] % 2:  # the decoder halves channels
        raise LabError("error.value", field="unet.base_channels", value=shown(base_channels),
                       accepted=Term("unet.accept.even", low=2, high=MAX_BASE_CHANNELS))  # fmt: skip
    params = _param_count(**config)
    if params > MAX_PARAMS:  # UNet(3, 2, True, 256, 6) would be 4.4 G parameters
        raise LabError("error.unet.too_many_params", millions=f"{params / 1e6:,.1f}", limit=MAX_PARAMS // 1_000_000)
    return config


class UNet(blocks.UNet):
    """The tutorial's U-Net (5.2.4) at any width and depth, refusing what the lab cannot serve with a sentence.

    `UNet(3, 2, bilinear=True)` has exactly the tutorial's state_dict keys and shapes, so its checkpoints load.
    Output is (N, n_classes, H, W) for every H, W >= 2**depth; smaller raises LabError.
    """

    def __init__(self, n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64,
                 depth: int = 4) -> None:  # fmt: skip
        super().__init__(**check_config(n_channels, n_classes, bilinear, base_channels, depth))

    @property
    def min_size(self) -> int:
        return 2**self.depth

    def config(self) -> dict:
        """The constructor arguments, to rebuild the same architecture (what `save_with_config` stores)."""
        return {"n_channels": self.n_channels, "n_classes": self.n_classes, "bilinear": self.bilinear,
                "base_channels": self.base_channels, "depth": self.depth}  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.size(1) != self.n_channels:
            raise LabError("error.unet.input_shape", shape=str(tuple(x.shape)), channels=self.n_channels,
                           min=self.min_size)  # fmt: skip
        if min(x.shape[-2:]) < self.min_size:
            raise LabError("error.unet.input_too_small", height=str(x.size(2)), width=str(x.size(3)), depth=self.depth,
                           min=self.min_size)  # fmt: skip
        return super().forward(x)


def unet_param_count(n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64,
                     depth: int = 4) -> int:  # fmt: skip
    """Parameters of `UNet(...)`, counted from the architecture alone (no weights, not even on meta)."""
    return _param_count(**check_config(n_channels, n_classes, bilinear, base_channels, depth))


def checked_build(n_channels, n_classes, bilinear, base_channels, depth, height, width) -> tuple[dict, int, int]:
    """A builder request checked without allocating a weight: the normalised (config, height, width)."""
    config = check_config(n_channels, n_classes, bilinear, base_channels, depth)  # first: the sides need 2**depth
    low = 2 ** config["depth"]
    height = number("unet.height", height, low, MAX_INPUT_SIDE, integer=True)
    width = number("unet.width", width, low, MAX_INPUT_SIDE, integer=True)
    return config, height, width


def check_build(n_channels, n_classes, bilinear, base_channels, depth, height, width) -> int:
    """Validate a builder request without allocating weights; returns the parameter count."""
    config, _, _ = checked_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    return _param_count(**config)
