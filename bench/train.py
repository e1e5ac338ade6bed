"""Benchmark the Train tab's loop (lab.train): time to validation Dice >= 0.90 on the samples with the defaults,
steps per second against a plain loop in the tutorial's style (same model, same data), what each speed choice
buys (bf16 autocast, channels_last, threads), and an unseen synthetic binary set of 50 images trained for a minute.

    python bench/train.py                 # everything (about 6 minutes on 2 cores)
    python bench/train.py --parts speed   # only the steps/s comparison
    taskset -c 0,1 python bench/train.py  # pin to 2 cores on a bigger machine

Prints the machine, the command, and for each measure the median and the middle half (p25-p75) of --runs runs.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.common import command, machine, spread  # noqa: E402
from lab.device import pick_device, supports_bf16  # noqa: E402
from lab.losses import get as get_loss  # noqa: E402
from lab.segment import samples  # noqa: E402
from lab.train import DEFAULTS, Training  # noqa: E402
from lab.unet import UNet  # noqa: E402


def machine_line() -> str:
    """The shared machine line, and what this bench also depends on: the cores it may use (taskset), bf16."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = pick_device()
    return f"{machine(device)}; {cores} cores available; device {device}; bf16 native: {supports_bf16(device)}"


def sample_data() -> tuple[list, list]:
    found = samples()
    return [s.image for s in found], [s.mask for s in found]


OVERRIDES: dict = {}  # --set key=value: try other settings than the defaults


def default_settings(**over) -> dict:
    d = {**DEFAULTS, **OVERRIDES}
    kw = dict(lr=d["lr"], scheduler=d["scheduler"], steps=d["steps"], batch_size=d["batch_size"],
              optimizer=d["optimizer"],
              weight_decay=d["weight_decay"], base_channels=d["base_channels"], depth=d["depth"],
              crop_size=d["crop_size"])  # fmt: skip
    kw.update(over)
    kw.update({k: v for k, v in OVERRIDES.items() if k not in DEFAULTS})
    return kw


# ----------------------------------------------------------------------------------------------- 1. time to 0.90


def time_to_dice(images, masks, *, target: float = 0.90, seed: int = 0, **over) -> tuple:
    """(wall s, CPU s, steps, best Dice) at the first validation Dice >= target, validating every 10 steps.

    CPU seconds (this process, all threads) are the honest clock on a shared machine: with one thread they are
    close to what an otherwise idle core would take. Wall and CPU time are None when the target is never reached.
    """
    run = Training(images, masks, seed=seed, val_every=10, **default_settings(**over))
    cpu0 = time.process_time()
    best = 0.0
    for row in run:
        if not math.isnan(row["val_dice"]):
            best = max(best, row["val_dice"])
            if row["val_dice"] >= target:
                return row["elapsed_s"], time.process_time() - cpu0, row["step"], best
    return None, None, len(run.rows), best


# ----------------------------------------------------------------------------------------------- 2. tutorial-style loop


class CropDataset(torch.utils.data.Dataset):
    """The usual tutorial Dataset: one random crop of one image per item, from numpy, converted per item."""

    def __init__(self, images, masks, crop: int, length: int, seed: int = 0):
        self.images, self.masks, self.crop, self.length = images, masks, crop, length
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, idx):
        k = self.rng.integers(len(self.images))
        img, mask = self.images[k], self.masks[k]
        h, w = mask.shape
        top, left = self.rng.integers(h - self.crop + 1), self.rng.integers(w - self.crop + 1)
        x = torch.from_numpy(img[top : top + self.crop, left : left + self.crop].astype(np.float32) / 255.0)
        y = torch.from_numpy(mask[top : top + self.crop, left : left + self.crop].astype(np.float32))
        if self.rng.random() < 0.5:
            x, y = x.flip(1), y.flip(1)
        return x.permute(2, 0, 1), y[None]


