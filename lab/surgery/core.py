"""The surgery's blocks (5.3): a torchvision ResNet, its width, the new head, the two wrappers, freezing.

Ordered bottom-up: the ResNet and its feature width, the OrderedDict head, `replace_head` (5.3.1), `WithExtraInput`
(5.3.2), `WithExtraOutput` (5.3.3), `freeze` and `eval_frozen_batchnorm`. The code panels print these functions and
classes as they are (`lab.source`), so each is plain torch; a line ending in `# input check` refuses a wrong value
with a LabError and is the only line the panels leave out (`lab.surgery.code`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn as nn
from torchvision import models

from lab.errors import LabError, Term, choice, number, shown

__all__ = [
    "ARCHS", "FEATURES", "MAX_CLASSES", "MAX_HIDDEN", "MAX_HIDDEN_LAYERS", "MAX_EXTRA", "MAX_BATCH", "MIN_SIZE",
    "MAX_SIZE", "MAX_DROPOUT", "resnet", "feature_dim", "parse_hidden", "make_head", "replace_head",
    "WithExtraInput", "WithExtraOutput", "freeze", "eval_frozen_batchnorm",
    "check_arch", "check_classes", "check_dropout", "check_extra_size",
]

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# Width of the penultimate features (what `fc` receives): BasicBlock nets end in 512 channels,
# Bottleneck nets in 512 * expansion 4 = 2048.
FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}
MAX_CLASSES = 10_000
MAX_HIDDEN = 4096  # width of one hidden layer of the head
MAX_HIDDEN_LAYERS = 4
MAX_EXTRA = 1024  # width of the extra input
MAX_DROPOUT = 0.95  # nn.Dropout takes p up to 1, but p = 1 zeroes every value: no head can learn through it
MAX_BATCH = 8  # dummy batch of the forward check
MIN_SIZE, MAX_SIZE = 32, 384  # its height = width; 32 is the smallest that still leaves layer4 a 1x1 map


# ---------------------------------------------------------------------------------------------------------------
# Input checks: one field each, worded by `field.surgery.<name>` in the catalogues


def check_arch(arch: object) -> str:
    return choice("surgery.arch", arch, ARCHS)


def check_classes(value: object) -> int:
    return number("surgery.classes", value, 2, MAX_CLASSES, integer=True)


def check_dropout(value: object) -> float:
    return number("surgery.dropout", value, 0.0, MAX_DROPOUT)


def check_extra_size(value: object, low: int = 1) -> int:
    return number("surgery.extra_size", value, low, MAX_EXTRA, integer=True)


def _check_resnet(net: object) -> None:
    layer4 = getattr(net, "layer4", None)
    if not (isinstance(layer4, nn.Module) and hasattr(net, "fc")
            and any(isinstance(m, nn.BatchNorm2d) for m in layer4.modules())):
        raise LabError("error.surgery.not_resnet", type=type(net).__name__)


def _check_extra(extra: torch.Tensor, batch: int, num_extra: int) -> None:
    """The extra input must be (N, k), or (N,) when k = 1 (5.3.2's scalar per sample)."""
    shape = tuple(torch.as_tensor(extra).shape)
    if shape != (batch, num_extra) and not (num_extra == 1 and shape == (batch,)):
        accepted = f"({batch}, {num_extra})" + (f" or ({batch},)" if num_extra == 1 else "")
        raise LabError("error.surgery.extra_shape", shape=str(shape), accepted=accepted)


def _check_keep(net: nn.Module, keep: Sequence[str]) -> None:
    names = [name for name, _ in net.named_parameters()]
    for key in keep:
        if not any(name == key or name.startswith(f"{key}.") for name in names):
            roots = sorted({name.split(".")[0] for name in names})
            raise LabError("error.surgery.keep_trainable", value=shown(key), names=", ".join(roots))


def parse_hidden(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """Hidden sizes of the new head from text like "128" or "512, 128" (empty: no hidden layer), or a sequence.

    None (a Textbox sent JSON null through the API; the page always sends a string) is refused rather than read
    as "no hidden layer": a missing field is more likely a client mistake than a choice, and the sentence says how
    to ask for no hidden layer (an empty text).
    """
    accepted = Term("accept.surgery.hidden", layers=MAX_HIDDEN_LAYERS, high=f"{MAX_HIDDEN:,}")
    refused = LabError("error.value", field="surgery.hidden", value=shown(text), accepted=accepted)
    if isinstance(text, str):
        parts: list[object] = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:  # None, a number, an object: not sizes
        raise refused
    if len(parts) > MAX_HIDDEN_LAYERS:
        raise refused
    try:
        return tuple(number("surgery.hidden", p, 1, MAX_HIDDEN, integer=True) for p in parts)
    except LabError:
        raise refused from None


# ---------------------------------------------------------------------------------------------------------------
# The ResNet and its width


def resnet(arch: str, weights_path: str | None = None) -> nn.Module:
    """A torchvision ResNet: random weights, or a local state_dict file (never a download).

    The file is read by `lab.checkpoints.load` (untrusted: weights only, no code runs) and loaded strictly by
    `lab.checkpoints.load_into`, so a file for another architecture raises LabError listing the keys that are
    missing, unexpected or of another shape.
    """
    net = models.get_model(check_arch(arch), weights=None)
    if weights_path:
        from lab import checkpoints  # imported here: only an upload needs it

        state = checkpoints.load(weights_path)
        report = checkpoints.compare(net, state)
        if not report.ok:
            raise LabError("error.surgery.weights_misfit", name=shown(Path(weights_path).name), arch=arch,
                           problems=report.problems())  # fmt: skip
        checkpoints.load_into(net, state, strict=True)
    return net


def feature_dim(net: nn.Module) -> int:
    """Width of a ResNet's penultimate features: the channels of layer4's last BatchNorm (512 or 2048)."""
    _check_resnet(net)  # input check
    norms = [m for m in net.layer4.modules() if isinstance(m, nn.BatchNorm2d)]
    return norms[-1].num_features


# ---------------------------------------------------------------------------------------------------------------
# 5.3.1: a new head


def make_head(in_features: int, hidden: Sequence[int] = (128,), num_classes: int = 10,
              dropout: float = 0.5) -> nn.Sequential:
    """(fc1 => relu1 => dropout1) per hidden size, then the output layer: logits, no Softmax (5.3.1's OrderedDict).

    The names follow the tutorial (fc1, relu1, dropout1, fc2), so its `fc.*` state_dict keys load; its trailing
    `output` Softmax is left out on purpose: CrossEntropyLoss wants logits.
    """
    hidden = parse_hidden(hidden)  # input check
    num_classes = check_classes(num_classes)  # input check
    dropout = check_dropout(dropout)  # input check
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for i, size in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, size)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"dropout{i}"] = nn.Dropout(dropout)
        width = size
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(width, num_classes)  # logits
    return nn.Sequential(layers)


