"""Tutorial 5.1: one network written four ways (Sequential, Sequential + OrderedDict, ModuleList, ModuleDict).

A person types layers, one per line, and picks a style:

    fc1 = nn.Linear(784, 256)        # a named layer: the name is its key in the OrderedDict/ModuleDict styles
    nn.ReLU()                        # an unnamed layer: the dict styles call it relu1 (type in lower case + count)
    Linear(256, 10)                  # `nn.`, `torch.nn.` or nothing in front of the class name: all the same

Also accepted, so tutorial code can be pasted: `self.fc1 = nn.Linear(...)`, a trailing comma, and the
OrderedDict entry form `('fc1', nn.Linear(784, 256)),`. The text is read with `ast`, never evaluated: only
classes from `LAYERS` and only literal arguments (numbers, strings, True/False/None, tuples and lists of them).

Bounds: at most `MAX_LAYERS` layers and `MAX_PARAMS` parameters, checked on the meta device before any
weight is allocated; in `explore`, every layer's output at most `MAX_ACTIVATION_NUMEL` elements, checked by a
forward pass on the meta device first.

ModuleList and ModuleDict only store layers (5.1.3: "nn.ModuleList does not define a network"): the lab wraps
them in `ListNet` / `DictNet`, whose `forward` runs the layers in order with a for loop.
"""

from __future__ import annotations

import ast
import keyword
import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lab.device import pick_device
from lab.errors import LabError, shown
from lab.inspect import check_input_shapes, count_params, example_inputs, forward_report, render_shape

__all__ = [
    "STYLES",
    "STYLE_LABELS",
    "LAYERS",
    "MAX_LAYERS",
    "MAX_PARAMS",
    "MAX_ACTIVATION_NUMEL",
    "MAX_FLOPS",
    "MAX_TEXT_CHARS",
    "DEFAULT_LAYERS",
    "DEFAULT_INPUT_SHAPE",
    "EXAMPLES",
    "LayerSpec",
    "ListNet",
    "DictNet",
    "parse_specs",
    "parse_layers",
    "parse_shape",
    "layer_names",
    "build",
    "to_code",
    "copy_weights",
    "max_abs_diff",
    "style_equivalence",
    "Composition",
    "explore",
    "bare_modulelist_demo",
    "moduledict_order_demo",
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
MAX_FLOPS = 20e9  # per forward pass; explore runs six (the model and the four-styles proof): seconds on 2 cores
MAX_TEXT_CHARS = 20_000
MAX_NAME_CHARS = 40
# keyword arguments that would move a layer off the lab's device or change its dtype behind the lab's back
FORBIDDEN_KWARGS = {"device", "dtype"}

DEFAULT_LAYERS = "fc1 = nn.Linear(784, 256)\nrelu1 = nn.ReLU()\nfc2 = nn.Linear(256, 10)\n"
DEFAULT_INPUT_SHAPE = "1x784"

# Ready-made layer stacks for the tab's examples: label -> (layers text, input shape).
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
}

LiteralValue = int | float | bool | str | None | tuple | list


# ---------------------------------------------------------------------------------------------------------------
# parsing: text -> LayerSpec (no module built yet)


@dataclass(frozen=True)
class LayerSpec:
    """One parsed line: `name = cls(*args, **kwargs)` (name None when the line had none)."""

    name: str | None
    cls: type[nn.Module]
    args: tuple
    kwargs: dict[str, Any]
    line: int

    def call_code(self) -> str:
        """`nn.Linear(784, 256)`: the constructor call, arguments as the person wrote them (as literals)."""
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
            raise LabError(f"Line {self.line}: {self.short_code()} was refused by PyTorch ({reason[:160]}).") from exc


