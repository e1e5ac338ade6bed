"""Hardening II (issue 12, item 4): the edges of every accepted range, for the U-Net, LR schedules, Losses and Train
tabs, through the lab functions and through the launched app.

Not random values: each range's minimum and maximum, just outside both, 0, negative, NaN, inf, None, the wrong type,
empty and huge strings, JSON nested 20,000 deep, a 5,000-digit number. Allowed outcomes: a result, or a LabError
(through the app: an AppError that is not `ui.common.INTERNAL_ERROR`). A LabError must also be a short sentence that
never quotes Python's own advice (`sys.set_int_max_str_digits`), and where it names an accepted value, that value
must then work.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

from lab import losses, schedules, segment, train, unet
from lab.errors import LabError
from lab.safe_expr import MAX_JSON_CHARS, MAX_JSON_DEPTH, check_plain, parse_json
from ui.common import INTERNAL_ERROR, guarded

MAX_MESSAGE = 2000  # as tests/test_fuzz_lab.py: a longer message echoes a huge input back
PYTHON_INSIDES = ("set_int_max_str_digits", "Traceback", "RecursionError", "maximum recursion", "(34, ")

# The hostile JSON texts of the issue, and their relatives
DEEP_LIST = "[" * 20_000 + "]" * 20_000
DEEP_OBJECT = '{"a":' * 5_000 + "1" + "}" * 5_000
JUST_TOO_DEEP = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
HUGE_FLAT = "[" + "0," * 100_000 + "0]"
FLAT_UNDER_CAP = "[" + "0," * 5_000 + "0]"  # under the character cap, over the value cap
LONG_NUMBER = "1" * 5_000
LONG_NUMBER_IN = '{"smooth": ' + "9" * 5_000 + "}"
HOSTILE_JSON = [DEEP_LIST, DEEP_OBJECT, JUST_TOO_DEEP, HUGE_FLAT, FLAT_UNDER_CAP, LONG_NUMBER, LONG_NUMBER_IN,
                '{"a": 1e999}', '{"a": NaN}', "null", "{", "[1, 2]", "", " ", "x" * 100_000, '"' + '\\"' * 9_000]
JSON_IDS = ["deep-list", "deep-object", "just-too-deep", "huge-flat", "flat-under-cap", "long-number",
            "long-number-in-object", "1e999", "NaN", "null", "unclosed", "list", "empty", "blank", "100kB",
            "unterminated-escapes"]  # fmt: skip


def _deep(n: int) -> list:
    value: list = []
    for _ in range(n):
        value = [value]
    return value


def _self_loop() -> list:
    loop: list = []
    loop.append(loop)
    return loop


# plain values of unbounded size, as a caller (or a raw API request) may hand them over already parsed
HOSTILE_VALUES = [_deep(20_000), _self_loop(), list(range(100_000)), 10**5000, -(10**400), {"a": _deep(100)}]
VALUE_IDS = ["deep-list", "self-loop", "100k-list", "5000-digits", "400-digits", "deep-in-dict"]
NUMBERS = [None, 0, -1, 0.5, math.nan, math.inf, -math.inf, 1e308, 2**63, 10**400, "3", "abc", [1], True]
NUMBER_IDS = ["None", "0", "-1", "0.5", "nan", "inf", "-inf", "1e308", "2**63", "10**400", "'3'", "'abc'", "[1]",
              "True"]  # fmt: skip


def outcome(fn, *args, **kwargs):
    """fn's result, or the LabError it raised (checked to be a short sentence); any other exception fails the test."""
    try:
        return fn(*args, **kwargs)
    except LabError as exc:
        message = str(exc)
        assert message and len(message) <= MAX_MESSAGE, f"{len(message)}-character message"
        assert not any(inside in message for inside in PYTHON_INSIDES), message
        return exc


# ---------------------------------------------------------------------------------------------- U-Net: pitfall


@pytest.mark.parametrize("depth", range(1, unet.MAX_DEPTH + 1))
def test_pitfall_rule_matches_every_size(depth):
    """The arithmetic the pitfall checks with: every size from 1 to 4096 at every depth, and the set it accepts
    is exactly [paper_min_size(depth), PITFALL_MAX_SIZE] (no map shrinks as the input grows)."""
    low = unet.paper_min_size(depth)
    works = [s for s in range(1, unet.PITFALL_MAX_SIZE + 1) if unet.pitfalls._paper_failure(s, depth) is None]
    assert works == list(range(low, unet.PITFALL_MAX_SIZE + 1))


def test_pitfall_minimum_sizes():
    # depth 4: the paper's 16k + 124 rule at k = 4; each level doubles it and adds 4 (two unpadded convs)
    assert [unet.paper_min_size(d) for d in range(1, 7)] == [18, 44, 92, 188, 380, 764]


