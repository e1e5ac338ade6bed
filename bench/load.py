"""Load (issue 9): 20 concurrent gradio_client sessions mixing schedule, loss, compose, segment and checkpoint calls.

Starts `python app.py` in a subprocess on a free port with its own temp folders (GRADIO_TEMP_DIR for Gradio's
cache, TMPDIR for the lab's own files), runs the sessions for `--seconds`, then reports requests, errors
(target 0), p50/p95 latency per call kind, the server's peak RSS (VmHWM), and the size and file count of both
temp folders after start-up, right after the run, and after `--settle` seconds of idling.

    python bench/load.py [--sessions 20] [--seconds 60] [--settle 10] [--out bench/results/load.md]
    python bench/load.py --storm [--sessions 20] [--seconds 60]     # issue 12: bench/results/storm.md

`--storm` sends only the largest request each tab accepts (a ResNet-152 surgery at batch 8 and 384 px, a 48 M
parameter Compose model, the tutorial's U-Net at 1024 px, a 100,000-step schedule), each with one setting drawn at
random so that no cached view answers it, from every session at once,
while a probe session asks a cheap endpoint once a second: the server's peak RSS must stay under 4 GiB and the
probe must keep answering within seconds.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, command, machine, pct, start_app, status_mib, stop_app, write_result  # noqa: E402
from lab.schedules import PRESETS as SCHEDULE_PRESETS  # noqa: E402

DEFAULT = "default"  # ui.checkpoints.DEFAULT: the default CNN's id in the Checkpoints tab's model picker


def folder(path: Path) -> tuple[int, float]:
    """(files, MiB) under `path`."""
    files = [p for p in path.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files) / 2**20


# ----------------------------------------------------------------------------------------------------------
# The mix: each entry is (kind, function(client, rng)); one session picks uniformly among the kinds.
# ----------------------------------------------------------------------------------------------------------

LOSSES = ("dice", "iou", "dice_bce", "focal", "bce")


PRESETS = tuple(SCHEDULE_PRESETS)  # the LR tab's preset ids (its dropdown's values)


def schedule(client, rng):
    """A preset (the tab fills every field itself), or StepLR with its form defaults over 100..10,000 steps.

    One session sticks to one of the two: a preset re-labels the form's fields for its session, after which the
    form's API defaults no longer fit them (as a person's form would be refilled, not reset)."""
    if rng.presets:
        client.predict(preset=rng.choice(PRESETS), api_name="/schedules_preset")
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


# ----------------------------------------------------------------------------------------------------------
# The storm (issue 12): the largest requests each tab accepts, from every session at once; a probe session meanwhile
# asks a cheap endpoint once a second and records how long it waits.
BIG_HEAD = "4096, 4096, 4096, 4096"  # lab.surgery.MAX_HIDDEN_LAYERS layers of MAX_HIDDEN


def big_surgery(client, rng):
    client.predict(arch="resnet152", weights=None, new_head=True, hidden=BIG_HEAD, dropout=0.5,
                   classes=rng.randrange(9_000, 10_001),  # a different request each time: no cache helps
                   extra_input=True, extra_size=1024, extra_output=True, freeze=rng.random() < 0.5, batch=8, size=384,
                   api_name="/surgery_apply")  # fmt: skip


def big_compose(client, rng):
    layers = "".join(f"fc{i} = nn.Linear(4000, 4000)\n" for i in range(3))  # 48 M parameters, near the cap
    client.predict(text=layers, style=rng.choice(("sequential", "moduledict")),
                   input_shape=f"{rng.randrange(40, 49)}x4000",
                   api_name="/compose_build")


def big_unet(client, rng):
    client.predict(n_channels=3, n_classes=rng.randrange(2, 257), upsampling="transposed", base_channels=64, depth=4,
                   height=1024, width=1024, api_name="/unet_build")  # fmt: skip


def big_schedule(client, rng):
    client.predict(name="CosineAnnealingWarmRestarts", params_json=f'{{"T_0": {rng.randrange(100, 5000)}}}',
                   steps=100_000,
                   api_name="/schedules_curve_json")  # fmt: skip


STORM = {"surgery": big_surgery, "compose": big_compose, "unet": big_unet, "schedule": big_schedule}


def probe(url: str, until: float, waits: list[float], errors: list[str], lock) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    while time.time() < until:
        start = time.perf_counter()
        try:
            client.predict(chosen="dice", api_name="/losses_choose")
        except Exception as exc:  # noqa: BLE001 - counted
            with lock:
                errors.append(f"probe: {str(exc)[:120]}")
        with lock:
            waits.append(time.perf_counter() - start)
        time.sleep(1.0)


def session(url: str, seed: int, until: float, latencies, errors, lock, downloads: Path, mix: dict = MIX) -> None:
    from gradio_client import Client

    rng = random.Random(seed)
    rng.presets = seed % 2 == 0
    # returned files are downloaded into the run's own folder (the checkpoint kind uploads them back)
    client = Client(url, verbose=False, download_files=str(downloads))
    while time.time() < until:
        kind = rng.choice(list(mix))
        start = time.perf_counter()
        try:
            mix[kind](client, rng)
            ok = True
        except Exception as exc:  # noqa: BLE001 - every failure is counted and its first line kept
            ok = False
            message = f"{kind}: {type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
        took = time.perf_counter() - start
        with lock:
            latencies[kind].append(took)
            if not ok:
                errors.append(message)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=10, help="idle seconds before the last temp-dir look")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/load.md (storm.md)")
    parser.add_argument("--storm", action="store_true", help="the largest accepted requests only, and a probe")
    args = parser.parse_args()
    args.out = args.out or RESULTS / ("storm.md" if args.storm else "load.md")
    mix = STORM if args.storm else MIX

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    work = Path(tempfile.mkdtemp(prefix="lab-load-"))
    gradio_tmp, lab_tmp = work / "gradio", work / "tmp"
    gradio_tmp.mkdir()
    lab_tmp.mkdir()
    log_path = work / "server.log"
    t0 = time.perf_counter()
    with log_path.open("w") as log_file:  # the server's stderr, to a file: a pipe nobody reads fills and blocks it
        proc, url = start_app({"GRADIO_TEMP_DIR": str(gradio_tmp), "TMPDIR": str(lab_tmp)}, stderr=log_file)
    ready_s = time.perf_counter() - t0
    rss_idle = status_mib(proc.pid, "VmRSS")
    before = (folder(gradio_tmp), folder(lab_tmp))

    latencies: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock = threading.Lock()
    until = time.time() + args.seconds
    downloads = work / "client"
    downloads.mkdir()
    threads = [threading.Thread(target=session, args=(url, i, until, latencies, errors, lock, downloads, mix),
                                daemon=True) for i in range(args.sessions)]
    waits: list[float] = []
    if args.storm:
        threads.append(threading.Thread(target=probe, args=(url, until, waits, errors, lock), daemon=True))
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
    stop_app(proc)
    keep = work  # removed below unless there is something to look at
    log = log_path.read_text(errors="replace")
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
    text = "\n".join([
        "## Load: concurrent gradio_client sessions (bench/load.py)",
        "",
        f"Command: `{command()}` · machine: {machine()} · "
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
        + (f" (server log kept: {log_path})." if server_errors or errors else "."),
        "",
    ])
    if args.storm:
        text += (f"\nStorm: the largest accepted request of each kind, {args.sessions} sessions at once (surgery: "
                 f"ResNet-152 with a 4 x 4096 head, extra input and output, batch 8 at 384 px; compose: 3 x "
                 f"Linear(4000, 4000) on 48 x 4000; U-Net: the tutorial's at 1024 px; schedule: 100,000 steps). Probe "
                 f"`/losses_choose` once a second meanwhile: {len(waits)} answers, p50 {pct(waits, 0.5):.2f} s, "
                 f"p95 {pct(waits, 0.95):.2f} s, max {max(waits, default=float('nan')):.2f} s. Peak server RSS "
                 f"{rss_peak / 1024:.2f} GiB (target < 4 GiB).\n")
    write_result("storm" if args.storm else "load", text, args.out)
    if not server_errors and not errors:
        shutil.rmtree(keep, ignore_errors=True)  # the run's own temp folders: nothing worth keeping


if __name__ == "__main__":
    main()
