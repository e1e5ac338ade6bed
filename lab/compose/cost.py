"""What a forward pass of Compose's layers costs, bounded before anything real runs (issue 12).

`layer_work(module, input_shape, output_shape, flops)` estimates what one call of a layer really costs, in work
units (see `WORK_UNIT`): torch.utils.flop_counter counts matrix products and convolutions only, so a pooling
window, an interpolation, a normalisation or an embedding look free to it. Every layer gets a rule; a layer type
without one gets a conservative default, never zero. `meta_check(specs, shape)` runs the forward on the meta device
and refuses, naming the layer and its line, any output over `MAX_ACTIVATION_NUMEL` elements, more than `MAX_FLOPS`
FLOPs or more than `MAX_WORK` units of work.
"""

from __future__ import annotations

import ast
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from lab.compose.core import checked_meta_layers
from lab.compose.layers import MAX_ACTIVATION_NUMEL, MAX_FLOPS, MAX_WORK, LayerSpec
from lab.compose.parse import layer_names
from lab.errors import LabError, Term, shown
from lab.inspect import count_params, forward_report

__all__ = ["WORK_UNIT", "layer_work", "upsample_output_shape", "meta_check"]

# explore's work around the forwards, per forward pass and per element or parameter (measured, ~1 ns each): the
# seeded input and its clones, the output's checks and the four styles' comparisons, six builds of the weights
WORK_PER_INPUT_ELEMENT = 4.0
WORK_PER_OUTPUT_ELEMENT = 13.0
WORK_PER_PARAMETER = 6.0



# A work unit is about one nanosecond of one call on a 2-core x86 CPU (AVX-512, torch 2.14), in the slowest
# configuration measured for the layer's family: a MaxPool2d window tap costs 3 units, a ReLU element 2, a dense
# convolution's multiply-add 0.016. bench/compose_cost.py measures the constants below against the clock.
WORK_UNIT = "about 1 ns of a 2-core CPU"

# units per output element, for layers that touch each element once (eval mode: Dropout is the identity)
_ELEMENTWISE_WORK: dict[type[nn.Module], float] = {
    **dict.fromkeys((nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                     nn.AlphaDropout, nn.FeatureAlphaDropout), 1.0),  # views or copies: not free, nearly
    **dict.fromkeys((nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid,
                     nn.Tanh, nn.Threshold, nn.Hardshrink, nn.Softshrink), 2.0),
    **dict.fromkeys((nn.GELU, nn.SiLU, nn.Mish, nn.ELU, nn.CELU, nn.SELU, nn.Softplus, nn.PReLU, nn.LogSigmoid,
                     nn.Softsign, nn.Tanhshrink, nn.RReLU, nn.GLU), 6.0),  # exp/log/tanh per element (Mish: 4.8 ns)
}  # fmt: skip
_DEFAULT_WORK_PER_ELEMENT = 100.0  # a layer type without a rule: 50x a ReLU per element read or written
_DEFAULT_WORK_PER_FLOP = 0.5
# interpolation taps per output element ("area" is adaptive average pooling)
_INTERPOLATION_TAPS = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4, "trilinear": 8, "bicubic": 16}
_UNKNOWN_MODE_TAPS = 64