def _pitfall_sizes(depth: int) -> list[int]:
    low = unet.paper_min_size(depth)
    return sorted({1, 2, 2**depth - 1, 2**depth, low - 1, low, low + 1, 2 * low + 1, 572, 1000, 4095, 4096, 4097,
                   0, -1})  # fmt: skip


@pytest.mark.parametrize("depth", range(1, unet.MAX_DEPTH + 1))
def test_pitfall_at_the_edges_of_its_sizes(depth):
    """Every edge size computes the table or is refused naming the exact accepted range, whose ends then work."""
    low = unet.paper_min_size(depth)
    for size in _pitfall_sizes(depth):
        got = outcome(unet.paper_vs_code, size, depth)
        if isinstance(got, LabError):
            assert not low <= size <= unet.PITFALL_MAX_SIZE, (size, depth, got)
            found = re.findall(r"(?:use|a whole number from) ([\d,]+) to ([\d,]+)", str(got))[0]
            named = [int(n.replace(",", "")) for n in found]
            assert named == [low, unet.PITFALL_MAX_SIZE], str(got)
            for accepted in named:
                assert len(unet.paper_vs_code(accepted, depth)) == 2 * depth + 1
        else:
            assert low <= size <= unet.PITFALL_MAX_SIZE
            assert len(got) == 2 * depth + 1
            assert got["paper_out"].iloc[-1] >= 1
            assert (got["code_in"].iloc[-1], got["code_out"].iloc[-1]) == (size, size)


@pytest.mark.parametrize("size, depth", [(140, 4), (187, 4), (32, 2), (43, 2), (572, 6), (763, 6)])
def test_pitfall_cases_of_the_issue_are_sentences(size, depth):
    with pytest.raises(LabError, match=f"use {unet.paper_min_size(depth)} to 4,096 px for depth {depth}"):
        unet.paper_vs_code(size, depth)


@pytest.mark.parametrize("size, depth", [(188, 4), (44, 2), (764, 6), (4096, 6), (18, 1)])
def test_pitfall_smallest_and_largest_sizes_compute(size, depth):
    df = unet.paper_vs_code(size, depth)
    assert (df["paper_in"].iloc[0], df["paper_out"].iloc[0]) == (size, size - 4)


@pytest.mark.parametrize("value", NUMBERS, ids=NUMBER_IDS)
def test_pitfall_wrong_values(value):
    # none of these is a whole number in range (the text "3" is depth 3 to lab.errors.number, the one input check)
    for args in ((value, 4), *(() if value == "3" else ((572, value),))):
        assert isinstance(outcome(unet.paper_vs_code, *args), LabError)


# ---------------------------------------------------------------------------------------------- U-Net: builder

BUILDS = [  # n_channels, n_classes, bilinear, base_channels, depth, height, width
    (1, 1, True, 2, 1, 2, 2),  # everything at its minimum
    (3, 2, True, 64, 4, 16, 16),  # 2**depth exactly
    (3, 2, False, 64, 4, 17, 1023),  # odd sizes
    (64, 256, True, 2, 6, 1024, 1024),  # channels, classes, depth and size at their maximum
    (4, 3, False, 2, 6, 64, 65),
    (3, 2, True, 256, 6, 64, 64),  # 4.4 G parameters: refused before a weight exists
    (3, 2, True, 64, 4, 15, 16), (3, 2, True, 64, 4, 16, 1025), (3, 2, True, 64, 4, 1, 1), (3, 2, True, 64, 4, 0, 16),
    (3, 2, True, 3, 4, 64, 64), (0, 2, True, 64, 4, 64, 64), (3, 0, True, 64, 4, 64, 64), (65, 2, True, 64, 4, 64, 64),
    (3, 2, True, 64, 0, 64, 64), (3, 2, True, 64, 7, 64, 64), (3, 2, True, 64, 10**12, 64, 64),
    (3, 2, True, 64, 4, 10**400, 64), (3, 2, True, 64, None, 64, 64), (3, 2, True, 64, 4.0, 64, 64),
    (3, 2, True, 64, 4, "64", 64), (3, 2, True, 64, 4, 64.5, 64), (3, 2, True, 64, 4, math.nan, 64),
    (True, 2, True, 64, 4, 64, 64), (3, 2, True, 64, 4, -64, 64),
]  # fmt: skip


@pytest.mark.parametrize("config", BUILDS, ids=[f"{c}" for c in BUILDS])
def test_builder_at_the_edges(config):
    *arch, height, width = config
    checked = outcome(unet.check_build, *arch, height, width)
    for fn in (unet.block_table, unet.to_code):  # both refuse exactly what check_build refuses
        assert isinstance(outcome(fn, *arch, height, width), LabError) == isinstance(checked, LabError)
    if not isinstance(checked, LabError):
        table = unet.block_table(*arch, height, width)
        assert table["out_hw"].iloc[-1] == f"{height}x{width}" and table["params"].sum() == checked
        assert len(unet.u_figure(table).layout.shapes) == len(table)  # a box per block


