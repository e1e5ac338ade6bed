"""lab.compose (5.1): parsing layers text safely, the four styles, code export, same function across styles."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from lab import compose
from lab.compose import STYLES, build, explore, parse_layers, parse_shape, parse_specs, style_equivalence, to_code
from lab.errors import LabError
from lab.inspect import summary
from tests.conftest import run_code

CNN = """conv1 = nn.Conv2d(3, 8, 3, padding=1)
bn1 = nn.BatchNorm2d(8)
nn.ReLU(inplace=True)
nn.MaxPool2d(2)
nn.Upsample(scale_factor=2, mode="bilinear")
nn.GroupNorm(2, 8)
nn.AdaptiveAvgPool2d((1, 1))
nn.Flatten()
nn.Dropout(0.5)
head = nn.Linear(8, 2)
nn.LogSoftmax(dim=1)
"""
TEXTS = {"mlp": (compose.DEFAULT_LAYERS, (1, 784)), "cnn": (CNN, (2, 3, 16, 16))}

# the keys each style gives the tutorial's first layer: the style is visible in the state_dict
FIRST_KEY = {
    "sequential": "0.weight",
    "ordereddict": "fc1.weight",
    "modulelist": "layers.0.weight",
    "moduledict": "layers.fc1.weight",
}


def test_parse_default_matches_tutorial_layers():
    layers = parse_layers(compose.DEFAULT_LAYERS)
    assert [name for name, _ in layers] == ["fc1", "relu1", "fc2"]
    assert [type(m) for _, m in layers] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (layers[0][1].in_features, layers[0][1].out_features) == (784, 256)


def test_parse_accepts_the_forms_people_paste():
    text = """