def _snippet(node: ast.AST, limit: int = 60) -> str:
    """The source of a node for an error message, shortened (and safe on absurdly nested input)."""
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError):
        return type(node).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _literal(node: ast.expr, line: int, where: str) -> LiteralValue:
    """A literal argument value: numbers (negative too), strings, True/False/None, tuples/lists of those."""
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        raise LabError(
            f"Line {line}: argument `{_snippet(node)}` of {where} is not a literal; "
            "use numbers, strings, True/False/None or tuples of them."
        ) from None

    def ok(v: Any) -> bool:
        if isinstance(v, (tuple, list)):
            return len(v) <= 8 and all(ok(x) for x in v)
        if isinstance(v, str):
            return len(v) <= 40
        if isinstance(v, float):
            return math.isfinite(v)
        return v is None or isinstance(v, (bool, int))

    if not ok(value):
        raise LabError(
            f"Line {line}: argument `{_snippet(node)}` of {where} is not accepted; "
            "use finite numbers, short strings, True/False/None or short tuples of them."
        )
    return value


def _layer_class(func: ast.expr, line: int) -> type[nn.Module]:
    """`nn.X`, `torch.nn.X` or bare `X`, with X in the allow-list."""
    name = None
    if isinstance(func, ast.Name):
        name = func.id
    elif isinstance(func, ast.Attribute) and _snippet(func.value) in ("nn", "torch.nn"):
        name = func.attr
    if name not in LAYERS:
        snippet = _snippet(func, limit=40)
        raise LabError(
            f"Line {line}: `{snippet}` is not an allowed layer; use one of nn.{', nn.'.join(sorted(LAYERS)[:8])}, ... "
            f"({len(LAYERS)} in all, see the list under the text box)."
        )
    return LAYERS[name]


def _check_name(name: str, line: int) -> str:
    """A layer name must work as an attribute, an OrderedDict key and a ModuleDict key."""
    # instances, not classes: `training` and friends are set in __init__
    probes = (nn.Sequential(), nn.ModuleDict(), nn.ModuleList(), ListNet([]), DictNet({}))
    reserved = any(hasattr(p, name) for p in probes)
    if (
        not name.isidentifier()
        or keyword.iskeyword(name)
        or name.startswith("_")
        or len(name) > MAX_NAME_CHARS
        or reserved
    ):
        why = "is a method or attribute of nn.Module/ModuleDict" if reserved else "is not a usable name"
        raise LabError(
            f"Line {line}: the name {shown(name)} {why}; use a short identifier like fc1 or conv2 (letters, digits, _)."
        )
    return name


def _statement_parts(stmt: ast.stmt) -> tuple[str | None, ast.expr]:
    """(name or None, call node) for the accepted line forms; anything else is refused."""
    line = stmt.lineno
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, ast.Name):
            return target.id, stmt.value
        if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
            return target.attr, stmt.value  # pasted from an __init__: self.fc1 = nn.Linear(...)
    if isinstance(stmt, ast.Expr):
        value = stmt.value
        if isinstance(value, ast.Tuple) and len(value.elts) == 1:  # `nn.ReLU(),` pasted from a Sequential(...)
            return None, value.elts[0]
        if (
            isinstance(value, ast.Tuple)
            and len(value.elts) == 2
            and isinstance(value.elts[0], ast.Constant)
            and isinstance(value.elts[0].value, str)
        ):  # ('fc1', nn.Linear(784, 256)) pasted from an OrderedDict([...])
            return value.elts[0].value, value.elts[1]
        return None, value
    raise LabError(
        f"Line {line}: `{_snippet(stmt)}` is not a layer; write one layer per line like "
        "fc1 = nn.Linear(784, 256) or nn.ReLU()."
    )