def test_unet_tab_builder_takes_whole_floats_and_refuses_the_rest():
    from ui import unet as tab

    build = guarded(tab.build_unet)
    fig, totals, *_ = build(3, 2, tab.UPSAMPLING[0][0], 8.0, 2.0, 4.0, 7.0, {})  # gr.Number sends floats
    assert "(1, 2, 4, 7)" in totals
    for values in ([3, 2, "bilinear?", 8, 2, 4, 4], [3, 2, tab.UPSAMPLING[0][0], 8, 2, math.nan, 4],
                   [3, 2, tab.UPSAMPLING[0][0], 8, 2, math.inf, 4], [None, 2, tab.UPSAMPLING[0][0], 8, 2, 4, 4],
                   [3, 2, tab.UPSAMPLING[0][0], 8, 2, "1" * 5000, 4], [3, 2, tab.UPSAMPLING[0][0], 8, 10**12, 64, 64]):
        with pytest.raises(gr.Error) as info:
            build(*values, {})
        assert INTERNAL_ERROR not in str(info.value) and "set_int_max_str_digits" not in str(info.value)
    with pytest.raises(gr.Error, match="use 764 to 4,096"):
        guarded(tab.run_pitfall)(572, 6)  # the pitfall's default size at the deepest U


# ---------------------------------------------------------------------------------------------- segmentation

IMAGES = {
    "1 px": np.zeros((1, 1), np.uint8),
    "1 px RGB": np.full((1, 1, 3), 200, np.uint8),
    "1 x 2048": np.zeros((1, segment.MAX_SIDE), np.uint8),
    "2048 x 1": np.zeros((segment.MAX_SIDE, 1, 3), np.uint8),
    "2**depth": np.zeros((8, 8, 3), np.uint8),
    "odd": np.random.default_rng(0).integers(0, 255, (9, 13, 3)).astype(np.uint8),
    "1 channel": np.zeros((9, 9, 1), np.uint8),
    "gray + alpha": np.zeros((9, 9, 2), np.uint8),
    "RGBA": np.random.default_rng(1).integers(0, 255, (20, 30, 4)).astype(np.uint8),
    "16-bit zeros": np.zeros((16, 16), np.uint16),
    "16-bit max": np.full((16, 16), 65535, np.uint16),
    "all zero float": np.zeros((9, 9), np.float32),
    "negative float": np.full((9, 9), -5.0, np.float32),
    "float64 1e308": np.full((9, 9), 1e308),
    "float64 +-1e308": np.array([[-1e308, 1e308]] * 9),
    "bool": np.ones((9, 9), bool),
    "int64 extremes": np.array([[-(2**63), 2**63 - 1]] * 9),
    "float16": np.full((9, 9), 0.5, np.float16),
    # refused
    "NaN": np.full((9, 9), np.nan, np.float32),
    "inf": np.full((9, 9), np.inf),
    "2049": np.zeros((segment.MAX_SIDE + 1, 1), np.uint8),
    "0 x 5": np.zeros((0, 5), np.uint8),
    "5 channels": np.zeros((9, 9, 5), np.uint8),
    "1-d": np.zeros(5, np.uint8),
    "4-d": np.zeros((1, 5, 5, 3)),
    "object": np.array([[None]]),
    "complex": np.zeros((9, 9), np.complex64),
    "None": None,
    "text": "abc",
}


@pytest.fixture(scope="module")
def small_unets():
    torch.manual_seed(0)
    return {"RGB, depth 3": unet.UNet(3, 1, True, 4, 3).eval(), "gray, 2 classes": unet.UNet(1, 2, True, 4, 2).eval()}


@pytest.mark.parametrize("name", list(IMAGES))
def test_segment_images_at_the_edges(small_unets, name):
    image = IMAGES[name]
    for model in small_unets.values():
        got = outcome(segment.segment, model, image)
        if not isinstance(got, LabError):
            h, w = np.shape(image)[:2]
            assert got.prob.shape == (h, w) and got.mask.shape == (h, w)
            assert np.isfinite(got.prob).all() and ((got.prob >= 0) & (got.prob <= 1)).all()


@pytest.mark.parametrize("threshold", [0, 1, 0.5, -1e-9, 1.000001, math.nan, math.inf, None, "0.5", True, 10**400,
                                       10**5000, [0.5]],
                         ids=["0", "1", "0.5", "-1e-9", "1.000001", "nan", "inf", "None", "'0.5'", "True", "10**400",
                              "10**5000", "[0.5]"])  # fmt: skip
def test_segment_threshold_edges(small_unets, threshold):
    got = outcome(segment.segment, small_unets["RGB, depth 3"], IMAGES["odd"], threshold=threshold)
    # lab.errors.number, the one input check, reads numeric text too ("0.5"), never a bool
    accepted = threshold in (0, 1, 0.5, "0.5") and not isinstance(threshold, bool)
    assert isinstance(got, LabError) != accepted


