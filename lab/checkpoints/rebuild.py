"""Code that rebuilds a model another tab built, for the Checkpoints tab's code panels.

A code panel must save THE model the screen saved, standalone (no `lab` import). The model itself is all the tab
receives (`shared.models` holds modules), so `recipe` recognises what built it and asks that tab's topic for its
own code: the default CNN (`default_model`'s source), Compose (`lab.compose.to_code` of its layers and style), the
U-Net and Train tabs (the U-Net's blocks and `UNet(**model.config())`), ResNet surgery (`lab.surgery.to_code` of
the surgery read back from the model and checked against it on the meta device). A model none of them built gets
`Recipe(code=None)`: the panel says so plainly instead of standing another model in for it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import nn

from lab.checkpoints.models import default_model
from lab.checkpoints.parallel import unwrap
from lab.source import source

__all__ = ["Recipe", "recipe", "DEFAULT_IMPORTS"]

DEFAULT_IMPORTS = "from collections import OrderedDict\n\nimport torch\nfrom torch import nn\n"
# torchvision's ResNets by their blocks per stage and block type (Bottleneck from resnet50 on)
_RESNETS = {((2, 2, 2, 2), False): "resnet18", ((3, 4, 6, 3), False): "resnet34", ((3, 4, 6, 3), True): "resnet50",
            ((3, 4, 23, 3), True): "resnet101", ((3, 8, 36, 3), True): "resnet152"}  # fmt: skip


@dataclass(frozen=True)
class Recipe:
    """Standalone code leaving the model in `model` (`code`), and whose code it is (`origin`: a tab id, or
    "default" for the lab's default CNN); `code` is None when no tab's code rebuilds the model."""

    code: str | None
    origin: str
    model_type: str


@functools.cache
def _default_repr() -> str:
    return repr(default_model())


def _default(model: nn.Module) -> str | None:
    if repr(model) != _default_repr():
        return None
    return f"{DEFAULT_IMPORTS}\n\n{source(default_model).rstrip()}\n\n\nmodel = default_model()\n"


def _unet(model: nn.Module) -> str | None:
    """The U-Net (and Train) tabs' model: the blocks and the U, then `UNet(**config)`."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "UNet" or not callable(config):
        return None
    from lab import unet

    config = dict(config())
    model_source = getattr(getattr(unet, "code", None), "model_source", None)
    if model_source is not None:
        return f"{model_source()}\n\nmodel = UNet(**{config!r})\n"
    return unet.to_code(**config)  # builds `model = UNet(**config)` and prints it


def _compose(model: nn.Module) -> str | None:
    """The Compose tab's model: a Sequential (plain or OrderedDict), ListNet or DictNet of torch.nn layers."""
    from lab import compose

    name = type(model).__name__
    if isinstance(model, nn.Sequential):
        pairs = list(model.named_children())
        style = "sequential" if all(n == str(i) for i, (n, _) in enumerate(pairs)) else "ordereddict"
    elif name in ("ListNet", "DictNet") and isinstance(getattr(model, "layers", None), (nn.ModuleList, nn.ModuleDict)):
        pairs = list(model.layers.named_children())
        style = "modulelist" if name == "ListNet" else "moduledict"
    else:
        return None
    if not pairs or not all(type(m).__module__.startswith("torch.nn.") for _, m in pairs):
        return None
    code = compose.to_code([(None if style in ("sequential", "modulelist") else n, m) for n, m in pairs], style)
    return code + "model = net\n"


def _surgery_spec(model: nn.Module):
    """The `lab.surgery.Surgery` that built `model`, read back from its parts, or None."""
    from torchvision.models.resnet import Bottleneck, ResNet

    from lab import surgery

    net = model.net if isinstance(getattr(model, "net", None), ResNet) else model
    if not isinstance(net, ResNet):
        return None
    blocks = tuple(len(getattr(net, f"layer{i}")) for i in range(1, 5))
    arch = _RESNETS.get((blocks, isinstance(net.layer1[0], Bottleneck)))
    head = model.fc if model is not net else net.fc
    if arch is None:
        return None
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    dropouts = [m.p for m in head.modules() if isinstance(m, nn.Dropout)]
    hidden = tuple(layer.out_features for layer in linears[:-1])
    replaced = model is not net or isinstance(head, nn.Sequential)
    return surgery.Surgery(
        arch=arch, new_head=bool(hidden), hidden=hidden or (128,), num_classes=linears[-1].out_features,
        dropout=dropouts[0] if dropouts else 0.5, num_extra=int(getattr(model, "num_extra", 0)),
        extra_output=type(model).__name__ == "WithExtraOutput" or bool(getattr(model, "return_features", False)),
        freeze=any(not p.requires_grad for p in model.parameters()),
    ) if replaced or linears[-1].out_features == 1000 else None  # fmt: skip


def _surgery(model: nn.Module) -> str | None:
    """The ResNet surgery tab's model: its surgery read back, rebuilt on the meta device and compared first."""
    from lab import surgery

    spec = _surgery_spec(model)
    if spec is None:
        return None
    with torch.device("meta"):
        rebuilt = surgery.apply(surgery.resnet(spec.arch), spec)
    mine = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    if mine != [(k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()]:
        return None
    if [p.requires_grad for p in model.parameters()] != [p.requires_grad for p in rebuilt.parameters()]:
        return None
    return surgery.to_code(spec, batch=1, size=surgery.MIN_SIZE)


_RECIPES = (("default", _default), ("unet", _unet), ("compose", _compose), ("surgery", _surgery))


def recipe(model: nn.Module) -> Recipe:
    """Code that rebuilds `model` (the plain model inside any wrappers) with the code of the tab that built it.

    Reads `model` only. A tab whose code cannot be asked (its topic refuses the model, or changed shape) counts as
    no recipe: the panel then says so rather than failing.
    """
    base = unwrap(model)
    for origin, make in _RECIPES:
        try:
            code = make(base)
        except Exception:  # noqa: BLE001 - another topic's code refusing this model means: not built there
            code = None
        if code is not None:
            compile(code, "<recipe>", "exec")  # our own generated code: a syntax slip fails here, in tests
            return Recipe(code=code, origin=origin, model_type=type(base).__name__)
    return Recipe(code=None, origin="", model_type=type(base).__name__)
