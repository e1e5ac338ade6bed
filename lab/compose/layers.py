"""What Compose accepts: the layer allow-list, the bounds, the examples, and one parsed line (`LayerSpec`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lab.errors import LabError

__all__ = [
    "STYLES", "STYLE_LABELS", "LAYERS", "MAX_LAYERS", "MAX_PARAMS", "MAX_ACTIVATION_NUMEL", "MAX_FLOPS", "MAX_WORK",
    "MAX_TEXT_CHARS", "MAX_NAME_CHARS", "MAX_INT_ARGUMENT", "FORBIDDEN_KWARGS", "DEFAULT_LAYERS",
    "DEFAULT_INPUT_SHAPE", "EXAMPLES", "EXAMPLE_IDS", "LayerSpec",
]

STYLES = ("sequential", "ordereddict", "modulelist", "moduledict")
STYLE_LABELS = {
    "sequential": "nn.Sequential",
    "ordereddict": "nn.Sequential + OrderedDict",
    "modulelist": "nn.ModuleList",
    "moduledict": "nn.ModuleDict",
}

# The allow-list: torch.nn layers a chain of single-tensor layers can use (the list and a few relatives).
LAYERS: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (
        nn.Linear, nn.Bilinear, nn.Identity, nn.Embedding,
        nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d,
        nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d,
        nn.Dropout, nn.Dropout2d,
        nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.SiLU, nn.Mish, nn.ELU, nn.Hardswish,
        nn.Sigmoid, nn.Tanh, nn.Softplus, nn.Softmax, nn.LogSoftmax,
        nn.Flatten, nn.Unflatten,
        nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
        nn.AdaptiveMaxPool2d, nn.Upsample,
    )
}  # fmt: skip

MAX_LAYERS = 64
MAX_PARAMS = 50_000_000
MAX_ACTIVATION_NUMEL = 2**26  # one layer's output: 256 MiB of float32
MAX_FLOPS = 20e9  # per forward pass, as torch.utils.flop_counter counts them (matrix products, convolutions)
# per forward pass, in lab.compose.cost.layer_work's units (about 1 ns of a 2-core CPU each): every layer's real
# work, pooling windows and interpolation taps included, plus explore's own share (lab.compose.cost). explore runs
# ten forwards (the model, then the reference and two per style in the four-styles proof): the largest accepted
# request takes ~4 s on 2 idle cores and stays near 10 s with a second request on the same cores
# (bench/compose_cost.py)
MAX_WORK = 4e8
MAX_TEXT_CHARS = 20_000
MAX_NAME_CHARS = 40
MAX_INT_ARGUMENT = 2**31 - 1  # any whole-number argument, in absolute value: sizes, dims, paddings
# keyword arguments that would move a layer off the lab's device or change its dtype behind the lab's back
FORBIDDEN_KWARGS = {"device", "dtype"}

DEFAULT_LAYERS = "fc1 = nn.Linear(784, 256)\nrelu1 = nn.ReLU()\nfc2 = nn.Linear(256, 10)\n"
DEFAULT_INPUT_SHAPE = "1x784"

# Ready-made layer stacks for the tab's examples: label -> (layers text, input shape). The first five are the
# lab's own stacks; the last four are the tutorial's listings (5.1.2-5.1.4) pasted as printed.
EXAMPLES: dict[str, tuple[str, str]] = {
    "Tutorial 5.1.2 MLP": (DEFAULT_LAYERS, DEFAULT_INPUT_SHAPE),
    "Small CNN": (
        "conv1 = nn.Conv2d(3, 16, 3, padding=1)\nbn1 = nn.BatchNorm2d(16)\nnn.ReLU()\nnn.MaxPool2d(2)\n"
        "conv2 = nn.Conv2d(16, 32, 3, padding=1)\nnn.ReLU()\nnn.AdaptiveAvgPool2d((1, 1))\nnn.Flatten()\n"
        "nn.Dropout(0.2)\nfc = nn.Linear(32, 10)\n",
        "2x3x32x32",
    ),
    "Decoder (Unflatten, ConvTranspose2d)": (
        "nn.Linear(16, 128)\nnn.Unflatten(1, (8, 4, 4))\nnn.ConvTranspose2d(8, 4, 2, stride=2)\nnn.GELU()\n"
        "nn.ConvTranspose2d(4, 1, 2, stride=2)\nnn.Sigmoid()\n",
        "1x16",
    ),
    "Embedding + LayerNorm": (
        "emb = nn.Embedding(1000, 16)\nnn.Flatten()\nnorm = nn.LayerNorm(128)\nnn.SiLU()\nhead = nn.Linear(128, 2)\n",
        "4x8",
    ),
    "Shape mismatch (read the error)": ("nn.Linear(784, 256)\nnn.ReLU()\nnn.Linear(128, 10)\n", DEFAULT_INPUT_SHAPE),
    "5.1.2 nn.Sequential listing": (
        "import torch\nimport torch.nn as nn\nnet = nn.Sequential(\n        nn.Linear(784, 256),\n        nn.ReLU(),\n"
        "        nn.Linear(256, 10), \n        )\nprint(net)\n",
        DEFAULT_INPUT_SHAPE,
    ),
    "5.1.2 OrderedDict listing": (
        "import collections\nimport torch.nn as nn\nnet2 = nn.Sequential(collections.OrderedDict([\n"
        "          ('fc1', nn.Linear(784, 256)),\n          ('relu1', nn.ReLU()),\n"
        "          ('fc2', nn.Linear(256, 10))\n          ]))\nprint(net2)\n",
        DEFAULT_INPUT_SHAPE,
    ),
    "5.1.3 ModuleList listing": (
        "net = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])\n"
        "net.append(nn.Linear(256, 10)) # # 类似List的append操作\n"
        "print(net[-1])  # 类似List的索引访问\nprint(net)\n",
        DEFAULT_INPUT_SHAPE,
    ),
    "5.1.4 ModuleDict listing": (
        "net = nn.ModuleDict({\n    'linear': nn.Linear(784, 256),\n    'act': nn.ReLU(),\n})\n"
        "net['output'] = nn.Linear(256, 10) # 添加\nprint(net['linear']) # 访问\nprint(net.output)\nprint(net)\n",
        DEFAULT_INPUT_SHAPE,
    ),
    "LeNet-style arithmetic (16 * 5 * 5)": (
        "nn.Conv2d(3, 6, 5)\nnn.ReLU()\nnn.MaxPool2d(2, 2)\nnn.Conv2d(6, 16, 5)\nnn.ReLU()\nnn.MaxPool2d(2, 2)\n"
        "nn.Flatten()\nnn.Linear(16 * 5 * 5, 120)\nnn.ReLU()\nnn.Linear(120, 84)\nnn.ReLU()\nnn.Linear(84, 10)\n",
        "1x3x32x32",
    ),
}
# Each example's id: its label's key in the catalogues (`compose.example.<id>`).
EXAMPLE_IDS = dict(zip(EXAMPLES, ("mlp", "cnn", "decoder", "embedding", "mismatch", "sequential_listing",
                                   "ordereddict_listing", "modulelist_listing", "moduledict_listing", "lenet"),
                       strict=True))  # fmt: skip


@dataclass(frozen=True)
class LayerSpec:
    """One parsed layer: `name = cls(*args, **kwargs)` (name None when the text gave none), on line `line`."""

    name: str | None
    cls: type[nn.Module]
    args: tuple
    kwargs: dict[str, Any]
    line: int

    def call_code(self) -> str:
        """`nn.Linear(784, 256)`: the constructor call, arguments as literals (arithmetic already computed)."""
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"nn.{self.cls.__name__}({', '.join(parts)})"

    def short_code(self, limit: int = 80) -> str:
        """`call_code()` cut for an error message."""
        code = self.call_code()
        return code if len(code) <= limit else code[: limit - 1] + "…"

    def instantiate(self, device: torch.device | str | None = None) -> nn.Module:
        """Build the layer; a constructor's own complaint (bad channels, p=2.0) becomes a LabError naming the line."""
        try:
            if device is None:
                return self.cls(*self.args, **self.kwargs)
            with torch.device(device):
                return self.cls(*self.args, **self.kwargs)
        except Exception as exc:  # noqa: BLE001 - an allow-listed torch class refusing literal user arguments
            # (TypeError, ValueError, RuntimeError, ZeroDivisionError for GroupNorm(0, 0), ...): the user's input
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise LabError("error.compose.refused", line=self.line, code=self.short_code(),
                           reason=reason[:160]) from exc  # fmt: skip
