"""Start-up cost of the lab: time until `python app.py` answers HTTP 200, and its idle memory, against the bare
`import torch, torchvision, gradio` in the same run (DESIGN.md target: ratio <= 1.25, idle RSS <= 1.15x).

    python bench/startup.py [--runs 5]
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
IMPORT_ONLY = "import torch, torchvision, gradio, time, sys; print('ready', flush=True); time.sleep(3)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    """Resident set size of a process (Linux), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_import() -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", IMPORT_ONLY], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "ready"
    elapsed = time.perf_counter() - start
    time.sleep(1.0)  # let it settle, as the app does below
    rss = rss_mib(proc.pid)
    proc.kill()
    proc.wait()
    return elapsed, rss


def time_app() -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            try:
                if urllib.request.urlopen(url, timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.05)
            if time.perf_counter() - start > 120:
                raise RuntimeError("app did not answer within 120 s")
        elapsed = time.perf_counter() - start
        time.sleep(1.0)
        rss = rss_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    return elapsed, rss


def fmt(values: list[float], unit: str) -> str:
    spread = (max(values) - min(values)) / 2
    median = statistics.median(values)
    return f"median {median:.2f} {unit} (min {min(values):.2f}, max {max(values):.2f}, ±{spread:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    imports, apps = [], []
    for _ in range(args.runs):  # interleaved, so drift in machine load hits both alike
        imports.append(time_import())
        apps.append(time_app())
    t_imp, r_imp = [t for t, _ in imports], [r for _, r in imports]
    t_app, r_app = [t for t, _ in apps], [r for _, r in apps]
    ratio_t = statistics.median(t_app) / statistics.median(t_imp)
    ratio_r = statistics.median(r_app) / statistics.median(r_imp)
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"command: python bench/startup.py --runs {args.runs}")
    print(f"import torch, torchvision, gradio: {fmt(t_imp, 's')}; RSS {fmt(r_imp, 'MiB')}")
    print(f"python app.py until HTTP 200:     {fmt(t_app, 's')}; RSS {fmt(r_app, 'MiB')}")
    print(f"ratio time {ratio_t:.2f} (target <= 1.25), ratio idle RSS {ratio_r:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
