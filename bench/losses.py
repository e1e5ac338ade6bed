"""Losses (tutorial 6.1): forward + backward of each lab loss against the tutorial's class on one batch
(8 x 1 x 256 x 256 logits and a binary mask; target: the lab's versions are no slower; Focal also against
torchvision.ops.sigmoid_focal_loss, the same per-pixel computation), and optionally the
Losses tab's endpoints through gradio_client (DESIGN.md target: median <= 150 ms).

    python bench/losses.py [--runs 30] [--device cpu|cuda] [--views] [--endpoints]

The two versions of each loss run alternately, so a machine busy with other work slows both alike. Prints the
command, the machine and Markdown tables: median and middle half (p25-p75) per loss, view and endpoint.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.common import command, free_port, machine, spread, timed  # noqa: E402
from lab import losses as L  # noqa: E402
from lab.device import pick_device  # noqa: E402

SHAPE = (8, 1, 256, 256)


def step_time(loss, logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Seconds for one forward + backward (synchronised on CUDA)."""
    x = logits.detach().requires_grad_()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    loss(x, targets).backward()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_losses(runs: int, device: torch.device) -> list[str]:
    g = torch.Generator().manual_seed(0)
    logits = (torch.randn(SHAPE, generator=g) * 3).to(device)
    targets = (torch.rand(SHAPE, generator=g) > 0.7).float().to(device)
    from torchvision.ops import sigmoid_focal_loss

    def torchvision_focal(x, t):
        return sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction="mean")

    # (row, lab loss, baseline): the tutorial's classes, and for Focal also torchvision's per-pixel focal loss,
    # since the tutorial's FocalLoss computes something cheaper (a rescaled mean BCE), not a focal loss
    pairs = [(name, L.get(name), L.TUTORIAL[name]()) for name in ("dice", "iou", "dice_bce", "focal")]
    pairs.append(("focal vs torchvision.ops.sigmoid_focal_loss", L.get("focal"), torchvision_focal))
    lines = ["| loss | lab | baseline | lab / baseline |", "|---|---|---|---|"]
    for name, ours, theirs in pairs:
        for _ in range(3):  # warm-up: allocator, kernels
            step_time(ours, logits, targets), step_time(theirs, logits, targets)
        a, b = [], []
        for _ in range(runs):
            a.append(step_time(ours, logits, targets))
            b.append(step_time(theirs, logits, targets))
        ratio = statistics.median(a) / statistics.median(b)
        lines.append(f"| {name} | {spread(a, digits=2)} | {spread(b, digits=2)} | {ratio:.2f} |")
    return lines


def bench_views(runs: int) -> list[str]:
    """The lab call behind each endpoint (no gradio: runs where gradio is not installed), default inputs."""
    sample = L.default_sample()
    params = {"smooth": 1.0, "alpha": 0.25, "gamma": 2.0}
    views = {
        "curves": lambda: L.curves_view(L.DEFAULT_COMPARE, **params),
        "mask": lambda: L.mask_view(sample, L.DEFAULT_SOURCE, L.DEFAULT_AMOUNT, **params),
        "first view (curves, mask, code)": lambda: L.tab_view(L.DEFAULT_COMPARE, L.DEFAULT_CHOSEN, 1.0, 0.25, 2.0,
                                                              sample, L.DEFAULT_SOURCE, L.DEFAULT_AMOUNT),
        "pitfall (focal)": lambda: L.pitfalls.focal(sample, L.DEFAULT_SOURCE, L.DEFAULT_AMOUNT, 0.25, 2.0),
        **{f"pitfall ({name})": make for name, make in L.PITFALLS.items()},
    }
    lines = ["| view (lab work only) | median (p25-p75) |", "|---|---|"]
    for name, fn in views.items():
        lines.append(f"| {name} | {spread(timed(fn, runs), digits=2)} |")  # one warm-up call first
    return lines


def bench_endpoints(runs: int) -> list[str]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client

    import app

    sample, source, amount = L.default_sample(), L.DEFAULT_SOURCE, L.DEFAULT_AMOUNT
    calls = {
        "/losses_open": (list(L.DEFAULT_COMPARE), L.DEFAULT_CHOSEN, 1.0, 0.25, 2.0, sample, source, amount),
        "/losses_curves": (list(L.DEFAULT_COMPARE), 1.0, 0.25, 2.0),
        "/losses_mask": (sample, source, amount, 1.0, 0.25, 2.0),
        "/losses_pitfall": (sample, source, amount, 0.25, 2.0),
        "/losses_code": (L.DEFAULT_CHOSEN, sample, source, amount, 1.0, 0.25, 2.0),
        **{f"/losses_pitfall_{name}": () for name in L.PITFALLS},
    }
    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    try:
        client = Client(url, verbose=False)
        lines = ["| endpoint | median (p25-p75) |", "|---|---|"]
        for api_name, args in calls.items():
            samples = timed(lambda a=args, n=api_name: client.predict(*a, api_name=n), runs)  # one warm-up call first
            lines.append(f"| {api_name} | {spread(samples, digits=2)} |")
        return lines
    finally:
        app.demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--device", default=None, help="default: lab.device.pick_device()")
    parser.add_argument("--views", action="store_true", help="also time the lab work behind each endpoint")
    parser.add_argument("--endpoints", action="store_true", help="also time the tab's endpoints (launches the app)")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else pick_device()
    print(f"command: {command()}")
    print(f"machine: {machine(device)}")
    print(f"forward + backward on {' x '.join(map(str, SHAPE))}, median over {args.runs} runs:")
    print("\n".join(bench_losses(args.runs, device)))
    if args.views:
        print(f"\nLab work behind the Losses tab's views on {pick_device()}, default inputs, {args.runs} runs:")
        print("\n".join(bench_views(args.runs)))
    if args.endpoints:
        print(f"\nLosses tab endpoints through gradio_client, default inputs, {args.runs} runs:")
        print("\n".join(bench_endpoints(args.runs)))


if __name__ == "__main__":
    main()
