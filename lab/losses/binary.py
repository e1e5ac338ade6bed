"""The four losses of tutorial 6.1.2, binary, written to be read: the classes the code panel prints and the lab runs.

Each takes logits (raw model outputs) and a 0/1 float mask of the same shape and pools over the whole batch, as the
tutorial does. Where the tutorial's classes (`lab.losses.pitfalls`) go wrong, these differ:
`binary_cross_entropy_with_logits` instead of `F.sigmoid` then `F.binary_cross_entropy`, the focal factor on every
pixel instead of on the batch mean, plain sums instead of `.view(-1)`. `lab.losses.core` builds on them: input
checks, (N, H, W) targets, float32 sums for bf16 logits and a multiclass mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DiceLoss", "IoULoss", "DiceBCELoss", "FocalLoss"]


class DiceLoss(nn.Module):
    """1 - Dice:  p = sigmoid(logits);  L = 1 - (2 * sum(p * t) + smooth) / (sum(p) + sum(t) + smooth)"""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth  # an empty mask predicted empty scores 1, not 0 / 0

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        intersection = (p * targets).sum()  # sums over every element: no .view(-1) needed
        dice = (2 * intersection + self.smooth) / (p.sum() + targets.sum() + self.smooth)
        return 1 - dice


class IoULoss(nn.Module):
    """1 - IoU (Jaccard):  L = 1 - (sum(p * t) + smooth) / (sum(p) + sum(t) - sum(p * t) + smooth)"""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.smooth = smooth

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        intersection = (p * targets).sum()
        union = p.sum() + targets.sum() - intersection
        return 1 - (intersection + self.smooth) / (union + self.smooth)


class DiceBCELoss(nn.Module):
    """BCE + Dice:  L = mean(binary_cross_entropy_with_logits(logits, t)) + DiceLoss(smooth)"""

    def __init__(self, smooth: float = 1.0):
        super().__init__()
        self.dice = DiceLoss(smooth)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # from logits: exact where sigmoid rounds to 0 or 1, and accepted by CUDA autocast
        bce = F.binary_cross_entropy_with_logits(logits, targets)
        return bce + self.dice(logits, targets)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017, RetinaNet), the focal factor on every pixel, then the mean:
    bce = binary_cross_entropy_with_logits(logits, t, reduction="none"),  p_t = exp(-bce),
    alpha_t = alpha * t + (1 - alpha) * (1 - t);  L = mean(alpha_t * (1 - p_t) ** gamma * bce)
    gamma = 0 gives BCE weighted by alpha_t (plain BCE only with alpha=None).
    """

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.per_pixel(logits, targets).mean()

    def per_pixel(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The loss of every element: the map whose mean `forward` returns."""
        bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        loss = self.focus(bce)
        if self.alpha is not None:
            loss = loss * (self.alpha * targets + (1 - self.alpha) * (1 - targets))
        return loss

    def focus(self, ce: torch.Tensor) -> torch.Tensor:
        """(1 - p_t) ** gamma * ce, with p_t = exp(-ce) the probability given to the true class."""
        hard = -torch.expm1(-ce)  # 1 - p_t, without the rounding of 1 - exp(-ce) when p_t is near 1
        if 0 < self.gamma < 1:
            # d hard**gamma / d hard is infinite at hard = 0 (0 * inf = nan); the clamp keeps it finite
            hard = hard.clamp_min(torch.finfo(ce.dtype).tiny)
        return hard**self.gamma * ce
