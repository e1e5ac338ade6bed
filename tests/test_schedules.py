"""lab.schedules: every scheduler's curve equals a direct torch training loop; code export; bad input."""

from __future__ import annotations

import inspect
import json
import warnings

import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as L

from lab import schedules as S
from lab.errors import LabError
from tests.conftest import run_code

# (name, params, steps, steps_per_epoch, reference factory building the torch object the way a person would)
CASES = [
    ("LambdaLR", {"lr_lambda": "0.95 ** epoch"}, 100, 1, lambda o: L.LambdaLR(o, lambda epoch: 0.95**epoch)),
    ("LambdaLR", {"lr_lambda": "min(1, (epoch + 1) / 5)"}, 60, 3,
     lambda o: L.LambdaLR(o, lambda epoch: min(1, (epoch + 1) / 5))),
    ("LambdaLR", {"lr_lambda": "0.1 ** (epoch // 30)"}, 100, 1,
     lambda o: L.LambdaLR(o, lambda epoch: 0.1 ** (epoch // 30))),
    ("MultiplicativeLR", {"lr_lambda": "0.95"}, 100, 1, lambda o: L.MultiplicativeLR(o, lambda epoch: 0.95)),
    ("MultiplicativeLR", {"lr_lambda": "1 if epoch < 10 else 0.9"}, 50, 1,
     lambda o: L.MultiplicativeLR(o, lambda epoch: 1 if epoch < 10 else 0.9)),
    ("StepLR", {"step_size": 30}, 100, 1, lambda o: L.StepLR(o, 30)),
    ("StepLR", {"step_size": 1, "gamma": 0.5}, 40, 1, lambda o: L.StepLR(o, 1, gamma=0.5)),
    ("StepLR", {"step_size": 3, "gamma": 0.1}, 1170, 390, lambda o: L.StepLR(o, 3, gamma=0.1)),
    ("MultiStepLR", {"milestones": [30, 80]}, 100, 1, lambda o: L.MultiStepLR(o, [30, 80])),
    ("MultiStepLR", {"milestones": "10, 10, 20", "gamma": 0.5}, 30, 1, lambda o: L.MultiStepLR(o, [10, 10, 20], 0.5)),
    ("ConstantLR", {}, 20, 1, lambda o: L.ConstantLR(o)),
    ("ConstantLR", {"factor": 0.0, "total_iters": 0}, 10, 1, lambda o: L.ConstantLR(o, factor=0.0, total_iters=0)),
    ("LinearLR", {}, 20, 1, lambda o: L.LinearLR(o)),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 50}, 80, 2,
     lambda o: L.LinearLR(o, 1.0, 0.0, 50)),
    ("ExponentialLR", {"gamma": 0.95}, 100, 1, lambda o: L.ExponentialLR(o, 0.95)),
    ("ExponentialLR", {"gamma": 1.0}, 10, 1, lambda o: L.ExponentialLR(o, 1.0)),
    ("PolynomialLR", {}, 20, 1, lambda o: L.PolynomialLR(o)),
    ("PolynomialLR", {"total_iters": 40, "power": 2.0}, 60, 1, lambda o: L.PolynomialLR(o, 40, 2.0)),
    ("CosineAnnealingLR", {"T_max": 100}, 100, 1, lambda o: L.CosineAnnealingLR(o, 100)),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": 0.001}, 45, 1, lambda o: L.CosineAnnealingLR(o, 10, 0.001)),
    ("ChainedScheduler",
     {"schedulers": [{"name": "ConstantLR", "params": {"factor": 0.5, "total_iters": 10}},
                     {"name": "ExponentialLR", "params": {"gamma": 0.97}}]}, 100, 1,
     lambda o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 10), L.ExponentialLR(o, 0.97)], optimizer=o)),
    ("ChainedScheduler",
     {"schedulers": '[{"name": "LambdaLR", "params": {"lr_lambda": "0.9 ** epoch"}}, '
                    '{"name": "StepLR", "params": {"step_size": 5}}]'}, 30, 1,
     lambda o: L.ChainedScheduler([L.LambdaLR(o, lambda epoch: 0.9**epoch), L.StepLR(o, 5)], optimizer=o)),
    ("SequentialLR",
     {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                     {"name": "CosineAnnealingLR", "params": {"T_max": 95}}], "milestones": [5]}, 100, 1,
     lambda o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=5), L.CosineAnnealingLR(o, 95)], [5])),
    ("SequentialLR",
     {"schedulers": [{"name": "ConstantLR", "params": {"factor": 0.1, "total_iters": 20}},
                     {"name": "ExponentialLR", "params": {"gamma": 0.9}},
                     {"name": "StepLR", "params": {"step_size": 3}}], "milestones": [20, 30]}, 40, 1,
     lambda o: L.SequentialLR(o, [L.ConstantLR(o, 0.1, 20), L.ExponentialLR(o, 0.9), L.StepLR(o, 3)], [20, 30])),
    ("ReduceLROnPlateau", {}, 100, 1, lambda o: L.ReduceLROnPlateau(o)),
    ("ReduceLROnPlateau", {"mode": "min", "factor": 0.5, "patience": 2, "cooldown": 3, "min_lr": 0.01,
                           "threshold_mode": "abs", "threshold": 0.001}, 80, 1,
     lambda o: L.ReduceLROnPlateau(o, "min", 0.5, 2, 0.001, "abs", 3, 0.01)),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1}, 300, 1, lambda o: L.CyclicLR(o, 0.01, 0.1)),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "step_size_down": 5, "mode": "triangular2"},
     200, 20, lambda o: L.CyclicLR(o, 0.01, 0.1, 10, 5, "triangular2")),
    ("CyclicLR", {"base_lr": 0.001, "max_lr": 0.1, "step_size_up": 7, "mode": "exp_range", "gamma": 0.99,
                  "cycle_momentum": False}, 100, 1,
     lambda o: L.CyclicLR(o, 0.001, 0.1, 7, mode="exp_range", gamma=0.99, cycle_momentum=False)),
    ("OneCycleLR", {"max_lr": 0.1}, 100, 1, lambda o: L.OneCycleLR(o, 0.1, total_steps=100)),
    ("OneCycleLR", {"max_lr": 0.5, "epochs": 10, "steps_per_epoch": 30, "anneal_strategy": "linear",
                    "three_phase": True}, 300, 30,
     lambda o: L.OneCycleLR(o, 0.5, epochs=10, steps_per_epoch=30, anneal_strategy="linear", three_phase=True)),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 150, "pct_start": 0.1}, 100, 1,
     lambda o: L.OneCycleLR(o, 0.1, total_steps=150, pct_start=0.1)),
    ("CosineAnnealingWarmRestarts", {"T_0": 10}, 100, 1, lambda o: L.CosineAnnealingWarmRestarts(o, 10)),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 2, "eta_min": 0.001}, 160, 4,
     lambda o: L.CosineAnnealingWarmRestarts(o, 5, 2, 0.001)),
]  # fmt: skip