def _spatial_dims(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """1, 2 or 3 for a ...1d/2d/3d layer (read from its class name), else the input's dimensions after (N, C)."""
    name = type(module).__name__
    if name[-1:] == "d" and name[-2:-1] in ("1", "2", "3"):
        return int(name[-2])
    return max(len(input_shape) - 2, 1)


def _per_dim(value: Any, n: int) -> tuple[int, ...]:
    """An int-or-tuple layer argument (kernel_size=3 or (3, 5)) as n sizes."""
    if isinstance(value, (tuple, list)):
        sizes = tuple(1 if v is None else int(v) for v in value)
        return sizes[-n:] if len(sizes) >= n else sizes + (sizes[-1:] or (1,)) * (n - len(sizes))
    return (int(value),) * n


def _adaptive_window(input_shape: tuple[int, ...], output_shape: tuple[int, ...], n: int) -> int:
    """The largest window adaptive pooling reads per output: ceil(in / out) per dimension, + 1 where it does not
    divide (windows start at floor(i * in / out) and end at ceil((i + 1) * in / out))."""
    window = 1
    for size_in, size_out in zip(input_shape[-n:], output_shape[-n:], strict=True):
        size_out = max(size_out, 1)
        window *= -(-size_in // size_out) + (1 if size_in % size_out else 0)
    return window


# Convolutions, per (transposed, spatial dims). A convolution is a matrix product per group whose speed follows its
# narrow side: with few input or output channels per group (one makes it a matrix-vector product) the kernels
# leave vector lanes idle and take slower paths. Units per multiply-add with one channel per group on the narrow
# side (divided by min(in, out channels per group), up to 64), per output element, per output element with one
# channel (divided by min(in, out channels), up to 64: the kernels vectorise across groups), per input element, per
# (sample, group): an upper envelope (linear program) of 700 random convolutions timed on the reference CPU, then
# checked on others (bench/compose_cost.py --sweep), then raised for transposed convolutions with large kernels.
# A dense 3x3 Conv2d costs ~0.016 a multiply-add, a Conv1d(1, 1, 255) 6, a ConvTranspose2d(1, 16, 31) 20.
_CONV_WORK: dict[tuple[bool, int], tuple[float, float, float, float, float]] = {
    (False, 1): (6.0, 0.0, 6.3, 9.3, 200.0),
    (False, 2): (1.0, 0.0, 112.0, 5.0, 16000.0),
    (True, 1): (6.0, 21.0, 147.0, 0.0, 540.0),
    (True, 2): (20.0, 25.0, 49.0, 13.0, 9600.0),  # one input channel, kernel >= 8: 5-25 ns a multiply-add
}


def _conv_work(module: nn.modules.conv._ConvNd, input_shape: tuple[int, ...], output_shape: tuple[int, ...],
               flops: int) -> tuple[float, str]:  # fmt: skip
    n = len(module.kernel_size)
    groups = module.groups
    in_per_group, out_per_group = max(module.in_channels // groups, 1), max(module.out_channels // groups, 1)
    taps = math.prod(module.kernel_size)
    n_in, n_out = math.prod(input_shape), math.prod(output_shape)
    # each output (transposed: each input) meets a window of taps x channels per group
    macs = max((n_in * out_per_group if module.transposed else n_out * in_per_group) * taps, flops // 2)
    narrow = min(in_per_group, out_per_group, 64)
    narrow_all = min(module.in_channels, module.out_channels, 64)
    batch = input_shape[0] if len(input_shape) == n + 2 else 1
    per_mac, per_out, per_out_one, per_in, per_group = _CONV_WORK[module.transposed, min(n, 2)]
    per_output = per_out + per_out_one / narrow_all
    work = macs * per_mac / narrow + n_out * per_output + n_in * per_in + batch * groups * per_group
    return work + module.weight.numel(), f"{per_mac / narrow:.2g} per multiply-add, {per_output:.2g} per output element"


def layer_work(
    module: nn.Module, input_shape: tuple[int, ...], output_shape: tuple[int, ...], flops: int = 0
) -> tuple[float, str]:
    """(work units, how they were counted) for one call of `module` from `input_shape` to `output_shape`.

    `flops` is what torch.utils.flop_counter counted for the call (matrix products and convolutions). The
    rules follow how the CPU kernels spend their time: pooling reads a window per output element, interpolation
    a few taps per output element, normalisations and softmax pass over the elements a few times with a cost per
    normalised group, an embedding gathers rows (and with `max_norm` sorts the indices and renormalises rows in
    place), convolutions vectorise over channels (few channels per group is slow per multiply-add).
    """
    n_in, n_out = math.prod(input_shape), math.prod(output_shape)
    kind = type(module)
    if kind in _ELEMENTWISE_WORK:
        per = _ELEMENTWISE_WORK[kind]
        return per * max(n_in, n_out), f"{per:g} per element"
    if isinstance(module, nn.modules.conv._ConvNd):
        return _conv_work(module, input_shape, output_shape, flops)
    if isinstance(module, nn.Linear):  # a matrix product: dense, except for tiny in/out features (per element)
        macs = max(n_out * module.in_features, flops // 2)
        return 0.02 * macs + 8 * n_out + n_in + module.weight.numel(), "0.02 per multiply-add + 8 per output element"
    if isinstance(module, nn.Bilinear):
        macs = n_out * module.in1_features * module.in2_features
        return 0.05 * macs + 8 * n_out, "0.05 per multiply-add + 8 per output element"
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
                           nn.modules.pooling._LPPoolNd)):  # fmt: skip
        n = _spatial_dims(module, input_shape)
        window = math.prod(_per_dim(module.kernel_size, n))
        per = 3 if isinstance(module, nn.modules.pooling._MaxPoolNd) and n >= 2 else 2  # 2-D max: ~2.5 ns a tap
        return per * n_out * (window + 4), f"{per} per output element and window tap, window {window:,}"
    if isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        n = _spatial_dims(module, input_shape)
        window = _adaptive_window(input_shape, output_shape, n)
        return 3 * n_out * (window + 4), f"3 per output element and window tap, window up to {window:,}"
    if isinstance(module, nn.Upsample):
        n = max(len(input_shape) - 2, 1)
        if module.mode == "area":  # adaptive average pooling
            window = _adaptive_window(input_shape, output_shape, n)
            return 3 * n_out * (window + 4), f"3 per output element and window tap, area window up to {window:,}"
        taps = _INTERPOLATION_TAPS.get(module.mode, _UNKNOWN_MODE_TAPS ** (n / 2))
        return 1.5 * n_out * (taps + 1), f"1.5 per output element and tap, {taps:g} taps for {module.mode}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return 3.0 * n_out, "3 per element"
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)):
        if isinstance(module, nn.LayerNorm):
            groups = n_in // max(math.prod(module.normalized_shape), 1)
        elif isinstance(module, nn.GroupNorm):
            groups = (input_shape[0] if len(input_shape) > 1 else 1) * module.num_groups
        else:  # one group per (sample, channel)
            groups = n_in // max(math.prod(input_shape[-_spatial_dims(module, input_shape) :]), 1)
        return 5.0 * n_out + 50.0 * groups, "5 per element + 50 per normalised group"
    if isinstance(module, (nn.Softmax, nn.LogSoftmax, nn.Softmin)):
        dim = module.dim
        if dim is None:  # torch's legacy choice (torch.nn.functional._get_softmax_dim)
            dim = 0 if len(input_shape) in (0, 1, 3) else 1
        rows = n_in // max(input_shape[dim], 1) if input_shape else 1
        return 6.0 * n_out + 40.0 * rows, "6 per element + 40 per softmax row"
    if isinstance(module, nn.Embedding):
        work = 3.0 * n_out + 10.0 * n_in  # a random gather per index, then the row's elements
        if module.max_norm is None:
            return work, "10 per index + 3 per output element"
        rows = min(n_in, module.num_embeddings)  # embedding_renorm_: sort the indices, renormalise each row once
        return work + 150.0 * n_in + rows * (6500.0 + 10.0 * module.embedding_dim), (
            "160 per index + 6,500 per row max_norm renormalises + 3 per output element"
        )
    work = _DEFAULT_WORK_PER_ELEMENT * (n_in + n_out) + _DEFAULT_WORK_PER_FLOP * flops
    return work, f"no rule for {kind.__name__}: {_DEFAULT_WORK_PER_ELEMENT:g} per element read or written"


def upsample_output_shape(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """What an `nn.Upsample` will output, computed before it runs (so an absurd scale factor is refused with a
    sentence instead of overflowing inside torch); None where torch itself will refuse the call."""
    if not isinstance(module, nn.Upsample) or len(input_shape) < 3:
        return None
    n = len(input_shape) - 2
    head, spatial = input_shape[:2], input_shape[2:]
    if module.size is not None:
        sizes = module.size if isinstance(module.size, (tuple, list)) else (module.size,) * n
        if len(sizes) != n or not all(isinstance(s, int) for s in sizes):
            return None
        return head + tuple(sizes)
    scales = module.scale_factor if isinstance(module.scale_factor, (tuple, list)) else (module.scale_factor,) * n
    if len(scales) != n or not all(isinstance(s, (int, float)) and math.isfinite(s) for s in scales):
        return None
    # torch floors size * scale; capped first, so a 1e308 scale gives a huge int, not an OverflowError on infinity
    return head + tuple(math.floor(min(size * scale, 2.0**62)) for size, scale in zip(spatial, scales, strict=True))


# ---------------------------------------------------------------------------------------------------------------
# the meta pass: shapes, outputs, FLOPs and work, before any real memory is used


@dataclass(frozen=True)
class _LayerCall:
    """One layer's call in the meta pass: what it got, what it gave, what it costs."""

    name: str
    line: int
    module: nn.Module
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    flops: int
    work: float
    rule: str


def _count_text(count: float) -> Term:
    """1_300_000_000 -> "1.3 billion"; small counts in full."""
    for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if count >= scale:
            return Term(f"error.compose.count.{word}", n=f"{count / scale:,.3g}")
    return Term("error.compose.count.plain", n=f"{count:,.0f}")


def _size_text(sizes: tuple[int, ...]) -> Term:
    """A shape and its element count for a message, safe for absurd sizes (an Upsample by 1e300)."""
    numel = math.prod(sizes)
    if numel < 10**15:
        return Term("error.compose.size", shape=str(sizes), numel=f"{numel:,}")
    return Term("error.compose.size_huge", shape=shown(sizes))


def _cheaper(module: nn.Module) -> Term:
    """What to change to make a layer cheaper, in the layer's own arguments."""
    if isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return Term("error.compose.cheaper.adaptive")
    if isinstance(module, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        return Term("error.compose.cheaper.pool")
    if isinstance(module, nn.Upsample):
        return Term("error.compose.cheaper.upsample")
    if isinstance(module, nn.modules.conv._ConvNd):
        return Term("error.compose.cheaper.conv")
    if isinstance(module, nn.Embedding) and module.max_norm is not None:
        return Term("error.compose.cheaper.embedding")
    return Term("error.compose.cheaper.other")


def meta_check(specs: Sequence[LayerSpec], shape: tuple[int, ...]) -> tuple[int, float]:
    """Run the forward on the meta device: shape errors, oversized outputs and too much work surface before
    any real memory is used. Returns the forward's FLOPs (torch.utils.flop_counter, counted on meta) and its
    work (`layer_work` summed over the layers, bounded by MAX_WORK)."""
    names = layer_names(specs)
    line_of = dict(zip(names, (s.line for s in specs), strict=True))
    for name, spec in zip(names, specs, strict=True):
        if spec.cls is nn.Bilinear:  # needs forward(x1, x2): no chain of single-tensor layers can feed it
            raise LabError("error.compose.bilinear", name=name, line=spec.line)
    meta = nn.Sequential(OrderedDict(zip(names, checked_meta_layers(specs), strict=True)))
    calls: list[_LayerCall] = []
    started: list[tuple[tuple[int, ...] | None, int]] = []  # (input shape, FLOPs counted so far) per open call

    def before(module: nn.Module, args: tuple) -> None:
        x = args[0] if args else None
        input_shape = tuple(x.shape) if isinstance(x, torch.Tensor) else None
        predicted = upsample_output_shape(module, input_shape) if input_shape is not None else None
        # the meta pass handles any size int64 holds (checked after it); beyond, torch fails in C++ words
        if predicted is not None and math.prod(predicted) >= 2**62:
            name = names[len(started)]
            raise LabError("error.compose.output_too_big", name=name, line=line_of[name], size=_size_text(predicted),
                           limit=MAX_ACTIVATION_NUMEL)  # fmt: skip
        started.append((input_shape, counter.get_total_flops()))

    def after(module: nn.Module, args: tuple, output: Any) -> None:
        input_shape, flops_before = started[len(calls)]
        name = names[len(calls)]
        if input_shape is None or not isinstance(output, torch.Tensor):
            work, rule, output_shape = 0.0, "", ()  # not one tensor: refused below, before anything runs
        else:
            output_shape = tuple(output.shape)
            work, rule = layer_work(module, input_shape, output_shape, counter.get_total_flops() - flops_before)
        flops = counter.get_total_flops() - flops_before
        calls.append(_LayerCall(name, line_of[name], module, input_shape or (), output_shape, flops, work, rule))

    handles = [h for m in meta for h in (m.register_forward_pre_hook(before), m.register_forward_hook(after))]
    try:
        with FlopCounterMode(display=False) as counter:
            table = forward_report(meta, [shape], device="meta").table  # explicit: a ReLU-only stack has no tensors
    except LabError as exc:
        layer = exc.params.get("layer")
        if not isinstance(layer, Term) or layer.params.get("name") not in line_of:
            raise
        name = layer.params["name"]  # say which line of the text the failing layer is on
        where = Term("error.compose.layer_line", name=name, kind=layer.params["kind"], line=line_of[name])
        raise LabError(exc.key, **{**exc.params, "layer": where}) from exc
    finally:
        for handle in handles:
            handle.remove()
    for name, out in zip(table.name, table.output_shape, strict=True):
        sizes = ast.literal_eval(out)
        line = line_of.get(name, "?")
        if not isinstance(sizes, tuple):  # MaxPool2d(return_indices=True) returns (values, indices)
            raise LabError("error.compose.not_one_tensor", name=name, line=line, out=out)
        numel = math.prod(sizes)
        if numel == 0:
            raise LabError("error.compose.empty_output", name=name, line=line, out=out)
        if numel > MAX_ACTIVATION_NUMEL:
            raise LabError("error.compose.output_too_big", name=name, line=line, size=_size_text(sizes),
                           limit=MAX_ACTIVATION_NUMEL)  # fmt: skip
    flops = counter.get_total_flops()
    if flops > MAX_FLOPS:
        raise LabError("error.compose.flops", gflops=f"{flops / 1e9:,.1f}", shape=str(shape),
                       limit=f"{MAX_FLOPS / 1e9:g}")  # fmt: skip
    overhead = (
        WORK_PER_INPUT_ELEMENT * math.prod(shape)
        + WORK_PER_OUTPUT_ELEMENT * math.prod(calls[-1].output_shape)
        + WORK_PER_PARAMETER * sum(count_params(m)[0] for m in meta)
    )
    work = sum(call.work for call in calls) + overhead
    if work > MAX_WORK:
        worst = max(calls, key=lambda call: call.work)
        where = dict(name=worst.name, kind=type(worst.module).__name__, line=worst.line)
        if worst.work > MAX_WORK:
            raise LabError("error.compose.layer_work", **where, work=_count_text(worst.work),
                           shape=str(worst.input_shape), rule=worst.rule, limit=_count_text(MAX_WORK),
                           advice=_cheaper(worst.module))  # fmt: skip
        raise LabError("error.compose.total_work", **where, work=_count_text(work), shape=str(shape),
                       worst=_count_text(worst.work), worst_shape=str(worst.input_shape),
                       overhead=_count_text(overhead), limit=_count_text(MAX_WORK),
                       advice=_cheaper(worst.module))  # fmt: skip
    return flops, work