# ---------------------------------------------------------------------------------------------- JSON fields


@pytest.mark.parametrize("text", HOSTILE_JSON, ids=JSON_IDS)
def test_parse_json_is_bounded(text):
    got = outcome(parse_json, text, "scheduler parameters")
    if isinstance(got, LabError):
        assert "scheduler parameters" in str(got)
    else:
        check_plain(got, "scheduler parameters")  # what comes out is bounded too


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=VALUE_IDS)
def test_check_plain_refuses_unbounded_values(value):
    with pytest.raises(LabError, match="Field 'params'"):
        check_plain(value, "params")


def test_parse_json_bounds_are_where_they_say():
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "f") is not None
    assert parse_json('["' + "[" * 50 + '"]', "f") == ["[" * 50]  # brackets in a string are no nesting
    assert parse_json('{"a": "' + "x" * (MAX_JSON_CHARS - 10) + '"}', "f")["a"].startswith("x")
    assert parse_json("9" * 300, "f") == int("9" * 300)
    with pytest.raises(LabError, match="301 digits"):
        parse_json("9" * 301, "f")
    with pytest.raises(LabError, match="nests brackets 10000 deep"):
        parse_json("[" * 10_000 + "]" * 9_999, "f")  # under the character cap: refused by depth


# Every place the tabs parse a JSON field or walk a user's parameters, with every hostile text or value
# The Train tab's form: source, files, base, depth, loss, loss params, optimizer, lr, scheduler, its params, steps,
# batch, time limit
TRAIN_FORM = ["samples", None, 8, 2, "dice", "{}", "adamw", 3e-3, "none", "{}", 10, 4, 60]
def _json_sites():
    from ui import schedules as sched_tab
    from ui import train as train_tab

    return {
        "Train loss parameters": lambda text: train_tab.preview(*TRAIN_FORM[:5], text, *TRAIN_FORM[6:]),
        "Train scheduler parameters": lambda text: train_tab.preview(*TRAIN_FORM[:8], "StepLR", text,
                                                                      *TRAIN_FORM[10:]),  # fmt: skip
        "ui.schedules params_json": lambda text: guarded(sched_tab.curve_json)("StepLR", text),
        "SequentialLR schedulers field": lambda text: schedules.check_params("SequentialLR",
                                                                             {"schedulers": text, "milestones": "5"}),
        "lr_curve milestones": lambda text: schedules.lr_curve("MultiStepLR", {"milestones": text}),
        "Train preview": lambda text: train.lr_preview(("StepLR", text), steps=10, lr=0.1, n_images=8, batch_size=4),
    }


@pytest.mark.parametrize("site", ["Train loss parameters", "Train scheduler parameters",
                                  "ui.schedules params_json", "SequentialLR schedulers field", "lr_curve milestones",
                                  "Train preview"])  # fmt: skip
def test_every_json_site_takes_hostile_text(site):
    fn = _json_sites()[site]
    for text in HOSTILE_JSON:
        try:
            fn(text)
        except (LabError, gr.Error) as exc:
            assert INTERNAL_ERROR not in str(exc) and len(str(exc)) <= MAX_MESSAGE
            assert not any(inside in str(exc) for inside in PYTHON_INSIDES), (site, str(exc)[:200])


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=VALUE_IDS)
def test_every_params_walk_takes_hostile_values(value):
    calls = [
        lambda: schedules.check_params("StepLR", {"step_size": value}),
        lambda: schedules.check_params("MultiStepLR", {"milestones": value}),
        lambda: schedules.check_params("SequentialLR", {"schedulers": value, "milestones": [5]}),
        lambda: schedules.check_params("SequentialLR", {"schedulers": [{"name": value}], "milestones": []}),
        lambda: schedules.check_params(value, {}),
        lambda: schedules.lr_curve("StepLR", value),
        lambda: schedules.lr_curve("StepLR", {"step_size": 3}, steps=value),
        lambda: schedules.lr_curve("StepLR", {"step_size": 3}, base_lr=value),
        lambda: schedules.lr_curve("ReduceLROnPlateau", {}, steps=3, metrics=value),
        lambda: schedules.describe("StepLR", {"step_size": value}),
        lambda: schedules.marks("StepLR", {"step_size": value}, steps=10),
        lambda: schedules.run_all(value),
        lambda: losses.get("dice", smooth=value),
        lambda: losses.get(value),
        lambda: losses.validate_params(alpha=value),
        lambda: losses.canonical(value),
        lambda: train.lr_preview(value, steps=10, lr=0.1, n_images=8, batch_size=4),
        lambda: train.lr_preview(("StepLR", value), steps=10, lr=0.1, n_images=8, batch_size=4),
        lambda: train.lr_preview(None, steps=value, lr=0.1, n_images=8, batch_size=4),
        lambda: train.loss_spec(value),
        lambda: train.loss_spec(("dice", value)),
        lambda: train.loss_spec({"name": "dice", "params": {"smooth": value}}),
        lambda: segment.segment(unet.UNet(3, 1, True, 2, 1), IMAGES["odd"], threshold=value),
    ]
    for call in calls:
        assert isinstance(outcome(call), LabError)


