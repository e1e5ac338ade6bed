"""lab.losses pitfalls, tutorial text and code panels (tutorial 6.1): every docs/tutorial-notes.md point runs live,
with numbers."""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import locales
from lab import losses as L
from lab.errors import LabError
from lab.losses import binary, pitfalls, tutorial
from lab.pitfall import Pitfall
from lab.source import source

SEED_TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / "tutorial-ch5-ch6.txt"
SAMPLE = L.default_sample()


@pytest.fixture(scope="module")
def every_pitfall() -> dict[str, Pitfall]:
    found = {name: make() for name, make in L.PITFALLS.items()}
    found["focal"] = pitfalls.focal(SAMPLE, "blur", 0.25)
    return found


# ------------------------------------------------------------------------------------------ the pitfalls


def test_every_pitfall_has_words_that_take_its_facts(every_pitfall):
    for name, pitfall in every_pitfall.items():
        assert pitfall.id == f"losses.{name}" and pitfall.section in ("6.1.1", "6.1.2")
        facts = {**pitfall.facts, "cuda_note": ""}
        for lang in locales.LANGS:
            for part in ("title", "why"):
                template = locales.catalogue(lang)[f"pitfall.{pitfall.id}.{part}"]
                assert locales.fields_of(template) <= set(facts), (name, lang, part)
                template.format(**facts)


def test_dice_as_printed_is_the_tutorials_text_and_does_not_compile(every_pitfall):
    if SEED_TUTORIAL.exists():  # byte for byte, tab and trailing spaces included
        assert tutorial.DICE_AS_PRINTED in SEED_TUTORIAL.read_text(encoding="utf-8")
    assert "\tdef forward" in tutorial.DICE_AS_PRINTED
    with pytest.raises(TabError):
        compile(tutorial.DICE_AS_PRINTED, "<tutorial>", "exec")
    pitfall = every_pitfall["dice_indentation"]
    assert pitfall.wrong.error.startswith("TabError: inconsistent use of tabs and spaces")
    assert pitfall.facts["line"] == 5 and pitfall.facts["text"].startswith("def forward(")
    assert pitfall.right.ok and float(pitfall.right.value) == pytest.approx(pitfall.facts["lab"], rel=1e-5)
    assert "\t" not in pitfall.right_code and pitfall.wrong_code == tutorial.DICE_AS_PRINTED
    # the fixed class is the printed text with the tab made spaces (and trailing spaces dropped), nothing else
    printed = [line.rstrip() for line in tutorial.DICE_AS_PRINTED.replace("\t", "    ").splitlines() if line.strip()]
    assert printed == [line for line in source(tutorial.DiceLoss).splitlines() if line.strip()]


def test_sigmoid_bce_loses_the_gradient(every_pitfall):
    pitfall = every_pitfall["sigmoid_bce"]
    assert pitfall.facts == {"p": 1.0, "wrong_loss": 100.0, "wrong_grad": 0.0, "right_loss": pytest.approx(17.0),
                             "right_grad": pytest.approx(1.0)}
    table = pitfall.table
    exact = table["exact_loss"].to_numpy()
    assert table["with_logits_loss"].to_numpy() == pytest.approx(exact, rel=1e-5, abs=1e-7)
    expected_grad = torch.sigmoid(torch.tensor(table["logit"].to_numpy())) - torch.tensor(table["target"].to_numpy())
    assert table["with_logits_grad"].to_numpy() == pytest.approx(expected_grad.numpy(), abs=1e-6)
    assert (table["sigmoid_bce_loss"] <= 100).all() and (table["sigmoid_bce_grad"] == 0).any()


def test_autocast_cpu_runs_it_on_rounded_probabilities(every_pitfall):
    pitfall = every_pitfall["autocast"]
    facts = pitfall.facts
    assert facts["cpu_loss"] == 100.0 and facts["exact"] == pytest.approx(math.log1p(math.exp(8.0)), rel=1e-6)
    table = pitfall.table
    assert table["with_logits_cpu_autocast"].to_numpy() == pytest.approx(table["exact_loss"].to_numpy(), rel=1e-2)
    assert facts["cuda"] == torch.cuda.is_available()
    if facts["device"] == "cpu":
        assert pitfall.wrong.ok and pitfall.wrong.value.endswith("100, 100")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_autocast_cuda_refuses_binary_cross_entropy(every_pitfall):
    facts = every_pitfall["autocast"].facts
    assert "unsafe to autocast" in facts["cuda_error"] and facts["cuda_error"].startswith("RuntimeError")


def test_focal_is_a_rescaled_bce(every_pitfall):
    pitfall = every_pitfall["focal"]
    f = pitfall.facts
    assert f["ratio"] == pytest.approx(0.25 * (1 - math.exp(-f["bce"])) ** 2, rel=1e-5)  # one factor for all pixels
    assert f["tutorial"] == pytest.approx(f["ratio"] * f["bce"], rel=1e-6)
    assert f["gamma0_none"] == pytest.approx(f["bce"], rel=1e-6)  # gamma 0, alpha None: BCE
    assert f["gamma0"] != pytest.approx(f["bce"], rel=1e-2)  # gamma 0, alpha 0.25: alpha-weighted BCE
    bce, tut, focal = pitfall.figure.data
    assert tut.y == pytest.approx(bce.y, rel=1e-4) and focal.y != pytest.approx(bce.y, rel=1e-2)
    assert "BCE_EXP = torch.exp(-BCE)" in pitfall.wrong_code and 'reduction="none"' in pitfall.right_code
    assert float(pitfall.wrong.value) == pytest.approx(f["tutorial"], rel=1e-5)


