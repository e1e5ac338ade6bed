"""The surgery's code panel runs on its own: `python -I` in an empty folder builds the same model with the same seed
and prints the counts and shapes the tab showed; its notebook executes (nbclient)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lab import surgery as S
from lab.notebook import to_notebook

# (tab settings, as the controls send them): one panel of each kind
PANELS = {
    "tutorial-head": dict(arch="resnet18"),
    "no-operation": dict(arch="resnet18", new_head=False),
    "extra-input-and-output-frozen": dict(arch="resnet34", hidden="16, 8", num_classes=4, extra_input=True,
                                          extra_size=3, extra_output=True, freeze=True, batch=1),
    "extra-output": dict(arch="resnet18", new_head=False, extra_output=True, num_classes=7),
    "freeze-only": dict(arch="resnet18", new_head=False, freeze=True),
}


def run_alone(code: str, folder: Path) -> str:
    """Run a panel as a visitor would: its own file in an empty folder, `python -I` (no lab, no repo on the path)."""
    assert "lab" not in {line.split()[1].split(".")[0] for line in code.splitlines()
                         if line.startswith(("import ", "from "))}  # fmt: skip
    (folder / "surgery.py").write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "surgery.py"], cwd=folder, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def what_the_tab_showed(view: S.SurgeryView) -> str:
    """The lines the panel must print, from the view the tab words: counts before and after, the after model's
    inputs and outputs as the forward check lists them."""
    after = view.forward[view.forward["model"] == "after"]
    lines = [f"before: {view.before_counts[0]:,} parameters, {view.before_counts[1]:,} trainable"]
    lines += [f"{kind} {name} {shape}" for kind, name, shape in after[["kind", "name", "shape"]].values.tolist()]
    lines.append(f"after: {view.after_counts[0]:,} parameters, {view.after_counts[1]:,} trainable")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("settings", PANELS.values(), ids=PANELS.keys())
def test_panel_prints_what_the_tab_showed(tmp_path, settings):
    view = S.view(**{"size": 32, **settings})
    assert run_alone(view.code, tmp_path) == what_the_tab_showed(view)


def test_default_panel_is_the_tutorial_s_resnet50(tmp_path):
    """The tab's first view (resnet50, 5.3.1's head, a 2 x 3 x 224 x 224 batch), exactly as it opens."""
    view = S.view()
    out = run_alone(view.code, tmp_path)
    assert out == what_the_tab_showed(view)
    assert out.splitlines()[0] == "before: 25,557,032 parameters, 25,557,032 trainable"
    assert "output logits (2, 10)" in out


def test_panel_runs_as_a_notebook(tmp_path):
    import nbclient

    view = S.view("resnet18", extra_input=True, extra_size=2, size=32)
    nb = nbformat.reads(to_notebook(view.code, "## 5.3 · Modify a ResNet"), as_version=4)
    assert nb.cells[0].cell_type == "markdown" and len(nb.cells) > 3
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    assert text == what_the_tab_showed(view)
