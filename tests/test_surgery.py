"""lab.surgery (tutorial 5.3): every architecture x operation, against hand-computed parameter deltas.

Shapes and counts of all five ResNets come from meta-device models (no memory, no compute); gradients,
values and the extra input's effect from real models on 32x32 inputs.
"""

from __future__ import annotations

import copy
import functools
import inspect

import pytest
import torch
import torch.nn as nn

from lab import surgery as S
from lab.errors import LabError, render
from tests.conftest import run_code

# CUDA convolutions may use TF32 and other algorithms than the CPU: the code panel runs on CUDA when present
TOL = dict(rtol=1e-3, atol=1e-3) if torch.cuda.is_available() else dict(rtol=1e-5, atol=1e-5)

# torchvision's published parameter counts (random init has the same shapes)
TOTALS = {"resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
          "resnet152": 60_192_808}
OPERATIONS = {
    "head": dict(new_head=True, hidden=(128,)),
    "head-2-hidden": dict(new_head=True, hidden=(256, 64), num_classes=7),
    "extra-input": dict(new_head=False, num_extra=3),
    "extra-input-head": dict(new_head=True, hidden=(32,), num_extra=1),
    "extra-output": dict(new_head=False, extra_output=True),
    "input-and-output": dict(new_head=True, hidden=(16,), num_extra=2, extra_output=True),
    "freeze": dict(new_head=True, hidden=(128,), freeze=True),
    "freeze-only": dict(new_head=False, freeze=True),
}


def linear(i: int, o: int) -> int:
    return i * o + o


def head_params(width: int, hidden: tuple[int, ...], classes: int) -> int:
    sizes = (width, *hidden, classes)
    return sum(linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False))


def expected_counts(arch: str, s: S.Surgery) -> tuple[int, int]:
    """(total, trainable) by hand: the stock net, minus the 1000-class fc, plus the new head."""
    width = S.FEATURES[arch]
    fc = linear(width, 1000)
    head = head_params(width + s.num_extra, s.hidden, s.num_classes) if s.changes_output else fc
    total = TOTALS[arch] - fc + head
    return total, (head if s.freeze else total)


@functools.cache
def _meta_stock(arch: str) -> nn.Module:
    with torch.device("meta"):
        return S.resnet(arch)


def meta_model(s: S.Surgery) -> nn.Module:
    """The operated model on the meta device: shapes and counts, no memory, no compute."""
    with torch.device("meta"):
        return S.apply(copy.deepcopy(_meta_stock(s.arch)), s)


def counts(model: nn.Module) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


@pytest.mark.parametrize("arch", S.ARCHS)
def test_stock_counts_and_feature_width(arch):
    with torch.device("meta"):
        net = S.resnet(arch)
    assert counts(net) == (TOTALS[arch], TOTALS[arch])
    assert S.feature_dim(net) == S.FEATURES[arch] == net.fc.in_features


@pytest.mark.parametrize("op", OPERATIONS)
@pytest.mark.parametrize("arch", S.ARCHS)
def test_every_arch_and_operation_shapes_and_counts(arch, op):
    s = S.Surgery(arch=arch, **OPERATIONS[op])
    model = meta_model(s)
    assert counts(model) == expected_counts(arch, s)
    x = torch.empty(2, 3, 64, 64, device="meta")
    out = model(x, torch.empty(2, s.num_extra, device="meta")) if s.num_extra else model(x)
    outs = out if isinstance(out, tuple) else (out,)
    classes = s.num_classes if s.changes_output else 1000
    want = [(2, classes)] + ([(2, S.FEATURES[arch])] if s.extra_output else [])
    assert [tuple(o.shape) for o in outs] == want


def test_replace_head_is_the_ordereddict_head_returning_logits():
    with torch.device("meta"):
        net = S.replace_head(S.resnet("resnet50"), (128,), 10, 0.5)
    assert list(net.fc._modules) == ["fc1", "relu1", "dropout1", "fc2"]  # the tutorial's names, no Softmax
    assert not any(isinstance(m, nn.Softmax) for m in net.modules())
    assert net.fc.dropout1.p == 0.5 and net.fc.fc1.in_features == 2048
    # the tutorial's head keys (minus the parameter-free Softmax) load into ours
    assert set(S.tutorial_head(2048, 10).state_dict()) == set(net.fc.state_dict())


FREEZE_ALL = dict(new_head=True, hidden=(16,), num_extra=2, extra_output=True, freeze=True)