def test_view_fails_on_channels_last(every_pitfall):
    pitfall = every_pitfall["view"]
    assert pitfall.wrong.error.startswith("RuntimeError: view size is not compatible")
    assert pitfall.facts["contiguous"] is False and float(pitfall.right.value) == pytest.approx(pitfall.facts["copy"])
    assert "channels_last" in pitfall.wrong_code and "tutorial.DiceLoss()(logits, targets)" in pitfall.wrong_code


def test_weight_is_ignored_by_the_tutorial_and_used_by_torch(every_pitfall):
    pitfall = every_pitfall["unused_args"]
    plain, weighted = (float(v) for v in pitfall.wrong.value.split(", "))
    assert plain == weighted
    plain, weighted = (float(v) for v in pitfall.right.value.split(", "))
    assert plain != pytest.approx(weighted, rel=1e-3)
    assert pitfall.facts["signature"] == "(self, weight=None, size_average=True)"


def test_loss_base_is_underscore_capital_loss(every_pitfall):
    pitfall = every_pitfall["loss_base"]
    assert pitfall.wrong.error.startswith("AttributeError") and "_loss" in pitfall.wrong.error
    assert pitfall.right.value == "BCELoss -> _WeightedLoss -> _Loss -> Module -> object"


def test_a_function_is_a_loss(every_pitfall):
    pitfall = every_pitfall["function"]
    assert pitfall.wrong.value == pitfall.right.value and pitfall.facts["grad_diff"] == 0
    assert "def my_loss(output, target):" in pitfall.wrong_code


def test_numpy_inside_the_loss_stops_training(every_pitfall):
    pitfall = every_pitfall["numpy"]
    f = pitfall.facts
    assert f["wrong_first"] == f["wrong_last"] and f["right_last"] < f["right_first"] / 10
    assert "model.weight.grad = None" in pitfall.wrong.value and pitfall.wrong.value.endswith(".norm() = 0")
    assert "model.weight.grad = tensor(norm=" in pitfall.right.value
    assert pitfall.table["numpy_loss"].nunique() == 1 and pitfall.table["torch_loss"].is_monotonic_decreasing


def test_pitfall_code_is_what_runs():
    """Both sides' code comes from the source of functions and classes that really ran (lab.source)."""
    assert pitfalls.view().right_code.endswith("DiceLoss()(logits, targets)  # the lab's: plain sums; "
                                               "inputs.reshape(-1) would also do (it copies if it must)\n")
    assert source(tutorial.my_loss) in pitfalls.numpy_loss().right_code
    assert source(pitfalls.numpy_mse) in pitfalls.numpy_loss().wrong_code


# ------------------------------------------------------------------------------ the classes the lab runs


@pytest.mark.parametrize("name, cls", [("dice", binary.DiceLoss), ("iou", binary.IoULoss),
                                       ("dice_bce", binary.DiceBCELoss), ("focal", binary.FocalLoss)])
def test_the_printed_binary_class_is_the_one_the_lab_runs(name, cls):
    assert isinstance(L.get(name), cls)  # the lab's loss inherits the printed class and calls its forward
    assert source(cls) in L.class_code(name)
    tree = ast.parse(L.class_code(name))
    assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(tree))
    assert "mode" not in L.class_code(name) and "LabError" not in L.class_code(name)
    # same numbers: the printed class alone on float tensors and the lab's loss
    g = torch.Generator().manual_seed(5)
    x, t = torch.randn(2, 1, 6, 6, generator=g) * 4, (torch.rand(2, 1, 6, 6, generator=g) > 0.5).float()
    assert cls()(x, t).item() == L.get(name)(x, t[:, 0]).item()


def test_loss_spec_is_the_typed_hand_off():
    spec = L.LossSpec.of("Focal", smooth=3.0, alpha=None, gamma=3)
    assert spec == L.LossSpec("focal", (("alpha", None), ("gamma", 3.0))) and hash(spec) == hash(L.LossSpec.of(
        "focal", gamma=3.0, alpha=None))
    assert spec.kwargs() == {"alpha": None, "gamma": 3.0} and isinstance(spec.build(), L.FocalLoss)
    assert list(inspect.signature(L.LossSpec.of).parameters) == ["name", "params"]
    assert L.choose("dice_bce", 0.5, 0.25, 2.0) == L.LossSpec("dice_bce", (("smooth", 0.5),))
    with pytest.raises(LabError, match="alpha"):
        L.choose("dice", 1.0, 1.5, 2.0)  # every tab parameter checked, as the tab's views check them


def test_bce_with_logits_matches_binary_class_focal_gamma_zero():
    x = torch.linspace(-30, 30, 13)
    t = (x > 0).float()
    assert binary.FocalLoss(None, 0.0)(x, t).item() == pytest.approx(F.binary_cross_entropy_with_logits(x, t).item())