@pytest.mark.parametrize("params", [{1: 2}, {"smooth": 1.0, 2: 3}, {None: 1}, [("smooth", 1.0)], "smooth=1"])
def test_loss_params_that_are_not_named_parameters(params):
    assert isinstance(outcome(train.loss_spec, ("dice", params)), LabError)
    assert isinstance(outcome(train.schedule_spec, ("StepLR", params)), LabError)


@pytest.mark.parametrize("field", ["smooth", "alpha", "gamma"])
@pytest.mark.parametrize("value", NUMBERS, ids=NUMBER_IDS)
def test_loss_parameters_at_the_edges(field, value):
    got = outcome(losses.validate_params, **{field: value})
    if not isinstance(got, LabError):
        assert all(v is None or math.isfinite(v) for v in got.values())


# ---------------------------------------------------------------------------------------------- lr curves

EXTREME_SCHEDULES = [
    ("LambdaLR", {"lr_lambda": "1e300"}, {}),
    ("LambdaLR", {"lr_lambda": "1e308"}, {"base_lr": 10}),
    ("LambdaLR", {"lr_lambda": "epoch ** 1000"}, {}),
    ("LambdaLR", {"lr_lambda": "0 ** -1"}, {}),
    ("LambdaLR", {"lr_lambda": "1e308 * 1e308 - 1e308 * 1e308"}, {}),
    ("LambdaLR", {"lr_lambda": "exp(epoch * 1000)"}, {}),
    ("LambdaLR", {"lr_lambda": "log(epoch)"}, {}),
    ("LambdaLR", {"lr_lambda": "-1"}, {}),
    ("LambdaLR", {"lr_lambda": "1e-320"}, {}),
    ("MultiplicativeLR", {"lr_lambda": "1e300"}, {"steps": 100}),
    ("MultiplicativeLR", {"lr_lambda": "-1e300"}, {"steps": 100}),
    ("MultiplicativeLR", {"lr_lambda": "1e-300"}, {"steps": 100}),
    ("CyclicLR", {"base_lr": 1e6, "max_lr": 1e-300, "step_size_up": 1}, {"steps": 1000}),
    ("CyclicLR", {"base_lr": 1e-300, "max_lr": 1e6, "mode": "exp_range", "gamma": 1e6}, {"steps": 1000}),
    ("CyclicLR", {"base_lr": 1, "max_lr": 1e6, "mode": "triangular2", "step_size_up": 1}, {"steps": 100_000}),
    ("OneCycleLR", {"max_lr": 1e6, "div_factor": 1e6, "final_div_factor": 1e-300}, {"steps": 1000}),
    ("OneCycleLR", {"max_lr": 1e-300, "div_factor": 1e6, "final_div_factor": 1e6}, {"steps": 1000}),
    ("OneCycleLR", {"max_lr": 1e6, "pct_start": 0.0}, {"steps": 2}),
    ("OneCycleLR", {"max_lr": 1, "three_phase": True, "pct_start": 1.0}, {"steps": 1}),
    ("OneCycleLR", {"max_lr": 1, "epochs": 1, "steps_per_epoch": 1}, {"steps": 5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 1}, {"steps": 100_000}),
    ("CosineAnnealingWarmRestarts", {"T_0": 1, "T_mult": 100, "eta_min": 1e6}, {"steps": 100_000}),
    ("CosineAnnealingLR", {"T_max": 1, "eta_min": 1e6}, {"steps": 10_000}),
    ("ExponentialLR", {"gamma": 1e6}, {"steps": 10_000}),
    ("StepLR", {"step_size": 1, "gamma": 0}, {"steps": 100}),
    ("PolynomialLR", {"total_iters": 1, "power": 1e6}, {"steps": 100}),
    ("LinearLR", {"start_factor": 1e-320, "end_factor": 1, "total_iters": 1}, {"steps": 100}),
    ("AdjustLearningRate", {"every": 1, "factor": 1e6}, {"steps": 1000}),
    ("ReduceLROnPlateau", {"factor": 0, "min_lr": 1e6}, {"steps": 100}),
    ("ReduceLROnPlateau", {"threshold": 1e6}, {"steps": 100, "metrics": [1e308] * 100}),
    ("ChainedScheduler", {"schedulers": [{"name": "OneCycleLR", "params": {"max_lr": 1e6}},
                                         {"name": "MultiplicativeLR", "params": {"lr_lambda": "1e300"}}]},
     {"steps": 1000}),
    ("SequentialLR", {"schedulers": [{"name": "ExponentialLR", "params": {"gamma": 1e6}},
                                     {"name": "LambdaLR", "params": {"lr_lambda": "1e300"}}], "milestones": [50]},
     {"steps": 100}),
]  # fmt: skip


