"""Compose's work bound and its input edges (issue 12: items 2, 4 and 6 for lab.compose).

torch.utils.flop_counter sees matrix products and convolutions only: a `MaxPool2d(128, stride=1)` on a megapixel
was "0 FLOPs" and ran for 80 s. `lab.compose.cost.layer_work` gives every layer a cost and `lab.compose` bounds their
sum by `MAX_WORK` on the meta device, before anything runs. These tests check the rules (analytic counts), the
refusals (layer named, work and limit said, nothing run), that ordinary networks come out exactly as before, and
that no edge of any accepted range reaches a non-LabError or a message quoting Python's or C++'s internals.
Timings live in bench/compose_cost.py, never here.
"""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

from lab import compose
from lab.compose import MAX_WORK, explore
from lab.compose.cost import _adaptive_window, layer_work
from lab.errors import LabError, render, shown
from tests.conftest import run_code

# Internals a visitor must never read (issue 12, item 6)
INTERNALS = (
    "set_int_max_str_digits", "Exceeds the limit", "Line None", ".cpp", ".cc:", "c10::", "at::", "int64_t",
    "long long", "%ld", "Traceback", "INTERNAL ASSERT", "failed to unpack", "source code string",
)  # fmt: skip


def assert_clean(message: str) -> None:
    assert message and "\n" not in message, message
    for internal in INTERNALS:
        assert internal not in message, f"{internal!r} in {message!r}"


def one_call(text: str, shape: tuple[int, ...]) -> tuple[float, str, nn.Module, tuple[int, ...]]:
    """(work, rule, module, output shape) of one layer line called once on the meta device."""
    module = compose.parse_specs(text)[0].instantiate("meta")
    dtype = torch.long if isinstance(module, nn.Embedding) else torch.float32
    with torch.no_grad():
        out = module(torch.empty(shape, device="meta", dtype=dtype))
    work, rule = layer_work(module, shape, tuple(out.shape))
    return work, rule, module, tuple(out.shape)


# --- the rules: every allowed layer has one, and they count what the kernels do -------------------------------

# one small call per allowed layer: adding a layer to compose.LAYERS without a cost rule fails here
SAMPLES: dict[str, tuple[str, tuple[int, ...]]] = {
    "Linear": ("nn.Linear(8, 4)", (2, 8)),
    "Bilinear": ("nn.Bilinear(8, 8, 4)", (2, 8)),
    "Identity": ("nn.Identity()", (2, 8)),
    "Embedding": ("nn.Embedding(10, 4)", (2, 5)),
    "Conv1d": ("nn.Conv1d(2, 4, 3)", (1, 2, 8)),
    "Conv2d": ("nn.Conv2d(2, 4, 3)", (1, 2, 8, 8)),
    "ConvTranspose1d": ("nn.ConvTranspose1d(2, 4, 3, stride=2)", (1, 2, 8)),
    "ConvTranspose2d": ("nn.ConvTranspose2d(2, 4, 3, stride=2)", (1, 2, 8, 8)),
    "BatchNorm1d": ("nn.BatchNorm1d(4)", (2, 4)),
    "BatchNorm2d": ("nn.BatchNorm2d(2)", (1, 2, 4, 4)),
    "LayerNorm": ("nn.LayerNorm(8)", (2, 8)),
    "GroupNorm": ("nn.GroupNorm(2, 4)", (1, 4, 4)),
    "InstanceNorm2d": ("nn.InstanceNorm2d(2)", (1, 2, 4, 4)),
    "Dropout": ("nn.Dropout()", (2, 8)),
    "Dropout2d": ("nn.Dropout2d()", (1, 2, 4, 4)),
    "Softmax": ("nn.Softmax(dim=1)", (2, 8)),
    "LogSoftmax": ("nn.LogSoftmax(dim=1)", (2, 8)),
    "Flatten": ("nn.Flatten()", (2, 2, 4)),
    "Unflatten": ("nn.Unflatten(1, (2, 4))", (2, 8)),
    "MaxPool1d": ("nn.MaxPool1d(2)", (1, 2, 8)),
    "MaxPool2d": ("nn.MaxPool2d(2)", (1, 2, 8, 8)),
    "AvgPool1d": ("nn.AvgPool1d(2)", (1, 2, 8)),
    "AvgPool2d": ("nn.AvgPool2d(2)", (1, 2, 8, 8)),
    "AdaptiveAvgPool1d": ("nn.AdaptiveAvgPool1d(3)", (1, 2, 8)),
    "AdaptiveAvgPool2d": ("nn.AdaptiveAvgPool2d(3)", (1, 2, 8, 8)),
    "AdaptiveMaxPool2d": ("nn.AdaptiveMaxPool2d(3)", (1, 2, 8, 8)),
    "Upsample": ("nn.Upsample(scale_factor=2)", (1, 2, 4, 4)),
    **{name: (f"nn.{name}()", (2, 8)) for name in (
        "ReLU", "ReLU6", "LeakyReLU", "PReLU", "GELU", "SiLU", "Mish", "ELU", "Hardswish", "Sigmoid", "Tanh",
        "Softplus")},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(compose.LAYERS))
