"""The models the Checkpoints tab works on, and running them: the default CNN, the training objects of a 5.4.5
checkpoint, a seeded input that fits a model, fresh random weights, and bit-exact comparison of outputs.

`default_model`, `training_objects` and `reinitialized` are plain torch: the code panels print their source.
"""

from __future__ import annotations

import copy
import inspect
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from lab.checkpoints.parallel import unwrap
from lab.errors import LabError

__all__ = ["default_model", "training_objects", "reinitialized", "randomized_copy", "example_inputs",
           "outputs_equal", "forward", "same_outputs", "largest_gap"]  # fmt: skip


def default_model(seed: int = 0) -> nn.Module:
    """The small CNN the tab works on when no other tab has built a model: conv-BN-ReLU x2, pool, linear."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 16, 3, padding=1)), ("bn1", nn.BatchNorm2d(16)), ("relu1", nn.ReLU()),
            ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("bn2", nn.BatchNorm2d(32)), ("relu2", nn.ReLU()),
            ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(32, 10)),
        ])).eval()


def training_objects(model):
    """The optimizer, lr_scheduler and args a 5.4.5 training checkpoint stores (args as a plain dict)."""
    args = {"lr": 0.01, "momentum": 0.9}
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    return optimizer, scheduler, args


def reinitialized(model, seed=1):
    """A deep copy with fresh random weights: what a newly built model of the same architecture has."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return fresh


def randomized_copy(model: nn.Module, seed: int = 1) -> nn.Module:
    """`reinitialized` of the plain model inside any wrappers."""
    return reinitialized(unwrap(model), seed)


def largest_gap(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    """The largest |a[k] - b[k]| over the keys both state_dicts have (0.0 when all agree)."""
    return max((float((a[k].float() - b[k].float()).abs().max()) for k in a if k in b and a[k].numel()), default=0.0)


def example_inputs(model: nn.Module, batch: int = 2, size: int = 32) -> tuple[torch.Tensor, ...]:
    """A seeded input that fits `model`: from the first layer with weights (Linear, ConvNd, Embedding).

    Extra forward arguments (5.3.3's external input) get a float tensor of shape (batch, num_extra). A U-Net gets
    at least 2**depth pixels a side.
    """
    base = unwrap(model)
    device = next(base.parameters(), torch.empty(0)).device
    generator = torch.Generator().manual_seed(0)
    first = next(
        (m for m in base.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding))), None
    )
    if first is None:
        raise LabError("error.checkpoints.no_input", model=type(base).__name__)
    size = max(size, int(getattr(base, "min_size", 0) or 0))
    if isinstance(first, nn.Embedding):
        x = torch.randint(0, first.num_embeddings, (batch, 8), generator=generator)
    elif isinstance(first, nn.Linear):
        x = torch.randn(batch, first.in_features, generator=generator)
    else:
        dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(first)]
        x = torch.randn(batch, first.in_channels, *([size] * dims), generator=generator)
    params = list(inspect.signature(base.forward).parameters.values())
    extra = [p for p in params[1:] if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    width = int(getattr(base, "num_extra", 1))
    extras = tuple(torch.randn(batch, width, generator=generator) for _ in extra)
    return tuple(t.to(device) for t in (x, *extras))


def _flat_outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flat_outputs(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flat_outputs(v)]
    return []


def forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """The model's outputs (flattened, on the CPU) in eval mode, inputs moved to the model's device."""
    device = next(unwrap(model).parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return [t.cpu() for t in _flat_outputs(model(*(t.to(device) for t in inputs)))]
    except Exception as exc:  # noqa: BLE001 - a model from another tab may want other inputs
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        raise LabError("error.checkpoints.forward", shapes=shapes, reason=str(exc)[:120]) from exc
    finally:
        model.train(was_training)


def same_outputs(out_a: list[torch.Tensor], out_b: list[torch.Tensor]) -> tuple[bool, float]:
    """(bit-identical?, max |difference|) of two lists of outputs."""
    if len(out_a) != len(out_b) or any(x.shape != y.shape for x, y in zip(out_a, out_b, strict=False)):
        return False, float("inf")
    pairs = list(zip(out_a, out_b, strict=True))
    diff = max((float((x.float() - y.float()).abs().max()) for x, y in pairs if x.numel()), default=0.0)
    return all(torch.equal(x, y) for x, y in pairs), diff


def outputs_equal(a: nn.Module, b: nn.Module, inputs: tuple[torch.Tensor, ...] | None = None) -> tuple[bool, float]:
    """(bit-identical outputs?, max |difference|) of two models on the same input, in eval mode."""
    inputs = example_inputs(a) if inputs is None else inputs
    return same_outputs(forward(a, inputs), forward(b, inputs))