def tutorial_steps_per_s(images, masks, steps: int, warmup: int = 3) -> float:
    """fp32, default memory layout, DataLoader over a crop Dataset: the loop the tutorial's chapters imply."""
    device = pick_device()
    d = default_settings()
    torch.manual_seed(0)
    model = UNet(3, 1, True, d["base_channels"], d["depth"]).to(device)
    criterion = get_loss("dice_bce")
    optimizer = torch.optim.AdamW(model.parameters(), lr=d["lr"], weight_decay=d["weight_decay"])
    data = CropDataset(images, masks, d["crop_size"], (steps + warmup) * d["batch_size"])
    loader = torch.utils.data.DataLoader(data, batch_size=d["batch_size"], shuffle=True)
    model.train()
    for i, (x, y) in enumerate(loader):
        if i == warmup:
            start = time.perf_counter()
        x, y = x.to(device), y.to(device)
        out = model(x)
        loss = criterion(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def lab_steps_per_s(images, masks, steps: int, warmup: int = 3, **over) -> float:
    run = Training(images, masks, val_every=5000, **default_settings(steps=steps + warmup, **over))
    it = iter(run)
    for _ in range(warmup):
        next(it)
    start = time.perf_counter()
    for _ in range(steps - 1):  # the last step also validates; leave it out
        next(it)
    if run.device.type == "cuda":
        torch.cuda.synchronize()
    return (steps - 1) / (time.perf_counter() - start)


# ----------------------------------------------------------------------------------------------- 3. unseen set


def unseen_set(n: int = 50, seed: int = 7) -> tuple[list, list]:
    """Bright blobs and rounded squares on a dark gradient with noise, 160-224 pixels a side: not the samples."""
    rng = np.random.default_rng(seed)
    images, masks = [], []
    for _ in range(n):
        h, w = rng.integers(160, 225, 2)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        mask = np.zeros((h, w), bool)
        for _ in range(rng.integers(2, 8)):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(6, 24)
            if rng.random() < 0.5:
                mask |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2
            else:
                mask |= (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r * rng.uniform(0.5, 1.5))
        back = 0.15 + 0.25 * (yy / h) * rng.uniform(0.3, 1.0)
        img = back + mask * rng.uniform(0.25, 0.5) + rng.normal(0, 0.08, (h, w))
        tint = rng.uniform(0.6, 1.0, 3)
        images.append((np.clip(img[..., None] * tint, 0, 1) * 255).astype(np.uint8))
        masks.append(mask)
    return images, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="dice,speed,ablation,unseen")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per steps/s measure")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--set", nargs="*", default=[], help="override a default, e.g. lr=0.002 crop_size=96")
    args = parser.parse_args()
    for item in args.set:
        key, value = item.split("=", 1)
        OVERRIDES[key] = type(DEFAULTS[key])(value) if key in DEFAULTS else float(value)
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    print("machine:", machine_line())
    print("command:", command())
    print("defaults:", DEFAULTS, "overrides:", OVERRIDES)
    images, masks = sample_data()

    if "dice" in parts:
        walls, cpus, steps = [], [], []
        for seed in range(args.runs):
            wall, cpu, s, best = time_to_dice(images, masks, seed=seed)
            shown = "never" if wall is None else f"after {wall:.1f} s wall, {cpu:.1f} s CPU"
            print(f"  seed {seed}: Dice >= 0.90 {shown}, step {s} (best {best:.3f})", flush=True)
            walls.append(math.inf if wall is None else wall)
            cpus.append(math.inf if cpu is None else cpu)
            steps.append(s)
        print(f"time to validation Dice >= 0.90 (samples, defaults): wall median {spread(walls, 1, ' s', 1)}; "
              f"CPU median {spread(cpus, 1, ' s', 1)}; steps median {spread(steps, 1, '', 0)}")

    if "speed" in parts:
        ours, theirs = [], []
        for _ in range(args.runs):
            theirs.append(tutorial_steps_per_s(images, masks, args.steps))
            ours.append(lab_steps_per_s(images, masks, args.steps))
            print(f"  lab {ours[-1]:.2f} steps/s, tutorial-style {theirs[-1]:.2f} steps/s", flush=True)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        print(f"steps/s lab loop: median {spread(ours, 1, '', 2)}; tutorial-style loop: median "
              f"{spread(theirs, 1, '', 2)}; ratio median {spread(ratios, 1, 'x', 2)}")

    if "ablation" in parts:
        for precision in ("fp32", "bf16"):
            for channels_last in (False, True):
                rates = [lab_steps_per_s(images, masks, args.steps, precision=precision, channels_last=channels_last)
                         for _ in range(args.runs)]  # fmt: skip
                label = f"{precision:4s} channels_last={channels_last!s:5s}"
                print(f"ablation {label}: median {spread(rates, 1, ' steps/s', 2)}", flush=True)

    if "unseen" in parts:
        u_images, u_masks = unseen_set()
        for seed in range(args.runs):
            # every step, no time limit: wall time varies on a shared machine, CPU time less so
            run = Training(u_images, u_masks, seed=seed, **default_settings())
            cpu0 = time.process_time()
            for _ in run:
                pass
            h = run.history()
            wall, cpu, final = h["elapsed_s"].iloc[-1], time.process_time() - cpu0, h["val_dice"].dropna().iloc[-1]
            print(f"unseen 50-image set, defaults, seed {seed}: {len(h)} steps in {wall:.1f} s wall, {cpu:.1f} s CPU; "
                  f"final validation Dice {final:.3f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