@pytest.mark.parametrize("op", ["freeze", "freeze-only", "input-and-output"])
@pytest.mark.parametrize("arch", S.ARCHS)
def test_frozen_parameters_get_no_gradient(arch, op):
    """Which parameters backward reaches, on the meta device (autograd runs there, without numbers)."""
    s = S.Surgery(arch=arch, **{**OPERATIONS[op], "freeze": True})
    model = meta_model(s)
    x = torch.empty(2, 3, 32, 32, device="meta")
    out = model(x, torch.empty(2, s.num_extra, device="meta")) if s.num_extra else model(x)
    sum(o.sum() for o in (out if isinstance(out, tuple) else (out,))).backward()
    for name, p in model.named_parameters():
        trainable = name == "fc" or name.startswith("fc.")
        assert p.requires_grad == trainable and (p.grad is not None) == trainable, name


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])  # one BasicBlock, one Bottleneck net: real numbers
def test_extra_input_changes_the_output_and_only_the_head_learns(arch):
    torch.manual_seed(0)
    s = S.Surgery(arch=arch, **FREEZE_ALL)
    model = S.apply(S.resnet(arch), s).eval()  # eval: BatchNorm with a 1x1 map and small batch
    x, extra = torch.randn(2, 3, 32, 32), torch.randn(2, 2)
    logits, features = model(x, extra)
    (logits.sum() + features.sum()).backward()
    for name, p in model.named_parameters():
        if name.startswith("fc."):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:
            assert p.grad is None, name
    with torch.no_grad():
        again, same_features = model(x, extra + 1.0)
    assert not torch.allclose(again, logits)  # the extra input reaches the output
    assert torch.equal(same_features, features)  # ...and not the backbone


def test_extra_input_accepts_n_and_casts_dtype():
    torch.manual_seed(0)
    model = S.WithExtraInput(S.resnet("resnet18"), num_extra=1, num_classes=4).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        a = model(x, torch.tensor([1, 2, 3]))  # int64 (N,), as 5.3.2's add_variable
        b = model(x, torch.tensor([[1.0], [2.0], [3.0]]))
        c = model(x, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))  # a numpy array's dtype
    assert a.shape == (3, 4) and torch.allclose(a, b) and torch.allclose(a, c) and c.dtype == torch.float32
    with pytest.raises(LabError, match=r"shape \(3, 2\).*\(3, 1\) or \(3,\)"):
        model(x, torch.zeros(3, 2))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_extra_input_left_on_the_cpu_follows_the_model_to_cuda():
    device = torch.device("cuda")
    model = S.WithExtraInput(S.resnet("resnet18"), 1, 3).to(device).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32, device=device), torch.tensor([1, 2]))  # int64, on the CPU
    assert out.device.type == "cuda" and out.dtype == torch.float32


def test_eval_frozen_batchnorm_keeps_running_statistics():
    torch.manual_seed(0)
    model = S.freeze(S.replace_head(S.resnet("resnet18"), (8,), 3, 0.5)).train()
    S.eval_frozen_batchnorm(model)
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms) and model.fc.training  # the head still trains
    before = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32) * 3 + 1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    unfrozen = S.replace_head(S.resnet("resnet18"), (8,), 3, 0.5).train()
    S.eval_frozen_batchnorm(unfrozen)  # nothing frozen: every BatchNorm keeps training
    assert all(m.training for m in unfrozen.modules() if isinstance(m, nn.BatchNorm2d))


def test_forward_check_before_is_the_untouched_resnet():
    s = S.Surgery(arch="resnet18", num_extra=2, extra_output=True)
    built = S.build(s, seed=3)
    table, outs = S.forward_check(built, S.dummy_batch(s, 2, 64))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        stock = S.resnet("resnet18").eval()
    with torch.no_grad():
        want = stock(S.dummy_batch(s, 2, 64)[0])
    assert torch.allclose(outs["before"], want, atol=1e-5)
    assert table[["model", "kind", "name", "shape"]].values.tolist() == [
        ["before", "input", "x", "(2, 3, 64, 64)"], ["before", "output", "logits", "(2, 1000)"],
        ["after", "input", "x", "(2, 3, 64, 64)"], ["after", "input", "extra", "(2, 2)"],
        ["after", "output", "logits", "(2, 10)"], ["after", "output", "features", "(2, 512)"]]


