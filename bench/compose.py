"""Compose tab latency (tutorial 5.1): default inputs, every style, through gradio_client and in-process.

Target (DESIGN.md): every non-training endpoint with default inputs, median <= 150 ms through gradio_client.
Run: `python bench/compose.py [--runs 15]`. Prints median and spread (min, max, IQR) per style, the machine and
the command. The first call of a fresh server imports torch's meta kernels once (shown as "first call").
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from lab import compose  # noqa: E402
from lab.device import describe  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(fn, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def line(label: str, ms: list[float]) -> str:
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return f"| {label} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} | {q[2] - q[0]:.1f} | {len(ms)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    from gradio_client import Client

    import app

    _, url, _ = app.demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True, **app.LAUNCH_KW)
    client = Client(url, verbose=False)
    defaults = (compose.DEFAULT_LAYERS, "sequential", compose.DEFAULT_INPUT_SHAPE)
    try:
        first = timed(lambda: client.predict(*defaults, api_name="/compose_build"), 1)
        rows = [line("first call of a fresh server (client, sequential)", first)]
        for style in compose.STYLES:
            call = (compose.DEFAULT_LAYERS, style, compose.DEFAULT_INPUT_SHAPE)
            timed(lambda call=call: client.predict(*call, api_name="/compose_build"), 2)  # warm
            rows.append(
                line(
                    f"/compose_build via gradio_client, {style}",
                    timed(lambda call=call: client.predict(*call, api_name="/compose_build"), args.runs),
                )
            )
        rows.append(
            line(
                "/compose_pitfall via gradio_client",
                timed(lambda: client.predict(api_name="/compose_pitfall"), args.runs),
            )
        )
        rows.append(
            line("lab.compose.explore in-process, sequential", timed(lambda: compose.explore(*defaults), args.runs))
        )
    finally:
        app.demo.close()

    print(f"machine: {platform.node()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores")
    print(f"lab: {describe()} · torch threads {torch.get_num_threads()}")
    print(f"command: python bench/compose.py --runs {args.runs}")
    print()
    print("| what | median ms | min | max | IQR | runs |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