@pytest.mark.parametrize("name, params, kwargs", EXTREME_SCHEDULES,
                         ids=[f"{n}-{p}"[:60] for n, p, _ in EXTREME_SCHEDULES])
def test_lr_curve_never_overflows_into_an_internal_error(name, params, kwargs):
    got = outcome(schedules.lr_curve, name, params, **kwargs)
    if not isinstance(got, LabError):
        assert np.isfinite(got["lr"]).all()
        marks = schedules.marks(name, got.attrs["params"], steps=len(got), curve=got)
        assert all(0 <= step < len(got) for step, _ in marks)
    outcome(schedules.to_code, name, params, **{k: v for k, v in kwargs.items() if k != "metrics"})


@pytest.mark.parametrize("field", ["steps", "steps_per_epoch", "base_lr"])
@pytest.mark.parametrize("value", [1, 100_000, 100_001, 10, 10.000001, *NUMBERS], ids=["1", "100000", "100001", "10",
                         "10.000001", *NUMBER_IDS])  # fmt: skip
def test_lr_curve_call_arguments_at_the_edges(field, value):
    kwargs = {"steps": 10, "steps_per_epoch": 1, "base_lr": 0.1, field: value}
    if field == "steps_per_epoch" and value not in (1, 10):
        kwargs["steps"] = 100_000
    got = outcome(schedules.lr_curve, "ExponentialLR", {"gamma": 0.9}, **kwargs)
    if not isinstance(got, LabError):
        assert np.isfinite(got["lr"]).all()


# ---------------------------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(0)
    masks = [rng.random((32, 32)) > 0.5 for _ in range(6)]
    images = [(m[..., None].repeat(3, 2) * 200).astype(np.uint8) for m in masks]
    return images, masks


TINY = {"base_channels": 2, "depth": 1, "crop_size": 16, "batch_size": 2}


@pytest.mark.parametrize("scheduler, lr", [
    (("LambdaLR", {"lr_lambda": "1e300"}), 1e-3),  # the issue: an overflow RuntimeError in training
    (("LambdaLR", {"lr_lambda": "1e6"}), 3e-3),  # the issue: trained at lr 3000 although the field is capped at 10
    (("LambdaLR", {"lr_lambda": "-1"}), 1e-3),
    (("LambdaLR", {"lr_lambda": "1 if epoch < 3 else 1e5"}), 1e-3),  # fine for a while, then not
    (("MultiplicativeLR", {"lr_lambda": "2"}), 1.0),
    (("CyclicLR", {"base_lr": 0.1, "max_lr": 100.0, "step_size_up": 2}), 1e-3),
    (("OneCycleLR", {"max_lr": 11.0}), 1e-3),
    (("AdjustLearningRate", {"every": 1, "factor": 1e6}), 1e-3),
    (("ExponentialLR", {"gamma": 1e6}), 1e-3),
    (("SequentialLR", {"schedulers": [{"name": "ConstantLR", "params": {}},
                                      {"name": "LambdaLR", "params": {"lr_lambda": "1e4"}}], "milestones": [2]}), 1e-2),
])  # fmt: skip
def test_training_refuses_a_schedule_that_leaves_the_lr_cap(pairs, scheduler, lr):
    """Refused before any step, naming the scheduler, the first step whose lr leaves [0, MAX_LR] and that lr."""
    plan = train.lr_preview(scheduler, steps=20, lr=lr, n_images=len(pairs[0]), batch_size=TINY["batch_size"])
    bad = plan[(plan["lr"] < 0) | (plan["lr"] > train.MAX_LR)].iloc[0]
    with pytest.raises(LabError, match="lr must stay from 0 to 10 at every step") as info:
        train.Training(*pairs, lr=lr, steps=20, scheduler=scheduler, **TINY)
    message = str(info.value)
    assert scheduler[0] in message and f"at step {int(bad['step'])};" in message and f"{bad['lr']:.6g}" in message


def test_every_lr_used_respects_the_cap(pairs):
    """At the cap exactly (factor 10 at lr 1) the run trains, and no step used an lr above it."""
    result = train.train_unet(*pairs, lr=1.0, steps=1, scheduler=("LambdaLR", {"lr_lambda": "10"}), optimizer="sgd",
                              **TINY)  # fmt: skip
    assert result.history["lr"].max() == train.MAX_LR


@pytest.mark.parametrize("field", ["steps", "batch_size", "lr", "time_limit_s", "base_channels", "depth",
                                   "weight_decay", "seed", "val_every", "crop_size"])  # fmt: skip
