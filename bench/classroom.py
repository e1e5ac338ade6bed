"""A class at once (issue 17): thirty students open the teacher's link together, on one server.

Starts `python app.py` on a free port, connects `--sessions` gradio_client sessions, then releases them together
three times:

1. the floor: each session calls the app's cheapest endpoint (`/losses_choose`) `--floor-calls` times;
2. the class, cold: each session opens every tab's first view in a student's order (the page's tab order), right
   after start-up, when nothing is cached yet;
3. the next class, warm: new sessions do the same on the same server.

Reports p50/p95/max per view and the p95 ratio to the floor's p95 (target <= 1.5), errors (target 0), and the
server's peak RSS (VmHWM, target < 4 GiB), with the machine line and the command.

    python bench/classroom.py [--sessions 30] [--floor-calls 5] [--out bench/results/classroom.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, command, machine, pct, start_app, status_mib, stop_app, write_result  # noqa: E402

# The first views in the page's order, as a student clicks through the tabs.
VIEWS = ("/compose_open", "/unet_open", "/surgery_open", "/checkpoints_default", "/losses_open", "/schedules_open",
         "/train_open")  # fmt: skip
FLOOR = "/losses_choose"


def _defaults(client, name: str) -> dict:
    """The page's own values of the endpoint's inputs (a file input has none: no file, as on a fresh page)."""
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"][name]
    return {p["parameter_name"]: p["parameter_default"] if p.get("parameter_has_default") else None
            for p in info["parameters"]}


def storm(clients: list, calls: list[str], kwargs: dict[str, dict]) -> tuple[dict[str, list[float]], list[str]]:
    """Every client runs `calls` in order, all released at once; returns (seconds per call name, errors).

    Before the release each client has made one untimed call (its connection to the queue is open), as a student's
    page has loaded before the first click on a tab."""
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    lock, gate = threading.Lock(), threading.Barrier(len(clients))

    def student(client) -> None:
        client.predict(**kwargs[FLOOR], api_name=FLOOR)
        gate.wait()
        for name in calls:
            start = time.perf_counter()
            try:
                client.predict(**kwargs[name], api_name=name)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{name}: {str(exc)[:120]}")
                continue
            with lock:
                times[name].append(time.perf_counter() - start)

    threads = [threading.Thread(target=student, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--floor-calls", type=int, default=len(VIEWS), help="as many calls as views, by default")
    parser.add_argument("--out", type=Path, default=RESULTS / "classroom.md")
    args = parser.parse_args()

    from gradio_client import Client

    gradio_tmp = tempfile.mkdtemp(prefix="classroom-gradio-")
    proc, url = start_app({"GRADIO_TEMP_DIR": gradio_tmp})
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:  # VmHWM is the peak; VmRSS sampled too, for the record
        while not done.wait(0.25):
            try:
                peak[0] = max(peak[0], status_mib(proc.pid, "VmRSS"))
            except OSError:
                return

    threading.Thread(target=watch, daemon=True).start()
    try:
        idle = status_mib(proc.pid, "VmRSS")

        def connect() -> list:
            # Returned files are not downloaded: a browser fetches them from the server's file route, outside the
            # queue; the time measured is the server's answer to the view.
            return [Client(url, verbose=False, download_files=False) for _ in range(args.sessions)]

        first = connect()
        kwargs = {name: _defaults(first[0], name) for name in (*VIEWS, FLOOR)}
        floor, floor_errors = storm(first, [FLOOR] * args.floor_calls, kwargs)
        cold, cold_errors = storm(first, list(VIEWS), kwargs)
        warm, warm_errors = storm(connect(), list(VIEWS), kwargs)
        hwm = status_mib(proc.pid, "VmHWM")
    finally:
        done.set()
        stop_app(proc)

    floor_p95 = pct(floor[FLOOR], 0.95)
    lines = [
        "## A class at once (bench/classroom.py)",
        "",
        f"- command: `{command()}`",
        f"- machine: {machine()}",
        f"- {args.sessions} sessions released together; the floor is `{FLOOR}` called {args.floor_calls} times by "
        f"each: p50 {pct(floor[FLOOR], 0.5) * 1e3:.0f} ms, p95 {floor_p95 * 1e3:.0f} ms, "
        f"{len(floor_errors)} errors",
        f"- server RSS: {idle:.0f} MiB idle after start-up, peak {max(peak[0], hwm):.0f} MiB (VmHWM {hwm:.0f} MiB)",
        "",
    ]
    for title, times, errors in (("cold (first class after start-up)", cold, cold_errors),
                                 ("warm (the next class)", warm, warm_errors)):  # fmt: skip
        lines += [f"### {title}: {len(errors)} errors", "",
                  "| view | p50 ms | p95 ms | max ms | p95 / floor p95 |", "|---|---:|---:|---:|---:|"]  # fmt: skip
        for name in VIEWS:
            values = times.get(name, [])
            lines.append(f"| `{name}` | {pct(values, 0.5) * 1e3:.0f} | {pct(values, 0.95) * 1e3:.0f} | "
                         f"{max(values, default=float('nan')) * 1e3:.0f} | {pct(values, 0.95) / floor_p95:.2f} |")
        lines += [*(f"- {e}" for e in errors[:10]), ""]
    text = "\n".join(lines)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.out == RESULTS / "classroom.md":
        write_result("classroom", text)
    else:
        print(text)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
