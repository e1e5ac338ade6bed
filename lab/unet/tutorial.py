"""The tutorial's own U-Net (5.2.4), as printed, on the lab's blocks: the reference the lab's UNet is checked against.

The blocks of 5.2.3 are `lab.unet.blocks` (the tutorial's code with type hints and comments, nothing else); the
assembly below is the tutorial's text, unchanged: four fixed levels, 64 base channels. The parity tests load its
state_dict into `lab.unet.UNet(3, 2, bilinear)` and compare outputs; `bench/segment.py` times it as "the
tutorial's fp32 code".
"""
# ruff: noqa: UP008  (kept as the tutorial prints it: `super(UNet, self).__init__()`)

import torch.nn as nn

from lab.unet.blocks import DoubleConv, Down, OutConv, Up

__all__ = ["UNet"]


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes, bilinear=True):
        super(UNet, self).__init__()
        self.n_channels = n_channels
        self.n_classes = n_classes
        self.bilinear = bilinear

        self.inc = DoubleConv(n_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        factor = 2 if bilinear else 1
        self.down4 = Down(512, 1024 // factor)
        self.up1 = Up(1024, 512 // factor, bilinear)
        self.up2 = Up(512, 256 // factor, bilinear)
        self.up3 = Up(256, 128 // factor, bilinear)
        self.up4 = Up(128, 64, bilinear)
        self.outc = OutConv(64, n_classes)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        logits = self.outc(x)
        return logits
