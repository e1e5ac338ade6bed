"""The Train tab's run as a torchrun script: one process per GPU (or CPU), DistributedDataParallel (5.4.4 in use).

`to_ddp_script(config)` prints the functions below (their source, through `lab.train.code.script`, with the same
U-Net, loss, schedule and loop pieces as the code panel) and the run's settings: a standalone script (torch,
torchvision-free, numpy, PIL, safetensors) started with

    torchrun --standalone --nproc_per_node=N train_unet_ddp.py --data DIR --steps S --out DIR

Each process trains on its shard of the training images (`DistributedSampler`), DDP averages the gradients in
`backward()`, validation Dice is summed over the processes (`all_reduce`), and rank 0 alone logs the run and
writes `OUT/unet.safetensors` + `OUT/unet.json`, the layout `lab.checkpoints.load_with_config(path, UNet)` reads.
The functions here run only inside that script (tests/test_ddp.py runs it with 1 and 2 processes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lab.train.code import per_batch_of, script, settings_source
from lab.train.data import Split, pair_tensors, random_crop, read_pairs, smallest_crop, split_indices
from lab.train.loop import LoopSettings, Pace, logits_of, make_optimizer, step_scheduler, validate
from lab.train.settings import n_val
from lab.unet import UNet

__all__ = ["DDP_SCRIPT", "to_ddp_script"]

DDP_SCRIPT = "train_unet_ddp.py"


# ---------------------------------------------------------------------------------------------------------------
# The script's own pieces (printed by to_ddp_script)


def log(message: str) -> None:
    """One line on stdout, written at once: the processes share the terminal, their lines must not interleave."""
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def fail(message: str) -> None:
    """End the run with one sentence and exit code 2: a wrong argument or data folder is no traceback."""
    print(f"train_unet_ddp.py: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


class Arguments(argparse.ArgumentParser):
    """The command line; a wrong argument ends the run with one sentence (see `fail`), not a usage dump."""

    def error(self, message: str) -> None:
        fail(f"{message}; see --help.")


def parse_arguments(argv: list[str], settings: Mapping[str, Any]) -> argparse.Namespace:
    parser = Arguments(description="Train the Train tab's U-Net on N processes (torchrun) or one (python).")
    parser.add_argument("--data", required=True, help="folder of <name>.png + <name>_mask.png pairs")
    parser.add_argument("--steps", type=int, default=settings["steps"], help="optimizer steps (every process)")
    parser.add_argument("--out", default="out", help="folder for unet.safetensors and unet.json")
    parser.add_argument("--batch-size", type=int, default=settings["batch_size"], help="crops per process and step")
    parser.add_argument("--lr", type=float, default=settings["lr"], help="the optimizer's learning rate")
    args = parser.parse_args(argv)
    if not 1 <= args.steps <= 1_000_000:
        fail(f"--steps is {args.steps}; a whole number from 1 to 1,000,000 is accepted.")
    if not 1 <= args.batch_size <= 4096:
        fail(f"--batch-size is {args.batch_size}; a whole number from 1 to 4,096 is accepted.")
    if not (math.isfinite(args.lr) and 0 < args.lr <= 10):
        fail(f"--lr is {args.lr}; a number above 0 and at most 10 is accepted.")
    return args


def read_data(folder: Path, unit: int, world: int, val_fraction: float) -> tuple[list[str], list[np.ndarray],
                                                                              list[np.ndarray]]:
    """The pairs of `--data`, checked before any process group starts: one sentence for what is wrong."""
    if not folder.is_dir():
        fail(f"--data {folder} is not a folder; give the folder holding <name>.png + <name>_mask.png pairs.")
    names, images, masks = read_pairs(folder)
    if len(names) < 2:
        fail(f"--data {folder} holds {len(names)} image/mask pairs (<name>.png with <name>_mask.png); "
             "at least 2 are needed, one to validate on.")  # fmt: skip
    for name, image, mask in zip(names, images, masks, strict=True):
        if image.shape[:2] != mask.shape:
            fail(f"{name}.png is {image.shape[1]} x {image.shape[0]} pixels but its mask is "
                 f"{mask.shape[1]} x {mask.shape[0]}; an image and its mask must have the same size.")  # fmt: skip
        if min(mask.shape) < unit:
            fail(f"{name}.png is {mask.shape[1]} x {mask.shape[0]} pixels; this U-Net needs at least {unit} a side.")
    n_train = len(names) - n_val(len(names), val_fraction)
    if n_train < world:
        fail(f"--data {folder} has {n_train} training images for {world} processes; give each process at least one.")
    return names, images, masks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device): one process per device. torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; plain
    `python` makes a group of one. NCCL (NVIDIA's collectives) on GPUs, gloo on CPUs."""
    if "RANK" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return rank, dist.get_world_size(), device


