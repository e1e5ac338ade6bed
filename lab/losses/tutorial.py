"""Tutorial 6.1's own code, as printed, made to run only where it can: the pitfalls run it beside the fix.

- 6.1.1's `my_loss`, a loss written as a function (nothing wrong with it).
- 6.1.2's four classes. DiceLoss as printed does not even compile: its `def forward` line is indented with a tab,
  every other line with spaces (Python: TabError). `DICE_AS_PRINTED` keeps that text byte for byte; it is only
  ever `compile()`d. The runnable `DiceLoss` below is that class with the tab made spaces, nothing else.
- What is wrong in all four, kept on purpose: `F.sigmoid` then `F.binary_cross_entropy` (saturates at large logits,
  refused under CUDA autocast), `.view(-1)` (fails on non-contiguous tensors), `weight` and `size_average` taken
  and never used, and FocalLoss's focal factor applied to the batch-mean BCE (a rescaled BCE, not a focal loss).
"""

# ruff: noqa: UP008 - super(DiceLoss, self) as printed

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError, Term, shown
from lab.losses.core import canonical

__all__ = ["DICE_AS_PRINTED", "ALPHA", "GAMMA", "my_loss", "DiceLoss", "DiceBCELoss", "IoULoss", "FocalLoss",
           "TUTORIAL", "tutorial_code"]

# 6.1.2's DiceLoss exactly as the tutorial prints it: line 5 starts with a tab, the other lines with spaces, and
# some lines end in spaces. Text only, kept in a file beside this one: compiled by the pitfall to show Python's
# refusal, never executed.
DICE_AS_PRINTED = Path(__file__).with_name("tutorial_6_1_2_dice.txt").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------------
# 6.1.1: a loss as a function


def my_loss(output, target):
    loss = torch.mean((output - target)**2)
    return loss


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2: the classes (DiceLoss with its tab made spaces; trailing spaces dropped; everything else as printed)


class DiceLoss(nn.Module):
    def __init__(self,weight=None,size_average=True):
        super(DiceLoss,self).__init__()

    def forward(self,inputs,targets,smooth=1):
        inputs = F.sigmoid(inputs)
        inputs = inputs.view(-1)
        targets = targets.view(-1)
        intersection = (inputs * targets).sum()
        dice = (2.*intersection + smooth)/(inputs.sum() + targets.sum() + smooth)
        return 1 - dice


class DiceBCELoss(nn.Module):
    def __init__(self, weight=None, size_average=True):
        super(DiceBCELoss, self).__init__()

    def forward(self, inputs, targets, smooth=1):
        inputs = F.sigmoid(inputs)
        inputs = inputs.view(-1)
        targets = targets.view(-1)
        intersection = (inputs * targets).sum()
        dice_loss = 1 - (2.*intersection + smooth)/(inputs.sum() + targets.sum() + smooth)
        BCE = F.binary_cross_entropy(inputs, targets, reduction='mean')
        Dice_BCE = BCE + dice_loss

        return Dice_BCE


class IoULoss(nn.Module):
    def __init__(self, weight=None, size_average=True):
        super(IoULoss, self).__init__()

    def forward(self, inputs, targets, smooth=1):
        inputs = F.sigmoid(inputs)
        inputs = inputs.view(-1)
        targets = targets.view(-1)
        intersection = (inputs * targets).sum()
        total = (inputs + targets).sum()
        union = total - intersection

        IoU = (intersection + smooth)/(union + smooth)

        return 1 - IoU


ALPHA = 0.8
GAMMA = 2


class FocalLoss(nn.Module):
    def __init__(self, weight=None, size_average=True):
        super(FocalLoss, self).__init__()

    def forward(self, inputs, targets, alpha=ALPHA, gamma=GAMMA, smooth=1):
        inputs = F.sigmoid(inputs)
        inputs = inputs.view(-1)
        targets = targets.view(-1)
        BCE = F.binary_cross_entropy(inputs, targets, reduction='mean')
        BCE_EXP = torch.exp(-BCE)
        focal_loss = alpha * (1-BCE_EXP)**gamma * BCE

        return focal_loss


# name -> the tutorial's class (instantiate with no arguments; smooth/alpha/gamma are forward() keywords there)
TUTORIAL: dict[str, type[nn.Module]] = {"dice": DiceLoss, "dice_bce": DiceBCELoss, "iou": IoULoss, "focal": FocalLoss}


def tutorial_code(name: str) -> str:
    """The tutorial's class for `name` as its source (DiceLoss: the tab made spaces); FocalLoss with its constants."""
    key = canonical(name)
    if key not in TUTORIAL:
        raise LabError("error.value", field="losses.loss", value=shown(name),
                       accepted=Term("accept.one_of", options=", ".join(TUTORIAL)))  # fmt: skip
    source = textwrap.dedent(inspect.getsource(TUTORIAL[key]))
    if key == "focal":  # its defaults are module constants in the tutorial
        source = f"ALPHA = {ALPHA!r}\nGAMMA = {GAMMA!r}\n\n" + source
    return source
