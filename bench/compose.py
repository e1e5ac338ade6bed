"""Compose tab latency (tutorial 5.1): default inputs, every style, through gradio_client and in-process.

Target (DESIGN.md): every non-training endpoint with default inputs, median <= 150 ms through gradio_client.
Run: `python bench/compose.py [--runs 15]`. Prints the command, the machine and a Markdown table: median and
spread (min, max, IQR: p75 - p25) per style. The first call of a fresh server imports torch's meta kernels once
(shown as "first call").
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command, free_port, machine, pct, timed  # noqa: E402
from lab import compose  # noqa: E402
from lab.device import describe  # noqa: E402


def line(label: str, seconds: list[float]) -> str:
    """One table row, in ms: median, min, max, IQR (p75 - p25), runs."""
    ms = [s * 1000 for s in seconds]
    iqr = pct(ms, 0.75) - pct(ms, 0.25)
    return f"| {label} | {statistics.median(ms):.1f} | {min(ms):.1f} | {max(ms):.1f} | {iqr:.1f} | {len(ms)} |"


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
        first = timed(lambda: client.predict(*defaults, api_name="/compose_build"), 1, warmup=0)
        rows = [line("first call of a fresh server (client, sequential)", first)]
        for style in compose.STYLES:
            call = (compose.DEFAULT_LAYERS, style, compose.DEFAULT_INPUT_SHAPE)
            rows.append(
                line(
                    f"/compose_build via gradio_client, {style}",
                    timed(lambda call=call: client.predict(*call, api_name="/compose_build"), args.runs, warmup=2),
                )
            )
        rows.append(
            line(
                "/compose_pitfall via gradio_client",
                timed(lambda: client.predict(api_name="/compose_pitfall"), args.runs, warmup=0),
            )
        )
        rows.append(
            line("lab.compose.explore in-process, sequential",
                 timed(lambda: compose.explore(*defaults), args.runs, warmup=0))
        )
    finally:
        app.demo.close()

    print(f"machine: {machine()}")
    print(f"lab: {describe()}")
    print(f"command: {command()}")
    print()
    print("| what | median ms | min | max | IQR | runs |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
