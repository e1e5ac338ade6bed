"""What a model does with an input, layer by layer (tutorial 5.1-5.3: "print the model, then look at shapes").

`summary(model, input_shapes)` runs one forward pass with forward hooks on every submodule and returns one
row per module call, in the order the calls start (a container's row comes before its children's rows).
`count_params(model)` gives (total, trainable). A forward that fails on a shape becomes a LabError naming the
innermost layer that was running, the input it expects and the input it got.

Shapes in the table are Python-literal strings, so `ast.literal_eval` turns them back into tuples:
a tensor -> "(1, 10)", a tuple/list of tensors -> "[(1, 10), (1, 2048)]", a dict -> "{'out': (1, 2, 8, 8)}",
anything else -> its type name in angle brackets.

The per-layer work model (`layer_work`, `upsample_output_shape`, `WORK_UNIT`) lives in `lab.compose.cost`, the
one topic that bounds it; `lab.inspect.layer_work` still works (read lazily, so `lab.inspect` imports no topic).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from lab.device import pick_device
from lab.errors import LabError, Term, shown

__all__ = [
    "shown",
    "MAX_INPUT_NUMEL",
    "MAX_INPUT_DIMS",
    "ForwardReport",
    "count_params",
    "model_device",
    "check_input_shapes",
    "example_inputs",
    "render_shape",
    "forward_report",
    "summary",
]

# One input may hold at most 2**24 elements (64 MiB of float32): a 16 x 3 x 512 x 512 batch fits.
MAX_INPUT_NUMEL = 2**24
MAX_INPUT_DIMS = 6
COLUMNS = ["name", "type", "depth", "input_shape", "output_shape", "params", "trainable"]


# ---------------------------------------------------------------------------------------------------------------
# small helpers


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts; a parameter shared by two modules counts once."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


def model_device(model: nn.Module) -> torch.device:
    """Where the model's tensors live: its first parameter's or buffer's device, else `pick_device()`."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return pick_device()


def _printable_sizes(shape: Sequence[int]) -> tuple:
    """A shape for a message, with sizes too long for str() (over 4,300 digits) replaced by their digit count."""
    return tuple(
        _Literal(f"<{int(s.bit_length() * math.log10(2)) + 1:,} digits>") if abs(s) >= 10**30 else s for s in shape
    )


def check_input_shapes(input_shapes: Sequence[Sequence[int]], field_name: str = "input shape") -> list[tuple[int, ...]]:
    """Validate full input shapes (batch dimension included): 1 to 6 positive sizes, at most 2**24 elements.

    `field_name` is kept for callers that pass it; the sentences (`error.inspect.*`) name the input shape."""
    if isinstance(input_shapes, (str, bytes)) or not isinstance(input_shapes, Sequence) or not input_shapes:
        raise LabError("error.inspect.not_shapes", value=shown(input_shapes))
    shapes = []
    for shape in input_shapes:
        if not isinstance(shape, Sequence) or isinstance(shape, (str, bytes)):
            raise LabError("error.inspect.not_shape", value=shown(shape))
        if not 1 <= len(shape) <= MAX_INPUT_DIMS:
            raise LabError("error.inspect.dims", value=shown(tuple(shape)), count=len(shape),
                           limit=MAX_INPUT_DIMS)  # fmt: skip
        if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
            raise LabError("error.inspect.not_positive", value=shown(tuple(shape)))
        if math.prod(shape) > MAX_INPUT_NUMEL:
            numel = math.prod(shape)  # str() of an int over 4,300 digits raises: say "more than 10^15" instead
            count = f"{numel:,}" if numel < 10**15 else Term("error.inspect.more_than", power=15)
            raise LabError("error.inspect.too_big", value=shown(_printable_sizes(shape)), count=count,
                           limit=MAX_INPUT_NUMEL)  # fmt: skip
        shapes.append(tuple(shape))
    return shapes


def _first_leaf(model: nn.Module) -> nn.Module | None:
    for m in model.modules():
        if not any(True for _ in m.children()):
            return m
    return None


