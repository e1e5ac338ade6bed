"""Latency of every non-training endpoint with its default inputs, through gradio_client (DESIGN.md target:
median <= 150 ms; ResNet-152 build + forward <= 1.5 s).

    python bench/endpoints.py [--runs 7] [--only compose_build losses_curves ...]

Launches the app in a subprocess on a free port, discovers the endpoints from the API description, and calls each
one whose inputs all have defaults (file inputs and training are left out), `--runs` times after one warm-up call.
Prints the machine, the command and a Markdown table: median, min and max per endpoint.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command, machine, start_app, stop_app, timed  # noqa: E402

SKIP = {"/train_start", "/train_arm", "/train_stop"}  # training is timed by bench/train.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", nargs="*", help="endpoint names without the slash")
    args = parser.parse_args()

    from gradio_client import Client

    proc, url = start_app()
    try:
        client = Client(url, verbose=False)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        rows = []
        for name, info in api.items():
            if name in SKIP or (args.only and name.lstrip("/") not in args.only):
                continue
            params = info["parameters"]
            if not all(p.get("parameter_has_default") for p in params):
                continue  # needs a file or a choice with no default
            kwargs = {p["parameter_name"]: p["parameter_default"] for p in params}
            try:
                client.predict(**kwargs, api_name=name)  # warm-up: lazy imports, first-call caches
            except Exception as exc:  # noqa: BLE001 - report and go on
                rows.append((name, float("nan"), float("nan"), float("nan"), f"error: {exc}"[:80]))
                continue
            times = [s * 1000 for s in timed(lambda k=kwargs, n=name: client.predict(**k, api_name=n), args.runs,
                                             warmup=0)]  # fmt: skip
            rows.append((name, statistics.median(times), min(times), max(times), ""))
    finally:
        stop_app(proc)

    print(f"machine: {machine()}")
    print(f"command: {command()}")
    print("| endpoint | median ms | min | max | <= 150 ms |")
    print("|---|---:|---:|---:|---|")
    for name, med, lo, hi, note in rows:
        ok = "yes" if med <= 150 else "no"
        print(f"| `{name}` | {med:.0f} | {lo:.0f} | {hi:.0f} | {note or ok} |")


if __name__ == "__main__":
    main()