def replace_head(net: nn.Module, hidden: Sequence[int] = (128,), num_classes: int = 10,
                 dropout: float = 0.5) -> nn.Module:
    """5.3.1: `net.fc` becomes the OrderedDict head returning logits (N, num_classes). Changes `net` in place."""
    net.fc = make_head(feature_dim(net), hidden, num_classes, dropout)
    return net


# ---------------------------------------------------------------------------------------------------------------
# 5.3.2 and 5.3.3: an extra input, an extra output


class WithExtraInput(nn.Module):
    """5.3.2 done right: cat(features (N, F), extra (N, k)) => head => logits (N, num_classes).

    `net.fc` becomes `nn.Identity()`, so `self.net(x)` returns the true penultimate features (F = 512 or 2048, not
    the 1000 ImageNet logits), and the new head is called `fc` (so `freeze(model)` keeps it trainable). With
    `return_features=True` forward returns `(logits, features)` as WithExtraOutput does.
    """

    def __init__(self, net: nn.Module, num_extra: int = 1, num_classes: int = 10, *, hidden: Sequence[int] = (),
                 dropout: float = 0.5, return_features: bool = False) -> None:
        super().__init__()
        num_extra = check_extra_size(num_extra)  # input check
        width = feature_dim(net)
        net.fc = nn.Identity()  # net(x) now returns the penultimate features
        self.net = net
        self.num_extra = num_extra
        self.fc = make_head(width + num_extra, hidden, num_classes, dropout)
        self.return_features = return_features

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        _check_extra(extra, x.shape[0], self.num_extra)  # input check
        features = self.net(x)  # (N, F)
        extra = torch.as_tensor(extra).reshape(x.shape[0], self.num_extra).to(features)  # (N, k): float, same device
        logits = self.fc(torch.cat((features, extra), dim=1))  # (N, F + k) => (N, num_classes)
        return (logits, features) if self.return_features else logits


class WithExtraOutput(nn.Module):
    """5.3.3 done right: forward(x) -> (logits (N, num_classes), features (N, F)), one input only."""

    def __init__(self, net: nn.Module, num_classes: int = 10, *, hidden: Sequence[int] = (),
                 dropout: float = 0.5) -> None:
        super().__init__()
        width = feature_dim(net)
        net.fc = nn.Identity()  # net(x) now returns the penultimate features
        self.net = net
        self.fc = make_head(width, hidden, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net(x)  # (N, F): the true penultimate layer
        return self.fc(features), features


# ---------------------------------------------------------------------------------------------------------------
# What trains


def freeze(net: nn.Module, keep_trainable: Sequence[str] = ("fc",)) -> nn.Module:
    """`requires_grad=False` for every parameter outside the named submodules (dotted prefixes like "fc").

    BatchNorm running statistics are buffers, not parameters: in train mode a frozen BatchNorm still updates
    them on every forward. `eval_frozen_batchnorm(net)` after each `net.train()` keeps them as they are.
    """
    keep = tuple(keep_trainable)
    _check_keep(net, keep)  # input check
    for name, param in net.named_parameters():
        param.requires_grad_(any(name == key or name.startswith(f"{key}.") for key in keep))
    return net


def eval_frozen_batchnorm(net: nn.Module) -> nn.Module:
    """Put every BatchNorm whose parameters are all frozen in eval mode: it then normalises with its running
    statistics and stops updating them. `net.train()` undoes it, so call this after every `net.train()`."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d) and not any(p.requires_grad for p in module.parameters()):
            module.eval()
    return net