def test_every_allowed_layer_has_a_cost_rule(name):
    text, shape = SAMPLES[name]
    if name == "Bilinear":  # two inputs: cost it from the shapes alone
        module = compose.parse_specs(text)[0].instantiate("meta")
        work, rule = layer_work(module, shape, (2, 4))
    else:
        work, rule, _, _ = one_call(text, shape)
    assert work > 0
    assert not rule.startswith("no rule"), rule


def test_a_layer_without_a_rule_is_not_free():
    work, rule = layer_work(nn.LSTM(8, 8), (2, 3, 8), (2, 3, 8))
    assert work >= 100 * (48 + 48) and rule.startswith("no rule for LSTM")


@pytest.mark.parametrize(
    ("text", "shape", "window", "per_tap"),
    [
        ("nn.MaxPool2d(128, stride=1)", (1, 1, 1024, 1024), 128 * 128, 3),  # the issue's
        ("nn.MaxPool2d((3, 5), stride=1, padding=1, dilation=2, ceil_mode=True)", (2, 3, 40, 40), 15, 3),
        ("nn.MaxPool1d(64, stride=1)", (1, 16, 4096), 64, 2),
        ("nn.AvgPool2d(16, stride=1, padding=8, count_include_pad=True)", (1, 1, 256, 256), 256, 2),
        ("nn.AvgPool2d(16, stride=1, padding=8, count_include_pad=False)", (1, 1, 256, 256), 256, 2),
        ("nn.AvgPool1d(7, stride=2, ceil_mode=True)", (4, 3, 1000), 7, 2),
    ],
)
def test_pooling_work_is_output_elements_times_window(text, shape, window, per_tap):
    work, rule, _, out = one_call(text, shape)
    assert work == per_tap * math.prod(out) * (window + 4)  # per tap, and 4 taps' worth of overhead per output
    assert f"window {window:,}" in rule


