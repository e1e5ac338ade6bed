"""The LR tab's code panel runs on its own: `python -I` in an empty folder prints every lr the tab showed, and its
notebook executes (nbclient)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from lab import schedules as S
from lab.notebook import to_notebook

# (name, params, steps, steps per epoch, base lr, metrics): one of each kind of panel
PANELS = [
    ("StepLR", {"step_size": 30, "gamma": 0.1}, 100, 1, 0.1, None),
    ("LambdaLR", {"lr_lambda": "0.5 * (1 + cos(pi * epoch / 40)) + floor(epoch / 100)"}, 120, 3, 0.05, None),
    ("SequentialLR", S.PRESETS["warmup_cosine"]["params"], 100, 1, 0.1, None),
    ("OneCycleLR", {"max_lr": 0.1, "three_phase": True}, 200, 20, 0.1, None),
    ("ReduceLROnPlateau", {"patience": 2}, 60, 2, 0.1, None),
    ("ReduceLROnPlateau", {"patience": 1}, 6, 1, 0.1, "1, 0.9, 0.9, 0.9, 0.9, 0.9"),
    ("AdjustLearningRate", {"every": 5, "factor": 0.5}, 40, 4, 0.1, None),
]


def run_alone(code: str, folder: Path) -> list[tuple[int, float]]:
    """Run a panel as a visitor would: its own file in an empty folder, `python -I` (no lab, no repo on the path)."""
    assert "lab" not in {line.split()[1].split(".")[0] for line in code.splitlines()
                         if line.startswith(("import ", "from "))}  # fmt: skip
    (folder / "schedule.py").write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "schedule.py"], cwd=folder, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return [(int(step), float(lr)) for step, lr in (line.split() for line in done.stdout.splitlines())]


@pytest.mark.parametrize("name, params, steps, spe, base_lr, metrics", PANELS, ids=[f"{p[0]}-{i}" for i, p in
                                                                                  enumerate(PANELS)])  # fmt: skip
def test_panel_prints_every_lr_of_the_tab(tmp_path, name, params, steps, spe, base_lr, metrics):
    p = S.preview(name, params, steps=steps, steps_per_epoch=spe, base_lr=base_lr, metrics=metrics)
    printed = run_alone(p.code, tmp_path)
    assert [step for step, _ in printed] == list(range(steps))
    assert [lr for _, lr in printed] == p.frame["lr"].tolist()  # every digit: Python prints a float exactly


def test_formula_is_written_as_the_lambda_it_stands_for():
    code = S.to_code("LambdaLR", {"lr_lambda": "  min(1,(epoch+1)/5) "})
    assert "lr_lambda=lambda epoch: min(1, (epoch + 1) / 5)" in code
    code = S.to_code("LambdaLR", {"lr_lambda": "0.5 * (1 + cos(pi * epoch / 40))"})
    assert "from math import cos, pi" in code


def test_custom_schedule_panel_prints_the_function_the_lab_runs():
    code = S.to_code("AdjustLearningRate", {"every": 30, "factor": 0.1})
    assert S.pitfalls.source(S.adjust_learning_rate) in code and "args" not in code


def test_notebook_executes(tmp_path):
    from nbclient import NotebookClient

    p = S.preview("SequentialLR", S.PRESETS["warmup_cosine"]["params"])
    nb = nbformat.reads(to_notebook(p.code, "## 6.2 · schedule"), as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    lrs = [float(line.split()[1]) for line in out.splitlines()]
    np.testing.assert_array_equal(lrs, p.frame["lr"].to_numpy())