def parse_specs(text: str) -> list[LayerSpec]:
    """Layers text -> specs, checked for syntax, allow-list, literals, names and the layer count (nothing built)."""
    if not isinstance(text, str) or not text.strip():
        raise LabError("The layers text is empty; write one layer per line, e.g. fc1 = nn.Linear(784, 256).")
    if len(text) > MAX_TEXT_CHARS:
        raise LabError(f"The layers text has {len(text):,} characters; at most {MAX_TEXT_CHARS:,} are accepted.")
    try:
        tree = ast.parse(text, mode="exec")
    except SyntaxError as exc:
        bad = (exc.text or "").strip()
        raise LabError(f"Line {exc.lineno} of the layers text is not valid Python ({exc.msg}): `{bad[:60]}`.") from None
    except (RecursionError, MemoryError, ValueError):  # absurd nesting; null bytes on older Pythons
        raise LabError("The layers text is nested too deeply or holds a null byte; write one layer per line.") from None
    if len(tree.body) > MAX_LAYERS:
        raise LabError(f"The layers text has {len(tree.body)} layers; at most {MAX_LAYERS} are accepted.")
    specs: list[LayerSpec] = []
    seen: dict[str, int] = {}
    for stmt in tree.body:
        line = stmt.lineno
        name, call = _statement_parts(stmt)
        if not isinstance(call, ast.Call):
            raise LabError(
                f"Line {line}: `{_snippet(call)}` is not a layer call; write it like nn.ReLU() or "
                "fc1 = nn.Linear(784, 256)."
            )
        cls = _layer_class(call.func, line)
        where = f"nn.{cls.__name__}"
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise LabError(f"Line {line}: *args and **kwargs are not accepted in {where}; write the values out.")
        args = tuple(_literal(a, line, where) for a in call.args)
        kwargs = {}
        for kw in call.keywords:
            if kw.arg in FORBIDDEN_KWARGS:
                raise LabError(f"Line {line}: {kw.arg}= is not accepted in {where}; the lab places every layer itself.")
            kwargs[kw.arg] = _literal(kw.value, line, where)
        if name is not None:
            _check_name(name, line)
            if name in seen:
                raise LabError(
                    f"Line {line}: the name {shown(name)} is already used on line {seen[name]}; "
                    "each layer needs its own name."
                )
            seen[name] = line
        specs.append(LayerSpec(name, cls, args, kwargs, line))
    return specs


def layer_names(specs: Sequence[LayerSpec]) -> list[str]:
    """Names for the dict styles: the typed name, else the type in lower case plus a per-type count (relu1, relu2)."""
    taken = {s.name for s in specs if s.name}
    counts: dict[str, int] = {}
    names = []
    for spec in specs:
        if spec.name:
            names.append(spec.name)
            continue
        base = spec.cls.__name__.lower()
        while True:
            counts[base] = counts.get(base, 0) + 1
            candidate = f"{base}{counts[base]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


def _checked_meta_layers(specs: Sequence[LayerSpec]) -> list[nn.Module]:
    """Build every layer on the meta device (no memory) to run its constructor checks and count parameters."""
    layers = [spec.instantiate("meta") for spec in specs]
    total = sum(count_params(m)[0] for m in layers)
    if total > MAX_PARAMS:
        biggest = max(range(len(specs)), key=lambda i: count_params(layers[i])[0])
        raise LabError(
            f"These layers hold {total:,} parameters (line {specs[biggest].line}, {specs[biggest].short_code()}, "
            f"alone {count_params(layers[biggest])[0]:,}); at most {MAX_PARAMS:,} are accepted."
        )
    return layers


# Weights are drawn from the global RNG; two sessions seeding and building at once must not interleave.
_RNG_LOCK = threading.Lock()
# Which spec built which module, so to_code can write the call as the person typed it.
_SPEC_OF: weakref.WeakKeyDictionary[nn.Module, LayerSpec] = weakref.WeakKeyDictionary()


def _instantiate_all(specs: Sequence[LayerSpec], seed: int | None, *, checked: bool = False) -> list[nn.Module]:
    """Real layers on the CPU, in order; with a seed, the same weights as `torch.manual_seed(seed)` + the calls.

    Unless `checked` (the caller already ran `_checked_meta_layers`), the bounds are checked on meta first.
    """
    if not checked:
        _checked_meta_layers(specs)
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        layers = [spec.instantiate() for spec in specs]
        for spec, module in zip(specs, layers, strict=True):
            _SPEC_OF[module] = spec
    return layers


