"""Compose's code panel: standalone PyTorch that rebuilds the same network in the chosen style, with the lab's
seed, prints it and runs the same forward pass; `ListNet`/`DictNet` are printed from the source the lab runs."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from lab.compose.core import as_layers, check_style
from lab.compose.layers import LayerSpec
from lab.compose.nets import DictNet, ListNet, ResidualBlock, ResidualMLP
from lab.compose.parse import parse_shape
from lab.source import source

__all__ = ["to_code", "residual_code"]


def _call_code(module: nn.Module, spec: LayerSpec | None) -> str:
    if spec is not None:
        return spec.call_code()
    # a module the lab did not parse: its extra_repr is the constructor's arguments for torch.nn layers
    return f"nn.{type(module).__name__}({module.extra_repr()})"


def _input_code(shape: tuple[int, ...], first: nn.Module) -> str:
    gen = "generator=torch.Generator().manual_seed(0)"
    if isinstance(first, nn.Embedding):
        return f"x = torch.randint(0, {first.num_embeddings}, {shape!r}, {gen})  # token indices for the embedding"
    return f"x = torch.randn({', '.join(map(str, shape))}, {gen})"


def _forward_lines(shape: tuple[int, ...], first: nn.Module) -> list[str]:
    return [
        "",
        _input_code(shape, first) + ".to(device)",
        "net.eval()  # BatchNorm uses running statistics, Dropout is off",
        "with torch.no_grad():",
        "    y = net(x)",
        'print("output", tuple(y.shape), y.flatten()[:8].tolist())',
    ]


def to_code(
    layers: str | Sequence[tuple[str | None, nn.Module]],
    style: str,
    *,
    input_shape: str | Sequence[int] | None = None,
) -> str:
    """Runnable PyTorch that rebuilds the same architecture (same `state_dict` keys and shapes) and prints it.

    Weights come from `torch.manual_seed(0)` like the lab's. With `input_shape`, the code also runs the
    forward pass on the lab's seeded input and prints the output's shape and first values.
    """
    check_style(style)
    names, modules, specs = as_layers(layers)
    calls = [_call_code(m, s) for m, s in zip(modules, specs, strict=True)]
    lines = ["import torch", "import torch.nn as nn"]
    if style == "modulelist":
        lines.insert(0, "from collections.abc import Iterable\n")
    elif style in ("ordereddict", "moduledict"):
        lines.insert(0, "from collections import OrderedDict")
        if style == "moduledict":
            lines.insert(1, "from collections.abc import Mapping\n")
    lines += ["", 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")', ""]
    if style in ("modulelist", "moduledict"):
        lines += ["", source(ListNet if style == "modulelist" else DictNet).rstrip(), "", ""]
    lines.append("torch.manual_seed(0)  # the lab's initial weights")
    if style in ("sequential", "modulelist"):
        head, tail = ("net = nn.Sequential(", ")") if style == "sequential" else ("net = ListNet([", "])")
        lines.append(head)
        for call, spec in zip(calls, specs, strict=True):
            typed = spec.name if spec is not None else None
            lines.append(f"    {call},  # {typed}" if typed else f"    {call},")
        lines.append(tail)
    else:
        head = "net = nn.Sequential(OrderedDict([" if style == "ordereddict" else "net = DictNet(OrderedDict(["
        lines.append(head)
        lines += [f"    ({name!r}, {call})," for name, call in zip(names, calls, strict=True)]
        lines.append("]))")
    lines += ["net = net.to(device)", "print(net)"]
    if input_shape is not None:
        lines += _forward_lines(parse_shape(input_shape), modules[0])
    return "\n".join(lines) + "\n"


def residual_code(in_features: int, width: int, depth: int, num_classes: int, batch: int, seed: int) -> str:
    """5.1.5's residual stack: the blocks' source, the same seed, the same prints as the tab (model, counts, output)."""
    return "\n".join([
        "import torch",
        "import torch.nn as nn",
        "",
        "",
        source(ResidualBlock, ResidualMLP).rstrip(),
        "",
        "",
        f"torch.manual_seed({seed})  # the lab's seed: the same weights",
        f"net = ResidualMLP({in_features}, {width}, {depth}, {num_classes})",
        "print(net)",
        "total = sum(p.numel() for p in net.parameters())",
        'print(f"{total:,} parameters")',
        f"x = torch.randn({batch}, {in_features}, generator=torch.Generator().manual_seed(0))",
        "net.eval()",
        "with torch.no_grad():",
        "    y = net(x)",
        'print("output", tuple(y.shape), [round(v, 4) for v in y.flatten()[:8].tolist()])',
    ]) + "\n"