def test_changes_mark_only_the_after_model():
    built = S.build(S.Surgery(arch="resnet18", freeze=True))
    changes = S.changed_parts(built.before, built.before_children, built.model)
    assert list(changes.before.columns) == ["name", "type", "params", "trainable"]  # the untouched model: no marks
    assert dict(zip(changes.after["name"], changes.after["change"], strict=True)) == {
        "conv1": "frozen", "bn1": "frozen", "relu": "", "maxpool": "", "layer1": "frozen", "layer2": "frozen",
        "layer3": "frozen", "layer4": "frozen", "avgpool": "", "fc": "replaced"}
    assert [n for n, _ in changes.replaced] == ["fc"] and changes.replaced[0][1].startswith("Linear(in_features=512")
    assert [n for n, _ in changes.added] == ["fc"] and changes.added[0][1].startswith("Sequential(")
    assert changes.retrained == ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4") and not changes.signature
    assert changes.after["trainable"].sum() == linear(512, 128) + linear(128, 10)

    wrapped = S.build(S.Surgery(arch="resnet18", new_head=False, extra_output=True))
    changes = S.changed_parts(wrapped.before, wrapped.before_children, wrapped.model)
    assert dict(zip(changes.after["name"], changes.after["change"], strict=True))["net.fc"] == "replaced"
    assert changes.after["change"].iloc[-1] == "new"
    assert changes.signature == "WithExtraOutput: forward(x) -> logits, features"

    untouched = S.build(S.Surgery(arch="resnet18", new_head=False))
    changes = S.changed_parts(untouched.before, untouched.before_children, untouched.model)
    assert not changes.after["change"].any() and not changes.replaced and not changes.added


@pytest.mark.parametrize("op", ["head", "extra-input-head", "input-and-output", "freeze", "freeze-only"])
def test_code_panel_rebuilds_the_same_model(op):
    s = S.Surgery(arch="resnet18", **OPERATIONS[op])
    built = S.build(s)
    code_device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # the code panel's own choice
    _, outs = S.forward_check(built, S.dummy_batch(s, 2, 32), code_device)
    ns = run_code(S.to_code(s, 2, 32))
    model = ns["model"]
    assert counts(model) == counts(built.model) == expected_counts("resnet18", s)
    assert list(model.state_dict()) == list(built.model.state_dict())
    got = ns["outputs"]
    want = [outs["logits"]] + ([outs["features"]] if s.extra_output else [])
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert torch.allclose(g.cpu(), w.cpu(), **TOL)  # same seed, same weights, same numbers


def test_code_panel_prints_the_lab_s_own_source_without_its_input_checks():
    s = S.Surgery(arch="resnet18", num_extra=2, extra_output=True, freeze=True)
    code = S.to_code(s, 2, 32)
    for block in (S.make_head, S.feature_dim, S.WithExtraInput, S.freeze, S.eval_frozen_batchnorm):
        assert S.printed(block) in code
    assert S.code.CHECK_MARK not in code and "check_" not in code and "LabError" not in code
    assert "lab" not in {line.split()[1].split(".")[0] for line in code.splitlines()
                         if line.startswith(("import ", "from "))}  # fmt: skip
    # the lines left out only check: each is marked, and each calls a check or raises
    for block in (S.make_head, S.feature_dim, S.WithExtraInput, S.freeze):
        for line in inspect.getsource(block).splitlines():
            if line.rstrip().endswith(S.code.CHECK_MARK):
                assert "check" in line.lower(), line


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=1), "Classes is 1; a whole number from 2 to 10,000 is accepted."),
    (dict(num_classes=10_001), "Classes is 10001; a whole number from 2 to 10,000"),
    (dict(num_classes=2.5), "Classes is 2.5"),
    (dict(hidden="0"), "Hidden sizes is '0'; up to 4 whole numbers from 1 to 4,096"),
    (dict(hidden="4097"), "Hidden sizes is '4097'"), (dict(hidden="12, x"), "Hidden sizes is '12, x'"),
    (dict(hidden="1,2,3,4,5"), "up to 4 whole numbers"), (dict(num_extra=-1), "Extra-input size is -1"),
    (dict(num_extra=1025), "Extra-input size is 1025; a whole number from 0 to 1,024"),
    (dict(dropout=1.0), "Dropout is 1.0; a number from 0 to 0.95"), (dict(arch="vgg16"), "Architecture is 'vgg16'"),
    (dict(freeze="yes"), "Freeze is 'yes'; True or False"),
])
def test_bad_surgery_is_a_lab_error_naming_the_field(kwargs, message):
    with pytest.raises(LabError) as info:
        S.Surgery(**kwargs)
    assert message in str(info.value)
    chinese = render(info.value, "zh")
    assert chinese != str(info.value) and repr(next(iter(kwargs.values()))) in chinese


def test_bounds_of_classes_and_sizes_are_inclusive():
    s = S.Surgery(arch="resnet18", num_classes=10_000, hidden="4096 1", num_extra=1024)
    assert s.hidden == (4096, 1) and s.num_classes == 10_000
    assert S.Surgery(num_classes=2).num_classes == 2
    with pytest.raises(LabError, match="Extra-input size is 0; a whole number from 1 to 1,024"):
        S.WithExtraInput(nn.Module(), num_extra=0)
    with pytest.raises(LabError, match="Expected a torchvision ResNet"):
        S.WithExtraInput(nn.Module(), num_extra=1)


