"""Compose's work bound (issue 12, item 2): the largest accepted request of each layer family, timed; the refusals.

torch.utils.flop_counter sees matrix products and convolutions only, so `lab.compose` bounds every layer's real
work (`lab.compose.cost.layer_work`: pooling windows, interpolation taps, normalised groups, embedding rows, channel
groups of a convolution...), summed over the forward, by `compose.MAX_WORK`. For each configuration below the
script finds, on the meta device, the largest input the bounds accept (binary search over one size `{n}`), then
times `lab.compose.explore` on it: the build, the model's forward and the four-styles proof (ten forwards and six
builds in all). Target (DESIGN.md, issue 12): the largest accepted request finishes within ~10 s on 2 cores.
Then it times the refusals of the issue and a few more: each must come back within 1 s.

    python bench/compose_cost.py [--runs 3] [--only MaxPool] [--sweep 0]

`--sweep N` times N random convolutions (1d/2d, transposed or not, 1-64 channels per group, groups, kernels,
strides, dilations, batches) against their estimate: measured ns per work unit, the check behind the
convolution constants in lab/compose/cost.py. Prints markdown; bench/results/compose_cost.md keeps the record.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.common import command, machine, timed  # noqa: E402
from lab import compose  # noqa: E402
from lab.compose import layer_work  # noqa: E402
from lab.errors import LabError  # noqa: E402

# (family, layers text, input shape with one free size {n}, smallest n to try): the worst configuration of each
# family that the calibration found (few channels per group, tiny rows, big windows, many taps per output)
WORST: list[tuple[str, str, str, int]] = [
    ("MaxPool2d window 16x16", "nn.MaxPool2d(16, stride=1)", "1x1x{n}x{n}", 16),
    ("MaxPool2d 2x2 (per-output cost)", "nn.MaxPool2d(2)", "1x16x{n}x{n}", 2),
    ("MaxPool2d dilated, padded", "nn.MaxPool2d(5, stride=1, padding=2, dilation=2)", "1x16x{n}x{n}", 16),
    ("MaxPool1d window 64", "nn.MaxPool1d(64, stride=1)", "1x1x{n}", 64),
    ("AvgPool2d count_include_pad", "nn.AvgPool2d(16, stride=1, padding=8)", "1x1x{n}x{n}", 16),
    ("AvgPool1d window 3", "nn.AvgPool1d(3, stride=1)", "1x16x{n}", 3),
    ("AdaptiveMaxPool2d, windows that do not divide", "nn.AdaptiveMaxPool2d(1023)", "1x{n}x1024x1024", 1),
    (
        "AdaptiveAvgPool2d to 1x1, stacked",
        "nn.AdaptiveAvgPool2d(1)\nnn.Upsample(size=(256, 256))\n" * 8,
        "1x{n}x256x256",
        1,
    ),
    ("Upsample nearest x4", "nn.Upsample(scale_factor=4)", "1x1x{n}x{n}", 1),
    ("Upsample bilinear x4", "nn.Upsample(scale_factor=4, mode='bilinear')", "1x1x{n}x{n}", 1),
    ("Upsample bicubic x4", "nn.Upsample(scale_factor=4, mode='bicubic', align_corners=True)", "1x1x{n}x{n}", 1),
    ("Upsample area /2", "nn.Upsample(scale_factor=0.5, mode='area')", "1x16x{n}x{n}", 2),
    ("Upsample linear x8 (3-D)", "nn.Upsample(scale_factor=8, mode='linear')", "1x{n}x1024", 1),
    ("Upsample trilinear x2 (5-D)", "nn.Upsample(scale_factor=2, mode='trilinear')", "1x1x{n}x{n}x{n}", 1),
    ("64 x Mish", "nn.Mish()\n" * 64, "1x{n}", 1),
    ("64 x Softplus(beta=2)", "nn.Softplus(beta=2)\n" * 64, "1x{n}", 1),
    ("64 x ReLU", "nn.ReLU()\n" * 64, "1x{n}", 1),
    (
        "64 x Flatten/Unflatten/Dropout/Identity",
        "nn.Unflatten(1, (1, -1))\nnn.Flatten()\nnn.Dropout()\nnn.Identity()\n" * 16,
        "1x{n}",
        1,
    ),
    ("LayerNorm(1)", "nn.LayerNorm(1)", "{n}x1", 1),
    ("LayerNorm(1024) x 16", "nn.LayerNorm(1024)\n" * 16, "{n}x1024", 1),
    ("GroupNorm(16, 16), 1 element a group", "nn.GroupNorm(16, 16)", "{n}x16x1", 2),
    ("InstanceNorm2d(16), 2 elements an instance", "nn.InstanceNorm2d(16, affine=True)", "{n}x16x1x2", 1),
    ("BatchNorm1d(16) x 64", "nn.BatchNorm1d(16)\n" * 64, "{n}x16", 1),
    ("Softmax over rows of 2", "nn.Softmax(dim=1)", "{n}x2", 1),
    ("LogSoftmax over dim 0", "nn.LogSoftmax(dim=0)", "{n}x4096", 1),
    ("Embedding(4,000,000, 1) gather", "nn.Embedding(4000000, 1)", "1x{n}", 1),
    ("Embedding(1,048,576, 4, max_norm=1)", "nn.Embedding(1048576, 4, max_norm=1.0)", "1x{n}", 1),
    ("Linear(4, 4) on many rows x 8", "nn.Linear(4, 4)\n" * 8, "{n}x4", 1),
    ("Linear(4096, 4096) (FLOP bound)", "nn.Linear(4096, 4096)", "{n}x4096", 1),
    ("Linear(7000, 7000) (49 M parameters)", "nn.Linear(7000, 7000)", "{n}x7000", 1),
    ("Conv2d(64, 64, 3) x 4 (dense)", "nn.Conv2d(64, 64, 3, padding=1)\n" * 4, "1x64x{n}x{n}", 3),
    ("Conv2d depthwise 64, 3x3", "nn.Conv2d(64, 64, 3, padding=1, groups=64)", "1x64x{n}x{n}", 3),
    ("Conv2d(1, 1, 31)", "nn.Conv2d(1, 1, 31, padding=15)", "1x1x{n}x{n}", 31),
    ("Conv2d(128, 2, 31, groups=2), 1 output each", "nn.Conv2d(128, 2, 31, groups=2)", "{n}x128x31x31", 1),
    ("Conv1d(1, 1, 255)", "nn.Conv1d(1, 1, 255, padding=127)", "1x1x{n}", 255),
    ("Conv1d(1, 1, 3) on many samples", "nn.Conv1d(1, 1, 3, padding=1)", "{n}x1x64", 1),
    ("ConvTranspose1d(1, 1, 3, stride=4)", "nn.ConvTranspose1d(1, 1, 3, stride=4)", "1x1x{n}", 1),
    ("ConvTranspose1d(64, 64, 3, stride=4)", "nn.ConvTranspose1d(64, 64, 3, stride=4)", "1x64x{n}", 1),
    ("ConvTranspose2d(1, 1, 3)", "nn.ConvTranspose2d(1, 1, 3, padding=1)", "1x1x{n}x{n}", 1),
    ("ConvTranspose2d(1, 1, 15)", "nn.ConvTranspose2d(1, 1, 15, padding=7)", "1x1x{n}x{n}", 1),
    (
        "ConvTranspose2d(2, 2, 3, stride=4, groups=2)",
        "nn.ConvTranspose2d(2, 2, 3, stride=4, groups=2)",
        "1x2x{n}x{n}",
        1,
    ),
    ("ConvTranspose2d(64, 64, 2, stride=2)", "nn.ConvTranspose2d(64, 64, 2, stride=2)", "1x64x{n}x{n}", 1),
    ("Small CNN example, scaled up", compose.EXAMPLES["Small CNN"][0], "{n}x3x32x32", 1),
]

# requests the bounds refuse: the two, then one per hidden cost (each must be refused within 1 s)
REFUSED: list[tuple[str, str, str]] = [
    ("issue 12: MaxPool2d(128, stride=1)", "nn.MaxPool2d(128, stride=1)", "1x1x1024x1024"),
    ("issue 12: three window-256 pools", "nn.MaxPool2d(256, stride=1)\n" * 3, "1x16x1024x1024"),
    ("AvgPool1d window 4096", "nn.AvgPool1d(4096, stride=1)", "1x16x1000000"),
    ("AdaptiveMaxPool2d(1023) on 16 channels", "nn.AdaptiveMaxPool2d(1023)", "1x16x1024x1024"),
    ("Upsample(scale_factor=1e300)", "nn.Upsample(scale_factor=1e300)", "1x1x4"),
    ("Upsample bicubic to 8000 x 8000", "nn.Upsample(size=(8000, 8000), mode='bicubic')", "1x1x64x64"),
    ("Upsample bicubic x8 on 1024 x 1024", "nn.Upsample(scale_factor=8, mode='bicubic')", "1x1x1024x1024"),
    ("64 x Mish on 2^24 elements", "nn.Mish()\n" * 64, "1x16777216"),
    ("Softmax over rows of 2, 2^24 elements", "nn.Softmax(dim=1)", "8388608x2"),
    ("LayerNorm(1) on 2^24 rows", "nn.LayerNorm(1)", "16777216x1"),
    ("Embedding(4,000,000, 1, max_norm) on 2^24 indices", "nn.Embedding(4000000, 1, max_norm=1.0)", "1x16777216"),
    ("Conv1d(1, 1, 255) on 2^24", "nn.Conv1d(1, 1, 255, padding=127)", "1x1x16777216"),
    ("ConvTranspose1d(1, 1, 3, stride=4) on 2^24", "nn.ConvTranspose1d(1, 1, 3, stride=4)", "1x1x16000000"),
    ("Conv2d(64, 64, 3) x 8 on 64 x 256 x 256 (FLOPs)", "nn.Conv2d(64, 64, 3, padding=1)\n" * 8, "1x64x256x256"),
]


def accepted(text: str, shape: str) -> float | None:
    """The request's work per forward if the bounds accept it (checked on the meta device), else None."""
    try:
        _, work = compose.meta_check(compose.parse_specs(text), compose.parse_shape(shape))
    except LabError:
        return None
    return work