def example_inputs(
    model: nn.Module, input_shapes: Sequence[Sequence[int]], *, seed: int = 0, device: torch.device | None = None
) -> list[torch.Tensor]:
    """Seeded random inputs of the given shapes on the model's device.

    Float N(0, 1) values, except when the model starts with an `nn.Embedding`: then integer indices in
    [0, num_embeddings), the only input an embedding accepts.
    """
    shapes = check_input_shapes(input_shapes)
    device = device or model_device(model)
    gen = torch.Generator().manual_seed(seed)  # CPU generator: the same values on every device
    first = _first_leaf(model)
    inputs = []
    for i, shape in enumerate(shapes):
        indices = i == 0 and isinstance(first, (nn.Embedding, nn.EmbeddingBag))
        if indices and first.num_embeddings < 1:
            raise LabError("error.inspect.no_rows", layer=str(first))
        if device.type == "meta":  # shapes only: no values to draw
            inputs.append(torch.empty(shape, dtype=torch.long if indices else torch.float32, device="meta"))
        elif indices:
            inputs.append(torch.randint(0, first.num_embeddings, shape, generator=gen).to(device))
        else:
            inputs.append(torch.randn(shape, generator=gen).to(device))
    return inputs


def render_shape(value: Any) -> str:
    """A Python-literal string for a forward output: "(1, 10)", "[(1, 10), (1, 2)]", "{'out': (1, 2)}"."""
    return repr(_shape_tree(value))


class _Literal(str):
    """A string that repr()s without quotes (for type names inside a rendered shape tree)."""

    def __repr__(self) -> str:
        return str(self)