@pytest.mark.parametrize("value", NUMBERS, ids=NUMBER_IDS)
def test_training_numbers_at_the_edges(pairs, field, value):
    settings = {**TINY, "steps": 1, field: value}
    got = outcome(train.Training, *pairs, **settings)
    if not isinstance(got, LabError):  # accepted: a finite number in range (a form may send it as text, "3"), kept
        # as the type the loop needs; None: no limit, the default
        number = float(value) if isinstance(value, str) else value
        assert (value is None and field in ("time_limit_s", "val_every")) or (
            type(value) in (int, float, str) and math.isfinite(number) and number >= 0)
        config = got.config
        assert isinstance(config["steps"], int) and isinstance(config["batch_size"], int)
        assert config["time_limit_s"] is None or 0 < config["time_limit_s"] <= train.MAX_TIME_S


@pytest.mark.parametrize("text", [DEEP_LIST, DEEP_OBJECT, LONG_NUMBER_IN, HUGE_FLAT, '{"smooth": 1e999}'],
                         ids=["deep-list", "deep-object", "long-number", "huge-flat", "1e999"])
def test_train_tab_json_fields_are_sentences(text):
    from ui import train as tab

    request = SimpleNamespace(session_hash="edges")
    settings = [tab.DATA_SAMPLES, None, 4, 2, "dice_bce", "{}", "adamw", 3e-3, "StepLR", '{"step_size": 2}', 1, 2, 5]
    for index in (5, 9):  # loss parameters, scheduler parameters
        values = list(settings)
        values[index] = text
        with pytest.raises(gr.Error) as info:
            list(guarded(tab.train_run)(*values, {}, None, request, progress=lambda *a, **k: None))
        message = str(info.value)
        assert INTERNAL_ERROR not in message and "set_int_max_str_digits" not in message
        assert ("loss parameters" if index == 5 else "scheduler parameters") in message.lower() or "smooth" in message


# ---------------------------------------------------------------------------------------------- tab callbacks
# A raw HTTP request can carry NaN and Infinity (Python's JSON reads them; gradio_client cannot send them), so the
# callbacks get them here directly, through the same `guarded` wrapper the app uses.


def _callbacks(value):
    from ui import losses as losses_tab
    from ui import schedules as sched_tab
    from ui import train as train_tab
    from ui import unet as unet_tab

    fields = [30, 0.1, *[0] * (sched_tab.POOL["number"] - 2), *[""] * sched_tab.POOL["choice"],
              *[False] * sched_tab.POOL["bool"], *[""] * sched_tab.POOL["text"]]  # StepLR's fields

    def sched_field(i):
        return lambda: sched_tab.show_curve("StepLR", 100, 1, 0.1, False, False, "", [], *(
            fields[:i] + [value] + fields[i + 1 :]))

    return {
        "unet build height": lambda: unet_tab.build_unet(3, 2, True, 8, 2, value, 16, {}),
        "unet pitfall size": lambda: unet_tab.run_pitfall(value, 4),
        "unet pitfall depth": lambda: unet_tab.run_pitfall(572, value),
        "unet segment threshold": lambda: unet_tab.segment_image("cells_00", None, value, unet_tab.SHIPPED),
        "unet rethreshold": lambda: unet_tab.rethreshold(segment.segment_view("cells_00", 0.5), value),
        "schedules steps": lambda: sched_tab.show_curve("StepLR", value, 1, 0.1, False, False, "", [], *fields),
        "schedules base_lr": lambda: sched_tab.show_curve("StepLR", 100, 1, value, False, False, "", [], *fields),
        "schedules step_size": sched_field(0),
        "schedules gamma": sched_field(1),
        "schedules json steps": lambda: sched_tab.curve_json("StepLR", '{"step_size": 3}', value),
        "schedules pitfall base_lr": lambda: schedules.run_all(value),
        "losses smooth": lambda: losses_tab.show_curves(["dice"], value, 0.25, 2.0),
        "losses gamma": lambda: losses_tab.show_mask("cells_00", "blur", 0.25, 1.0, 0.25, value),
        "losses amount": lambda: losses_tab.show_mask("cells_00", "blur", value, 1.0, 0.25, 2.0),
        "losses choose alpha": lambda: losses_tab.choose("focal", 1.0, value, 2.0),
        "train preview lr": lambda: train_tab.preview(*TRAIN_FORM[:7], value, *TRAIN_FORM[8:]),
        "train preview steps": lambda: train_tab.preview(*TRAIN_FORM[:10], value, *TRAIN_FORM[11:]),
        "train preview batch": lambda: train_tab.preview(*TRAIN_FORM[:8], "StepLR", '{"step_size": 3}', 10, value,
                                                         *TRAIN_FORM[12:]),  # fmt: skip
    }


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400], ids=["nan", "inf", "-inf", "10**400"])
def test_tab_callbacks_take_what_a_raw_request_can_carry(value):
    for where, call in _callbacks(value).items():
        try:
            guarded(call)()
        except gr.Error as exc:
            assert INTERNAL_ERROR not in str(exc), where
            assert "set_int_max_str_digits" not in str(exc), where


# ---------------------------------------------------------------------------------------------- through the app