def largest_accepted(text: str, template: str, low: int) -> tuple[str, float] | None:
    """The largest `{n}` the bounds accept (binary search, assuming bigger n means more work)."""
    if accepted(text, template.format(n=low)) is None:
        return None
    high = low
    while accepted(text, template.format(n=high * 2)) is not None and high < 2**26:
        high *= 2
    low, high = high, high * 2  # low accepted, high refused
    while high - low > max(1, low // 200):  # within 0.5 %
        mid = (low + high) // 2
        low, high = (mid, high) if accepted(text, template.format(n=mid)) is not None else (low, mid)
    shape = template.format(n=low)
    return shape, accepted(text, shape)


def timed_cpu(fn, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds and CPU seconds (all threads) per run: on a shared machine the wall time follows the load,
    the CPU time much less (two idle cores finish in CPU / 2 to CPU seconds)."""
    walls, cpus = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def refusal_time(text: str, shape: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    try:
        compose.explore(text, "sequential", shape)
        message = "ACCEPTED"
    except LabError as exc:
        message = str(exc)
    return time.perf_counter() - t0, message


def random_conv(rng: random.Random) -> tuple[nn.Module, tuple[int, ...]] | None:
    """A random convolution and an input for it, sized for ~0.1 s and within the lab's size bounds."""
    dims, transposed = rng.choice([1, 2]), rng.random() < 0.5
    cin_g, cout_g = rng.choice([1, 1, 2, 3, 4, 8, 16, 32, 64]), rng.choice([1, 1, 2, 3, 4, 8, 16, 32, 64])
    groups = rng.choice([1, 1, 1, 2, 4, 16, 64]) if cin_g * cout_g <= 64 else rng.choice([1, 1, 2])
    k = rng.choice([1, 2, 3, 3, 5, 7, 15, 31] + ([63, 255] if dims == 1 else []))
    stride, dilation, batch = rng.choice([1, 1, 2, 4, 8]), rng.choice([1, 1, 1, 2, 8]), rng.choice([1, 1, 1, 4, 64])
    cls = {(1, False): nn.Conv1d, (2, False): nn.Conv2d, (1, True): nn.ConvTranspose1d, (2, True): nn.ConvTranspose2d}
    args = (cin_g * groups, cout_g * groups, k)
    kwargs = {"stride": stride, "padding": rng.choice([0, k // 2]), "dilation": dilation, "groups": groups}
    with torch.device("meta"):
        meta = cls[dims, transposed](*args, **kwargs)
    size = max(8, dilation * (k - 1) + 1)
    for _ in range(60):  # grow the input until the estimate reaches ~1e8 units (~0.1 s) or a size bound
        shape = (batch, cin_g * groups) + (size,) * dims
        out = meta(torch.empty(shape, device="meta"))
        if math.prod(shape) > compose.MAX_ACTIVATION_NUMEL // 4 or out.numel() > compose.MAX_ACTIVATION_NUMEL // 4:
            return None
        if layer_work(meta, shape, tuple(out.shape))[0] > 1e8:
            return cls[dims, transposed](*args, **kwargs).eval(), shape
        size = int(size * 1.25) + 1
    return None


def sweep(count: int, seed: int = 0) -> list[str]:
    """Measured ns per estimated work unit for `count` random convolutions (min of 3 runs each)."""
    rng = random.Random(seed)
    ratios = []
    while len(ratios) < count:
        try:
            case = random_conv(rng)
        except RuntimeError:  # a kernel larger than the padded input, say
            continue
        if case is None:
            continue
        module, shape = case
        x = torch.randn(shape)
        with torch.no_grad():
            out = module(x)
            seconds = min(timed(lambda: module(x), 3, warmup=0))  # noqa: B023 - called right here
        work, _ = layer_work(module, shape, tuple(out.shape))
        ratios.append((seconds * 1e9 / work, repr(module), shape))
    ratios.sort(reverse=True)
    values = [r for r, _, _ in ratios]
    lines = [f"Convolution sweep: {count} random convolutions, measured ns per work unit: median "
             f"{statistics.median(values):.3f}, 90th percentile {statistics.quantiles(values, n=10)[-1]:.3f}, "
             f"max {values[0]:.3f}. The five highest:", ""]  # fmt: skip
    lines += [f"- {r:.3f} ns/unit: {m} on {s}" for r, m, s in ratios[:5]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="", help="only families whose label contains this")
    parser.add_argument("--sweep", type=int, default=0, help="also time this many random convolutions")
    args = parser.parse_args()
    torch.manual_seed(0)

    compose.explore(compose.DEFAULT_LAYERS, "sequential", compose.DEFAULT_INPUT_SHAPE)  # warm: meta kernels, imports
    rows = []
    worst = worst_cpu = 0.0
    for label, text, template, low in WORST:
        if args.only.lower() not in label.lower():
            continue
        found = largest_accepted(text, template, low)
        if found is None:
            rows.append(f"| {label} | - | refused at the smallest size | | | | | | |")
            continue
        shape, work = found
        seconds, cpu = timed_cpu(lambda text=text, shape=shape: compose.explore(text, "sequential", shape), args.runs)
        median = statistics.median(seconds)
        worst = max(worst, median)
        worst_cpu = max(worst_cpu, statistics.median(cpu))
        # ns per work unit: wall time over the ten forwards' estimate (explore's own share included)
        rate = median * 1e9 / (10 * work) if work else float("nan")
        rows.append(
            f"| {label} | {shape} | {work / 1e6:,.0f} M ({work / compose.MAX_WORK:.0%}) | {median:.2f} | "
            f"{min(seconds):.2f} | {max(seconds):.2f} | {statistics.median(cpu):.2f} | {len(seconds)} | {rate:.2f} |"
        )
        print(rows[-1], f"load {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)

    refusals = []
    slowest_refusal = 0.0
    for label, text, shape in REFUSED:
        if args.only.lower() not in label.lower():
            continue
        seconds, message = min(refusal_time(text, shape) for _ in range(args.runs))
        slowest_refusal = max(slowest_refusal, seconds)
        refusals.append(f"| {label} | {shape} | {seconds * 1000:.1f} | {message[:150]} |")
        print(refusals[-1], file=sys.stderr, flush=True)

    print(f"machine: {machine()}, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    print(f"command: {command()}")
    print(f"bounds: MAX_WORK {compose.MAX_WORK:,.0f} units, MAX_FLOPS {compose.MAX_FLOPS:,.0f}, "
          f"MAX_ACTIVATION_NUMEL {compose.MAX_ACTIVATION_NUMEL:,}, MAX_PARAMS {compose.MAX_PARAMS:,}")  # fmt: skip
    print()
    print("Largest accepted request per family: `compose.explore` (build, forward, four-styles proof), seconds.")
    print()
    print(
        "| family | largest accepted input | work per forward (of MAX_WORK) | median s | min | max | CPU s "
        "| runs | ns per unit |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print(f"Slowest accepted request: median {worst:.2f} s wall, {worst_cpu:.2f} CPU seconds (target: ~10 s).")
    print()
    print("Refused requests: time from the call to the LabError (min of the runs), ms.")
    print()
    print("| request | input | ms | message |")
    print("|---|---|---|---|")
    print("\n".join(refusals))
    print()
    print(f"Slowest refusal: {slowest_refusal * 1000:.0f} ms (target: < 1 s).")
    if args.sweep:
        print()
        print("\n".join(sweep(args.sweep)))


if __name__ == "__main__":
    main()
