"""The Train tab's code panel: standalone (no lab import), built from the source of what ran, and it prints the
same history as the tab's run.

The panel runs in a fresh `python -I` in an empty folder holding only what the page lets a visitor download (the
sample pairs' zip, unzipped) and its printout is compared with the run's history: exactly, since both run the same
kernels on the same machine and thread count (bf16 autocast included). More losses and schedules run in-process
(the same script text, cheaper), and the panel also runs as a notebook (nbclient).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lab import train
from lab.segment import samples
from lab.train import to_code, train_unet

SETTINGS = {"base_channels": 4, "depth": 2, "crop_size": 32, "batch_size": 2, "time_limit_s": 120.0}
LINE = re.compile(r"step (\d+): loss (\S+)  lr (\S+)  val Dice (\S+)")


def sample_data():
    found = samples()
    return [s.image for s in found], [s.mask for s in found]


def folder_with_samples(path):
    """An empty folder holding only the tab's sample download, unzipped (what the panel's docstring asks for)."""
    zipfile.ZipFile(train.samples_zip(path)).extractall(path)
    (path / f"{train.SAMPLES_FOLDER}.zip").unlink()
    return path


def expected_lines(result) -> list[str]:
    """What the panel prints for a run: the start's Dice, then each validated step (formatted as the panel does)."""
    lines = [f"step 0: val Dice {result.start_dice:.6f}"]
    for row in result.history.itertuples():
        if not np.isnan(row.val_dice):
            lines.append(f"step {row.step}: loss {row.loss:.6f}  lr {row.lr:.6g}  val Dice {row.val_dice:.6f}")
    return lines


def printed(code: str, folder) -> list[str]:
    (folder / "train_unet.py").write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, "-I", "train_unet.py"], cwd=folder, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


def test_the_panel_is_standalone_and_the_lab_s_own_source():
    result = train.Training(*sample_data(), steps=3, val_every=3, **SETTINGS)
    code = to_code(result.config)
    tree = ast.parse(code)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0}
    assert imported <= {"__future__", "collections", "contextlib", "dataclasses", "math", "pathlib", "time", "numpy",
                        "torch", "PIL"}  # fmt: skip
    assert "lab" not in imported and "/work" not in code and "LabError" not in code
    import inspect

    from lab.train import loop
    from lab.unet import blocks

    for piece in (loop.validate, loop.Pace, loop.step_scheduler, blocks.Down, blocks.Up):  # printed as they are
        source = inspect.getsource(piece).replace("  # fmt: skip", "")
        assert source.strip() in code, piece.__qualname__
    # the loop itself: its lines in order, less the lab's checks (the lr cap, divergence: LabError sentences)
    original = inspect.getsource(loop.train_steps).replace("  # fmt: skip", "").splitlines()
    start = code.index("def train_steps(")
    printed_lines = code[start:code.index('    return "time limit"', start)].splitlines()
    position = 0
    for line in printed_lines:
        position = original.index(line, position) + 1  # raises if a printed line is not the lab's, in order
    left_out = [line.strip() for line in original[: position] if line not in printed_lines]
    assert left_out == ["_check_lr(step, lr)", "if not math.isfinite(value):",
                        'raise LabError("error.train.diverged", step=step, loss=str(value), lr=f"{lr:g}")']


@pytest.mark.parametrize("scheduler", [("OneCycleLR", {"max_lr": 0.01}), ("StepLR", {"step_size": 2, "gamma": 0.5})],
                         ids=["per-batch", "per-epoch"])
def test_the_panel_prints_the_same_history_in_a_fresh_python(tmp_path, scheduler):
    result = train_unet(*sample_data(), steps=4, val_every=2, scheduler=scheduler, **SETTINGS)
    lines = printed(to_code(result.config), folder_with_samples(tmp_path))
    assert lines == expected_lines(result)


CASES = [
    ("dice", {}, ("LambdaLR", {"lr_lambda": "0.5 ** epoch + cos(pi * epoch) / 10"})),
    ("iou", {"smooth": 0.5}, ("SequentialLR", {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.5,
                                                                                               "total_iters": 2}},
                                                              {"name": "ExponentialLR", "params": {"gamma": 0.9}}],
                                               "milestones": [2]})),
    ("focal", {"gamma": 1.0, "alpha": 0.5}, ("AdjustLearningRate", {"every": 1, "factor": 0.5})),
    ("bce", {}, ("ReduceLROnPlateau", {"factor": 0.5, "patience": 0, "threshold": 10.0})),
    ("huber", {"delta": 0.5}, None),
    ("dice_bce", {}, ("ChainedScheduler", {"schedulers": [{"name": "ConstantLR", "params": {"factor": 0.5,
                                                                                            "total_iters": 2}},
                                                          {"name": "ExponentialLR", "params": {"gamma": 0.9}}]})),
]  # fmt: skip


@pytest.mark.parametrize(("loss", "params", "scheduler"), CASES, ids=[c[0] for c in CASES])
def test_every_kind_of_loss_and_schedule_prints_the_same_history(tmp_path, monkeypatch, loss, params, scheduler,
                                                                 capsys):  # fmt: skip
    result = train_unet(*sample_data(), steps=4, val_every=2, loss=(loss, params), scheduler=scheduler, lr=1e-2,
                        **SETTINGS)  # fmt: skip
    code = to_code(result.config)
    monkeypatch.chdir(folder_with_samples(tmp_path))
    exec(compile(code, "train_unet.py", "exec"), {"__name__": "__main__"})  # noqa: S102 - the lab's own panel
    assert capsys.readouterr().out.strip().splitlines() == expected_lines(result)


def test_the_panel_applies_the_same_time_limit(tmp_path, monkeypatch, capsys):
    """A clock that moves one second each time it is read: the lab's loop and the panel read it at the same places,
    so with a time limit both stop at the same step and score the same images."""
    import time

    class Ticks:
        def __init__(self) -> None:
            self.t = 0.0

        def __call__(self) -> float:
            self.t += 1.0
            return self.t

    images, masks = sample_data()
    run = train.Training(images, masks, steps=50, val_every=3, **{**SETTINGS, "time_limit_s": 60.0})
    run.clock = Ticks()
    for _ in run:
        pass
    result = run.result()
    assert result.stop_reason == "time limit" and 0 < len(result.history) < 50
    code = to_code(result.config)
    monkeypatch.setattr(time, "perf_counter", Ticks())  # the panel's Pace and start read time.perf_counter
    monkeypatch.chdir(folder_with_samples(tmp_path))
    exec(compile(code, "train_unet.py", "exec"), {"__name__": "__main__"})  # noqa: S102 - the lab's own panel
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[:-1] == expected_lines(result)
    assert lines[-1] == f"stopped by the time limit after step {len(result.history)}"


def test_an_upload_run_reads_the_pairs_folder():
    result = train.Training(*sample_data(), steps=2, **SETTINGS)
    code = to_code(result.config, data="upload")
    assert "DATA = Path('pairs')" in code and "pairs/ (the <name>.png and <name>_mask.png pairs you uploaded)" in code


def test_the_notebook_runs(tmp_path):
    import nbclient
    import nbformat

    from lab.notebook import to_notebook

    result = train_unet(*sample_data(), steps=2, val_every=2, **SETTINGS)
    nb = nbformat.reads(to_notebook(to_code(result.config), "## 6.2 · Training a U-Net"), as_version=4)
    folder = folder_with_samples(tmp_path)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(folder)}}).execute()  # fmt: skip
    out = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert out.strip().splitlines() == expected_lines(result)
