"""lab.surgery.pitfalls: every 5.3 point of docs/tutorial-notes.md (and 5.4.2's pretrained=True) runs live beside the
fix, and the
text the tab writes from each pitfall's facts says what the numbers say, in both languages."""

from __future__ import annotations

import ast
import math
import re
import socket
from pathlib import Path

import pytest
import torch

import locales
from lab import surgery as S
from lab.pitfall import Pitfall
from lab.surgery import pitfalls as P

ROOT = Path(__file__).resolve().parents[1]


def linear(i: int, o: int) -> int:
    return i * o + o


@pytest.fixture(scope="module")
def softmax() -> Pitfall:
    return P.softmax_head()


def words(pitfall: Pitfall, lang: str) -> str:
    """The pitfall's title and explanation as the tab writes them (ui.widgets.pitfall_view)."""
    return locales.text(lang, f"pitfall.{pitfall.id}.title") + "\n" + locales.text(lang, f"pitfall.{pitfall.id}.why",
                                                                                    **pitfall.facts)


def assert_worded(pitfall: Pitfall) -> None:
    for lang in locales.LANGS:
        text = words(pitfall, lang)
        assert f"pitfall.{pitfall.id}" not in text and not re.search(r"\{\w+[:}]", text), text  # every field filled


def test_softmax_head_learns_but_sits_on_its_floor_with_a_smaller_gradient(softmax):
    f = softmax.facts
    assert f["floor"] == pytest.approx(math.log(1 + 9 / math.e)) == pytest.approx(1.4611502)
    assert f["floor_check"] == pytest.approx(f["floor"], abs=1e-6)  # CrossEntropyLoss of one-hot probabilities
    history = softmax.figure.data
    softmax_losses = next(t.y for t in history if t.name == "Softmax head")
    assert min(softmax_losses) >= f["floor"] - 1e-6  # it can never go below
    assert 0 < f["softmax_above_floor"] < 0.01 and f["logits_loss"] < 0.01  # both converge: one to 0, one to the floor
    assert f["softmax_accuracy"] == f["logits_accuracy"] == 1.0  # it does not stall (the old demo said it did)
    assert f["grad_ratio0"] > 5  # the Softmax Jacobian: about 1/C at the uniform start
    assert f["softmax_grad_end"] < f["logits_grad_end"]
    assert f["max_prob"] == pytest.approx(math.e / (math.e + 9))
    assert softmax.wrong.ok and softmax.right.ok and "1.461" in softmax.wrong.value
    assert "nn.Softmax(dim=1)" in softmax.wrong_code and "nn.Softmax" not in softmax.right_code
    rows = softmax.table.set_index("head")
    assert rows.loc["softmax", "final_loss"] == pytest.approx(f["softmax_loss"], abs=1e-4)
    assert rows.loc["logits", "grad_first"] == pytest.approx(f["logits_grad0"], abs=1e-4)


def test_softmax_text_quotes_the_numbers_it_was_run_with(softmax):
    f = softmax.facts
    english = words(softmax, "en")
    for number in (f"{f['floor']:.4f}", f"{f['softmax_loss']:.4f}", f"{f['logits_loss']:.4f}",
                   f"{f['grad_ratio0']:.1f}", f"{f['softmax_grad0']:.3f}", f"{f['max_prob']:.1%}"):
        assert number in english and number in words(softmax, "zh"), number
    assert "stall" not in english.replace("does not stall", "")  # the corrected sentence
    assert_worded(softmax)
    figure = softmax.figure
    assert [t.name for t in figure.data] == ["logits head", "logits head", "Softmax head", "Softmax head"]
    assert figure.layout.yaxis2.type == "log" and f"{f['floor']:.3f}" in figure.layout.annotations[0].text


def test_softmax_figure_takes_its_words_from_the_caller():
    words_ = S.CurveWords(title="标题", step="步数", loss="损失", grad="梯度", logits="A", softmax="B", floor="下限")
    figure = P.softmax_head(steps=5, words=words_).figure
    assert figure.layout.title.text == "标题" and [t.name for t in figure.data[::2]] == ["A", "B"]
    assert figure.layout.xaxis.title.text == "步数" and figure.layout.annotations[0].text.startswith("下限 = ")


def test_extra_input_joins_the_imagenet_logits_not_the_features():
    p = P.extra_input("resnet18", batch=2, size=32)
    rows = p.table.set_index("version")
    assert rows["joined"].tolist() == ["(2, 1001)", "(2, 513)"]
    assert rows["head_params"].tolist() == [linear(512, 1000) + linear(1001, 10), linear(513, 10)]
    assert rows["sums_to_one"].tolist() == [True, False] and rows["extra_matters"].all()
    assert 0.2 < rows.loc["tutorial", "zeroed"] < 0.8  # the ReLU on logits zeroes about half of them
    assert "class TutorialExtraInput(nn.Module)" in p.wrong_code and "class WithExtraInput(nn.Module)" in p.right_code
    assert "# input check" not in p.right_code
    assert p.wrong.value.startswith("torch.cat(...) -> (2, 1001)") and "(2, 513)" in p.right.value
    assert_worded(p)


