"""Losses (tutorial 6.1): forward + backward of each lab loss against the tutorial's class on one batch
(8 x 1 x 256 x 256 logits and a binary mask; target: the lab's versions are no slower; Focal also against
torchvision.ops.sigmoid_focal_loss, the same per-pixel computation), and optionally the
Losses tab's endpoints through gradio_client (DESIGN.md target: median <= 150 ms).

    python bench/losses.py [--runs 30] [--device cpu|cuda] [--views] [--endpoints]

The two versions of each loss run alternately, so a machine busy with other work slows both alike.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from lab import losses as L  # noqa: E402
from lab.device import pick_device  # noqa: E402

SHAPE = (8, 1, 256, 256)


def machine(device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return (f"{name} ({device.type}), {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads, "
            f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__}, Python {platform.python_version()}")


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


def spread(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=4)
    return f"{statistics.median(samples) * 1e3:7.2f} ms (IQR {q[0] * 1e3:.2f}-{q[2] * 1e3:.2f})"


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
        lines.append(f"| {name} | {spread(a)} | {spread(b)} | {ratio:.2f} |")
    return lines


def bench_views(runs: int) -> list[str]:
    """The lab work behind each endpoint (no gradio: runs where gradio is not installed), default inputs."""
    from lab.segment import overlay, samples

    sample = samples()[0]
    device = pick_device()
    targets = torch.from_numpy(sample.mask.copy()).float()[None, None].to(device)
    params = {"smooth": 1.0, "alpha": 0.25, "gamma": 2.0}

    def curves():
        L.curves_figure(L.curves(["dice", "iou", "dice_bce", "focal", "bce"], **params))

    def mask():
        probs = L.degrade(targets, "blur", 0.25)
        df = L.compare(L.as_logits(probs), targets, **params)
        L.values_figure(df), L.maps_figure(overlay(sample.image, sample.mask), probs, targets, alpha=0.25, gamma=2.0)

    def pitfall():
        L.focal_pitfall(L.as_logits(L.degrade(targets, "blur", 0.25)), targets, alpha=0.25, gamma=2.0)
        L.saturation_table()

    lines = ["| view (lab work only) | median (IQR) |", "|---|---|"]
    for name, fn in (("curves", curves), ("mask", mask), ("pitfall", pitfall)):
        fn()  # warm-up
        samples_ = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples_.append(time.perf_counter() - start)
        lines.append(f"| {name} | {spread(samples_)} |")
    return lines


def bench_endpoints(runs: int) -> list[str]:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from gradio_client import Client

    import app
    from ui import losses as U

    sample = U._sample_names()[0]
    calls = {
        "/losses_curves": (U.DEFAULT_COMPARE, 1.0, 0.25, 2.0),
        "/losses_mask": (sample, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT, 1.0, 0.25, 2.0),
        "/losses_pitfall": (sample, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT, 0.25, 2.0),
        "/losses_code": (U.DEFAULT_CHOSEN, sample, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT, 1.0, 0.25, 2.0),
    }
    _, url, _ = app.demo.launch(prevent_thread_lock=True, quiet=True, **app.LAUNCH_KW)
    try:
        client = Client(url, verbose=False)
        lines = ["| endpoint | median (IQR) |", "|---|---|"]
        for api_name, args in calls.items():
            client.predict(*args, api_name=api_name)  # warm-up
            samples = []
            for _ in range(runs):
                start = time.perf_counter()
                client.predict(*args, api_name=api_name)
                samples.append(time.perf_counter() - start)
            lines.append(f"| {api_name} | {spread(samples)} |")
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
    print(f"command: python bench/losses.py {' '.join(sys.argv[1:])}".rstrip())
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
