"""Load (issue 9): 20 concurrent gradio_client sessions mixing schedule, loss, compose, segment and checkpoint calls.

Starts `python app.py` in a subprocess on a free port with its own temp folders (GRADIO_TEMP_DIR for Gradio's
cache, TMPDIR for the lab's own files), runs the sessions for `--seconds`, then reports requests, errors
(target 0), p50/p95 latency per call kind, the server's peak RSS (VmHWM), and the size and file count of both
temp folders after start-up, right after the run, and after `--settle` seconds of idling.

    python bench/load.py [--sessions 20] [--seconds 60] [--settle 10] [--out bench/results/load.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "Default: small CNN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def folder(path: Path) -> tuple[int, float]:
    """(files, MiB) under `path`."""
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


def start_app(port: int, gradio_tmp: Path, lab_tmp: Path) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_SERVER_PORT=str(port), GRADIO_TEMP_DIR=str(gradio_tmp), TMPDIR=str(lab_tmp),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:  # noqa: S310 - local app
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the app did not answer within 180 s")


# ----------------------------------------------------------------------------------------------------------
# The mix: each entry is (kind, function(client, rng)); one session picks uniformly among the kinds.
# ----------------------------------------------------------------------------------------------------------

LOSSES = ("dice", "iou", "dice_bce", "focal", "bce")


PRESETS = ("Tutorial 6.2.2: adjust_learning_rate beside StepLR(30, 0.1)", "Linear warm-up, then cosine (SequentialLR)",
           "OneCycleLR over 10 epochs of 100 batches", "Cosine with warm restarts (T_0=10, T_mult=2)",
           "ReduceLROnPlateau on a noisy plateauing loss")


def schedule(client, rng):
    """A preset (the tab fills every field itself), or StepLR with its form defaults over 100..10,000 steps.

    One session sticks to one of the two: a preset re-labels the form's fields for its session, after which the
    form's API defaults no longer fit them (as a person's form would be refilled, not reset)."""
    if rng.presets:
        client.predict(label=rng.choice(PRESETS), api_name="/schedules_preset")
    else:
        client.predict(name="StepLR", steps=rng.choice((100, 1000, 10_000)), api_name="/schedules_curve")


def loss(client, rng):
    if rng.random() < 0.5:
        client.predict(names=rng.sample(LOSSES, 3), api_name="/losses_curves")
    else:
        client.predict(sample=f"cells_{rng.randrange(28):02d}", amount=rng.random(), api_name="/losses_mask")


def compose(client, rng):
    style = rng.choice(("sequential", "ordereddict", "modulelist", "moduledict"))
    client.predict(style=style, api_name="/compose_build")


def segment(client, rng):
    client.predict(sample=f"cells_{rng.randrange(28):02d}", upload=None, threshold=0.5, which="shipped small U-Net",
                   api_name="/unet_segment")


def checkpoint(client, rng):
    from gradio_client import handle_file

    fmt = rng.choice((".pt", ".pth", ".safetensors"))
    wrapper = "ddp" if rng.random() < 0.2 else "none"  # DDP: every session shares one gloo process group
    saved, _facts, _code = client.predict(DEFAULT, "state_dict", fmt, wrapper, wrapper == "ddp",
                                          api_name="/checkpoints_save")
    client.predict(handle_file(saved), DEFAULT, api_name="/checkpoints_load")


MIX = {"schedule": schedule, "loss": loss, "compose": compose, "segment": segment, "checkpoint": checkpoint}


def session(url: str, seed: int, until: float, latencies, errors, lock, downloads: Path) -> None:
    from gradio_client import Client

    rng = random.Random(seed)
    rng.presets = seed % 2 == 0
    # returned files are downloaded into the run's own folder (the checkpoint kind uploads them back)
    client = Client(url, verbose=False, download_files=str(downloads))
    while time.time() < until:
        kind = rng.choice(list(MIX))
        start = time.perf_counter()
        try:
            MIX[kind](client, rng)
            ok = True
        except Exception as exc:  # noqa: BLE001 - every failure is counted and its first line kept
            ok = False
            message = f"{kind}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        took = time.perf_counter() - start
        with lock:
            latencies[kind].append(took)
            if not ok:
                errors.append(message)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=10, help="idle seconds before the last temp-dir look")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    args = parser.parse_args()

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    work = Path(tempfile.mkdtemp(prefix="lab-load-"))
    gradio_tmp, lab_tmp = work / "gradio", work / "tmp"
    gradio_tmp.mkdir()
    lab_tmp.mkdir()
    port = free_port()
    t0 = time.perf_counter()
    proc = start_app(port, gradio_tmp, lab_tmp)
    ready_s = time.perf_counter() - t0
    url = f"http://127.0.0.1:{port}/"
    rss_idle = status_mib(proc.pid, "VmRSS")
    before = (folder(gradio_tmp), folder(lab_tmp))

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    until = time.time() + args.seconds
    downloads = work / "client"
    downloads.mkdir()
    threads = [threading.Thread(target=session, args=(url, i, until, latencies, errors, lock, downloads),
                                daemon=True) for i in range(args.sessions)]
    load_before = os.getloadavg()[0]
    run_start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=args.seconds + 300)
    wall = time.perf_counter() - run_start
    load_after = os.getloadavg()[0]
    # top-level folder of each file, without mkdtemp's 8 random characters (lab-train-ab12cd34 -> lab-train)
    by_folder = Counter(re.sub(r"-[a-z0-9_]{8}$", "", p.relative_to(lab_tmp).parts[0])
                        for p in lab_tmp.rglob("*") if p.is_file())
    hung = sum(t.is_alive() for t in threads)
    rss_peak = status_mib(proc.pid, "VmHWM")
    rss_after = status_mib(proc.pid, "VmRSS")
    after = (folder(gradio_tmp), folder(lab_tmp))
    time.sleep(args.settle)
    settled = (folder(gradio_tmp), folder(lab_tmp))
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    keep = work  # removed below unless there is something to look at
    log = proc.stderr.read() if proc.stderr else ""
    (work / "server.log").write_text(log)
    server_errors = [line for line in log.splitlines() if "callback failed" in line]  # ui.common: internal errors
    kinds_of_error = Counter(errors).most_common(5)

    every = [x for v in latencies.values() for x in v]
    rows = [f"| {kind} | {len(v)} | {pct(v, 0.5) * 1000:.0f} | {pct(v, 0.95) * 1000:.0f} | {max(v) * 1000:.0f} |"
            for kind, v in sorted(latencies.items())]
    rows.append(f"| **all** | **{len(every)}** | **{pct(every, 0.5) * 1000:.0f}** | **{pct(every, 0.95) * 1000:.0f}** "
                f"| **{max(every, default=0) * 1000:.0f}** |")
    temp_rows = [f"| {label} | {g[0]} files, {g[1]:.1f} MiB | {lab[0]} files, {lab[1]:.1f} MiB |"
                 for label, (g, lab) in (("after start-up", before), ("right after the run", after),
                                         (f"after {args.settle:.0f} s idle", settled))]
    cpu = platform.processor() or platform.machine()
    text = "\n".join([
        "## Load: concurrent gradio_client sessions (bench/load.py)",
        "",
        f"Command: `python bench/load.py --sessions {args.sessions} --seconds {args.seconds:.0f}` · machine: "
        f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()} · "
        f"1-min load average {load_before:.1f} before the sessions, {load_after:.1f} after "
        "(the sessions themselves load the machine).",
        "",
        f"App ready in {ready_s:.1f} s; {args.sessions} sessions for {wall:.0f} s "
        f"(queue: `default_concurrency_limit=2`). Each checkpoint request is a save plus an upload of that file.",
        "",
        f"**Requests: {len(every)} · errors: {len(errors)} · sessions still running at the end: {hung}** · "
        f"throughput {len(every) / wall:.1f} requests/s",
        "",
        "| kind | requests | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Server RSS: idle {rss_idle:.0f} MiB, peak {rss_peak:.0f} MiB (VmHWM), after the run {rss_after:.0f} MiB.",
        "",
        "| temp folder | Gradio cache (GRADIO_TEMP_DIR) | lab's own files (TMPDIR) |",
        "|---|---|---|",
        *temp_rows,
        "",
        "The lab's own files right after the run, by tab folder: "
        + (", ".join(f"{k}: {n}" for k, n in sorted(by_folder.items())) or "none")
        + " (the Checkpoints tab prunes its folders after 15 minutes, the LR tab its CSVs after an hour, on their "
        "next call; Gradio's cache is cleaned every 30 minutes of files older than an hour).",
        "",
        "Errors by message: " + ("; ".join(f"{n} x {m}" for m, n in kinds_of_error) if errors else "none") + ".",
        f"Internal errors logged by the server (`callback failed`): {len(server_errors)}"
        + (f" (server log kept: {work / 'server.log'})." if server_errors or errors else "."),
        "",
    ])
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if not server_errors and not errors:
        shutil.rmtree(keep, ignore_errors=True)  # the run's own temp folders: nothing worth keeping


if __name__ == "__main__":
    main()