class Crops(Dataset):
    """Item k: a random crop of training image k, drawn anew each time (a process's own generator)."""

    def __init__(self, data: Split, crop: int, generator: torch.Generator) -> None:
        self.data, self.crop, self.generator = data, crop, generator

    def __len__(self) -> int:
        return len(self.data.train_index)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.data.train_index[k]
        return random_crop(self.data.xs[i], self.data.ys[i], self.crop, self.generator)


def mean_over_processes(total: float, count: float, device: torch.device) -> float:
    """sum(total) / sum(count) over every process (all_reduce): each process holds a part."""
    both = torch.tensor([total, count], dtype=torch.float64, device=device)
    dist.all_reduce(both)  # every process gets the sums
    return float(both[0] / both[1]) if both[1] > 0 else math.nan


def dice_over_processes(model: nn.Module, data: Split, loop: LoopSettings, rank: int, world: int,
                    device: torch.device) -> float:  # fmt: skip
    """Validation Dice over the whole held-out set: each process scores every world-th image, then all_reduce."""
    mine = Split(data.xs, data.ys, data.train_index, data.val_index[rank::world])
    scores = validate(model, mine, loop, Pace())
    return mean_over_processes(sum(scores), len(scores), device)


def train_ddp(model: DistributedDataParallel, loss_fn: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
              data: Split, loop: LoopSettings, names: list[str], *, rank: int, world: int, seed: int,
              device: torch.device) -> None:  # fmt: skip
    """The loop of lab.train.loop.train_steps, one shard per process: DistributedSampler gives each process its own
    training images every epoch (set_epoch reshuffles them), DDP averages the gradients in backward()."""
    crops = Crops(data, loop.crop, torch.Generator().manual_seed(seed + rank))
    sampler = DistributedSampler(crops, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    loader = DataLoader(crops, batch_size=loop.batch_size, sampler=sampler)
    losses: list[float] = []
    step, epoch = 0, 0
    while step < loop.steps:
        sampler.set_epoch(epoch)  # a new shuffle each epoch, the same on every process: shards stay disjoint
        shard = sorted(names[data.train_index[k]] for k in sampler)
        log(f"rank {rank} epoch {epoch + 1} shard {json.dumps(shard)}")
        for x, y in loader:
            step += 1
            lr = optimizer.param_groups[0]["lr"]
            loss = loss_fn(logits_of(model, x.contiguous(memory_format=loop.memory_format), loop.use_bf16), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP all-reduces (averages) the gradients of every process here
            optimizer.step()
            losses.append(loss.item())
            step_scheduler(scheduler, loop, step, losses)
            if step % loop.val_every == 0 or step == loop.steps:
                recent = losses[-loop.val_every :]
                mean_loss = mean_over_processes(sum(recent), len(recent), device)
                dice = dice_over_processes(model.module, data, loop, rank, world, device)
                if rank == 0:
                    log(f"step {step}/{loop.steps}: loss {mean_loss:.4f}  lr {lr:.3g}  val Dice {dice:.4f}")
            if step == loop.steps:
                break
        epoch += 1


def save_model(model: nn.Module, config: Mapping[str, Any], out: Path) -> None:
    """`out/unet.safetensors` (weights, no `module.` prefix: the unwrapped model's) and `out/unet.json` (the
    constructor arguments): what lab.checkpoints.load_with_config reads back."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out / "unet.safetensors"))
    (out / "unet.json").write_text(json.dumps(dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log(f"saved {out / 'unet.safetensors'} and {out / 'unet.json'}")


def main(build_loss: Callable[[], nn.Module], build_scheduler: Callable[..., Any], settings: Mapping[str, Any]) -> None:
    args = parse_arguments(sys.argv[1:], settings)
    unit = 2 ** settings["model"]["depth"]
    world = int(os.environ.get("WORLD_SIZE", "1"))  # set by torchrun; checked before any process group starts
    names, images, masks = read_data(Path(args.data), unit, world, settings["val_fraction"])
    rank, world, device = setup_distributed()
    try:
        torch.manual_seed(settings["seed"])  # the same initial weights in every process
        xs, ys = pair_tensors(images, masks, device)
        train_index, val_index = split_indices(len(xs), settings["val_fraction"], settings["seed"])
        data = Split(xs, ys, train_index, val_index)
        loop = LoopSettings(
            steps=args.steps,
            batch_size=args.batch_size,
            crop=smallest_crop(xs, train_index, settings["crop_size"], unit),
            steps_per_epoch=math.ceil(len(train_index) // world / args.batch_size),
            val_every=min(settings["val_every"], args.steps),
            per_batch=settings["per_batch"],
            use_bf16=device.type == "cuda" and torch.cuda.is_bf16_supported(),  # bf16 autocast where GPUs have it
            memory_format=torch.channels_last,
        )
        model = UNet(**settings["model"]).to(device).to(memory_format=loop.memory_format).train()
        ddp_model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        loss_fn = build_loss().to(device)
        optimizer = make_optimizer(ddp_model, settings["optimizer"], args.lr, settings["weight_decay"])
        scheduler = build_scheduler(optimizer, args.steps if loop.per_batch else math.ceil(args.steps /
                                                                                           loop.steps_per_epoch))
        if rank == 0:
            log(f"{world} process(es) on {device.type}, {len(train_index)} training and {len(val_index)} validation "
                f"images, {args.batch_size} crops of {loop.crop} px per process and step")
        train_ddp(ddp_model, loss_fn, optimizer, scheduler, data, loop, names, rank=rank, world=world,
                  seed=settings["seed"], device=device)  # fmt: skip
        if rank == 0:
            save_model(model.to(memory_format=torch.contiguous_format), settings["model"], Path(args.out))
        dist.barrier()
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------------------
# The script

_DOC = """Train the lab's U-Net with PyTorch's distributed engine: one process per GPU, DistributedDataParallel.

Run it (DIR holds <name>.png + <name>_mask.png pairs, as the Train tab's upload takes them):

    python train_unet_ddp.py --data DIR --steps S --out OUT                    # one process (GPU or CPU)
    torchrun --standalone --nproc_per_node=N train_unet_ddp.py --data DIR --steps S --out OUT   # N GPUs
    torchrun --nnodes=M --nproc_per_node=N --node-rank=R --rdzv-backend=c10d \\
        --rdzv-endpoint=HOST:29500 train_unet_ddp.py --data DIR --steps S --out OUT    # on each of M machines

Several machines: start the same command on every machine, with --nnodes (how many machines), --node-rank
(0 on the machine at HOST, 1, 2, ... on the others) and --rdzv-endpoint (HOST:PORT of the machine with rank 0,
reachable from all); every machine needs the data folder at the same path.

Batch size and learning rate: --batch-size is per process, so N processes train on N x batch-size crops per step
(the effective batch). DDP averages the N gradients, so a step moves as far as one with the bigger batch: when
you multiply the processes by k, multiply the lr by k (the linear scaling rule; sqrt(k) is the cautious choice) and
keep a warm-up (OneCycleLR's first pct_start of the run is one). OneCycleLR and CyclicLR set the lr themselves
from max_lr: scale max_lr in build_scheduler instead of --lr. Or keep the effective batch: divide --batch-size
by k and keep the lr.

What each process does: it reads the same data, holds the same initial weights (seeded), trains on its own shard
of the training images each epoch (DistributedSampler; the log says which), steps the same schedule, scores every
N-th validation image (the Dice is summed over the processes with all_reduce); rank 0 alone logs and writes
OUT/unet.safetensors + OUT/unet.json (the lab's Checkpoints and U-Net tabs load them back). On GPUs that support
it the forward pass runs in bf16 autocast (bfloat16: half the memory traffic, fp32's range); the loss stays fp32.
BatchNorm statistics are per process (DDP copies rank 0's at every step).
"""


def _settings(config: Mapping[str, Any], per_batch: bool) -> dict[str, Any]:
    opt = config["optimizer"]
    return {"model": dict(config["model"]), "optimizer": opt["name"], "lr": opt["lr"],
            "weight_decay": opt["weight_decay"], "steps": config["steps"], "batch_size": config["batch_size"],
            "crop_size": config["crop_size"], "val_fraction": config["val_fraction"], "val_every": config["val_every"],
            "seed": config["seed"], "per_batch": per_batch}  # fmt: skip


def to_ddp_script(config: Mapping[str, Any]) -> str:
    """The standalone torchrun script of a run described by `TrainResult.config` (or `Training.config`)."""
    objects, imports, functions = settings_source(config)
    items = _settings(config, per_batch_of(config)).items()
    settings = "{\n" + "".join(f"    {key!r}: {value!r},\n" for key, value in items) + "}"
    tail = f"""{functions}

# the Train tab's settings (--steps, --batch-size and --lr override theirs)
SETTINGS = {settings}

if __name__ == "__main__":
    main(build_loss, build_scheduler, SETTINGS)
"""
    pieces = [*objects, main]
    return script(_DOC, pieces, imports | {"import torch"}, tail)