@pytest.mark.parametrize("size_in", [1, 2, 3, 7, 10, 31, 64, 100, 1000, 1023, 1024])
@pytest.mark.parametrize("size_out", [1, 2, 3, 5, 7, 64, 999, 1023])
def test_adaptive_window_bounds_the_largest_window_torch_reads(size_in, size_out):
    # adaptive pooling's output i reads [floor(i * in / out), ceil((i + 1) * in / out))
    largest = max(-(-(i + 1) * size_in // size_out) - (i * size_in // size_out) for i in range(size_out))
    bound = _adaptive_window((1, 1, size_in), (1, 1, size_out), 1)
    assert largest <= bound <= largest + 1


def test_interpolation_costs_its_taps():
    works = {mode: one_call(f"nn.Upsample(scale_factor=4, mode='{mode}')", (1, 3, 64, 64))[0]
             for mode in ("nearest", "nearest-exact", "bilinear", "bicubic")}  # fmt: skip
    out = 3 * 256 * 256  # 1.5 units per output element and tap, plus one tap's worth of overhead
    assert works == {"nearest": 1.5 * out * 2, "nearest-exact": 1.5 * out * 2, "bilinear": 1.5 * out * 5,
                     "bicubic": 1.5 * out * 17}  # fmt: skip
    linear, _, _, _ = one_call("nn.Upsample(scale_factor=4, mode='linear')", (1, 3, 64))
    trilinear, _, _, _ = one_call("nn.Upsample(scale_factor=2, mode='trilinear')", (1, 1, 8, 8, 8))
    assert linear == 1.5 * (3 * 256) * 3 and trilinear == 1.5 * 16**3 * 9
    area, rule, _, _ = one_call("nn.Upsample(scale_factor=0.25, mode='area')", (1, 1, 64, 64))
    assert area == 3 * 16 * 16 * (16 + 4) and "area" in rule  # adaptive average pooling with 4x4 windows


def test_few_channels_per_group_cost_more_per_multiply_add():
    """The same multiply-adds: dense 64 -> 64 against depthwise (one channel a group) on 64x more pixels."""
    dense, _, _, _ = one_call("nn.Conv2d(64, 64, 3, padding=1)", (1, 64, 32, 32))
    depthwise, _, _, _ = one_call("nn.Conv2d(64, 64, 3, padding=1, groups=64)", (1, 64, 256, 256))
    assert depthwise > 10 * dense
    single, _, _, _ = one_call("nn.ConvTranspose1d(1, 1, 3, stride=4)", (1, 1, 10000))
    dense_per_mac, single_per_mac = dense / (64 * 64 * 9 * 32 * 32), single / (10000 * 3)
    assert single_per_mac > 100 * dense_per_mac  # the slowest kernel the calibration found, against the fastest


def test_rows_and_renormalisation_are_counted():
    # 5 units an element and 50 a normalised group (LayerNorm, GroupNorm, InstanceNorm); 6 and 40 a softmax row
    assert one_call("nn.LayerNorm(1024)", (16, 1024))[0] == 5 * 16384 + 50 * 16
    assert one_call("nn.LayerNorm(1)", (16384, 1))[0] == 5 * 16384 + 50 * 16384
    assert one_call("nn.LayerNorm((4, 8))", (3, 5, 4, 8))[0] == 5 * 480 + 50 * 15
    assert one_call("nn.GroupNorm(4, 8)", (3, 8, 5))[0] == 5 * 120 + 50 * 3 * 4
    assert one_call("nn.InstanceNorm2d(8)", (3, 8, 5, 5))[0] == 5 * 600 + 50 * 3 * 8
    assert one_call("nn.Softmax(dim=1)", (8192, 2))[0] == 6 * 16384 + 40 * 8192
    assert one_call("nn.Softmax(dim=0)", (8192, 2))[0] == 6 * 16384 + 40 * 2
    with pytest.warns(UserWarning, match="Implicit dimension"):  # dim=None on 3-D input: torch's legacy dim 0
        assert one_call("nn.LogSoftmax()", (4, 6, 2))[0] == 6 * 48 + 40 * 12
    plain, _, _, _ = one_call("nn.Embedding(100000, 4)", (1, 100000))
    renormed, rule, _, _ = one_call("nn.Embedding(100000, 4, max_norm=1.0)", (1, 100000))
    assert renormed > 50 * plain and "max_norm" in rule


# --- refusals through explore: named, quantified, on the meta device only --------------------------------------

REFUSED = [
    ("nn.MaxPool2d(128, stride=1)", "1x1x1024x1024", "maxpool2d1", "MaxPool2d", 1, "kernel_size"),
    ("nn.MaxPool2d(256, stride=1)\n" * 3, "1x16x1024x1024", "maxpool2d1", "MaxPool2d", 1, "kernel_size"),
    ("nn.ReLU()\nnn.MaxPool1d(4096, stride=1)", "1x16x1000000", "maxpool1d1", "MaxPool1d", 2, "kernel_size"),
    ("nn.AvgPool1d(2048, stride=1, padding=1024)", "1x16x1000000", "avgpool1d1", "AvgPool1d", 1, "stride"),
    ("nn.AvgPool2d(64, stride=1, padding=32, count_include_pad=True)", "1x4x1024x1024", "avgpool2d1", "AvgPool2d",
     1, "kernel_size"),
    ("nn.AdaptiveMaxPool2d(1023)", "1x16x1024x1024", "adaptivemaxpool2d1", "AdaptiveMaxPool2d", 1, "output_size"),
    ("nn.Identity()\nnn.AdaptiveAvgPool2d((1023, 1023))", "1x16x1024x1024", "adaptiveavgpool2d1",
     "AdaptiveAvgPool2d", 2, "output_size"),
    ("nn.Upsample(scale_factor=8, mode='bicubic')", "1x1x1024x1024", "upsample1", "Upsample", 1, "scale_factor"),
    ("up = nn.Upsample(size=(8192, 8192), mode='bilinear', align_corners=True)", "1x1x64x64", "up", "Upsample", 1,
     "scale_factor"),
    ("nn.Upsample(scale_factor=4, mode='trilinear')", "1x4x64x64x64", "upsample1", "Upsample", 1, "scale_factor"),
    ("nn.Embedding(1000000, 4, max_norm=1.0)", "1x4000000", "embedding1", "Embedding", 1, "max_norm"),
    ("nn.LayerNorm(1)", "16777216x1", "layernorm1", "LayerNorm", 1, "input shape"),
    ("nn.Conv2d(64, 64, 15, padding=7, groups=64)", "1x64x512x512", "conv2d1", "Conv2d", 1, "channels per group"),
    ("nn.Conv1d(1, 1, 255, padding=127)", "1x1x16000000", "conv1d1", "Conv1d", 1, "kernel_size"),
    ("nn.ConvTranspose1d(1, 1, 3, stride=4)", "1x1x16000000", "convtranspose1d1", "ConvTranspose1d", 1, "input"),
    ("nn.ConvTranspose2d(1, 1, 3, dilation=2000)", "1x1x4000x4000", "convtranspose2d1", "ConvTranspose2d", 1,
     "input"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "shape", "name", "kind", "line", "advice"), REFUSED)
def test_hidden_cost_is_refused_on_meta_naming_the_layer(text, shape, name, kind, line, advice, monkeypatch):
    devices = []
    real = compose.cost.forward_report

    def spy(model, shapes, **kwargs):
        report = real(model, shapes, **kwargs)
        devices.append(report.inputs[0].device.type)
        return report

    monkeypatch.setattr(compose.cost, "forward_report", spy)
    with pytest.raises(LabError) as info:
        explore(text, "sequential", shape)
    message = str(info.value)
    assert_clean(message)
    assert f"'{name}' ({kind}, line {line})" in message
    assert re.search(r"about [\d.,]+ (million|billion|trillion) operations", message), message
    assert f"at most {render(compose.cost._count_text(MAX_WORK))}" in message and advice in message
    assert devices == ["meta"]  # one forward on the meta device, then the refusal: nothing real ever ran


def test_a_stack_of_cheap_layers_is_refused_for_its_sum():
    """64 ReLUs on 2^23 elements: each layer is cheap (2 units an element), together twice the budget."""
    with pytest.raises(LabError) as info:
        explore("nn.ReLU()\n" * 64, "sequential", "1x8388608")
    message = str(info.value)
    assert_clean(message)
    assert re.match(r"These layers need about 1\.\d+ billion operations for one forward pass", message), message
    assert "layer 'relu1' (ReLU, line 1)" in message and "fewer layers" in message
    mixed = "nn.Unflatten(1, (1, -1))\nnn.Flatten()\nnn.Dropout()\nnn.GELU()\nnn.Softmax(dim=1)\nnn.Tanh()\n" * 10
    with pytest.raises(LabError, match="These layers need about"):
        explore(mixed, "modulelist", "16x1048576")


@pytest.mark.parametrize(
    ("text", "shape"),
    [("nn.Upsample(scale_factor=1e300)", "1x1x4"), ("nn.Upsample(scale_factor=(1e308, 1e308))", "1x1x4x4"),
     ("nn.Upsample(size=(2147483647, 2147483647, 2147483647))", "1x1x2x2x2")],
)  # fmt: skip
def test_an_absurd_output_size_is_refused_before_torch_overflows(text, shape):
    with pytest.raises(LabError) as info:
        explore(text, "sequential", shape)
    assert_clean(str(info.value))
    assert "would output" in str(info.value) and "more than 10^15 elements" in str(info.value)


def test_style_equivalence_checks_the_same_bounds():
    """style_equivalence is public: it must refuse what explore refuses, never run it."""
    with pytest.raises(LabError, match="MaxPool2d, line 1"):
        compose.style_equivalence("nn.MaxPool2d(128, stride=1)", "1x1x1024x1024")
    with pytest.raises(LabError, match=r"expects input \(\*, 128\) but got \(1, 256\)"):
        compose.style_equivalence("nn.Linear(784, 256)\nnn.Linear(128, 10)", "1x784")


# --- ordinary input: accepted, and exactly the same numbers -----------------------------------------------------

ORDINARY = [
    *[(text, shape) for label, (text, shape) in compose.EXAMPLES.items() if "mismatch" not in label],
    ("nn.Conv2d(3, 64, 3, padding=1)\nnn.BatchNorm2d(64)\nnn.ReLU()\nnn.MaxPool2d(2)\nnn.Conv2d(64, 128, 3, padding=1)"
     "\nnn.ReLU()\nnn.MaxPool2d(2)\nnn.AdaptiveAvgPool2d((1, 1))\nnn.Flatten()\nnn.Dropout(0.5)\nnn.Linear(128, 10)",
     "1x3x224x224"),
    ("nn.Conv2d(1, 6, 5, padding=2)\nnn.Tanh()\nnn.AvgPool2d(2, stride=2)\nnn.Conv2d(6, 16, 5)\nnn.Tanh()\n"
     "nn.AvgPool2d(2, stride=2)\nnn.Flatten()\nnn.Linear(400, 120)\nnn.Tanh()\nnn.Linear(120, 84)\nnn.Linear(84, 10)",
     "64x1x28x28"),  # LeNet-5
    ("nn.Conv2d(32, 32, 3, padding=1, groups=32)\nnn.BatchNorm2d(32)\nnn.ReLU6()\nnn.Conv2d(32, 64, 1)\n"
     "nn.Upsample(scale_factor=2, mode='bilinear')\nnn.LogSoftmax(dim=1)", "2x32x112x112"),
    ("nn.Embedding(30000, 64)\nnn.LayerNorm(64)\nnn.GELU()\nnn.Flatten()\nnn.Linear(8192, 2)", "8x128"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "shape"), ORDINARY)
def test_ordinary_networks_are_accepted_with_the_same_output(text, shape):
    result = explore(text, "ordereddict", shape)
    assert 0 < result.work < MAX_WORK
    if (text, shape) in compose.EXAMPLES.values():
        assert result.work < MAX_WORK / 100  # the tutorial's examples use a sliver of the budget
    namespace = run_code(result.code)  # the standalone code: torch.manual_seed(0) weights, the lab's seeded input
    expected = namespace["y"].flatten()[:8].tolist()
    assert result.first_values == pytest.approx(expected, abs=0, rel=0)
    assert (result.equivalence["diff_copied"] == 0).all()


def test_dense_convolutions_up_to_the_flop_bound_stay_accepted():
    """The FLOP bound, not the work bound, limits well-vectorised layers (checked on meta only, never run)."""
    _, work = compose.meta_check(compose.parse_specs("nn.Conv2d(64, 64, 3, padding=1)\n" * 4),
                                  compose.parse_shape("1x64x256x256"))  # fmt: skip
    assert work < MAX_WORK
    _, work = compose.meta_check(compose.parse_specs("nn.Linear(4096, 4096)"), compose.parse_shape("512x4096"))
    assert work < MAX_WORK


# --- the launched app ---------------------------------------------------------------------------------------------


@pytest.mark.api
def test_api_refuses_hidden_cost_and_stays_usable(client):
    from gradio_client.exceptions import AppError

    for text, shape in (("nn.MaxPool2d(128, stride=1)", "1x1x1024x1024"),
                        ("nn.AvgPool1d(2048, stride=1)", "1x16x1000000"),
                        ("nn.Upsample(scale_factor=8, mode='bicubic')", "1x1x1024x1024"),
                        ("nn.ReLU()\n" * 64, "1x8388608")):  # fmt: skip
        with pytest.raises(AppError) as info:
            client.predict(text, "sequential", shape, api_name="/compose_build")
        assert "operations" in str(info.value) and "at most" in str(info.value)
        assert_clean(str(info.value).split("\n")[-1])
    *_, equivalence = client.predict(compose.DEFAULT_LAYERS, "sequential", "1x784", api_name="/compose_build")
    assert len(equivalence["data"]) == 4


@pytest.mark.api
def test_api_edges_get_a_sentence(client):
    from gradio_client.exceptions import AppError

    for text, shape, words in (("nn.ReLU()\x00", "1x784", "null byte"),
                               ("nn.Linear(" + "9" * 5000 + ", 3)", "1x784", "more than 4,300 digits"),
                               ("nn.Linear(784, 10)", "1x" + "9" * 5000, "more than 12 digits"),
                               ("nn.Linear(1e308, 3)", "1x784", "in_features=1e+308")):  # fmt: skip
        with pytest.raises(AppError) as info:
            client.predict(text, "sequential", shape, api_name="/compose_build")
        assert words in str(info.value)
        assert "set_int_max_str_digits" not in str(info.value) and "Line None" not in str(info.value)


# --- edges of every accepted range (items 4 and 6) ----------------------------------------------------------------

EDGE_LITERALS = [
    "0", "-1", "1", str(compose.MAX_INT_ARGUMENT), str(compose.MAX_INT_ARGUMENT + 1), "-" + str(2**63),
    "9" * 4301, "0x" + "f" * 5000, "1e308", "-1e308", "1e-308", "1e999", "nan", "inf", "float('nan')", "-0.0",
    "()", "((),)", "((1, (2, (3,))),)", "[]", "[1] * 3", "''", "'" + "x" * 40 + "'", "'é中'", "True", "None",
    "b'x'", "{1}", "1j",
]  # fmt: skip


def edge_texts() -> list[str]:
    texts = []
    for name in sorted(compose.LAYERS):
        for literal in EDGE_LITERALS:
            texts += [f"nn.{name}({literal})", f"nn.{name}(8, {literal})"]
    return texts


EDGE_TEXTS = [
    "nn.ReLU()\x00", "\x00", "nn.Linear(784, 10)\nnn.ReLU()\x00\nnn.ReLU()", "nn.ReLU()\r\x00", "nn.ReLU()\ud800",
    "\ufeffnn.Linear(784, 10)", "nn.Linear(784, 10)\r\nnn.ReLU()\r\n", "\tnn.ReLU()", "nn.ReLU()\t", "  \n\t ",
    "\ufeff", "nn.ReLU()\u2028nn.ReLU()", "é = nn.ReLU()", "中文 = nn.ReLU()", "ﬁ = nn.ReLU()", "x\u200b = nn.ReLU()",
    "a" * compose.MAX_NAME_CHARS + " = nn.ReLU()", "a" * (compose.MAX_NAME_CHARS + 1) + " = nn.ReLU()",
    "nn.ReLU()\n" * compose.MAX_LAYERS, "nn.ReLU()\n" * (compose.MAX_LAYERS + 1),
    "nn.ReLU(); " * 70, "nn.Identity()" + " " * (compose.MAX_TEXT_CHARS - 13),
    "nn.Identity()" + " " * compose.MAX_TEXT_CHARS,
    "nn.Unflatten(1, (1, 1, 1, 1, 1, 1, 1, 1))\n" * 63 + "nn.ReLU()", "(" * 300 + ")" * 300, "[" * 20000,
    "nn.Linear(784, 10, bias=" + "(" * 100 + "1" + ")" * 100 + ")", "nn.Upsample(scale_factor=2, mode='lanczos')",
    "nn.GELU(approximate='bogus')", "nn.Conv2d(1, 1, 3, padding_mode='bogus')", "nn.Linear(3.0, 2)",
    "nn.Softmax(dim=" + "9" * 30 + ")", "nn.Linear(784, 10).__class__", "nn.Embedding(10, 3, _weight=1)",
    "nn.Identity(1e308, x=[1, 2], y=None)", "nn.Linear(in_features=784, out_features=10, bogus=1)",
    "nn.Linear(2147483647, 1)", "nn.Unflatten(1, (2147483647, 2147483647))",
    "nn.Flatten(0, -1)\nnn.Unflatten(0, (-1,))",
]  # fmt: skip
SHAPES = ["1x784", "2x8", "1x3x8x8", "1x1x1x1x1x8", "0x784", "-1x784", "1x" + "9" * 5000, "1x" * 7 + "1",
          "4096x4097", "", "\x00", "nan", "1e3", "١x٧٨٤", "(1, 784)", "[[1, 784]]", "1x784x"]  # fmt: skip


def _no_internal_error(fn, *args) -> str:
    """Call fn; only a result or a clean LabError may come out. Returns the message ("" when accepted)."""
    try:
        fn(*args)
    except LabError as exc:
        assert_clean(str(exc))
        return str(exc)
    return ""


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=lambda text: shown(text, 40))
def test_edge_texts_get_a_sentence_everywhere(text):
    _no_internal_error(compose.parse_layers, text)
    _no_internal_error(compose.build, text, "moduledict")
    _no_internal_error(compose.to_code, text, "ordereddict")
    for shape in ("1x784", "1x3x8x8"):
        _no_internal_error(compose.style_equivalence, text, shape)
        _no_internal_error(explore, text, "modulelist", shape)


def test_null_byte_and_huge_numbers_are_worded_for_a_person():
    message = _no_internal_error(compose.parse_layers, "nn.Linear(784, 10)\nnn.ReLU()\x00")
    assert (
        message
        == "Line 2 of the layers text, 'nn.ReLU()\\x00', holds a null byte (\\x00); write the layers as plain text."
    )
    message = _no_internal_error(compose.parse_layers, "nn.Linear(" + "9" * 5000 + ", 3)")
    assert message.startswith("Line 1 of the layers text has a whole number with more than 4,300 digits")
    message = _no_internal_error(compose.parse_layers, "nn.Linear(784, 0x" + "f" * 5000 + ")")
    assert "a whole number of about 6,021 digits, is out of range" in message
    message = _no_internal_error(compose.parse_layers, "nn.Linear(1e308, 3)")
    assert message == "Line 1: in_features=1e+308 in nn.Linear is not accepted; use a whole number."
    message = _no_internal_error(compose.parse_shape, "1x" + "9" * 5000)
    assert "more than 12 digits" in message
    message = _no_internal_error(compose.parse_shape, [10**5000, 1])
    assert "(<5,001 digits>, 1)" in message


def test_a_byte_order_mark_is_ignored_like_python_does():
    plain = explore("nn.Linear(784, 10)", "sequential", "1x784")
    marked = explore("\ufeffnn.Linear(784, 10)", "sequential", "1x784")
    assert marked.first_values == plain.first_values and marked.code == plain.code


def test_input_shape_edges_are_exact():
    assert compose.parse_shape("4096x4096") == (4096, 4096)  # 2^24 elements: the largest input
    assert compose.parse_shape("1x1x1x1x1x8") == (1, 1, 1, 1, 1, 8)  # six sizes: the most
    for shape, words in (("4096x4097", "at most 16,777,216"), ("1x1x1x1x1x1x8", "1 to 6"), ("0x8", "positive")):
        assert words in _no_internal_error(compose.parse_shape, shape)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shown(shape, 30))
def test_edge_shapes_get_a_sentence(shape):
    _no_internal_error(explore, "nn.Flatten()", "sequential", shape)
    _no_internal_error(compose.style_equivalence, "nn.ReLU()", shape)
    _no_internal_error(lambda: compose.to_code("nn.ReLU()", "sequential", input_shape=shape))


def test_literal_edges_for_every_allowed_layer():
    """Every allowed layer x every edge literal, first and second argument: parse, build, code, then explore what
    parses (on a small input of the layer's usual rank)."""
    for text in edge_texts():
        if _no_internal_error(compose.parse_layers, text):
            continue
        _no_internal_error(compose.to_code, text, "moduledict")
        name = text[3 : text.index("(")]
        _no_internal_error(explore, text, "sequential", "x".join(map(str, SAMPLES[name][1])))
