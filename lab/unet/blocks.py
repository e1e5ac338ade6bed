"""The U-Net's blocks and the U they assemble into (tutorial 5.2.3-5.2.4), bottom-up as in milesial/Pytorch-UNet.

These classes are exactly what the code panels print (`lab.source`), so they use nothing but torch: the lab's
input checks live in `lab.unet.build.UNet`, a subclass with the same name, keys and forward.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DoubleConv", "Down", "Up", "OutConv", "UNet"]


class DoubleConv(nn.Module):
    """(convolution => [BN] => ReLU) * 2"""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int | None = None) -> None:
        super().__init__()
        if not mid_channels:
            mid_channels = out_channels
        # bias=False: BatchNorm's shift makes a conv bias redundant; padding=1 keeps H and W
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
    """Downscaling with maxpool then double conv: (N, C_in, H, W) -> (N, C_out, H // 2, W // 2)"""

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
        x1 = self.up(x1)  # (N, C, 2h, 2w); 2h is one short of the skip's H when H was odd
        diff_y = x2.size(2) - x1.size(2)
        diff_x = x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        # the skip connection: concatenation along channels (C_skip + C_up), not a residual addition
        x = torch.cat([x2, x1], dim=1)
        return self.conv(x)


class OutConv(nn.Module):
    """1x1 convolution to one logit map per class"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNet(nn.Module):
    """The tutorial's UNet(n_channels, n_classes, bilinear) (5.2.4) at any width (`base_channels`) and `depth`.

    Encoder: inc, down1..down{depth}; decoder: up1..up{depth} (up1 is the deepest), outc. With the defaults the
    state_dict is the tutorial's, key for key. Input (N, n_channels, H, W), H and W >= 2**depth; output logits
    (N, n_classes, H, W).
    """

    def __init__(
        self, n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64, depth: int = 4
    ) -> None:
        super().__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear
        self.base_channels = base_channels
        self.depth = depth

        ch = [base_channels * 2**i for i in range(depth + 1)]  # channels per level, top to bottom: 64 ... 1024
        factor = 2 if bilinear else 1  # bilinear Up keeps channels, so the bottom produces half of them
        self.inc = DoubleConv(n_channels, ch[0])
        for i in range(1, depth + 1):
            self.add_module(f"down{i}", Down(ch[i - 1], ch[i] // factor if i == depth else ch[i]))
        for j in range(1, depth + 1):
            level = depth - j  # the level this Up lands on: its skip comes from there
            out = ch[level] if j == depth else ch[level] // factor
            self.add_module(f"up{j}", Up(ch[level + 1], out, bilinear))
        self.outc = OutConv(ch[0], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]  # x1: (N, base, H, W)
        for i in range(1, self.depth + 1):
            skips.append(getattr(self, f"down{i}")(skips[-1]))  # x{i+1}: (N, C_i, H / 2**i, W / 2**i)
        x = skips.pop()  # the bottom of the U
        for j in range(1, self.depth + 1):
            x = getattr(self, f"up{j}")(x, skips.pop())  # climb one level, concatenating its skip
        return self.outc(x)  # (N, n_classes, H, W)
