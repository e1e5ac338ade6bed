"""The Train tab's run as a torchrun script (issue 16): standalone, DDP on gloo with 2 processes and with 1, disjoint
shards, a loss that falls, a result the lab loads back; wrong arguments and data folders end in one sentence."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lab import train
from lab.checkpoints import load_with_config
from lab.train import ddp
from lab.unet import UNet

SETTINGS = {"base_channels": 4, "depth": 2, "crop_size": 32, "batch_size": 2, "lr": 1e-2, "val_every": 2}
N_PAIRS = 10  # 2 held out, 8 to train on: 4 per process with 2 processes


def write_pairs(folder: Path, n: int = N_PAIRS, size: int = 64) -> Path:
    """`n` pairs of 64 px: bright squares on a noisy dark background, `sq<i>.png` + `sq<i>_mask.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        mask = np.zeros((size, size), bool)
        for _ in range(3):
            y, x, r = int(rng.integers(4, size - 18)), int(rng.integers(4, size - 18)), int(rng.integers(8, 16))
            mask[y : y + r, x : x + r] = True
        image = np.clip(0.2 + 0.6 * mask + rng.normal(0, 0.05, mask.shape), 0, 1)
        Image.fromarray((image[..., None].repeat(3, 2) * 255).astype(np.uint8)).save(folder / f"sq{i:02d}.png")
        Image.fromarray(mask.astype(np.uint8) * 255).save(folder / f"sq{i:02d}_mask.png")
    return folder


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    """The exported script of a small run on the generated pairs, in a folder of its own with the data."""
    folder = tmp_path_factory.mktemp("ddp")
    data = write_pairs(folder / "data")
    names, images, masks = train.read_pairs(data)
    config = train.Training(images, masks, steps=8, **SETTINGS).config
    path = folder / ddp.DDP_SCRIPT
    path.write_text(train.to_ddp_script(config), encoding="utf-8")
    return path


def launch(script: Path, *args: str, processes: int | None) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=N` (gloo on the CPU), or plain `python` when `processes` is None."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    runner = [sys.executable, "-I"] if processes is None else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}"]
    return subprocess.run([*runner, script.name, *args], cwd=script.parent, capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip


def logged_losses(out: str) -> list[float]:
    return [float(m) for m in re.findall(r"step \d+/\d+: loss (\S+)", out)]


def shards(out: str) -> dict[tuple[int, int], list[str]]:
    """(rank, epoch) -> the sorted names that process trained on in that epoch."""
    return {(int(r), int(e)): json.loads(s) for r, e, s in re.findall(r"rank (\d) epoch (\d+) shard (\[.*\])", out)}


def test_the_script_is_standalone(script):
    tree = ast.parse(script.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    assert third_party <= {"torch", "torchvision", "numpy", "PIL", "safetensors"}, third_party
    text = script.read_text()
    for words in ("--nnodes", "--rdzv-endpoint", "--node-rank", "linear scaling", "DistributedSampler", "nccl",
                  "gloo", "all_reduce", "LOCAL_RANK", "torch.autocast", "unet.safetensors"):
        assert words in text, words


def test_two_processes_train_on_disjoint_shards_and_the_lab_loads_the_result(script):
    out = launch(script, "--data", "data", "--steps", "8", "--out", "out2", processes=2)
    assert out.returncode == 0, out.stderr[-3000:]
    log = out.stdout
    seen = shards(log)
    epochs = {e for _, e in seen}
    assert epochs and all((0, e) in seen and (1, e) in seen for e in epochs)
    for e in epochs:  # every epoch: two disjoint halves of the 8 training images
        assert not set(seen[0, e]) & set(seen[1, e]) and len(seen[0, e]) == len(seen[1, e]) == 4
    assert "2 process(es) on cpu" in log and log.count("val Dice") == 4  # rank 0 alone logs: steps 2, 4, 6, 8
    losses = logged_losses(log)
    assert len(losses) == 4 and losses[-1] < losses[0]
    model, config = load_with_config(script.parent / "out2" / "unet.safetensors", UNet)
    assert config == {"n_channels": 3, "n_classes": 1, "bilinear": True, "base_channels": 4, "depth": 2}
    with torch.no_grad():
        assert model.eval()(torch.rand(1, 3, 32, 32)).shape == (1, 1, 32, 32)


def test_one_process_without_torchrun(script):
    out = launch(script, "--data", "data", "--steps", "4", "--out", "out1", processes=None)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "1 process(es) on cpu" in out.stdout
    assert len(shards(out.stdout)[0, 1]) == N_PAIRS - 2  # one process: every training image, every epoch
    load_with_config(script.parent / "out1" / "unet.safetensors", UNet)


@pytest.mark.parametrize(
    ("argv", "sentence"),
    [
        ([], "the following arguments are required: --data; see --help."),
        (["--data", "d", "--steps", "x"], "argument --steps: invalid int value: 'x'; see --help."),
        (["--data", "d", "--steps", "0"], "--steps is 0; a whole number from 1 to 1,000,000 is accepted."),
        (["--data", "d", "--batch-size", "-2"], "--batch-size is -2; a whole number from 1 to 4,096 is accepted."),
        (["--data", "d", "--lr", "nan"], "--lr is nan; a number above 0 and at most 10 is accepted."),
        (["--data", "d", "--bogus"], "unrecognized arguments: --bogus; see --help."),
    ],
)
def test_bad_arguments_are_one_sentence(capsys, argv, sentence):
    with pytest.raises(SystemExit) as info:
        ddp.parse_arguments(argv, {"steps": 10, "batch_size": 2, "lr": 1e-3})
    assert info.value.code == 2
    assert capsys.readouterr().err == f"train_unet_ddp.py: {sentence}\n"


def test_a_bad_data_folder_is_one_sentence(tmp_path, capsys):
    write_pairs(tmp_path / "one", n=1)
    write_pairs(tmp_path / "three", n=3)
    cases = [
        (tmp_path / "missing", 1, "is not a folder"),
        (tmp_path / "one", 1, "holds 1 image/mask pairs"),
        (tmp_path / "three", 4, "has 2 training images for 4 processes"),
    ]
    for folder, world, words in cases:
        with pytest.raises(SystemExit) as info:
            ddp.read_data(folder, 4, world, 0.2)
        err = capsys.readouterr().err
        assert info.value.code == 2 and words in err and err.count("\n") == 1, err


def test_the_script_itself_ends_with_one_sentence(script, tmp_path):
    (script.parent / "empty").mkdir(exist_ok=True)
    out = launch(script, "--data", "empty", processes=None)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr == ("train_unet_ddp.py: --data empty holds 0 image/mask pairs (<name>.png with <name>_mask.png);"
                          " at least 2 are needed, one to validate on.\n")
