"""The Checkpoints tab's code panels (lab.checkpoints.code): standalone, and they print what the tab showed.

Each panel runs in a fresh `python -I` in an empty folder (plus, for the load panel, the file the visitor uploaded),
so no `lab` import and no server path can help it; what it prints (file size, keys) is compared with the tab's view.
The save panel saves THE model the tab saved: rebuilt with the code of the tab that built it (Compose, U-Net,
ResNet surgery, Train), never a stand-in. One panel also runs as a notebook (nbclient).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from lab import checkpoints as ck

LINE = re.compile(r"^(?P<file>\S+): (?P<bytes>[\d,]+) bytes, (?P<keys>\d+) keys; first: (?P<first>\[.*\])$", re.M)


@pytest.fixture(scope="module", autouse=True)
def _gloo_group_cleanup():
    yield
    ck.shutdown_process_group()


def run_panel(code: str, folder: Path, timeout: int = 300) -> str:
    """Run a panel's code alone: `python -I` (no site dirs of the user, no cwd on the path) in `folder`."""
    assert "import lab" not in code and "from lab" not in code and "/tmp/" not in code
    done = subprocess.run([sys.executable, "-I", "-c", code], cwd=folder, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def printed_save(stdout: str) -> dict:
    match = LINE.search(stdout)
    assert match, stdout[-2000:]
    return {"file": match["file"], "bytes": int(match["bytes"].replace(",", "")), "keys": int(match["keys"]),
            "first keys": ast.literal_eval(match["first"])}  # fmt: skip


def same_as_tab(view: ck.SaveView, stdout: str, what: str) -> None:
    out, info = printed_save(stdout), view.info
    assert (out["file"], out["keys"], out["first keys"]) == (info["file"], info["keys"], info["first keys"])
    if what != "model":  # a whole pickle names its class's module: lab.* in the tab, __main__ in the panel
        assert out["bytes"] == info["bytes"]


def compose_model() -> nn.Module:
    from lab import compose

    return compose.build("fc1 = nn.Linear(784, 64)\nnn.ReLU()\nfc2 = nn.Linear(64, 10)", "ordereddict")


def unet_model() -> nn.Module:
    from lab.unet import UNet

    return UNet(3, 2, base_channels=8, depth=2)


def surgery_model() -> nn.Module:
    from lab import surgery

    return surgery.build(surgery.Surgery(arch="resnet18", hidden=(8,), num_classes=3, num_extra=2, freeze=True)).model


SAVE_COMBOS = [
    ("state_dict", ".pth", "none", False),
    ("state_dict", ".safetensors", "dataparallel", False),
    ("state_dict", ".pt", "ddp", True),
    ("model", ".pkl", "none", False),
    ("model", ".pt", "dataparallel", False),
    ("checkpoint", ".pt", "ddp", False),
    ("checkpoint", ".pth", "none", False),
]


@pytest.mark.parametrize(("what", "fmt", "wrapper", "unwrap_first"), SAVE_COMBOS)
def test_save_panel_of_the_default_model_reproduces_the_file(tmp_path, what, fmt, wrapper, unwrap_first):
    view = ck.save_view(None, what=what, fmt=fmt, wrapper=wrapper, unwrap_first=unwrap_first,
                        directory=tmp_path / "tab", name="default_cnn")  # fmt: skip
    assert view.origin == "default" and "def default_model(" in view.code
    folder = tmp_path / "empty"
    folder.mkdir()
    same_as_tab(view, run_panel(view.code, folder), what)
    ours = ck.find_state_dict(ck.load(view.path, trusted=True))[0]
    theirs = ck.find_state_dict(ck.load(folder / view.path.name, trusted=True))[0]
    assert list(ours) == list(theirs) and all(torch.equal(ours[k].cpu(), theirs[k].cpu()) for k in ours)


@pytest.mark.parametrize(("maker", "origin", "what", "fmt", "wrapper"), [
    (compose_model, "compose", "state_dict", ".safetensors", "none"),
    (compose_model, "compose", "checkpoint", ".pth", "dataparallel"),
    (unet_model, "unet", "state_dict", ".pt", "ddp"),
    (unet_model, "unet", "model", ".pkl", "none"),
    (surgery_model, "surgery", "state_dict", ".pth", "none"),
], ids=["compose-safetensors", "compose-checkpoint-dp", "unet-ddp", "unet-whole", "surgery"])  # fmt: skip
def test_save_panel_saves_the_model_the_tab_saved(tmp_path, maker, origin, what, fmt, wrapper):
    model = maker()
    view = ck.save_view(model, what=what, fmt=fmt, wrapper=wrapper, unwrap_first=False, directory=tmp_path / "tab",
                        name=origin)  # fmt: skip
    assert view.origin == origin and "default_model" not in view.code
    folder = tmp_path / "empty"
    folder.mkdir()
    same_as_tab(view, run_panel(view.code, folder), what)


def test_safetensors_panel_lists_keys_in_model_order(tmp_path):
    """The file sorts its keys; the tab and the panel both show the model's order (kept in the metadata)."""
    model = nn.Sequential()
    model.add_module("z_first", nn.Linear(2, 2))
    model.add_module("a_second", nn.Linear(2, 2))
    view = ck.save_view(model, what="state_dict", fmt=".safetensors", wrapper="none", unwrap_first=False,
                        directory=tmp_path, name="order")  # fmt: skip
    assert view.info["first keys"][:2] == ["z_first.weight", "z_first.bias"]
    assert view.origin == "compose"  # a Sequential of torch.nn layers is what Compose builds
    folder = tmp_path / "empty"
    folder.mkdir()
    assert printed_save(run_panel(view.code, folder))["first keys"] == view.info["first keys"]


def test_a_model_no_tab_built_is_said_plainly(tmp_path):
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(3))

        def forward(self, x):
            return x * self.weight

    view = ck.save_view(Custom(), what="state_dict", fmt=".pt", wrapper="none", unwrap_first=False,
                        directory=tmp_path, name="custom")  # fmt: skip
    assert view.origin == "" and "No code in the lab rebuilds this Custom" in view.code
    assert "default_model" not in view.code  # never a stand-in
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(view.path, folder)  # the file the visitor downloaded: the panel works from it
    same_as_tab(view, run_panel(view.code, folder), "state_dict")


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
@pytest.mark.parametrize("case", ck.CASE_NAMES)
def test_case_panel_prints_the_keys_the_tab_shows(tmp_path, case, wrapper):
    view = ck.cases_view(None, wrapper=wrapper, shown=case)
    result = view.results[ck.CASE_NAMES.index(case)]
    out = run_panel(view.code, tmp_path)
    file_keys = ast.literal_eval(re.search(r"keys in the file: (\[.*\])", out)[1])
    model_keys = ast.literal_eval(re.search(r"keys of the model loaded into: (\[.*\])", out)[1])
    assert file_keys == result.file_keys[:2]  # the file's own keys, printed before any fix
    assert model_keys == result.model_keys[:2]
    assert "weights equal: True" in out and result.equal


def test_load_panel_runs_beside_the_uploaded_file(tmp_path):
    upload = tmp_path / "from_multi_gpu.pth"
    ck.save(ck.parallel_wrap(ck.default_model(seed=5), "dataparallel"), upload, what="checkpoint", epoch=7)
    view = ck.load_view(upload, None, max_bytes=ck.UPLOAD_MAX_BYTES, rows=300)
    assert view.loaded is not None and view.report.stripped == "module."
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copy(upload, folder)
    out = run_panel(view.code, folder)
    assert "missing: [] unexpected: []" in out


def test_save_panel_runs_as_a_notebook(tmp_path):
    import nbclient
    import nbformat

    from lab.notebook import to_notebook

    view = ck.save_view(None, what="checkpoint", fmt=".pt", wrapper="dataparallel", unwrap_first=True,
                        directory=tmp_path / "tab", name="default_cnn")  # fmt: skip
    nb = nbformat.reads(to_notebook(view.code, "## 5.4.2 · Saving a model"), as_version=4)
    folder = tmp_path / "nb"
    folder.mkdir()
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(folder)}}
                            ).execute()  # fmt: skip
    text = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", []))
    same_as_tab(view, text, "checkpoint")