def test_unused_add_variable():
    p = P.unused_input("resnet18", size=32)
    assert p.wrong.error == ("TypeError: TutorialExtraOutput.forward() missing 1 required positional argument: "
                             "'add_variable'")  # fmt: skip
    assert p.facts["identical"] is True and p.facts["x1000"] == 1000 and p.facts["features"] == 512
    assert p.right.value == "(logits (2, 10), features (2, 512))"
    assert p.table["result"].tolist()[2].endswith("torch.equal: True")
    assert_worded(p)


def test_device_pitfall_on_this_machine():
    p = P.device()
    assert not p.wrong.ok and p.wrong.error.startswith(("RuntimeError", "AssertionError"))
    if torch.cuda.is_available():  # .cuda() works here, then the float64 add_var left on the CPU fails torch.cat
        assert "device" in p.wrong.error
    else:  # .cuda() itself fails
        assert "NVIDIA" in p.wrong.error or "CUDA" in p.wrong.error
    assert p.right.ok and p.right.value.startswith("(2, 10) torch.float32 on " + p.facts["device"])
    table = p.table.set_index("add_var")
    assert table["lab"].str.startswith("(2, 10) torch.float32").all()  # WithExtraInput takes every kind
    numpy_row = table.loc["torch.from_numpy(np.array([0.5, 1.5]))", "tutorial"]
    assert numpy_row.startswith("RuntimeError")  # float64 into fc_add (CPU), or a CPU tensor on a GPU
    assert p.facts["failures"] == (3 if torch.cuda.is_available() else 1)
    assert "models.resnet50()" in p.wrong_code and ".cuda()" in p.wrong_code and ".to(device)" in p.right_code
    assert_worded(p)


def test_pretrained_true_warns_and_would_download_but_nothing_leaves_the_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    attempts = []

    def no_network(self, address):
        attempts.append(address)
        raise OSError("the test forbids the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    p = P.pretrained()
    assert attempts == [] and not (tmp_path / "torch_home").exists()  # no socket, no hub folder
    assert p.wrong.error == "DownloadRefused: https://download.pytorch.org/models/resnet152-394f9c45.pth"
    assert p.facts["warnings"] == 2
    assert p.facts["warning_1"].startswith("The parameter 'pretrained' is deprecated since 0.13")
    assert "equivalent to passing `weights=ResNet152_Weights.IMAGENET1K_V1`" in p.facts["warning_2"]
    assert p.right.value == "ResNet: 60,192,808 parameters, 0 warnings"
    rows = p.table.set_index("call")
    assert rows.loc["models.resnet152(pretrained=False)", "warnings"] == 2
    assert "equivalent to passing `weights=None`" in rows.loc["models.resnet152(pretrained=False)", "said"]
    assert rows.loc["models.resnet152(weights=None)", ["warnings", "download"]].tolist() == [0, ""]
    assert rows.loc['models.resnet152(weights="DEFAULT")', "download"].endswith("resnet152-f82ba261.pth")
    assert p.facts["default"] == "ResNet152_Weights.IMAGENET1K_V2" and p.facts["v1_acc"] == 78.312
    assert "pretrained=True" in p.wrong_code and "weights=None" in p.right_code
    # the patches are gone afterwards: torchvision's loader is its own again
    from torchvision.models import _api

    assert _api.load_state_dict_from_url is torch.hub.load_state_dict_from_url
    assert_worded(p)


def test_frozen_backbone_batchnorm_still_moves_unless_put_in_eval():
    p = P.frozen_batchnorm("resnet18", batch=2, size=32)
    f = p.facts
    assert f["norms"] == 20 and f["wrong_layers"] == 20 and f["wrong_drift"] > 0
    assert f["right_layers"] == 0 and f["right_drift"] == 0
    assert f["wrong_params_changed"] == f["right_params_changed"] == 0
    assert f["wrong_trainable"] == linear(512, 128) + linear(128, 10)
    assert "eval_frozen_batchnorm(model)" in p.right_code and "eval_frozen_batchnorm" not in p.wrong_code
    assert_worded(p)


def test_every_pitfall_of_the_tab_is_a_pitfall_with_code_that_compiles():
    assert set(P.PITFALLS) == {"softmax", "extra_input", "unused_input", "device", "pretrained", "frozen_bn"}
    p = P.unused_input("resnet18", size=32)
    assert isinstance(p, Pitfall) and p.id == "surgery.unused_input" and p.section == "5.3.3"
    for code in (p.wrong_code, p.right_code, P.printed(P.TutorialExtraInput), P.printed(P.tutorial_head)):
        compile(code, "<pitfall>", "exec")


def test_no_code_kept_in_strings():
    """The rule of the redesign: no string literal in the topic or its tab holds a forward or an nn.Module class."""
    paths = [*sorted((ROOT / "lab" / "surgery").glob("*.py")), ROOT / "ui" / "surgery.py"]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert "def forward(" not in node.value, path
                assert not re.search(r"class \w+\(nn\.Module\)", node.value), path
