"""Benchmark for the LR schedules tab (tutorial 6.2).

1. A 10,000-step `lab.schedules.lr_curve` against a bare torch loop stepping the same scheduler (optimizer.step
   then scheduler.step, reading param_groups[0]["lr"]), per scheduler; target: ratio <= 1.5.
2. A 6-curve overlay end to end through gradio_client on the launched app: five curves added to the comparison,
   then the timed call re-draws the current curve with the 5 overlays (6 curves); target: median <= 150 ms.

Run: python bench/schedules.py [--runs 7] [--skip-client]

Prints the machine, the command, and per measure the median with the middle half of the runs (p25-p75), in ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402

from bench.common import command, free_port, machine, once, spread, timed  # noqa: E402
from lab import schedules as S  # noqa: E402
from lab.safe_expr import compile_expression  # noqa: E402

STEPS = 10_000
# (name, params, the same scheduler built directly)
CASES = [
    ("StepLR", {"step_size": 30}, lambda o: L.StepLR(o, 30)),
    ("LambdaLR", {"lr_lambda": "0.95 ** epoch"}, lambda o: L.LambdaLR(o, compile_expression("0.95 ** epoch"))),
    ("CosineAnnealingLR", {"T_max": STEPS}, lambda o: L.CosineAnnealingLR(o, STEPS)),
    ("CosineAnnealingWarmRestarts", {"T_0": 500}, lambda o: L.CosineAnnealingWarmRestarts(o, 500)),
    ("OneCycleLR", {"max_lr": 0.1}, lambda o: L.OneCycleLR(o, 0.1, total_steps=STEPS)),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 200}, lambda o: L.CyclicLR(o, 0.01, 0.1, 200)),
    ("SequentialLR", {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 500}},
                                     {"name": "CosineAnnealingLR", "params": {"T_max": STEPS - 500}}],
                      "milestones": [500]},
     lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=500), L.CosineAnnealingLR(o, STEPS - 500)], [500])),
    ("ReduceLROnPlateau", {}, None),
]  # fmt: skip


def bare_loop(factory, name):
    """What a person writes to get the curve: a parameter, SGD, the scheduler, and the loop."""
    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    if factory is None:
        scheduler, metrics = L.ReduceLROnPlateau(optimizer), S.plateau_metric(STEPS)
    else:
        scheduler, metrics = factory(optimizer), None
    lrs = []
    for i in range(STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step(metrics[i]) if metrics else scheduler.step()
    return lrs


def bench_curves(runs: int) -> None:
    print(f"1. {STEPS}-step curve vs a bare torch loop ({runs} runs each, interleaved; median (p25-p75) ms)")
    bare_loop(CASES[0][2], "StepLR")  # first optimizer construction imports torch._dynamo (~2 s): not timed
    for name, params, factory in CASES:
        ours, bare = [], []
        for _ in range(runs):
            ours.append(once(lambda n=name, p=params: S.lr_curve(n, p, steps=STEPS)))
            bare.append(once(lambda f=factory, n=name: bare_loop(f, n)))
        ratio = statistics.median(ours) / statistics.median(bare)
        print(f"   {name:28s} lab {spread(ours, suffix='')}  bare {spread(bare, suffix='')}"
              f"  ratio {ratio:.2f} {'ok' if ratio <= 1.5 else 'OVER 1.5'}")  # fmt: skip


def bench_client(runs: int) -> None:
    from gradio_client import Client

    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    try:
        client = Client(url, verbose=False)
        client.predict("StepLR", api_name="/schedules_select")  # warm-up (first optimizer: torch._dynamo import)
        for name in ("StepLR", "CosineAnnealingLR", "OneCycleLR", "ExponentialLR", "CosineAnnealingWarmRestarts"):
            client.predict(name, api_name="/schedules_select")
            client.predict(api_name="/schedules_add")
        out = []

        def redraw() -> None:  # the tab's redraw: the current curve (StepLR(30), the fields' defaults) + 5 overlays
            out[:] = client.predict(api_name="/schedules_curve")

        times = timed(redraw, runs, warmup=0)
        assert "StepLR(step_size=30)" in out[-1]
        med = statistics.median(times)
        print(f"2. 6-curve overlay through gradio_client (/schedules_curve with 5 overlays, {runs} runs): "
              f"median {spread(times)} {'ok' if med <= 0.150 else 'OVER 150 ms'}")  # fmt: skip
    finally:
        app.demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-client", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"command: {command()}")
    bench_curves(args.runs)
    if not args.skip_client:
        bench_client(args.runs)


if __name__ == "__main__":
    main()