@pytest.mark.parametrize("batch, size, field", [(0, 64, "Batch size is 0"), (9, 64, "Batch size is 9"),
                                                (2, 31, "Image size is 31"), (2, 385, "Image size is 385")])
def test_dummy_batch_bounds(batch, size, field):
    with pytest.raises(LabError, match=field):
        S.dummy_batch(S.Surgery(), batch, size)


def test_freeze_refuses_a_name_that_matches_nothing():
    with torch.device("meta"):
        net = S.resnet("resnet18")
    with pytest.raises(LabError, match="'head' names no parameter.*conv1"):
        S.freeze(net, ("head",))
    S.freeze(net, ("layer4", "fc"))
    assert counts(net)[1] == counts(net.layer4)[0] + counts(net.fc)[0]


def test_weights_file_round_trip_and_wrong_architecture(tmp_path):
    torch.manual_seed(1)
    donor = S.resnet("resnet18")
    path = tmp_path / "r18.pth"
    torch.save({"module." + k: v for k, v in donor.state_dict().items()}, path)  # as DataParallel saves it
    built = S.build(S.Surgery(arch="resnet18"), str(path))
    assert built.loaded_into == "resnet" and built.load_report.renamed
    assert torch.equal(built.model.conv1.weight, donor.conv1.weight)
    assert torch.equal(built.original_fc.weight, donor.fc.weight)
    with pytest.raises(LabError, match=r"'r18.pth' does not fit resnet50: .*(missing|mismatched)"):
        S.build(S.Surgery(arch="resnet50"), str(path))
    with pytest.raises(LabError, match="does not fit resnet34"):
        S.resnet("resnet34", str(path))
    view = S.view("resnet18", size=32, weights_path=str(path))
    assert view.load.count == len(donor.state_dict()) and view.load.name == "r18.pth" and view.load.target == "resnet"
    assert view.load.fixes and "'r18.pth'" in view.code and "net.load_state_dict(" in view.code


def test_weights_saved_after_surgery_load_into_the_operated_model(tmp_path):
    s = S.Surgery(arch="resnet18", num_extra=2, hidden=(8,))
    first = S.build(s, seed=5)
    path = tmp_path / "surgery.safetensors"
    from lab import checkpoints

    checkpoints.save(first.model, path)
    second = S.build(s, str(path), seed=6)
    assert second.loaded_into == "model"
    code = S.view("resnet18", hidden="8", extra_input=True, extra_size=2, size=32, weights_path=str(path)).code
    assert "# model.load_state_dict(load_file('surgery.safetensors'))" in code and "# net.load_state_dict" not in code
    assert "# from safetensors.torch import load_file" in code
    for (k, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def test_view_is_one_call_with_every_part_of_the_tab():
    view = S.view("resnet18", hidden="64", num_classes=5, extra_input=True, extra_size=2, freeze=True, batch=3,
                  size=32)  # fmt: skip
    assert view.surgery == S.Surgery(arch="resnet18", hidden=(64,), num_classes=5, num_extra=2, freeze=True)
    assert (view.batch, view.size, view.load) == (3, 32, None)
    assert view.before_counts == (TOTALS["resnet18"],) * 2
    assert view.after_counts == counts(view.model) == expected_counts("resnet18", view.surgery)
    after = view.forward[view.forward["model"] == "after"]
    assert after[["kind", "name", "shape"]].values.tolist() == [
        ["input", "x", "(3, 3, 32, 32)"], ["input", "extra", "(3, 2)"], ["output", "logits", "(3, 5)"]]
    assert view.code == S.to_code(view.surgery, 3, 32)
    # the view's arguments are plain values: a cache can key on them
    hash((view.surgery, view.batch, view.size))


def test_parse_hidden_refuses_none_and_non_sequences():
    """Issue 9, F10: a Textbox sent JSON null is a sentence (None is refused; "" and () mean no hidden layer)."""
    with pytest.raises(LabError, match=r"Hidden sizes is None; .*\(an empty text for no hidden layer\)"):
        S.parse_hidden(None)
    with pytest.raises(LabError, match="Hidden sizes is 128; up to 4 whole numbers"):
        S.parse_hidden(128)
    assert S.parse_hidden("") == S.parse_hidden(()) == ()
    assert S.parse_hidden("512; 128") == S.parse_hidden([512, "128"]) == (512, 128)


def test_long_values_are_quoted_short():
    """Issue 9, F6: the 100 kB hidden field came back twice (200 kB); now 60 characters and its length."""
    for make in (lambda: S.parse_hidden("x" * 100_000), lambda: S.resnet("x" * 100_000),
                 lambda: S.Surgery(num_classes="x" * 100_000)):
        with pytest.raises(LabError, match=r"\(100000 characters\)") as info:
            make()
        assert len(str(info.value)) < 600
