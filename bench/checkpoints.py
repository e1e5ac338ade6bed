"""Benchmark for tutorial 5.4: lab.checkpoints save/load of resnet50 weights against the bare library calls.

For each format the lab's `save` (atomic temp file + os.replace; safetensors key order kept in metadata) runs
against bare `torch.save` (or safetensors `save_file`), and the lab's `load` (format sniffing, weights_only,
mmap for zip files) against bare `torch.load(weights_only=True)` (or safetensors `load_file`). Because mmap
defers reading, "load + load_state_dict" is timed too: that is what a person waits for. Runs alternate
between lab and bare so machine load drifts hit both. Targets (DESIGN.md, issue 7): lab within 1.1x of
bare; safetensors loading faster than torch.load.

    python bench/checkpoints.py [--runs 7] [--write-variants]

Prints a Markdown block: the command, the machine line and, per format and operation, the median and the middle
half (p25-p75) of the lab's and the bare call's times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchvision  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from bench.common import command, machine, once, spread  # noqa: E402
from lab import checkpoints as ck  # noqa: E402


def write_variants(model: torch.nn.Module, runs: int) -> None:
    """Where the time of an atomic save goes: the same weights written through different file strategies.

    On ext4, freeing the old file's blocks is what costs (compare "overwrite" with "new file each time");
    lab.save hard-links the old file aside, replaces atomically and frees it on a background thread.
    """
    state = model.state_dict()
    with tempfile.TemporaryDirectory(prefix="bench-write-") as tmp:
        d = Path(tmp)

        def via_replace() -> None:
            torch.save(state, d / "r.tmp")
            os.replace(d / "r.tmp", d / "r.pt")

        counter = iter(range(10**6))
        variants = {
            "overwrite same path (bare)": lambda: torch.save(state, d / "same.pt"),
            "new file each time": lambda: torch.save(state, d / f"new{next(counter)}.pt"),
            "temp + os.replace": via_replace,
            "lab.save (temp, link, replace)": lambda: ck.save(model, d / "lab.pt"),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for fn in variants.values():
            fn()
        for run in range(runs):
            for name in list(variants) if run % 2 == 0 else list(reversed(variants)):
                samples[name].append(once(variants[name]))
                for old in d.glob("new*.pt"):
                    old.unlink()
        print("| strategy | median (p25-p75) |")
        print("|---|---|")
        for name, values in samples.items():
            print(f"| {name} | {spread(values)} |")


def bench_format(fmt: str, tmp: Path, model: torch.nn.Module, fresh: torch.nn.Module, runs: int) -> list[tuple]:
    """(format, op, lab samples, bare samples, lab/bare median ratio) for save, load and load+into."""
    state = model.state_dict()
    lab_path, bare_path = tmp / f"lab{fmt}", tmp / f"bare{fmt}"
    if fmt == ".safetensors":

        def bare_save() -> None:
            save_file(state, str(bare_path))

        def bare_load() -> dict:
            return load_file(str(bare_path))
    else:

        def bare_save() -> None:
            torch.save(state, bare_path)

        def bare_load() -> dict:
            return torch.load(bare_path, map_location="cpu", weights_only=True)

    ops = {
        "bare save": bare_save,
        "lab save": lambda: ck.save(model, lab_path),
        "bare load": bare_load,
        "lab load": lambda: ck.load(lab_path),
        "bare load+into": lambda: fresh.load_state_dict(bare_load()),
        "lab load+into": lambda: ck.load_into(fresh, ck.load(lab_path)),
    }
    samples: dict[str, list[float]] = {name: [] for name in ops}
    ops["bare save"](), ops["lab save"]()  # warm-up: page cache, allocator
    for run in range(runs):
        # alternate who goes first, so the writeback of one save does not always slow the other
        for op in ("save", "load", "load+into"):
            for who in ("bare", "lab") if run % 2 == 0 else ("lab", "bare"):
                samples[f"{who} {op}"].append(once(ops[f"{who} {op}"]))
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in state.items())
    rows = []
    for op in ("save", "load", "load+into"):
        lab_s, bare_s = samples[f"lab {op}"], samples[f"bare {op}"]
        rows.append((fmt, op, lab_s, bare_s, statistics.median(lab_s) / statistics.median(bare_s)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write-variants", action="store_true", help="also time atomic-write strategies")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    state = model.state_dict()
    fresh = torchvision.models.resnet50(weights=None).eval()
    nbytes = sum(t.numel() * t.element_size() for t in state.values())
    print(f"command: `{command()}`")
    print(f"machine: {machine()}, {platform.system()} {platform.release()}")
    print(f"model: torchvision resnet50, random weights, {len(state)} tensors, {nbytes / 2**20:.1f} MiB\n")

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-ckpt-") as tmp:
        for fmt in ck.FORMATS:
            rows.extend(bench_format(fmt, Path(tmp), model, fresh, args.runs))

    print("| format | op | lab median (p25-p75) | bare median (p25-p75) | lab/bare |")
    print("|---|---|---|---|---|")
    for fmt, op, lab_s, bare_s, ratio in rows:
        print(f"| {fmt} | {op} | {spread(lab_s)} | {spread(bare_s)} | {ratio:.2f}x |")
    pt_load = statistics.median(next(r[3] for r in rows if r[0] == ".pt" and r[1] == "load"))
    st_load = statistics.median(next(r[2] for r in rows if r[0] == ".safetensors" and r[1] == "load"))
    print(f"\nlab .safetensors load vs bare torch.load of .pt: {st_load / pt_load:.2f}x (target < 1)")
    if args.write_variants:
        print("\nWrite strategies for the same weights (torch.save):\n")
        write_variants(model, args.runs)


if __name__ == "__main__":
    main()