def _named_layers(
    specs: Sequence[LayerSpec], seed: int | None, *, checked: bool = False
) -> list[tuple[str | None, nn.Module]]:
    """[(typed name or None, freshly built module)], the list form `build` and `to_code` take."""
    return list(zip([s.name for s in specs], _instantiate_all(specs, seed, checked=checked), strict=True))


def parse_layers(text: str) -> list[tuple[str | None, nn.Module]]:
    """Layers text -> [(name or None, module)], modules on the CPU with weights from `torch.manual_seed(0)`.

    Every problem is a LabError naming the line: syntax, a class outside `LAYERS`, a non-literal argument, a
    duplicate or reserved name, a constructor that refuses its arguments, more than `MAX_LAYERS` layers or
    `MAX_PARAMS` parameters (counted on the meta device before any weight is allocated).
    """
    return _named_layers(parse_specs(text), 0)


_SHAPE_SPLIT = re.compile(r"\s*(?:x|×|\*|,)\s*|\s+")


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """`"1x784"`, `"1, 784"`, `"(1, 784)"` or `"1 3 32 32"` -> a shape tuple; sizes positive and bounded."""
    if text is None or not isinstance(text, (str, Sequence)):  # an API client may send null
        raise LabError(f"The input shape {shown(text)} is not a shape; write it like 1x784 or 1, 3, 32, 32.")
    if isinstance(text, str):
        body = text.strip().strip("()[]").strip()
        parts = [p for p in _SHAPE_SPLIT.split(body) if p]
        if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise LabError(
                f"The input shape {shown(text)} is not a list of whole numbers; write it like 1x784 or 1, 3, 32, 32."
            )
        sizes = [int(p) for p in parts]
        if any(len(p.lstrip("+-")) > 12 for p in parts):
            raise LabError(
                f"The input shape {shown(text)} has a size with more than 12 digits; use sizes up to a few thousand."
            )
    else:
        sizes = list(text)
    return check_input_shapes([tuple(sizes)])[0]


# ---------------------------------------------------------------------------------------------------------------
# the four styles


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


def _check_style(style: str) -> str:
    if style not in STYLES:
        raise LabError(f"The style {shown(style)} is not known; use one of {', '.join(STYLES)}.")
    return style


def _as_layers(
    layers: str | Sequence[tuple[str | None, nn.Module]],
) -> tuple[list[str], list[nn.Module], list[LayerSpec | None]]:
    """Names (auto-filled), modules and specs (None where a module was not built from text)."""
    if isinstance(layers, str):
        specs = parse_specs(layers)
        modules = _instantiate_all(specs, seed=0)
        return layer_names(specs), modules, list(specs)
    if not layers:
        raise LabError("The layer list is empty; give at least one (name, module) pair.")
    if len(layers) > MAX_LAYERS:
        raise LabError(f"The layer list has {len(layers)} layers; at most {MAX_LAYERS} are accepted.")
    modules, specs, stand_ins = [], [], []
    for i, (name, module) in enumerate(layers):
        if not isinstance(module, nn.Module):
            raise LabError(f"Layer {i} is a {type(module).__name__}, not an nn.Module; give (name, module) pairs.")
        spec = _SPEC_OF.get(module)
        modules.append(module)
        specs.append(spec)
        stand_ins.append(LayerSpec(name, type(module), (), {}, i + 1))  # only for naming
    names = layer_names(stand_ins)
    if len(set(names)) != len(names):
        raise LabError(f"The layer names {shown(names)} repeat; each layer needs its own name.")
    return names, modules, specs


