"""Specs -> layers -> one network in each of the four styles of 5.1, and the copy that proves they compute the
same function (`copy_weights`)."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from lab.compose.layers import MAX_LAYERS, MAX_PARAMS, STYLES, LayerSpec
from lab.compose.nets import DictNet, ListNet
from lab.compose.parse import layer_names, parse_specs
from lab.device import pick_device
from lab.errors import LabError, choice, shown
from lab.inspect import count_params

__all__ = ["check_style", "checked_meta_layers", "named_layers", "parse_layers", "as_layers", "spec_of", "build",
           "copy_weights", "max_abs_diff"]


def check_style(style: str) -> str:
    return choice("compose.style", style, STYLES)


def checked_meta_layers(specs: Sequence[LayerSpec]) -> list[nn.Module]:
    """Build every layer on the meta device (no memory) to run its constructor checks and count parameters."""
    layers = [spec.instantiate("meta") for spec in specs]
    total = sum(count_params(m)[0] for m in layers)
    if total > MAX_PARAMS:
        biggest = max(range(len(specs)), key=lambda i: count_params(layers[i])[0])
        raise LabError("error.compose.too_many_params", total=total, line=specs[biggest].line,
                       code=specs[biggest].short_code(), alone=count_params(layers[biggest])[0],
                       limit=MAX_PARAMS)  # fmt: skip
    return layers


# Weights are drawn from the global RNG; two sessions seeding and building at once must not interleave.
_RNG_LOCK = threading.Lock()
# Which spec built which module, so to_code can write the call as the person typed it.
_SPEC_OF: weakref.WeakKeyDictionary[nn.Module, LayerSpec] = weakref.WeakKeyDictionary()


def spec_of(module: nn.Module) -> LayerSpec | None:
    return _SPEC_OF.get(module)


def _instantiate_all(specs: Sequence[LayerSpec], seed: int | None, *, checked: bool = False) -> list[nn.Module]:
    """Real layers on the CPU, in order; with a seed, the same weights as `torch.manual_seed(seed)` + the calls.

    Unless `checked` (the caller already ran `checked_meta_layers`), the bounds are checked on meta first.
    """
    if not checked:
        checked_meta_layers(specs)
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        layers = [spec.instantiate() for spec in specs]
        for spec, module in zip(specs, layers, strict=True):
            _SPEC_OF[module] = spec
    return layers


def named_layers(
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
    return named_layers(parse_specs(text), 0)


def as_layers(
    layers: str | Sequence[tuple[str | None, nn.Module]],
) -> tuple[list[str], list[nn.Module], list[LayerSpec | None]]:
    """Names (auto-filled), modules and specs (None where a module was not built from text)."""
    if isinstance(layers, str):
        specs = parse_specs(layers)
        modules = _instantiate_all(specs, seed=0)
        return layer_names(specs), modules, list(specs)
    if not layers:
        raise LabError("error.compose.no_pairs")
    if len(layers) > MAX_LAYERS:
        raise LabError("error.compose.too_many_pairs", count=len(layers), limit=MAX_LAYERS)
    modules, specs, stand_ins = [], [], []
    for i, (name, module) in enumerate(layers):
        if not isinstance(module, nn.Module):
            raise LabError("error.compose.not_module", index=i, type=type(module).__name__)
        modules.append(module)
        specs.append(_SPEC_OF.get(module))
        stand_ins.append(LayerSpec(name, type(module), (), {}, i + 1))  # only for naming
    names = layer_names(stand_ins)
    if len(set(names)) != len(names):
        raise LabError("error.compose.names_repeat", names=shown(names))
    return names, modules, specs


def build(layers: str | Sequence[tuple[str | None, nn.Module]], style: str) -> nn.Module:
    """One network in the chosen style, on `pick_device()`.

    `layers` is layers text or the list `parse_layers` returns (those module instances become the model's
    children). Text is built with `torch.manual_seed(0)` weights, so every style starts from the same numbers.
    """
    check_style(style)
    names, modules, _ = as_layers(layers)
    if style == "sequential":
        model: nn.Module = nn.Sequential(*modules)
    elif style == "ordereddict":
        model = nn.Sequential(OrderedDict(zip(names, modules, strict=True)))
    elif style == "modulelist":
        model = ListNet(modules)
    else:
        model = DictNet(OrderedDict(zip(names, modules, strict=True)))
    return model.to(pick_device())


def copy_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Copy `src`'s parameters and buffers into `dst` by position (keys differ between styles: `0.weight`,
    `fc1.weight`, `layers.0.weight`, `layers.fc1.weight`); shapes must match one to one."""
    src_sd, dst_sd = src.state_dict(), dst.state_dict()
    if len(src_sd) != len(dst_sd):
        raise LabError("error.compose.copy_count", src=len(src_sd), dst=len(dst_sd))
    mapped = {}
    for (sk, sv), (dk, dv) in zip(src_sd.items(), dst_sd.items(), strict=True):
        if sv.shape != dv.shape:
            raise LabError("error.compose.copy_shape", src=sk, src_shape=str(tuple(sv.shape)), dst=dk,
                           dst_shape=str(tuple(dv.shape)))  # fmt: skip
        mapped[dk] = sv
    dst.load_state_dict(mapped)
    return dst


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b|, where equal infinities and NaN against NaN count as equal (a Softplus(beta=0) gives NaN)."""
    same = (a == b) | (a.isnan() & b.isnan())
    diff = torch.where(same, torch.zeros_like(a), (a - b).abs())
    return diff.max().item() if diff.numel() else 0.0
