"""The models Compose builds around its containers: 5.1.3 and 5.1.4 say a ModuleList or ModuleDict only stores
layers, so a module owning one needs a `forward` that runs them (`ListNet`, `DictNet`); 5.1.5 says the lists shine
for repeated blocks and connections a chain cannot express (`ResidualBlock`, `ResidualMLP`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from torch import nn

__all__ = ["ListNet", "DictNet", "ResidualBlock", "ResidualMLP"]


class ListNet(nn.Module):
    """A ModuleList only stores layers; this forward runs them in order (5.1.3's for loop)."""

    def __init__(self, layers: Iterable[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class DictNet(nn.Module):
    """A ModuleDict only stores named layers; this forward runs them in insertion order (5.1.4)."""

    def __init__(self, layers: Mapping[str, nn.Module]):
        super().__init__()
        self.layers = nn.ModuleDict(layers)

    def forward(self, x):
        for layer in self.layers.values():
            x = layer(x)
        return x


class ResidualBlock(nn.Module):
    """x => LayerNorm => Linear => GELU => Linear, added back to x (5.1.5: the result joins an earlier one)."""

    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))  # (N, width): the skip keeps the shape


class ResidualMLP(nn.Module):
    """inp => ResidualBlock * depth (an nn.ModuleList: one line builds them all) => head."""

    def __init__(self, in_features: int, width: int, depth: int, num_classes: int):
        super().__init__()
        self.inp = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList([ResidualBlock(width, 2 * width) for _ in range(depth)])
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inp(x)
        for block in self.blocks:  # not a chain of layers: each block adds its input back
            x = block(x)
        return self.head(x)