def build(layers: str | Sequence[tuple[str | None, nn.Module]], style: str) -> nn.Module:
    """One network in the chosen style, on `pick_device()`.

    `layers` is layers text or the list `parse_layers` returns (those module instances become the model's
    children). Text is built with `torch.manual_seed(0)` weights, so every style starts from the same numbers.
    """
    _check_style(style)
    names, modules, _ = _as_layers(layers)
    if style == "sequential":
        model: nn.Module = nn.Sequential(*modules)
    elif style == "ordereddict":
        model = nn.Sequential(OrderedDict(zip(names, modules, strict=True)))
    elif style == "modulelist":
        model = ListNet(modules)
    else:
        model = DictNet(OrderedDict(zip(names, modules, strict=True)))
    return model.to(pick_device())


# ---------------------------------------------------------------------------------------------------------------
# code export


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
    _check_style(style)
    names, modules, specs = _as_layers(layers)
    calls = [_call_code(m, s) for m, s in zip(modules, specs, strict=True)]
    lines = ["import torch", "import torch.nn as nn"]
    if style in ("ordereddict", "moduledict"):
        lines.insert(0, "from collections import OrderedDict")
    lines += ["", 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")', ""]
    if style == "modulelist":
        lines += [
            "",
            "class ListNet(nn.Module):",
            '    """A ModuleList only stores layers; this forward runs them in order (5.1.3\'s for loop)."""',
            "",
            "    def __init__(self, layers):",
            "        super().__init__()",
            "        self.layers = nn.ModuleList(layers)",
            "",
            "    def forward(self, x):",
            "        for layer in self.layers:",
            "            x = layer(x)",
            "        return x",
            "",
            "",
        ]
    elif style == "moduledict":
        lines += [
            "",
            "class DictNet(nn.Module):",
            '    """A ModuleDict only stores named layers; this forward runs them in insertion order (5.1.4)."""',
            "",
            "    def __init__(self, layers):",
            "        super().__init__()",
            "        self.layers = nn.ModuleDict(layers)",
            "",
            "    def forward(self, x):",
            "        for layer in self.layers.values():",
            "            x = layer(x)",
            "        return x",
            "",
            "",
        ]
    lines.append("torch.manual_seed(0)  # the lab's initial weights")
    if style in ("sequential", "modulelist"):
        head, tail = ("net = nn.Sequential(", ")") if style == "sequential" else ("net = ListNet([", "])")
        lines.append(head)
        for _name, call, spec in zip(names, calls, specs, strict=True):
            typed = spec.name if spec is not None else None
            lines.append(f"    {call},  # {typed}" if typed else f"    {call},")
        lines.append(tail)
    else:
        head, tail = (
            ("net = nn.Sequential(OrderedDict([", "]))")
            if style == "ordereddict"
            else ("net = DictNet(OrderedDict([", "]))")
        )
        lines.append(head)
        lines += [f"    ({name!r}, {call})," for name, call in zip(names, calls, strict=True)]
        lines.append(tail)
    lines += ["net = net.to(device)", "print(net)"]
    if input_shape is not None:
        shape = parse_shape(input_shape)
        lines += [
            "",
            _input_code(shape, modules[0]) + ".to(device)",
            "net.eval()  # BatchNorm uses running statistics, Dropout is off",
            "with torch.no_grad():",
            "    y = net(x)",
            'print("output", tuple(y.shape), y.flatten()[:8].tolist())',
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# the four styles compute the same function


def copy_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Copy `src`'s parameters and buffers into `dst` by position (keys differ between styles: `0.weight`,
    `fc1.weight`, `layers.0.weight`, `layers.fc1.weight`); shapes must match one to one."""
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    if len(src_sd) != len(dst_sd):
        raise LabError(f"The models hold {len(src_sd)} and {len(dst_sd)} tensors; copying needs the same layers.")
    mapped = {}
    for (sk, sv), (dk, dv) in zip(src_sd.items(), dst_sd.items(), strict=True):
        if sv.shape != dv.shape:
            raise LabError(
                f"Tensor {sk} {tuple(sv.shape)} does not fit {dk} {tuple(dv.shape)}; copying needs the same layers."
            )
        mapped[dk] = sv
    dst.load_state_dict(mapped)
    return dst


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b|, where equal infinities and NaN against NaN count as equal (a Softplus(beta=0) gives NaN)."""
    same = (a == b) | (a.isnan() & b.isnan())
    diff = torch.where(same, torch.zeros_like(a), (a - b).abs())
    return diff.max().item() if diff.numel() else 0.0


def style_equivalence(
    layers: str | Sequence[tuple[str | None, nn.Module]], input_shape: str | Sequence[int], *, seed: int = 1
) -> pd.DataFrame:
    """Build the network in all four styles, each with its own random weights, copy the first style's weights
    into the others, run all four on one input: one row per style with the max abs difference to `sequential`
    before and after copying (after: 0.0, the same function)."""
    shape = parse_shape(input_shape)
    if isinstance(layers, str):
        specs = parse_specs(layers)
        _checked_meta_layers(specs)
    else:
        _, _, maybe = _as_layers(layers)
        if any(s is None for s in maybe):
            raise LabError("Comparing styles needs layers parsed by the lab (text or parse_layers output).")
        specs = list(maybe)
    device = pick_device()
    reference = build(_named_layers(specs, seed, checked=True), STYLES[0])
    (x,) = example_inputs(reference, [shape], device=device)
    reference.eval()
    with torch.no_grad():  # x.clone() each time: an in-place first layer (ReLU(inplace=True)) would change x
        ref_out = reference(x.clone())
    rows = []
    for i, style in enumerate(STYLES):
        # fresh weights with another seed, so "before" shows the styles really differ until the copy
        model = build(_named_layers(specs, seed + i + 1, checked=True), style).eval()
        with torch.no_grad():
            before = max_abs_diff(model(x.clone()), ref_out)
            copy_weights(reference, model)
            out = model(x.clone())
            after = max_abs_diff(out, ref_out)
        rows.append(
            {
                "style": STYLE_LABELS[style],
                "class": type(model).__name__,
                "first key": next(iter(model.state_dict()), ""),
                "output_shape": render_shape(out),
                "max |diff| own weights": before,
                "max |diff| copied weights": after,
            }
        )
        del model
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# everything the Compose tab shows, in one call


@dataclass
class Composition:
    """The result of `explore`: the model and everything the tab shows about it."""

    model: nn.Module
    printed: str
    table: pd.DataFrame
    total: int
    trainable: int
    output_shape: str
    first_values: list[float]
    flops: int  # per forward pass, counted by torch.utils.flop_counter on the meta device
    nonfinite: int  # NaN/inf entries in the output (a Softplus(beta=0), a huge Linear without normalisation)
    code: str
    equivalence: pd.DataFrame


def _meta_check(specs: Sequence[LayerSpec], shape: tuple[int, ...]) -> int:
    """Run the forward on the meta device: shape errors, oversized outputs and too much compute surface before
    any real memory is used. Returns the forward's FLOPs (torch.utils.flop_counter, counted on meta)."""
    names = layer_names(specs)
    line_of = dict(zip(names, (s.line for s in specs), strict=True))
    for name, spec in zip(names, specs, strict=True):
        if spec.cls is nn.Bilinear:  # needs forward(x1, x2): no chain of single-tensor layers can feed it
            raise LabError(
                f"Layer '{name}' (Bilinear, line {spec.line}) needs two inputs, but a chain passes one tensor from "
                "layer to layer; nn.Bilinear belongs in a model with its own forward (5.1.5)."
            )
    meta = nn.Sequential(OrderedDict(zip(names, _checked_meta_layers(specs), strict=True)))
    try:
        with FlopCounterMode(display=False) as counter:
            table = forward_report(meta, [shape], device="meta").table  # explicit: a ReLU-only stack has no tensors
    except LabError as exc:
        message = str(exc)
        for name, line in line_of.items():  # say which line of the text the failing layer is on
            message = re.sub(rf"^Layer '{re.escape(name)}' \((\w+)\)", rf"Layer '{name}' (\1, line {line})", message)
        raise LabError(message) from exc
    for name, out in zip(table.name, table.output_shape, strict=True):
        sizes = ast.literal_eval(out)
        if not isinstance(sizes, tuple):  # MaxPool2d(return_indices=True) returns (values, indices)
            raise LabError(
                f"Layer '{name}' (line {line_of.get(name, '?')}) returns {out}, not one tensor; "
                "a chain passes one tensor from layer to layer (drop return_indices=True)."
            )
        numel = math.prod(sizes)
        if numel == 0:
            raise LabError(
                f"Layer '{name}' (line {line_of.get(name, '?')}) outputs an empty tensor {out}; "
                "every layer must keep at least one element in each dimension."
            )
        if numel > MAX_ACTIVATION_NUMEL:
            raise LabError(
                f"Layer '{name}' (line {line_of.get(name, '?')}) would output {out}, {numel:,} elements; at most "
                f"{MAX_ACTIVATION_NUMEL:,} are accepted: use a smaller input shape or layer sizes."
            )
    flops = counter.get_total_flops()
    if flops > MAX_FLOPS:
        raise LabError(
            f"These layers need {flops / 1e9:,.1f} GFLOPs for one forward pass on input {shape}; at most "
            f"{MAX_FLOPS / 1e9:g} are accepted: use a smaller input shape or narrower layers."
        )
    return flops


def explore(text: str, style: str, input_shape: str | Sequence[int]) -> Composition:
    """Parse, check on meta, build on `pick_device()`, trace one forward, export code, prove style equivalence."""
    _check_style(style)
    specs = parse_specs(text)
    shape = parse_shape(input_shape)
    flops = _meta_check(specs, shape)
    layers = _named_layers(specs, 0, checked=True)  # _meta_check ran the constructors and bounds on meta
    model = build(layers, style)
    report = forward_report(model, [shape])
    total, trainable = count_params(model)
    out = report.output
    is_tensor = isinstance(out, torch.Tensor)
    values = out.detach().flatten()[:8].float().cpu().tolist() if is_tensor else []
    nonfinite = int((~torch.isfinite(out)).sum().item()) if is_tensor and out.is_floating_point() else 0
    return Composition(
        model=model,
        printed=str(model),
        table=report.table,
        total=total,
        trainable=trainable,
        output_shape=render_shape(out),
        first_values=values,
        flops=flops,
        nonfinite=nonfinite,
        code=to_code(layers, style, input_shape=shape),
        equivalence=style_equivalence(text, shape),
    )


# ---------------------------------------------------------------------------------------------------------------
# the pitfalls of 5.1, run live


def bare_modulelist_demo(input_shape: str | Sequence[int] = DEFAULT_INPUT_SHAPE) -> dict[str, str]:
    """5.1.3's ModuleList called like a network, beside the for-loop forward that works.

    Returns {"bare": the error PyTorch raises, "loop": the output shape of ListNet's loop}.
    """
    shape = parse_shape(input_shape)
    if shape[-1] != 784:
        raise LabError(f"The input shape {shape} must end in 784 for the tutorial's layers; use e.g. 1x784.")
    layers = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
    layers.append(nn.Linear(256, 10))  # the tutorial's append
    layers = layers.to(pick_device())
    (x,) = example_inputs(layers, [shape])
    try:
        layers(x)
        bare = "no error (this PyTorch defines ModuleList.forward)"
    except NotImplementedError as exc:
        bare = f"NotImplementedError: {exc}"
    loop_net = ListNet(layers)
    with torch.no_grad():
        y = loop_net(x)
    return {"bare": bare, "loop": f"ListNet(...)(x) -> {render_shape(y)}"}


def moduledict_order_demo() -> dict[str, Any]:
    """5.1.4's ModuleDict: keys print in insertion order (PyTorch <= 1.6 sorted a plain dict's keys)."""
    net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
    net["output"] = nn.Linear(256, 10)
    keys = list(net.keys())
    return {"printed": str(net), "keys": keys, "sorted": sorted(keys)}
