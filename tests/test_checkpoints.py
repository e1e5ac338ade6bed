"""lab.checkpoints (tutorial 5.4): formats, safe loading, prefix fixes, DDP on the CPU, the four cases, pitfalls."""

from __future__ import annotations

import argparse
import copy
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lab import checkpoints as ck
from lab.device import pick_device
from lab.errors import LabError

DEVICE = pick_device()  # CUDA where present: wrappers and map_location take their real paths there


class Hostile:
    """Unpickling this would create a file: the stand-in for any code a pickle can run."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def small_net() -> nn.Module:
    # conv + BatchNorm (buffers, num_batches_tracked metadata) + linear: the shapes of a real CNN in miniature
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    ).eval()


def same_weights(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k].cpu(), b[k].cpu()) and a[k].dtype == b[k].dtype for k in a)


@pytest.fixture(scope="module", autouse=True)
def _gloo_group_cleanup():
    yield
    ck.shutdown_process_group()


@pytest.fixture
def net():
    torch.manual_seed(0)
    model = small_net()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so buffers are checked too
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    return model.to(DEVICE)


# ---------------------------------------------------------------------------------------------- save / load


@pytest.mark.parametrize("fmt", ck.FORMATS)
def test_state_dict_roundtrip_is_bit_identical(net, tmp_path, fmt):
    path = ck.save(net, tmp_path / f"w{fmt}")
    assert path.exists() and not list(tmp_path.glob(".*.tmp"))
    assert same_weights(net.state_dict(), dict(ck.load(path)))


def test_safetensors_keeps_tied_weights_and_dtypes(tmp_path):
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)).to(torch.float64)
    model[1].weight = model[0].weight  # tied, as in language models
    path = ck.save(model, tmp_path / "tied.safetensors")
    loaded = ck.load(path)
    assert same_weights(model.state_dict(), loaded)


@pytest.mark.parametrize("fmt", (".pt", ".pth", ".pkl"))
def test_whole_model_needs_trust(net, tmp_path, fmt):
    path = ck.save(net, tmp_path / f"whole{fmt}", what="model")
    with pytest.raises(LabError, match="whole model"):
        ck.load(path)
    back = ck.load(path, trusted=True)
    assert isinstance(back, nn.Sequential) and same_weights(net.state_dict(), back.state_dict())


@pytest.mark.parametrize("what", ("model", "checkpoint"))
def test_safetensors_refuses_more_than_weights(net, tmp_path, what):
    with pytest.raises(LabError, match="tensors only"):
        ck.save(net, tmp_path / "x.safetensors", what=what)


def test_training_checkpoint_loads_safely_with_args_as_dict(net, tmp_path):
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    net.train()
    net(torch.randn(2, 3, 8, 8, device=DEVICE)).sum().backward()
    opt.step()
    sched.step()
    args = argparse.Namespace(lr=0.1, epochs=10, arch="small")
    path = ck.save(net, tmp_path / "ckpt.pth", what="checkpoint", optimizer=opt, scheduler=sched, epoch=4, args=args)
    obj = ck.load(path)  # weights_only=True: a Namespace would have been refused
    assert obj["epoch"] == 4 and obj["args"] == {"lr": 0.1, "epochs": 10, "arch": "small"}
    assert same_weights(net.state_dict(), obj["model"])
    opt2 = torch.optim.SGD(small_net().to(DEVICE).parameters(), lr=0.1, momentum=0.9)
    opt2.load_state_dict(obj["optimizer"])
    assert torch.equal(
        opt2.state_dict()["state"][0]["momentum_buffer"], opt.state_dict()["state"][0]["momentum_buffer"]
    )
    assert obj["lr_scheduler"]["last_epoch"] == 1
    fresh = ck.randomized_copy(net)
    report = ck.load_into(fresh, path)
    assert report.ok and "'model'" in report.notes[0]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"what": "weights"}, "What to save is 'weights'; one of 'state_dict', 'model', 'checkpoint' is accepted"),
        ({"epoch": -1}, "Field 'epoch'"),
        ({"what": "checkpoint", "args": {"f": print}}, "Field 'args'"),
    ],
)
def test_save_rejects_bad_options(net, tmp_path, kwargs, match):
    with pytest.raises(LabError, match=match):
        ck.save(net, tmp_path / "x.pt", **kwargs)


def test_save_rejects_unknown_suffix(net, tmp_path):
    with pytest.raises(LabError, match=r"\.ckpt"):
        ck.save(net, tmp_path / "x.ckpt")


def test_failed_save_leaves_old_file_and_no_temp(net, tmp_path):
    path = ck.save(net, tmp_path / "keep.pt")
    before = path.read_bytes()

    class Local(nn.Module):  # a local class cannot be pickled
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

    with pytest.raises(LabError, match="cannot be pickled"):
        ck.save(Local(), path, what="model")
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.pt"]


# ---------------------------------------------------------------------------------------------- hostile and bad files


def test_hostile_zip_pickle_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "payload": Hostile(str(target))}, path)
    assert not target.exists()
    with pytest.raises(LabError, match="run code"):
        ck.load(path)
    with pytest.raises(LabError, match="run code"):
        ck.load_into(nn.Linear(2, 1), path)
    assert not target.exists()


def test_hostile_plain_pickle_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Hostile(str(target)), protocol=2))
    with pytest.raises(LabError, match="run code"):
        ck.load(path)
    assert not target.exists()


def test_state_dict_without_parentheses_is_refused(net, tmp_path):
    path = tmp_path / "bound.pt"
    torch.save(net.state_dict, path)
    with pytest.raises(LabError, match="without parentheses"):
        ck.load(path)


def _zip_with_huge_claim(src, dst):
    # rewrite the pickled storage size 1000 (BININT2) as 2**30 elements: a 4 GiB claim in a 4 kB file
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for name in zin.namelist():
            data = zin.read(name)
            if name.endswith("data.pkl"):
                assert data.count(b"M\xe8\x03") == 2
                data = data.replace(b"M\xe8\x03", b"J\x00\x00\x00\x40")
            zout.writestr(name, data)


def _bad_files(tmp_path, good_pt, good_st):
    raw = good_pt.read_bytes()
    st_raw = good_st.read_bytes()
    files = {
        "empty.pt": b"",
        "truncated.pt": raw[: len(raw) // 2],
        "corrupt.pt": raw[:200] + bytes(range(256)) * 4 + raw[1224:],
        "notes.txt.pt": b"these are my notes, not weights\n",
        "image.pth": b"\x89PNG\r\n\x1a\n" + bytes(64),
        "plain.pkl": pickle.dumps({"a": [1, 2, 3]}, protocol=2),
        "truncated.safetensors": st_raw[: len(st_raw) - 10],
        "huge_header.safetensors": struct.pack("<Q", 2**40) + b"{" + bytes(32),
        "bad_json.safetensors": struct.pack("<Q", 4) + b"{xx}",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    _zip_with_huge_claim(good_pt, tmp_path / "huge_claim.pt")
    legacy = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, legacy, _use_new_zipfile_serialization=False)  # pre-1.6 format
    (tmp_path / "huge_claim_legacy.pt").write_bytes(legacy.read_bytes().replace(b"M\xe8\x03", b"J\x00\x00\x00\x40"))
    return sorted(list(files) + ["huge_claim.pt", "huge_claim_legacy.pt"])


def test_bad_files_each_raise_one_sentence(tmp_path):
    good_pt = tmp_path / "good.pt"
    torch.save({"w": torch.zeros(1000)}, good_pt)
    good_st = ck.save(nn.Linear(30, 30), tmp_path / "good.safetensors")
    for name in _bad_files(tmp_path, good_pt, good_st):
        with pytest.raises(LabError) as info:
            obj = ck.load(tmp_path / name)
            # a claim mmap ignores is harmless only if the tensor is as small as the file says
            assert name == "huge_claim.pt" and obj["w"].numel() == 1000, name
            raise LabError("loaded with the true size")
        message = str(info.value)
        assert name in message or "true size" in message, message
        assert "\n" not in message


def test_legacy_format_still_loads(tmp_path, net):
    path = tmp_path / "old.pth"
    torch.save(net.state_dict(), path, _use_new_zipfile_serialization=False)
    assert same_weights(net.state_dict(), ck.load(path))


def test_missing_file_and_size_limit(tmp_path, net):
    with pytest.raises(LabError, match="does not exist"):
        ck.load(tmp_path / "nope.pt")
    path = ck.save(net, tmp_path / "w.pt")
    with pytest.raises(LabError, match="MiB are accepted"):
        ck.load(path, max_bytes=100)


# ---------------------------------------------------------------------------------------------- load_into


def _wrapped_state(net, how):
    if how == "plain":
        return net.state_dict()
    if how == "dataparallel":
        return nn.DataParallel(copy.deepcopy(net)).state_dict()
    if how == "ddp":
        return ck.parallel_wrap(copy.deepcopy(net), "ddp").state_dict()
    if how == "double":
        return nn.DataParallel(nn.DataParallel(copy.deepcopy(net))).state_dict()
    if how == "compiled":
        return torch.compile(copy.deepcopy(net)).state_dict()  # keys gain '_orig_mod.' without compiling
    if how == "checkpoint":
        return {"model": net.state_dict(), "optimizer": {"state": {}, "param_groups": []}, "epoch": 3}
    if how == "state_dict_key":
        return {"state_dict": net.state_dict(), "epoch": 1}
    if how == "model_state_dict":
        return {"model_state_dict": nn.DataParallel(copy.deepcopy(net)).state_dict(), "args": {"lr": 0.1}}
    if how == "mask_values":
        return {**net.state_dict(), "mask_values": [0, 1]}  # the tutorial U-Net's extra entry
    raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "prefix"),
    [
        ("plain", ""),
        ("dataparallel", "module."),
        ("ddp", "module."),
        ("double", "module.module."),
        ("compiled", "_orig_mod."),
        ("checkpoint", ""),
        ("state_dict_key", ""),
        ("model_state_dict", "module."),
        ("mask_values", ""),
    ],
)
def test_load_into_plain_model(net, how, prefix):
    state = _wrapped_state(net, how)
    fresh = ck.randomized_copy(net)
    assert not ck.outputs_equal(net, fresh)[0]
    report = ck.load_into(fresh, state)
    assert report.ok and not report.missing and not report.unexpected
    assert ck.outputs_equal(net, fresh)[0]
    assert bool(report.renamed) == bool(prefix)
    if prefix:
        assert repr(prefix) in report.renamed[0]
    if how == "mask_values":
        assert any("mask_values" in note for note in report.notes)


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_load_plain_dict_into_wrapped_model(net, wrapper):
    target = ck.parallel_wrap(ck.randomized_copy(net), wrapper)
    report = ck.load_into(target, net.state_dict())
    assert report.ok and "added leading 'module.'" in report.renamed[-1]
    assert ck.outputs_equal(net, target)[0]


def test_shape_mismatch_reported_not_crashing(net):
    other = small_net()
    other[5] = nn.Linear(4, 7)  # a different head: 3 classes -> 7
    other.to(DEVICE)
    with pytest.raises(LabError, match=r"mismatched \(5.weight: saved \(3, 4\) vs model \(7, 4\)"):
        ck.load_into(other, net.state_dict())
    before = copy.deepcopy(other.state_dict())
    assert same_weights(before, other.state_dict())  # strict failure changed nothing
    report = ck.load_into(other, net.state_dict(), strict=False)
    assert [m[0] for m in report.mismatched] == ["5.weight", "5.bias"]
    assert torch.equal(other[0].weight.cpu(), net[0].weight.cpu()) and torch.equal(other[5].weight, before["5.weight"])
    frame = report.to_frame()
    assert set(frame["status"]) == {"loaded", "mismatched"}


def test_missing_and_unexpected_listed(net):
    state = net.state_dict()
    state.pop("0.bias")
    state["extra.weight"] = torch.zeros(1)
    report = ck.compare(net, state)
    assert report.missing == ["0.bias"] and report.unexpected == ["extra.weight"] and not report.ok
    with pytest.raises(LabError, match="1 missing .*1 unexpected"):
        ck.load_into(net, state)


@pytest.mark.parametrize("bad", [torch.zeros(3), [1, 2], {"a": 1, "b": "x"}])
def test_no_weights_found(net, bad):
    with pytest.raises(LabError):
        ck.load_into(net, bad)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-z_]{1,6}(\.[a-z0-9_]{1,6}){0,3}", fullmatch=True), min_size=1, max_size=6, unique=True)
)
def test_prefix_helpers_touch_only_the_lead(keys):
    state = OrderedDict((k, torch.zeros(1)) for k in keys)
    wrapped = ck.add_prefix(state)
    assert list(wrapped) == ["module." + k for k in keys]
    assert list(ck.strip_prefix(wrapped)) == keys
    assert list(ck.strip_prefix(state)) == [k[7:] if k.startswith("module.") else k for k in keys]


def test_strip_prefix_keeps_inner_module_and_metadata():
    state = nn.DataParallel(nn.Sequential(nn.BatchNorm1d(2))).state_dict()
    state["module.backbone.module.weight"] = torch.zeros(1)
    stripped = ck.strip_prefix(state)
    assert "backbone.module.weight" in stripped and "0.running_mean" in stripped
    assert "0" in stripped._metadata and "module.0" not in stripped._metadata


# ---------------------------------------------------------------------------------------------- wrappers


def test_ddp_on_cpu_wraps_runs_and_restarts(net):
    ddp = ck.parallel_wrap(copy.deepcopy(net), "ddp")
    assert isinstance(ddp, nn.parallel.DistributedDataParallel)
    assert all(k.startswith("module.") for k in ddp.state_dict())
    assert ck.outputs_equal(net, ddp)[0]
    ck.shutdown_process_group()
    assert not torch.distributed.is_initialized()
    again = ck.parallel_wrap(copy.deepcopy(net), "ddp")  # a fresh group after shutdown
    assert torch.distributed.is_initialized() and ck.unwrap(again) is again.module


def test_parallel_wrap_rejects_unknown_and_frozen(net):
    with pytest.raises(LabError, match="Multi-GPU wrapper is 'fsdp'; one of 'dataparallel', 'ddp' is accepted"):
        ck.parallel_wrap(net, "fsdp")
    frozen = copy.deepcopy(net).requires_grad_(False)
    with pytest.raises(LabError, match="trainable"):
        ck.parallel_wrap(frozen, "ddp")


def test_unwrap_peels_every_layer(net):
    assert ck.unwrap(nn.DataParallel(nn.DataParallel(net))) is net
    assert ck.unwrap(torch.compile(net)) is net


# ---------------------------------------------------------------------------------------------- 5.4.4 cases


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
@pytest.mark.parametrize("saved", ("single", "multi"))
@pytest.mark.parametrize("loaded", ("single", "multi"))
def test_four_cases(net, tmp_path, saved, loaded, wrapper):
    result = ck.play_case(net, saved, loaded, tmp_path, wrapper=wrapper)
    assert result.equal and result.max_diff == 0.0 and result.diff_before > 0
    assert result.file_keys[0].startswith("module.") == (saved == "multi")
    assert result.model_keys[0].startswith("module.") == (loaded == "multi")
    assert bool(result.report.renamed) == (saved == "multi" and loaded == "single")


# ---------------------------------------------------------------------------------------------- sidecar config, facts


@pytest.mark.parametrize("fmt", (".pt", ".safetensors"))
def test_save_and_load_with_config(tmp_path, fmt):
    def build(in_features, out_features):
        return nn.Linear(in_features, out_features)

    model = build(5, 2)
    weights, sidecar = ck.save_with_config(model, tmp_path / f"lin{fmt}", {"in_features": 5, "out_features": 2})
    assert sidecar == tmp_path / "lin.json"
    back, config = ck.load_with_config(weights, build)
    assert config == {"in_features": 5, "out_features": 2} and same_weights(model.state_dict(), back.state_dict())
    with pytest.raises(LabError, match="Field 'config'"):
        ck.save_with_config(model, tmp_path / "x.pt", {"f": object()})


def test_file_info_and_contents(net, tmp_path):
    import hashlib

    path = ck.save(net, tmp_path / "w.safetensors")
    info = ck.file_info(path)
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (
        info["keys"] == len(net.state_dict())
        and info["first keys"][0] == "0.weight"
        and info["bytes"] == os.path.getsize(path)
    )
    frame = ck.contents({"model": net.state_dict(), "epoch": 2})
    assert frame.loc[frame["key"] == "model/0.weight", "shape"].item() == "(4, 3, 3, 3)"


def test_example_inputs_cover_extra_forward_arguments():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.num_extra = 3
            self.backbone = nn.Linear(4, 5)
            self.fc = nn.Linear(5 + 3, 2)

        def forward(self, x, extra):
            return self.fc(torch.cat([self.backbone(x), extra], 1))

    model = WithExtra()
    inputs = ck.example_inputs(model)
    assert [tuple(t.shape) for t in inputs] == [(2, 4), (2, 3)]
    assert ck.outputs_equal(model, copy.deepcopy(model), inputs) == (True, 0.0)
