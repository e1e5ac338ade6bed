"""Latency of every non-training endpoint with its default inputs, through gradio_client (DESIGN.md target:
median <= 150 ms; ResNet-152 build + forward <= 1.5 s).

    python bench/endpoints.py [--runs 7] [--only compose_build losses_curves ...]

Launches the app in a subprocess on a free port, discovers the endpoints from the API description, and calls each
one whose inputs all have defaults (file inputs and training are left out), `--runs` times after one warm-up call.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {"/train_start", "/train_arm", "/train_stop"}  # training is timed by bench/train.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app() -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url, timeout=1).status == 200:
                return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the app did not start within 120 s")


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
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                client.predict(**kwargs, api_name=name)
                times.append((time.perf_counter() - start) * 1000)
            rows.append((name, statistics.median(times), min(times), max(times), ""))
    finally:
        proc.kill()
        proc.wait()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/endpoints.py --runs {args.runs}")
    print("| endpoint | median ms | min | max | <= 150 ms |")
    print("|---|---:|---:|---:|---|")
    for name, med, lo, hi, note in rows:
        ok = "yes" if med <= 150 else "no"
        print(f"| `{name}` | {med:.0f} | {lo:.0f} | {hi:.0f} | {note or ok} |")


if __name__ == "__main__":
    main()
