"""Start-up cost of the lab: time until `python app.py` answers HTTP 200, and its idle memory, against the bare
`import torch, torchvision, gradio` in the same run (DESIGN.md target: ratio <= 1.25, idle RSS <= 1.15x).

    python bench/startup.py [--runs 5]

Prints the machine, the command, and for both the median time and idle RSS with the middle half of the runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, command, machine, spread, start_app, status_mib, stop_app  # noqa: E402

IMPORT_ONLY = "import torch, torchvision, gradio, time, sys; print('ready', flush=True); time.sleep(3)"


def time_import() -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", IMPORT_ONLY], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "ready"
    elapsed = time.perf_counter() - start
    time.sleep(1.0)  # let it settle, as the app does below
    rss = status_mib(proc.pid)
    proc.kill()
    proc.wait()
    return elapsed, rss


def time_app() -> tuple[float, float]:
    start = time.perf_counter()
    proc, _ = start_app(timeout_s=120, poll_s=0.05)
    elapsed = time.perf_counter() - start
    try:
        time.sleep(1.0)  # let it settle, as the import does above
        rss = status_mib(proc.pid)
    finally:
        stop_app(proc)
    return elapsed, rss


def fmt(values: list[float], unit: str) -> str:
    """"median <unit> (p25-p75)", two decimals."""
    return "median " + spread(values, unit=1, suffix=f" {unit}", digits=2)


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
    print(f"machine: {machine()}")
    print(f"command: {command()}")
    print(f"import torch, torchvision, gradio: {fmt(t_imp, 's')}; RSS {fmt(r_imp, 'MiB')}")
    print(f"python app.py until HTTP 200:     {fmt(t_app, 's')}; RSS {fmt(r_app, 'MiB')}")
    print(f"ratio time {ratio_t:.2f} (target <= 1.25), ratio idle RSS {ratio_r:.2f} (target <= 1.15)")


if __name__ == "__main__":
    main()