def _shape_tree(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple: keep field names
        return {k: _shape_tree(v) for k, v in zip(value._fields, value, strict=True)}
    if isinstance(value, (list, tuple)):
        return [_shape_tree(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _shape_tree(v) for k, v in value.items()}
    if value is None:
        return None
    return _Literal(f"<{type(value).__name__}>")


def _args_shape(args: tuple) -> str:
    """Input shapes of a call: one tensor -> "(1, 784)", several -> "(1, 3), (1, 5)"."""
    return ", ".join(render_shape(a) for a in args) if args else "()"


# ---------------------------------------------------------------------------------------------------------------
# what a layer expects, for shape-error messages


def _expected_input(module: nn.Module) -> tuple[str | Term, Any] | None:
    """(description of the expected input, check(shape) -> bool) for common layers; None when unknown."""
    if isinstance(module, nn.Linear):
        n = module.in_features
        return f"(*, {n})", lambda s: len(s) >= 1 and s[-1] == n
    if isinstance(module, nn.Bilinear):
        both = Term("error.inspect.desc.both", a=f"(*, {module.in1_features})", b=f"(*, {module.in2_features})")
        return both, None
    if isinstance(module, nn.modules.conv._ConvNd):
        spatial = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}[len(module.kernel_size)]
        c, k = module.in_channels, len(spatial)
        desc = f"(N, {c}, {', '.join(spatial)})"
        return desc, lambda s: len(s) in (k + 1, k + 2) and s[-k - 1] == c
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        c = module.num_features
        desc = {
            nn.BatchNorm1d: Term("error.inspect.desc.either", a=f"(N, {c})", b=f"(N, {c}, L)"),
            nn.BatchNorm2d: f"(N, {c}, H, W)",
            nn.BatchNorm3d: f"(N, {c}, D, H, W)",
        }.get(type(module), f"(N, {c}, ...)")
        return desc, lambda s: len(s) >= 2 and s[1] == c
    if isinstance(module, nn.LayerNorm):
        ns = tuple(module.normalized_shape)
        desc = f"(*, {', '.join(map(str, ns))})"
        return desc, lambda s: tuple(s[len(s) - len(ns) :]) == ns
    if isinstance(module, nn.GroupNorm):
        c = module.num_channels
        return f"(N, {c}, *)", lambda s: len(s) >= 2 and s[1] == c
    if isinstance(module, nn.Embedding):
        return Term("error.inspect.desc.indices", n=str(module.num_embeddings)), None
    if isinstance(module, nn.Unflatten):
        size = math.prod(module.unflattened_size)
        dim = module.dim
        desc = Term("error.inspect.desc.dimension", dim=str(dim), size=str(size))
        return desc, lambda s: -len(s) <= dim < len(s) and s[dim] == size
    return None


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shape_error(name: str, module: nn.Module, args: tuple, exc: BaseException) -> LabError:
    """One sentence naming the layer, the input it expects and the input it got."""
    actual = _args_shape(args)
    label = Term("error.inspect.layer", name=name, kind=type(module).__name__)
    expected = _expected_input(module)
    if isinstance(exc, torch.OutOfMemoryError):
        return LabError("error.inspect.oom", layer=label, actual=actual)
    if expected is not None:
        desc, check = expected
        shapes = [tuple(a.shape) for a in args if isinstance(a, torch.Tensor)]
        if check is not None and len(shapes) == 1 and not check(shapes[0]):
            return LabError("error.inspect.expects", layer=label, desc=desc, actual=actual)
        return LabError("error.inspect.expects_reason", layer=label, desc=desc, actual=actual,
                        reason=_first_line(exc))  # fmt: skip
    return LabError("error.inspect.could_not_run", layer=label, actual=actual, reason=_first_line(exc))


# ---------------------------------------------------------------------------------------------------------------
# the traced forward


@dataclass
class ForwardReport:
    """One traced forward pass: the per-call table, the model's output and the inputs it ran on."""

    table: pd.DataFrame
    output: Any
    inputs: list[torch.Tensor] = field(default_factory=list)


def forward_report(
    model: nn.Module,
    input_shapes: Sequence[Sequence[int]],
    *,
    inputs: Sequence[torch.Tensor] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> ForwardReport:
    """Run `model` once in eval mode under no_grad with hooks on every submodule; restore its modes after.

    `inputs` overrides the seeded random inputs built from `input_shapes`; `device` says where those are made
    (default: the model's device; pass "meta" for a parameter-free model that should only report shapes).
    """
    if inputs is None:
        inputs = example_inputs(model, input_shapes, seed=seed, device=None if device is None else torch.device(device))
    else:
        check_input_shapes([tuple(t.shape) for t in inputs])
    names = {id(m): name for name, m in model.named_modules()}  # shared modules keep their first name
    root_name = type(model).__name__
    root_row = not any(True for _ in model.children())  # a bare layer is its own (only) row
    rows: list[dict] = []
    stack: list[tuple[str, nn.Module, tuple]] = []  # calls in progress: (name, module, args)

    def pre_hook(module: nn.Module, args: tuple) -> None:
        name = names.get(id(module), "?") or root_name
        stack.append((name, module, args))
        if module is model and not root_row:
            return
        params = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        rows.append(
            {
                "name": name,
                "type": type(module).__name__,
                "depth": 0 if module is model else name.count(".") + 1,
                "input_shape": _args_shape(args),
                "output_shape": "",
                "params": params,
                "trainable": trainable,
                "_module": id(module),
            }
        )

    def post_hook(module: nn.Module, args: tuple, output: Any) -> None:
        stack.pop()
        if module is model and not root_row:
            return
        # the most recent unfinished row of this module is this call's row (calls nest, they don't interleave)
        for row in reversed(rows):
            if row["_module"] == id(module) and not row["output_shape"]:
                row["output_shape"] = render_shape(output)
                break

    modes = {m: m.training for m in model.modules()}  # sub-modules may differ (a frozen BatchNorm in eval)
    handles = []
    try:
        for m in model.modules():
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook))
        model.eval()  # BatchNorm uses running stats, Dropout is off: the same output every time
        with torch.no_grad():
            try:
                output = model(*inputs)
            except LabError:
                raise  # a hook's own refusal (lab.compose bounds a layer before it runs), already worded
            except (RuntimeError, ValueError, IndexError, TypeError, AssertionError, ArithmeticError) as exc:
                if not stack:
                    raise LabError("error.inspect.model_failed", actual=_args_shape(tuple(inputs)),
                                   reason=_first_line(exc)) from exc  # fmt: skip
                name, module, args = stack[-1]  # the innermost call that was running when it failed
                raise _shape_error(name, module, args, exc) from exc
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    table = pd.DataFrame(rows, columns=COLUMNS + ["_module"]).drop(columns="_module")
    return ForwardReport(table=table, output=output, inputs=list(inputs))


def summary(model: nn.Module, input_shapes: list[tuple[int, ...]]) -> pd.DataFrame:
    """One row per module call in forward order: name, type, depth, input_shape, output_shape, params, trainable.

    `input_shapes` holds one full shape per forward argument, batch included, e.g. `[(1, 784)]`.
    `params`/`trainable` count a module's parameters including its children's, so a container row sums its
    block; the model's totals are `count_params(model)`. The root module is not a row unless it has no children
    (a bare layer is its own row). A module called twice (a shared ReLU) gives two rows. The model's train/eval
    modes are left as they were; a model on the meta device gives shapes without computing anything.
    """
    return forward_report(model, input_shapes).table


_MOVED = {"WORK_UNIT", "layer_work", "upsample_output_shape", "_adaptive_window"}  # now in lab.compose.cost


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from lab.compose import cost

        return getattr(cost, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