APP = pytest.mark.api
API_NUMBERS = [None, 0, -1, 1e308, -1e308, 2**63, 10**400, "abc"]  # JSON can carry no NaN or inf
API_TEXTS = [DEEP_LIST, DEEP_OBJECT, HUGE_FLAT, LONG_NUMBER, LONG_NUMBER_IN, "", "{", "x" * 100_000, None]


def _call(client, api_name: str, **values) -> str | None:
    """The AppError message of one call (None when it succeeds); a failure when it is the internal error."""
    from gradio_client.exceptions import AppError

    try:
        client.submit(api_name=api_name, **values).result(timeout=60)
    except AppError as exc:
        message = str(exc)
        assert INTERNAL_ERROR not in message, f"{api_name}({values}): internal error"
        assert "set_int_max_str_digits" not in message and len(message) <= MAX_MESSAGE, message[:300]
        return message
    return None


# endpoint -> (field -> values); each call changes one field, the others keep the page's defaults
ENDPOINTS = {
    "/unet_build": {"height": [1, 15, 16, 1024, 1025, *API_NUMBERS], "depth": [0, 1, 6, 7, 10**12],
                    "base_channels": [1, 2, 3, 256, 257], "n_channels": [0, 1, 64, 65], "n_classes": [0, 256, 257]},
    "/unet_pitfall": {"size": [1, 187, 188, 4096, 4097, *API_NUMBERS], "depth": [0, 1, 6, 7]},
    "/unet_segment": {"threshold": [0, 1, -0.1, 1.1, 10**400], "sample": ["nope", ""], "which": ["nope"]},
    "/schedules_curve": {"steps": [1, 100_000, 100_001, *API_NUMBERS], "base_lr": [10, 10.5, *API_NUMBERS],
                         "spe": [0, 3], "metrics": ["1e400 " * 100, "1" * 5000]},
    "/schedules_curve_json": {"params_json": API_TEXTS + ['{"lr_lambda": "1e300"}'], "steps": [0, 10**400, "7"],
                              "name": [["StepLR"], None, "LambdaLR"]},
    "/schedules_select": {"name": ["CosineAnnealingWarmRestarts", "nope"], "steps": [100_000, 10**400]},
    "/schedules_pitfall": {"base_lr": [0, 10, 11, 10**400]},
    "/losses_curves": {"smooth": API_NUMBERS, "alpha": [0, 1, 1.01, None], "gamma": [0, 1e308]},
    "/losses_mask": {"amount": [0, 1, -0.1, 1.1], "gamma": [1e308]},
    "/losses_choose": {"chosen": ["nope"], "smooth": [1e308, -1]},
    "/train_preview": {"sched_params": API_TEXTS + ['{"max_lr": 1e300}'], "lr": [0, 10, 11, *API_NUMBERS],
                       "steps": [0, 5000, 5001], "batch": [0, 64, 65]},
}  # fmt: skip


BASE = {"/unet_segment": {"sample": "cells_00", "upload": None}, "/schedules_curve_json": {"name": "StepLR"},
        "/train_preview": {"files": None}}  # fmt: skip


@APP
@pytest.mark.parametrize("api_name", list(ENDPOINTS))
def test_endpoints_at_the_edges(client, api_name):
    for field, values in ENDPOINTS[api_name].items():
        for value in values:
            _call(client, api_name, **{**BASE.get(api_name, {}), field: value})


@APP
def test_train_start_at_the_edges(client):
    """The issue's cases through the app: nested JSON, a 1e300 and a 1e6 LambdaLR factor, numbers past their range.
    Each is refused before any training (a sentence naming the field); one accepted run checks the loop end to end."""
    base = {"files": None, "steps": 2, "time_limit": 5.0, "base_channels": 4, "depth": 2, "batch": 2,
            "sched_name": "StepLR", "sched_params": '{"step_size": 2}'}  # fmt: skip
    assert _call(client, "/train_start", **base) is None
    refused = [
        ({"loss_params": DEEP_LIST}, "loss parameters"), ({"loss_params": LONG_NUMBER_IN}, "loss parameters"),
        ({"sched_params": DEEP_OBJECT}, "scheduler parameters"), ({"sched_params": HUGE_FLAT}, "scheduler parameters"),
        ({"sched_name": "LambdaLR", "sched_params": '{"lr_lambda": "1e300"}'}, "lr must stay"),
        ({"sched_name": "LambdaLR", "sched_params": '{"lr_lambda": "1e6"}'}, "3000"),
        ({"lr": 10.5}, ""), ({"lr": 10**400}, ""), ({"steps": 5001}, "steps"), ({"time_limit": 0}, "time limit"),
        ({"time_limit": None}, "time limit"), ({"batch": 65}, "batch size"), ({"depth": 6}, ""),
    ]  # fmt: skip
    for change, words in refused:
        message = _call(client, "/train_start", **{**base, **change})
        assert message is not None and words in message.lower(), (change, message)
