"""ResNet surgery (tutorial 5.3): build + forward latency per architecture, what one click of the tab costs.

For each ResNet: `build` (torchvision's random init + the default surgery: 5.3.1's new head), the forward check
(one backbone pass in eval + inference mode on an N x 3 x S x S dummy batch; the before logits come from a hook,
not a second pass), and the tab's whole pipeline as `ui.surgery.run_surgery` runs it (build, tables, printouts,
forward, code: `lab.surgery.view`; gradio itself left out, so this also runs where gradio is not installed).
DESIGN.md target: resnet50 build + forward <= 0.5 s median; ResNet-152 <= 1.5 s.

    python bench/surgery.py [--runs 5] [--batch 2] [--size 224] [--threads N] [--archs resnet18 resnet50 ...]

Prints the command, the machine line and, per architecture and step, the median and the middle half (p25-p75).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import command, machine, once, spread  # noqa: E402
from lab import surgery as S  # noqa: E402
from lab.device import describe, pick_device  # noqa: E402


def synced(fn):
    """`fn` followed by a wait for the GPU, so that the clock stops when the work is done."""

    def call() -> None:
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    return call


def pipeline(surgery: S.Surgery, batch: int, size: int) -> None:
    """What one click of "Apply surgery" computes: `lab.surgery.view`, the one call ui.surgery.run_surgery makes."""
    S.view(surgery.arch, new_head=surgery.new_head, hidden=surgery.hidden, num_classes=surgery.num_classes,
           dropout=surgery.dropout, batch=batch, size=size)


def bench_arch(arch: str, runs: int, batch: int, size: int) -> dict[str, list[float]]:
    surgery = S.Surgery(arch=arch)  # the tutorial's 5.3.1: new head 2048 -> 128 -> 10
    inputs = S.dummy_batch(surgery, batch, size)
    device = pick_device()
    results: dict[str, list[float]] = {"build": [], "forward": [], "build+forward": [], "whole click": []}
    pipeline(surgery, batch, size)  # warm-up: first-call allocations, kernels, lazy imports
    for _ in range(runs):
        start = time.perf_counter()
        built = S.build(surgery)
        t_build = time.perf_counter() - start
        t_forward = once(synced(lambda built=built: S.forward_check(built, inputs, device)))
        results["build"].append(t_build)
        results["forward"].append(t_forward)
        results["build+forward"].append(t_build + t_forward)
        results["whole click"].append(once(synced(lambda: pipeline(surgery, batch, size))))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--archs", nargs="+", default=list(S.ARCHS), choices=S.ARCHS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"command: {command()}")
    print(f"machine: {machine(pick_device())} · {describe()}")
    print(f"dummy batch: {args.batch} x 3 x {args.size} x {args.size}; {args.runs} runs after one warm-up; "
          "median (p25-p75)\n")
    for arch in args.archs:
        results = bench_arch(arch, args.runs, args.batch, args.size)
        print(arch)
        for name, samples in results.items():
            print(f"  {name:14s}{spread(samples)}")


if __name__ == "__main__":
    main()