def reference_loop(factory, steps, steps_per_epoch, *, per_batch, base_lr=0.1, metrics=None, custom=None):
    """A real training loop on a real model: forward, backward, optimizer.step, scheduler.step."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr, momentum=0.9)
    scheduler = factory(optimizer) if factory else None
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    lrs = []
    for epoch in range(steps // steps_per_epoch):
        if custom:
            S.adjust_learning_rate(optimizer, epoch, base_lr=base_lr, **custom)
        for _ in range(steps_per_epoch):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
        if scheduler is not None and not per_batch:
            scheduler.step(metrics[epoch]) if metrics is not None else scheduler.step()
    return np.array(lrs)


@pytest.mark.parametrize("name, params, steps, spe, factory", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_curve_equals_torch_loop(name, params, steps, spe, factory):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fast path must stay as quiet as a correct loop
        df = S.lr_curve(name, params, steps=steps, steps_per_epoch=spe)
    assert list(df["step"]) == list(range(steps))
    metrics = S.plateau_metric(steps // spe) if name == "ReduceLROnPlateau" else None
    ref = reference_loop(factory, steps, spe, per_batch=name in S.PER_BATCH, metrics=metrics)
    np.testing.assert_allclose(df["lr"].to_numpy(), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("every, factor, steps, spe", [(30, 0.1, 100, 1), (7, 0.5, 60, 3), (1, 0.9, 20, 1)])
def test_custom_adjust_learning_rate_equals_tutorial_function(every, factor, steps, spe):
    df = S.lr_curve("AdjustLearningRate", {"every": every, "factor": factor}, steps=steps, steps_per_epoch=spe)
    ref = reference_loop(None, steps, spe, per_batch=False, custom={"every": every, "factor": factor})
    np.testing.assert_allclose(df["lr"].to_numpy(), ref, rtol=1e-12, atol=0)


def test_tutorial_function_equals_steplr():
    a = S.lr_curve("AdjustLearningRate", {}, steps=100)["lr"]
    b = S.lr_curve("StepLR", {"step_size": 30, "gamma": 0.1}, steps=100)["lr"]
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_reduce_on_plateau_reads_given_metrics_per_step_or_epoch():
    per_epoch = [1.0, 0.9, 0.8] + [0.8] * 17
    a = S.lr_curve("ReduceLROnPlateau", {"patience": 2}, steps=20, metrics=per_epoch)
    ref = reference_loop(lambda o: L.ReduceLROnPlateau(o, patience=2), 20, 1, per_batch=False, metrics=per_epoch)
    np.testing.assert_allclose(a["lr"], ref, rtol=1e-12)
    per_step = np.repeat(per_epoch, 5)
    b = S.lr_curve("ReduceLROnPlateau", {"patience": 2}, steps=100, steps_per_epoch=5, metrics=per_step)
    np.testing.assert_allclose(b["lr"].to_numpy()[::5], ref, rtol=1e-12)
    assert list(b["metric"][::5]) == per_epoch
    with pytest.raises(LabError, match="metrics has 3 values"):
        S.lr_curve("ReduceLROnPlateau", {}, steps=20, metrics=[1, 2, 3])


def test_names_cover_installed_torch():
    expected = {n for n in L.__all__ if n != "LRScheduler"}
    assert set(S.NAMES) == expected | {"AdjustLearningRate"}
    assert len(S.NAMES) == 16


@pytest.mark.parametrize("name", S.NAMES)
def test_param_specs_follow_signatures(name):
    cls = S.AdjustLearningRate if name == "AdjustLearningRate" else getattr(L, name)
    sig = {p.name: p for p in inspect.signature(cls).parameters.values()}
    specs = S.param_specs(name)
    assert [s.name for s in specs] == [n for n in sig if n not in ("optimizer", "last_epoch", "scale_fn")]
    for spec in specs:
        assert spec.help and spec.help != "see torch's documentation"
        assert spec.required == (sig[spec.name].default is inspect.Parameter.empty)
        if not spec.required:
            assert spec.default == sig[spec.name].default
        else:
            assert spec.example is not None  # the tab can always start from a working value
    S.lr_curve(name, S.default_params(name), steps=100)  # the defaults the tab fills in produce a curve


def test_make_scheduler_reports_how_to_step():
    p = torch.zeros(1, requires_grad=True)
    for name, per_batch in [("OneCycleLR", True), ("CyclicLR", True), ("StepLR", False), ("AdjustLearningRate", False)]:
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        built = S.make_scheduler(name, S.default_params(name), opt, total_steps=200, steps_per_epoch=20)
        assert built.per_batch is per_batch
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    built = S.make_scheduler("OneCycleLR", {"max_lr": 0.2}, opt, total_steps=200, steps_per_epoch=20)
    assert built.params["total_steps"] == 200  # documented default: the loop's length in batches
    seq = S.make_scheduler("SequentialLR", {"schedulers": [{"name": "LinearLR"}, {"name": "OneCycleLR",
                           "params": {"max_lr": 0.1}}], "milestones": [10]}, opt, total_steps=100, steps_per_epoch=10)
    assert seq.per_batch  # a per-batch member makes the composite per batch
    plateau = S.make_scheduler("ReduceLROnPlateau", {}, opt, total_steps=10)
    assert plateau.needs_metric
    with pytest.raises(LabError, match="needs a metric"):
        plateau.step()
    plateau.step(1.0)


@pytest.mark.parametrize(
    "name, params, kwargs, message",
    [
        ("StepLR", {}, {}, "StepLR needs step_size"),
        ("CosineAnnealingLR", {}, {}, "needs T_max"),
        ("CyclicLR", {"base_lr": 0.01}, {}, "needs max_lr"),
        ("LambdaLR", {}, {}, "needs lr_lambda"),
        ("StepLR", {"step_size": 0}, {}, "StepLR step_size is 0; a whole number from 1 to 100,000 is accepted"),
        ("StepLR", {"step_size": 2.5}, {}, "step_size is 2.5; a whole number"),
        ("StepLR", {"step_size": 3, "gama": 0.1}, {}, "no parameter 'gama'"),
        ("ReduceLROnPlateau", {"factor": 1.0}, {}, "factor is 1.0; a number from 0 up to, but not including, 1"),
        ("ReduceLROnPlateau", {"mode": "middle"}, {}, "one of 'min', 'max'"),
        ("ExponentialLR", {"gamma": float("nan")}, {}, "ExponentialLR gamma is nan"),
        ("ExponentialLR", {"gamma": 2.0}, {"steps": 2000}, "makes the lr inf"),
        ("MultiStepLR", {"milestones": "10, x"}, {}, "milestones"),
        ("SequentialLR", {"schedulers": [{"name": "StepLR", "params": {"step_size": 3}}], "milestones": [5]}, {},
         "give 0 increasing epochs"),
        ("SequentialLR", {"schedulers": [{"name": "ReduceLROnPlateau"}, {"name": "StepLR"}], "milestones": [5]}, {},
         r"SequentialLR schedulers\[0\] is 'ReduceLROnPlateau'; one of"),
        ("ChainedScheduler", {"schedulers": "[{"}, {}, "not valid JSON"),
        ("ChainedScheduler", {"schedulers": []}, {}, "1 to 6"),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 50}, {"steps": 100}, "torch refuses OneCycleLR"),
        ("LambdaLR", {"lr_lambda": "__import__('os').system('echo hi')"}, {}, "not allowed"),
        ("LambdaLR", {"lr_lambda": "1 / epoch"}, {}, "divides by zero in ./. at epoch 0"),
        ("StepLR", {"step_size": 3}, {"steps": 100_001}, "steps is 100001; a whole number from 1 to 100,000"),
        ("StepLR", {"step_size": 3}, {"steps": 0}, "steps is 0"),
        ("StepLR", {"step_size": 3}, {"steps": 100, "steps_per_epoch": 30}, "use a multiple such as 90"),
        ("StepLR", {"step_size": 3}, {"base_lr": -1}, "base_lr is -1; a number above 0 and at most 10"),
        ("NoSuchLR", {}, {}, "Scheduler is 'NoSuchLR'; one of 'LambdaLR'"),
    ],
)
def test_bad_input_is_one_sentence(name, params, kwargs, message):
    with pytest.raises(LabError, match=message) as info:
        S.lr_curve(name, params, **kwargs)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text and "Traceback" not in text


def test_hundred_thousand_steps_are_accepted():
    df = S.lr_curve("CosineAnnealingWarmRestarts", {"T_0": 1000, "T_mult": 2}, steps=100_000, steps_per_epoch=10)
    assert len(df) == 100_000 and df["epoch"].iloc[-1] == pytest.approx(9999.9)


CODE_CASES = [(n, S.default_params(n), 100, 1) for n in S.NAMES] + [
    ("OneCycleLR", {"max_lr": 0.1}, 200, 20),
    ("ReduceLROnPlateau", {"patience": 3}, 60, 2),
    ("AdjustLearningRate", {"every": 5, "factor": 0.5}, 40, 4),
    ("LambdaLR", {"lr_lambda": "0.5 * (1 + cos(pi * epoch / 40)) + floor(epoch / 100)"}, 40, 1),
]


@pytest.mark.parametrize("name, params, steps, spe", CODE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CODE_CASES)])
def test_exported_code_prints_the_same_curve(name, params, steps, spe, capsys):
    code = S.to_code(name, params, steps=steps, steps_per_epoch=spe, base_lr=0.05)
    namespace = run_code(code)
    expected = S.lr_curve(name, params, steps=steps, steps_per_epoch=spe, base_lr=0.05)["lr"].to_numpy()
    np.testing.assert_allclose(namespace["lrs"], expected, rtol=1e-12, atol=0)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == steps and printed[0].startswith("0 ")


def test_exported_code_with_given_metrics():
    metrics = [1.0, 0.9] + [0.9] * 28
    code = S.to_code("ReduceLROnPlateau", {"patience": 1}, steps=30, metrics=metrics)
    lrs = run_code(code)["lrs"]
    np.testing.assert_allclose(lrs, S.lr_curve("ReduceLROnPlateau", {"patience": 1}, steps=30, metrics=metrics)["lr"])


def test_marks_and_labels():
    assert S.marks("StepLR", {"step_size": 30}, steps=100) == [(30, "decay"), (60, "decay"), (90, "decay")]
    assert S.marks("MultiStepLR", {"milestones": [10, 200]}, steps=100, steps_per_epoch=1) == [(10, "milestone")]
    restarts = S.marks("CosineAnnealingWarmRestarts", {"T_0": 10, "T_mult": 2}, steps=700, steps_per_epoch=10)
    assert [s for s, _ in restarts] == [100, 300]
    seq = {"schedulers": [{"name": "LinearLR", "params": {}}, {"name": "StepLR", "params": {"step_size": 3}}],
           "milestones": [5]}  # fmt: skip
    assert S.marks("SequentialLR", seq, steps=100, steps_per_epoch=2) == [(10, "→ StepLR")]
    df = S.lr_curve("ReduceLROnPlateau", {}, steps=100)
    drops = S.marks("ReduceLROnPlateau", {}, steps=100, curve=df)
    assert drops and all(df["lr"][s] < df["lr"][s - 1] for s, _ in drops)
    assert S.describe("StepLR", {"step_size": 30, "gamma": 0.1}) == "StepLR(step_size=30)"
    assert S.describe("LambdaLR", {"lr_lambda": "0.9 ** epoch"}) == "LambdaLR(lr_lambda='0.9 ** epoch')"


def test_figure_overlays_marks_metric_and_envelope():
    cur = S.lr_curve("ReduceLROnPlateau", {}, steps=100)
    other = S.lr_curve("StepLR", {"step_size": 30}, steps=100)
    text = S.FigureText(metric="metric (right axis)", marks=(("decay", "a tenth"),))
    fig = S.curve_figure([("plateau", cur), ("step", other)], log_y=True, marks=[(30, "decay")], text=text)
    names = [t.name for t in fig.data]
    assert names[:3] == ["plateau", "step", "metric (right axis)"]
    assert list(fig.data[3].text) == ["a tenth"]  # a mark's word on hover comes from the tab
    assert fig.layout.yaxis.type == "log" and len(fig.layout.shapes) == 1
    fast = S.lr_curve("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2}, steps=100_000)
    fig = S.curve_figure([("fast", fast)])
    y = np.asarray(fig.data[0].y)
    assert len(y) <= S.MAX_PLOT_POINTS + 2 and y.min() == pytest.approx(0.01) and y.max() == pytest.approx(0.1)


@pytest.mark.parametrize("params", [[1, 2], "step_size=3", 3, ("step_size", 3)])
@pytest.mark.parametrize("fn", [S.lr_curve, S.to_code])
def test_params_must_be_a_dict(fn, params):
    """Issue 9, F2: a JSON list or a number where the keyword arguments belong is a sentence, not a TypeError."""
    with pytest.raises(LabError, match="StepLR params=.* is not accepted; use a dict of keyword arguments"):
        fn("StepLR", params)


@pytest.mark.parametrize("kwargs, field", [
    (dict(name="StepLR", base_lr=-1), "base_lr is -1"),
    (dict(name="StepLR", base_lr="abc"), "base_lr is 'abc'"),
    (dict(name="StepLR", base_lr=float("inf")), "base_lr is inf"),
    (dict(name=None, base_lr=-1), "Scheduler is None"),  # the name is checked first, as in lr_curve
    (dict(name="StepLR", steps=0, base_lr=-1), "steps is 0"),
])
def test_to_code_refuses_what_lr_curve_refuses(kwargs, field):
    """Issue 9, F4: to_code checks name, steps and base_lr like lr_curve, before building any optimizer."""
    name = kwargs.pop("name")
    messages = []
    for fn in (S.lr_curve, S.to_code):
        with pytest.raises(LabError) as info:
            fn(name, {"step_size": 30}, **kwargs)
        messages.append(str(info.value))
    assert messages[0] == messages[1] and field in messages[0]


def test_long_values_are_quoted_short():
    """Issue 9, F6: a 100 kB scheduler name comes back as 60 characters and its length."""
    with pytest.raises(LabError, match=r"…' \(100000 characters\); one of") as info:
        S.lr_curve("x" * 100_000)
    assert len(str(info.value)) < 500


# ------------------------------------------------------------------------------------------------ words, specs


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_scheduler_and_parameter_has_its_words(lang):
    """Each scheduler's one-line description and each parameter's help line, in both languages (issue 15)."""
    import locales

    for name in S.NAMES:
        assert locales.has(f"schedules.about.{name}", lang), name
        for spec in S.param_specs(name):
            assert spec.help == f"schedules.param.{name}.{spec.name}" and locales.has(spec.help, lang), spec.help
    # the sentence the review corrected (issue 14): fastai's schedule is torch's default two phases
    en = locales.text("en", "schedules.param.OneCycleLR.three_phase")
    assert "Smith" in en and "default two phases follow fastai" in en and "fast.ai style" not in en


def test_schedule_spec_is_validated_hashable_and_round_trips():
    spec = S.ScheduleSpec.of("StepLR", {"step_size": "30", "gamma": 0.5})
    assert spec == S.ScheduleSpec("StepLR", '{"gamma": 0.5, "step_size": 30}') and hash(spec) == hash(spec)
    assert spec.kwargs() == {"gamma": 0.5, "step_size": 30}
    with pytest.raises(LabError, match="StepLR step_size is 0"):
        S.ScheduleSpec.of("StepLR", {"step_size": 0})


def test_curve_link_entries_round_trip_and_are_bounded():
    curve = S.Curve.of("ReduceLROnPlateau", {"patience": 1}, steps=6, metrics=[1, 0.9, 0.9, 0.9, 0.9, 0.9])
    assert S.Curve.from_link(curve.to_link()) == curve
    assert S.Curve.from_link(["StepLR", {"step_size": 30}]) == S.Curve.of("StepLR", {"step_size": 30})
    for bad in ("StepLR", [], ["StepLR", {}, 100, 1, 0.1, None, "extra"]):
        with pytest.raises(LabError):
            S.Curve.from_link(bad)
    with pytest.raises(LabError, match="steps is 100001"):
        S.Curve.from_link(["StepLR", {"step_size": 3}, 100_001])
    text = S.overlays_to_link([curve, S.Curve.of("StepLR", {"step_size": 3})])
    assert S.overlays_from_link(text) == text and " " not in text  # compact
    with pytest.raises(LabError, match="at most 8 curves"):
        S.overlays_from_link(json.dumps([["StepLR", {"step_size": 3}]] * 9))


# ------------------------------------------------------------------------------------------------ preview


def test_preview_is_one_call_for_the_whole_view():
    other = S.Curve.of("ExponentialLR", {"gamma": 0.9}, steps=50)
    p = S.preview("StepLR", '{"step_size": 30}', steps=100, overlays=[other, ["StepLR", {"step_size": 30}]],
                  text=S.FigureText(lr="Lernrate"))
    assert p.curve == S.Curve.of("StepLR", {"step_size": 30}) and p.overlays[0] == other
    # the comparison: a column per curve, aligned by step (the shorter one ends early)
    assert list(p.comparison.columns) == ["step", "epoch", "lr", "#1 ExponentialLR(gamma=0.9)",
                                          "#2 StepLR(step_size=30)"]  # fmt: skip
    np.testing.assert_array_equal(p.comparison["lr"], S.lr_curve("StepLR", {"step_size": 30})["lr"])
    np.testing.assert_array_equal(p.comparison["#1 ExponentialLR(gamma=0.9)"][:50],
                                  S.lr_curve("ExponentialLR", {"gamma": 0.9}, steps=50)["lr"])  # fmt: skip
    assert p.comparison["#1 ExponentialLR(gamma=0.9)"][50:].isna().all()
    # the current curve is in the comparison too: drawn once, not twice
    assert p.same_as == 2
    names = [t.name for t in p.figure.data if t.name != "marks"]
    assert names == ["StepLR(step_size=30) = #2", "#1 ExponentialLR(gamma=0.9)"]
    assert p.figure.layout.yaxis.title.text == "Lernrate"
    assert "StepLR(optimizer, step_size=30)" in p.code and p.facts["high"] == 0.1 and p.facts["curves"] == 3
    assert [s.name for s in p.specs] == ["step_size", "gamma"] and p.form == {"step_size": 30, "gamma": 0.1}


def test_preview_bounds_the_comparison_and_is_lenient_only_when_asked():
    eight = [["ExponentialLR", {"gamma": 0.9 + i / 100}] for i in range(8)]
    assert len(S.preview("StepLR", {"step_size": 3}, overlays=eight).overlays) == 8
    with pytest.raises(LabError, match="at most 8 curves"):
        S.preview("StepLR", {"step_size": 3}, overlays=[*eight, ["StepLR", {"step_size": 5}]])
    with pytest.raises(LabError, match="StepLR step_size is 0"):
        S.preview("StepLR", {"step_size": 0})
    p = S.preview("StepLR", {"step_size": 0}, overlays='[["Nope"],["StepLR",{"step_size":5}]]', lenient=True)
    assert p.curve == S.Curve.of("StepLR", {"step_size": 30}) and [w for w, _ in p.skipped] == ["params", "1"]
    assert p.overlays == (S.Curve.of("StepLR", {"step_size": 5}),)
    picked = S.preview("CosineAnnealingWarmRestarts", None, with_defaults=True)
    assert picked.curve.schedule.kwargs() == {"T_0": 10}  # torch's defaults are not repeated in the spec
    assert picked.form == {"T_0": 10, "T_mult": 1, "eta_min": 0.0}  # the form shows them


def test_preview_thins_the_table_not_the_comparison():
    p = S.preview("CosineAnnealingLR", {"T_max": 5000}, steps=5000)
    assert len(p.comparison) == 5000 and len(p.table) <= S.TABLE_ROWS + 1
    assert p.table["step"].iloc[-1] == 4999
