"""lab.schedules.pitfalls: every point of docs/tutorial-notes.md 6.2 runs live, the tutorial's code beside the fix."""

from __future__ import annotations

import string
import warnings
from pathlib import Path

import numpy as np
import pytest

import locales
from lab import schedules as S
from lab.errors import LabError
from lab.pitfall import Pitfall
from lab.schedules import pitfalls as P

TUTORIAL = Path(__file__).resolve().parents[2] / "shared" / "seed" / "tutorial-ch5-ch6.txt"


@pytest.fixture(scope="module")
def pitfalls() -> dict[str, Pitfall]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right loops are as quiet as a correct training loop
        return {p.id.removeprefix("schedules."): p for p in S.run_all(0.1)}


def test_every_point_of_the_notes_is_a_pitfall(pitfalls):
    assert list(pitfalls) == list(P.PITFALLS) == ["usage_tab_error", "step_outside_loop", "optimizer_per_epoch",
                                                   "per_batch", "plateau_metric", "adjust_global_args",
                                                   "adjust_all_groups", "adjust_late"]  # fmt: skip
    for name, p in pitfalls.items():
        assert p.section == ("6.2.2" if name.startswith("adjust") else "6.2.1")
        assert p.wrong_code.strip() and p.right_code.strip() and p.wrong_code != p.right_code


@pytest.mark.parametrize("lang", locales.LANGS)
def test_every_explanation_is_filled_from_its_facts(pitfalls, lang):
    for p in pitfalls.values():
        title, why = (locales.text(lang, f"pitfall.{p.id}.{part}") for part in ("title", "why"))
        assert title != f"pitfall.{p.id}.title"
        assert {name for _, name, _, _ in string.Formatter().parse(why) if name} <= set(p.facts), p.id
        assert "{" not in locales.text(lang, f"pitfall.{p.id}.why", **p.facts).replace("{...}", "")


def test_the_usage_example_is_the_tutorials_text_and_only_compiles(pitfalls):
    text = P.TUTORIAL_USAGE
    lines = text.split("\n")
    assert lines[13] == "\tscheduler1.step() " and lines[14] == "\t..." and lines[-1] == "    schedulern.step()"
    assert lines[1].endswith("(...) ") and lines[3].endswith(".... ")  # trailing spaces kept
    if TUTORIAL.exists():  # the tutorial's own copy: the example is its last lines, character for character
        assert TUTORIAL.read_text(encoding="utf-8").endswith(text)
    p = pitfalls["usage_tab_error"]
    assert p.wrong_code == text
    assert p.wrong.error == ("TabError: inconsistent use of tabs and spaces in indentation (<tutorial 6.2.1>, "
                             "line 14)")  # fmt: skip
    assert p.facts["line"] == 14 and p.facts["as_printed"].startswith("SyntaxError") and "line 4" in \
        p.facts["as_printed"]  # fmt: skip
    assert p.right.ok and "lrs[30] = 0.00545484" in p.right.value  # StepLR then ExponentialLR, inside the loop
    compile(p.right_code, "<right>", "exec")


def test_the_panel_no_longer_says_after_the_loop():
    """The tutorial's copy does not put the step after the loop (issue 14): no sentence attributes that to it."""
    for lang in locales.LANGS:
        why = locales.text(lang, "pitfall.schedules.step_outside_loop.why")
        assert ("Not what the tutorial prints" in why) if lang == "en" else ("教程里并没有这样写" in why)


def test_step_outside_the_loop_never_changes_the_lr(pitfalls):
    p = pitfalls["step_outside_loop"]
    assert p.facts == {"wrong": 1, "right": 3, "epochs": 60}
    assert p.wrong.value == "set(lrs) = [0.1]" and [t.name for t in p.figure.data] == ["step_in_loop",
                                                                                       "step_after_loop"]


def test_optimizer_stepped_per_epoch_updates_once_an_epoch(pitfalls):
    p = pitfalls["optimizer_per_epoch"]
    assert (p.facts["updates_wrong"], p.facts["updates_right"]) == (20, 160)
    assert float(p.facts["loss_right"]) < 0.1 < float(p.facts["loss_wrong"])
    assert list(p.table.columns) == ["epoch", "train_step_per_epoch", "train"] and len(p.table) == 20
    assert "optimizer.step()" in P.source(P.train) and "loss.backward()" in p.wrong_code


def test_per_batch_schedulers_stepped_per_epoch_never_finish(pitfalls):
    p = pitfalls["per_batch"]
    rows = p.table.set_index(["scheduler", "loop"])
    assert rows.loc[("OneCycleLR", "step_per_batch"), "peak_lr"] == pytest.approx(0.1)
    assert rows.loc[("OneCycleLR", "step_per_epoch"), "peak_lr"] < 0.02
    assert rows.loc[("OneCycleLR", "step_per_batch"), "final_lr"] < 1e-5
    assert rows.loc[("CyclicLR", "step_per_epoch"), "peak_lr"] < rows.loc[("CyclicLR", "step_per_batch"), "peak_lr"]
    assert len(p.figure.data) == 4


def test_reduce_on_plateau_without_a_metric_is_torchs_type_error(pitfalls):
    p = pitfalls["plateau_metric"]
    assert p.wrong.error.startswith("TypeError:") and "'metrics'" in p.wrong.error
    assert p.facts["drops"] >= 2 and any(t.yaxis == "y2" for t in p.figure.data)  # the metric on the right axis


def test_adjust_learning_rate_reads_a_global_args(pitfalls):
    p = pitfalls["adjust_global_args"]
    assert p.wrong.error == "NameError: name 'args' is not defined"
    assert "args.lr" in p.wrong_code and "base_lr" in p.right_code and p.right.value.endswith("= 0.01")
    assert not hasattr(P, "args")  # running it with an args (with_args) left no global behind


def test_adjust_learning_rate_overwrites_every_param_group(pitfalls):
    table = pitfalls["adjust_all_groups"].table.set_index("param_group")
    # initial, the tutorial's function at epochs 0 and 30, StepLR at epochs 0 and 30
    assert list(table.loc[0]) == pytest.approx([0.01, 0.1, 0.01, 0.01, 0.001])  # backbone: raised tenfold
    assert list(table.loc[1]) == pytest.approx([0.1, 0.1, 0.01, 0.1, 0.01])  # head


def test_adjust_learning_rate_is_one_epoch_late_and_builtins_do_the_same_job(pitfalls):
    p = pitfalls["adjust_late"]
    assert (p.facts["wrong_30"], p.facts["right_30"], p.facts["difference"]) == ("0.1", "0.01", 0.0)
    step_lr, lambda_lr, late = (list(t.y) for t in p.figure.data)
    assert step_lr == lambda_lr and late[1:] == step_lr[:-1] and late[30] == pytest.approx(10 * step_lr[30])
    # the lab's own adjust_learning_rate, called at the start of the epoch, is the same schedule again
    np.testing.assert_allclose(S.lr_curve("AdjustLearningRate", {}, steps=70)["lr"], step_lr, rtol=1e-12)


def test_pitfalls_check_their_lr():
    with pytest.raises(LabError, match="base_lr is 0"):
        S.run_all(0)
    assert S.run_all(0.5)[2].facts["updates_right"] == 160  # any lr in range runs

