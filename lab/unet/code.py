"""The builder's code panel: the blocks and the U exactly as the lab runs them (their source), then the lines
that build, print and measure the visitor's U-Net. Standalone: torch only, no `lab` import."""

from __future__ import annotations

from lab.source import source
from lab.unet import blocks
from lab.unet.build import checked_build

__all__ = ["model_source", "to_code"]

TORCH_IMPORTS = ("import torch", "import torch.nn as nn", "import torch.nn.functional as F")


def model_source(*, stdlib: tuple[str, ...] = (), third_party: tuple[str, ...] = ()) -> str:
    """The imports (stdlib, then torch's and `third_party`, as isort orders them), the four blocks and the U: what
    every U-Net code panel starts with."""
    others = sorted({*TORCH_IMPORTS, *third_party}, key=lambda line: (line.startswith("from "), line.lower()))
    sections = ["from __future__ import annotations", "\n".join(stdlib), "\n".join(others)]
    head = "\n\n".join(part for part in sections if part)
    return head + "\n\n\n" + source(blocks.DoubleConv, blocks.Down, blocks.Up, blocks.OutConv, blocks.UNet)


def to_code(n_channels: int = 3, n_classes: int = 2, bilinear: bool = True, base_channels: int = 64,
            depth: int = 4, height: int = 256, width: int = 256) -> str:  # fmt: skip
    """Runnable, self-contained PyTorch that builds the same U-Net, prints it, counts its parameters and FLOPs
    (on the meta device: no memory, no arithmetic) and prints the output shape, as the builder shows them."""
    config, height, width = checked_build(n_channels, n_classes, bilinear, base_channels, depth, height, width)
    args = ", ".join(f"{k}={v!r}" for k, v in config.items())
    return f"""{model_source(third_party=("from torch.utils.flop_counter import FlopCounterMode",))}

config = dict({args})
model = UNet(**config)
print(model)
params = sum(p.numel() for p in model.parameters())
print(f"{{params:,}} parameters")

# shapes and FLOPs for one {height} x {width} image, on the meta device (no memory, no arithmetic)
with torch.device("meta"):
    meta_model = UNet(**config).eval()  # BatchNorm in eval mode: a 1 x 1 bottom map is fine for a batch of one
    x = torch.empty(1, {config["n_channels"]}, {height}, {width})
counter = FlopCounterMode(display=False)
with counter:
    out = meta_model(x)
flops = counter.get_total_flops()
print("output shape", tuple(out.shape), f"{{flops / 1e9:.2f}} GFLOPs")
"""