# comments and blank lines are fine
self.fc1 = nn.Linear(784, 256)
torch.nn.LeakyReLU(negative_slope=-0.1),
('drop', nn.Dropout(p=0.25))
Linear(256, 10, bias=False)
nn.Unflatten(1, (2, 5))
nn.Upsample(size=(4, 4), mode="nearest", align_corners=None)
"""
    specs = parse_specs(text)
    assert [s.name for s in specs] == ["fc1", None, "drop", None, None, None]
    assert specs[1].kwargs == {"negative_slope": -0.1}
    assert specs[3].kwargs == {"bias": False}
    assert specs[4].args == (1, (2, 5))
    assert [s.line for s in specs] == [3, 4, 5, 6, 7, 8]
    assert compose.layer_names(specs) == ["fc1", "leakyrelu1", "drop", "linear1", "unflatten1", "upsample1"]


def test_auto_names_skip_typed_names():
    specs = parse_specs("relu1 = nn.ReLU()\nnn.ReLU()\nnn.ReLU()")
    assert compose.layer_names(specs) == ["relu1", "relu2", "relu3"]


@pytest.mark.parametrize("style", STYLES)
def test_build_prints_and_keys_per_style(style):
    model = build(compose.DEFAULT_LAYERS, style)
    assert next(iter(model.state_dict())) == FIRST_KEY[style]
    printed = str(model)
    assert "Linear(in_features=784, out_features=256, bias=True)" in printed
    if style == "sequential":  # exactly the tutorial's 5.1.2 printout
        assert printed == (
            "Sequential(\n"
            "  (0): Linear(in_features=784, out_features=256, bias=True)\n"
            "  (1): ReLU()\n"
            "  (2): Linear(in_features=256, out_features=10, bias=True)\n"
            ")"
        )
    assert model(torch.zeros(3, 784, device=next(model.parameters()).device)).shape == (3, 10)


def test_build_from_parsed_list_uses_those_modules():
    layers = parse_layers(compose.DEFAULT_LAYERS)
    model = build(layers, "ordereddict")
    assert model.fc1 is layers[0][1]  # Module.to moves in place: the same instance on any device


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("which", sorted(TEXTS))
def test_to_code_rebuilds_same_state_dict_and_output(style, which):
    text, shape = TEXTS[which]
    result = explore(text, style, shape)
    ns = run_code(result.code)
    net = ns["net"]
    lab_sd, code_sd = result.model.state_dict(), net.state_dict()
    assert list(code_sd) == list(lab_sd)
    assert [v.shape for v in code_sd.values()] == [v.shape for v in lab_sd.values()]
    assert str(net) == result.printed
    assert tuple(ns["y"].shape) == tuple(result.table.output_shape.map(eval).iloc[-1])
    # same seed, same weights, same input: the code prints what the tab showed
    torch.testing.assert_close(ns["y"].flatten()[:8].cpu(), torch.tensor(result.first_values), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("style", STYLES)
def test_to_code_from_parsed_list(style):
    layers = parse_layers("nn.Conv2d(3, 4, (3, 3), stride=2)\nnn.SiLU()\nnn.Flatten()")
    ns = run_code(to_code(layers, style))
    assert [v.shape for v in ns["net"].state_dict().values()] == [(4, 3, 3, 3), (4,)]


def test_to_code_for_foreign_modules_uses_extra_repr():
    code = to_code([("a", nn.Linear(3, 2)), (None, nn.GELU(approximate="tanh"))], "moduledict")
    net = run_code(code)["net"]
    assert list(net.state_dict()) == ["layers.a.weight", "layers.a.bias"]
    assert net.layers.gelu1.approximate == "tanh"


@pytest.mark.parametrize("which", sorted(TEXTS))
def test_styles_compute_the_same_function(which):
    text, shape = TEXTS[which]
    table = style_equivalence(text, shape)
    assert list(table["class"]) == ["Sequential", "Sequential", "ListNet", "DictNet"]
    assert (table["diff_copied"] == 0.0).all()
    assert (table["diff_own"] > 0).all()  # before copying, the random weights really differ


def test_copy_weights_maps_keys_by_position():
    src, dst = build(compose.DEFAULT_LAYERS, "sequential"), build(compose.DEFAULT_LAYERS, "moduledict")
    torch.nn.init.zeros_(dst.layers.fc1.weight)
    compose.copy_weights(src, dst)
    assert torch.equal(dst.layers.fc1.weight, src[0].weight)
    with pytest.raises(LabError, match="tensors"):
        compose.copy_weights(src, build("nn.Linear(784, 10)", "sequential"))


@pytest.mark.parametrize("style", STYLES)
def test_summary_of_each_style(style):
    table = summary(build(compose.DEFAULT_LAYERS, style), [(1, 784)])
    leaves = table[table.type != "Sequential"]
    assert list(leaves.type) == ["Linear", "ReLU", "Linear"]
    assert list(leaves.output_shape) == ["(1, 256)", "(1, 256)", "(1, 10)"]
    assert leaves.params.sum() == 203530


@pytest.mark.parametrize("label", sorted(compose.EXAMPLES))
def test_examples_run_or_explain(label):
    text, shape = compose.EXAMPLES[label]
    if "mismatch" in label:
        with pytest.raises(LabError, match=r"line 3\) expects input \(\*, 128\) but got \(1, 256\)"):
            explore(text, "moduledict", shape)
        return
    result = explore(text, "moduledict", shape)
    assert result.total > 0 and (result.equivalence["diff_copied"] == 0).all()


def test_explore_defaults():
    result = explore(compose.DEFAULT_LAYERS, "sequential", "1x784")
    assert (result.total, result.trainable) == (203530, 203530)
    assert result.flops == 2 * (784 * 256 + 256 * 10)  # a multiply-add is two FLOPs (torch.utils.flop_counter)
    assert result.output_shape == "(1, 10)" and len(result.first_values) == 8
    assert list(result.table.name) == ["0", "1", "2"]


def test_embedding_first_layer_gets_indices():
    result = explore("emb = nn.Embedding(100, 8)\nnn.Flatten()\nnn.Linear(40, 3)", "moduledict", "2x5")
    assert result.output_shape == "(2, 3)"
    assert "torch.randint(0, 100, (2, 5)" in result.code


@pytest.mark.parametrize(
    ("text", "shape", "message"),
    [
        ("", "1x784", "empty"),
        ("   \n  ", "1x784", "empty"),
        ("nn.Foo(3)", "1x784", "Line 1: `nn.Foo` is not an allowed layer"),
        ("nn.Linear(784, 10)\nos.system('ls')", "1x784", "Line 2: `os.system` is not an allowed layer"),
        ("nn.Linear(784, n)", "1x784", "Line 1: argument `n` of nn.Linear is not a literal"),
        ("nn.Linear(2 ** 10, 3)", "1x784", "not a literal"),
        ("nn.Linear(784, 10).__class__()", "1x784", "not an allowed layer"),
        ("nn.Sequential(nn.Sequential(nn.ReLU()))", "1x784", "Line 1: `nn.Sequential` is not an allowed layer"),
        ("import os", "1x784", "holds no layer, only import and print lines"),
        ("import os\nos.system('ls')", "1x784", "Line 2: `os.system` is not an allowed layer"),
        ("x = 1\nwhile True: pass", "1x784", "Line 2: `while True:"),
        ("lambda: 1", "1x784", "not a layer call"),
        ("nn.Linear(*sizes)", "1x784", "*args"),
        ("nn.Linear(784, 10, device='cuda')", "1x784", "device="),
        ("fc1 = nn.Linear(784, 256\nnn.ReLU()", "1x784", "Line 1 of the layers text is not valid Python"),
        ("nn.ReLU()\nfc = = nn.ReLU()", "1x784", "Line 2 of the layers text is not valid Python"),
        ("fc = nn.Linear(784, 10)\nfc = nn.ReLU()", "1x784", "Line 2: the name 'fc' is already used on line 1"),
        ("forward = nn.ReLU()", "1x784", "the name 'forward'"),
        ("training = nn.ReLU()", "1x784", "the name 'training'"),
        ("nn.Dropout(p=2.0)", "1x784", "Line 1: nn.Dropout(p=2.0) was refused by PyTorch"),
        (
            "nn.Linear(784, 256)\nnn.ReLU()\nnn.Linear(128, 10)",
            "1x784",
            "Layer 'linear2' (Linear, line 3) expects input (*, 128) but got (1, 256)",
        ),
        ("nn.Conv2d(3, 8, 3)", "1x784", "Layer 'conv2d1' (Conv2d, line 1) expects input (N, 3, H, W) but got (1, 784)"),
        ("nn.Bilinear(3, 5, 2)", "1x3", "needs two inputs"),
        ("\n".join(["nn.ReLU()"] * 65), "1x784", "65 layers; at most 64"),
        ("nn.Linear(1000000000, 1000000000)", "1x784", "at most 50,000,000"),
        ("nn.Linear(784, 8000)\nnn.Linear(8000, 8000)", "1x784", "at most 50,000,000"),
        ("nn.Embedding(100000000, 1)", "1x3", "at most 50,000,000"),
        (
            "nn.Unflatten(1, (1, 28, 28))\nnn.Upsample(scale_factor=1000)",
            "1x784",
            "Layer 'upsample1' (line 2) would output",
        ),
        ("nn.Linear(4096, 4096)\nnn.Linear(4096, 4096)", "4096x4096", "GFLOPs for one forward pass"),
        ("nn.Linear(784, 10)", "0x784", "input shape (0, 784)"),
        ("nn.Linear(784, 10)", "1x-784", "input shape (1, -784)"),
        ("nn.Linear(784, 10)", "100000x100000", "at most 16,777,216"),
        ("nn.Linear(784, 10)", "99999999999999999999x1", "more than 12 digits"),
        ("nn.Linear(784, 10)", "one by 784", "not a list of whole numbers"),
        ("nn.Linear(784, 10)", "", "not a list of whole numbers"),
    ],
)
def test_bad_input_raises_lab_error(text, shape, message):
    with pytest.raises(LabError) as info:
        explore(text, "sequential", shape)
    assert message in str(info.value)
    assert "\n" not in str(info.value)  # one sentence, one line


@pytest.mark.parametrize(
    "text", ["nn.AdaptiveAvgPool2d(8000)", "nn.Upsample(size=(8000, 8000))", "nn.Upsample(scale_factor=2000)"]
)
def test_parameter_free_blow_up_is_refused_on_meta(text, monkeypatch):
    """A layer without weights that would output 192 M floats (768 MB) is refused by the meta pass, never run."""
    devices = []
    real = compose.cost.forward_report

    def spy(model, shapes, **kwargs):
        report = real(model, shapes, **kwargs)
        devices.append(report.inputs[0].device.type)
        return report

    monkeypatch.setattr(compose.cost, "forward_report", spy)
    with pytest.raises(LabError, match="would output"):
        explore(text, "sequential", "1x3x4x4")
    assert devices == ["meta"]  # one forward, on the meta device, then the refusal


def test_refusal_happens_before_allocation(monkeypatch):
    """A too-big layer is refused on the meta device: its real constructor never runs."""
    calls = []
    real = nn.Linear.__init__

    def spy(self, *args, **kwargs):
        calls.append(torch.get_default_device())
        real(self, *args, **kwargs)

    monkeypatch.setattr(nn.Linear, "__init__", spy)
    with pytest.raises(LabError):
        parse_layers("nn.Linear(100000, 100000)")
    assert calls and all(d.type == "meta" for d in calls)


@pytest.mark.parametrize(
    ("text", "shape"),
    [("1x784", (1, 784)), ("1, 784", (1, 784)), ("(2, 3, 32, 32)", (2, 3, 32, 32)), ("4 10", (4, 10))],
)
def test_parse_shape_forms(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("value", [None, 784, 1.5, object()])
def test_parse_shape_refuses_non_text(value):
    with pytest.raises(LabError, match="is not a shape"):
        parse_shape(value)


def test_bad_style_raises():
    with pytest.raises(LabError, match="Style is 'keras'; one of 'sequential'"):
        build(compose.DEFAULT_LAYERS, "keras")


def test_pitfall_bare_modulelist_raises_and_loop_works():
    pitfall = compose.PITFALLS["modulelist_forward"]()
    assert pitfall.wrong.error.startswith("NotImplementedError") and "forward" in pitfall.wrong.error
    assert pitfall.right.value == "output (1, 10)"
    assert "class ListNet(nn.Module)" in pitfall.right_code and "layers(x)" in pitfall.wrong_code
    with pytest.raises(NotImplementedError):
        nn.ModuleList([nn.ReLU()])(torch.zeros(1))


def test_pitfall_moduledict_keeps_insertion_order():
    pitfall = compose.PITFALLS["moduledict_order"]()
    assert pitfall.facts == {"inserted": "['linear', 'act', 'output']", "sorted": "['act', 'linear', 'output']"}
    assert pitfall.right.value == pitfall.facts["inserted"] and pitfall.section == "5.1.4"


LAYER_WORDS = st.sampled_from(
    ["nn.", "Linear", "ReLU", "(", ")", ",", "=", "fc1", "784", "-1", "'x'", "\n", " ", "*", "."]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=80), st.lists(LAYER_WORDS, max_size=30).map("".join)))
def test_any_text_parses_or_raises_lab_error(text):
    """Whatever a person types, the parser answers with specs or a LabError, never another exception."""
    try:
        specs = parse_specs(text)
    except LabError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(s.cls in compose.LAYERS.values() for s in specs)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_any_shape_text_parses_or_raises_lab_error(text):
    try:
        shape = parse_shape(text)
    except LabError:
        return
    assert all(isinstance(s, int) and s > 0 for s in shape)


def test_deep_nesting_is_refused():
    with pytest.raises(LabError):
        parse_specs("nn.Linear(" + "(" * 5000 + ")" * 5000 + ")")


ARG = st.sampled_from(
    ["0", "1", "2", "3", "8", "784", "-1", "0.5", "2.0", "True", "None", "'x'", "'bilinear'", "(2, 2)", "100000"]
    + ["1e30", "(0, 1)", "'same'", "'reflect'", "-5", "(1, 2, 3)", "False"]
)
KWARG = st.sampled_from(
    ["", "inplace", "bias", "dim", "stride", "padding", "p", "mode", "scale_factor", "kernel_size", "groups"]
    + ["dilation", "output_padding", "size", "align_corners", "padding_mode", "return_indices", "ceil_mode"]
    + ["padding_idx", "max_norm", "beta", "threshold", "momentum", "eps", "affine", "track_running_stats"]
    + ["start_dim", "end_dim", "unflattened_size", "num_parameters", "divisor_override", "approximate"]
)


@st.composite
def layer_lines(draw):
    """Random layer stacks from the allow-list with random (often wrong) literal arguments."""
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        name = draw(st.sampled_from(sorted(compose.LAYERS)))
        args = draw(st.lists(ARG, max_size=3))
        kwargs = [f"{k}={draw(ARG)}" for k in draw(st.lists(KWARG, max_size=2, unique=True)) if k]
        lines.append(f"nn.{name}({', '.join(args + kwargs)})")
    return "\n".join(lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layer_lines(), st.sampled_from(["1x784", "2x3x8x8", "1x8", "2x8x5"]))
def test_random_stacks_run_or_raise_lab_error(text, shape):
    """Any allowed layers with any literal arguments: a result, or a LabError, never an internal error."""
    try:
        result = explore(text, "moduledict", shape)
    except LabError as exc:
        assert "\n" not in str(exc)
    else:
        assert (result.equivalence["diff_copied"] == 0).all()


@pytest.mark.parametrize(
    "call",
    [
        lambda big: build("nn.ReLU()", big),
        lambda big: to_code("nn.ReLU()", big),
        lambda big: parse_shape(big),
        lambda big: parse_layers(big[:100] + " = nn.ReLU()"),
        lambda big: explore("nn.Linear(" + ", ".join(["1"] * 3000) + ")", "sequential", "1x1"),
        lambda big: summary(nn.Linear(2, 2), big),
        lambda big: summary(nn.Linear(2, 2), [tuple([1] * 50_000)]),
    ],
)
def test_messages_never_echo_huge_values(call):
    with pytest.raises(LabError) as info:
        call("x" * 100_000)
    assert len(str(info.value)) < 300


# --- the tutorial's listings, pasted as printed (issue 14) -------------------------------------------------------

LISTINGS = {
    "sequential": ("5.1.2 nn.Sequential listing", [None, None, None], [4, 5, 6]),
    "ordereddict": ("5.1.2 OrderedDict listing", ["fc1", "relu1", "fc2"], [4, 5, 6]),
    "modulelist": ("5.1.3 ModuleList listing", [None, None, None], [1, 1, 2]),
    "moduledict": ("5.1.4 ModuleDict listing", ["linear", "act", "output"], [2, 3, 5]),
}


@pytest.mark.parametrize("form", sorted(LISTINGS))
def test_the_tutorial_listings_parse_as_printed(form):
    label, names, lines = LISTINGS[form]
    specs = parse_specs(compose.EXAMPLES[label][0])
    assert [s.name for s in specs] == names and [s.line for s in specs] == lines
    assert [s.call_code() for s in specs] == ["nn.Linear(784, 256)", "nn.ReLU()", "nn.Linear(256, 10)"]


def test_the_tutorial_printouts_come_out_of_the_pasted_listings():
    """5.1.2 prints `(0): Linear(...)`, its OrderedDict version `(fc1): Linear(...)`: the same from the pasted text."""
    plain = str(build(compose.EXAMPLES["5.1.2 nn.Sequential listing"][0], "sequential"))
    named = str(build(compose.EXAMPLES["5.1.2 OrderedDict listing"][0], "ordereddict"))
    assert plain.splitlines()[1] == "  (0): Linear(in_features=784, out_features=256, bias=True)"
    assert named.splitlines()[1:4] == ["  (fc1): Linear(in_features=784, out_features=256, bias=True)",
                                       "  (relu1): ReLU()",
                                       "  (fc2): Linear(in_features=256, out_features=10, bias=True)"]  # fmt: skip


@pytest.mark.parametrize(("text", "names"), [
    ("net = nn.Sequential(OrderedDict([('a', nn.ReLU()), ('b', nn.Tanh())]))", ["a", "b"]),
    ("net = torch.nn.Sequential(collections.OrderedDict({'a': nn.ReLU()}))", ["a"]),
    ("nn.Sequential(nn.ReLU(),\n              nn.Tanh())", [None, None]),
    ("self.net = nn.ModuleList()\nself.net.append(nn.ReLU())", None),  # self.net.append: not a known container
    ("net = nn.ModuleList()\nnet.append(nn.ReLU())\nnet.extend([nn.Tanh(), nn.ReLU()])", [None, None, None]),
    ("net = nn.ModuleDict(OrderedDict([('a', nn.ReLU())]))\nnet['b'] = nn.Tanh()\nnet['a']\nnet.b", ["a", "b"]),
    ("from torch import nn\nimport collections\nnet = nn.ModuleDict([('a', nn.ReLU())])\nprint(net['a'])", ["a"]),
])  # fmt: skip
def test_container_forms(text, names):
    if names is None:
        with pytest.raises(LabError, match="Line 2: `self.net.append"):
            parse_specs(text)
        return
    assert [s.name for s in parse_specs(text)] == names


@pytest.mark.parametrize(("text", "message"), [
    ("net = nn.ModuleList([nn.ReLU()])\nnet.insert(0, nn.ReLU())", "Line 2: `net.insert(0, nn.ReLU())` is not a layer"),
    ("net = nn.ModuleList([nn.ReLU()])\nnet['a'] = nn.ReLU()", "Line 2: `net['a'] = nn.ReLU()` is not a layer"),
    ("net = nn.Sequential(\n    nn.ReLU(),\n    os.system('ls'),\n)", "Line 3: `os.system` is not an allowed layer"),
    ("net = nn.Sequential(\n    nn.ReLU(),\n    nn.Sequential(nn.ReLU()),\n)",
     "Line 3: `nn.Sequential` is not an allowed"),
    ("net = nn.ModuleDict({'a': nn.ReLU(), k: nn.ReLU()})", "Line 1: `{'a': nn.ReLU(), k: nn.ReLU()}` is not a layer"),
    ("net = nn.Sequential(*layers)", "Line 1: `nn.Sequential(*layers)` is not a layer"),
    ("x = nn.Linear(784, 10)\nx.weight = 3", "Line 2: `x.weight = 3` is not a layer"),
    ("print(net)\nnet2[0]", "Line 2: `net2[0]` is not a layer call"),
    ("nn.Sequential(" + "nn.ReLU(), " * 65 + ")", "65 layers; at most 64"),
    ("net = nn.ModuleList([" + "nn.ReLU(), " * 40 + "])\n" + "net.append(nn.ReLU())\n" * 25, "65 layers; at most 64"),
])  # fmt: skip
def test_other_names_calls_and_attributes_stay_refused_with_the_line(text, message):
    with pytest.raises(LabError) as info:
        parse_specs(text)
    assert message in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(("text", "args"), [
    ("nn.Linear(16 * 5 * 5, 120)", (400, 120)),
    ("nn.Linear(784 // 2, 256 - 6 + 10)", (392, 260)),
    ("nn.Conv2d(3, 8, kernel_size=(2 + 1, -(-3)))", (3, 8)),
    ("nn.Dropout(1 / 4)", (0.25,)),
    ("nn.Linear(7 % 4, 2)", (3, 2)),
])  # fmt: skip
def test_literal_arithmetic_is_computed(text, args):
    spec = parse_specs(text)[0]
    assert spec.args[: len(args)] == args
    if "kernel_size" in text:
        assert spec.kwargs == {"kernel_size": (3, 3)}


@pytest.mark.parametrize(("text", "message"), [
    ("nn.Linear(2 ** 10, 3)", "Line 1: argument `2 ** 10` of nn.Linear is not a literal"),
    ("nn.Linear(9 ** 9 ** 9, 3)", "is not a literal"),  # refused before anything is computed
    ("nn.Linear(1 // 0, 2)", "Line 1: `1 // 0` in nn.Linear divides by zero."),
    ("nn.Linear(99999999999 * 99999999999, 2)", "out of range; whole numbers from -2,147,483,647"),
    ("nn.Linear(" + " * ".join(["4294967296"] * 40) + ", 2)", "out of range"),
    ("nn.Linear(" + " + ".join(["1"] * 400) + ", 2)", "is not a literal"),  # nested too deeply
    ("nn.Linear(2147483647 + 1, 2)", "an argument of nn.Linear, 2,147,483,648, is out of range"),
    ("nn.Linear('a' * 3, 2)", "is not a literal"),
    ("nn.Linear(True + 1, 2)", "is not a literal"),
    ("nn.Dropout(1e308 * 10)", "is not accepted; use finite numbers"),
    ("nn.Linear(n * 2, 2)", "Line 1: argument `n * 2` of nn.Linear is not a literal"),
    ("nn.Linear(784, 10)\nnn.Linear(int(10), 2)", "Line 2: argument `int(10)` of nn.Linear is not a literal"),
])  # fmt: skip
def test_arithmetic_is_bounded_and_names_stay_refused(text, message):
    with pytest.raises(LabError) as info:
        parse_specs(text)
    assert message in str(info.value)
