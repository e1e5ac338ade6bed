"""What every benchmark shares: a free port, the app started in a subprocess, timing with spread, the machine line.

Benchmarks measure; they never assert. Each prints a Markdown block with the command that produced it and the
machine it ran on; those that keep their own record write it through `write_result` to bench/results/<name>.md (or
their --out). Run them from the repository root as `python bench/<name>.py`: each puts the root on sys.path first.
"""

from __future__ import annotations

import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

__all__ = ["ROOT", "RESULTS", "free_port", "machine", "timed", "once", "spread", "pct", "start_app", "stop_app",
           "status_mib", "write_result", "command"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine(device: Any = None) -> str:
    """One line: CPU cores and model, Python, torch, its CPU threads, the 1-minute load average (on a shared machine
    the numbers follow it), and the device when it is not the CPU."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    line = (f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, torch {torch.__version__} "
            f"({torch.get_num_threads()} threads), load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if device is not None and str(device) != "cpu":
        name = torch.cuda.get_device_name(device) if str(device).startswith("cuda") else str(device)
        line += f", device {name}"
    return line


def command() -> str:
    """The command line that is running, as a reader would type it."""
    return "python " + shlex.join([os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def timed(fn: Callable[[], Any], runs: int, *, warmup: int = 1) -> list[float]:
    """Seconds per call of `fn()`, `runs` times after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def once(fn: Callable[[], Any]) -> float:
    """Seconds for one call of `fn()`: for benches that alternate two contenders run by run."""
    return timed(fn, 1, warmup=0)[0]


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def spread(samples: Sequence[float], unit: float = 1e3, suffix: str = " ms", digits: int = 1) -> str:
    """"median (p25-p75)" in `unit`s with `digits` decimals: the median and the middle half of the samples."""
    if not samples:
        return "n/a"
    med, low, high = statistics.median(samples) * unit, pct(samples, 0.25) * unit, pct(samples, 0.75) * unit
    return f"{med:.{digits}f}{suffix} ({low:.{digits}f}-{high:.{digits}f})"


def status_mib(pid: int, field: str = "VmRSS") -> float:
    """A memory field of /proc/<pid>/status (VmRSS, VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_app(env: dict[str, str] | None = None, *, timeout_s: float = 180, stderr: Any = subprocess.DEVNULL,
              poll_s: float = 0.2) -> tuple[subprocess.Popen, str]:  # fmt: skip
    """`python app.py` on a free port in a subprocess; returns (process, url) once it answers HTTP 200, asking every
    `poll_s` seconds (bench/startup.py times the start itself and asks more often)."""
    port = free_port()
    full_env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_OFFLINE": "1", **(env or {})}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL,
                            stderr=stderr, text=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with code {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - the benchmark's own local app
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(poll_s)
    proc.kill()
    raise RuntimeError(f"the app did not answer within {timeout_s:.0f} s")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def write_result(name: str, text: str, out: str | os.PathLike | None = None) -> Path:
    """Print `text` and keep it as bench/results/<name>.md, or as `out` (a bench's --out: a trial run elsewhere)."""
    print(text)
    path = Path(out) if out is not None else RESULTS / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
    return path
