"""Checkpoints tab (5.4): callbacks directly, the launched app through gradio_client, the page in Chromium."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pytest
import torch
from torch import nn

from lab import checkpoints as ck
from lab.device import pick_device
from tests.conftest import open_tab, run_code
from ui import checkpoints as tab
from ui.common import guarded

DEFAULT = tab.DEFAULT_LABEL


def compose_like() -> nn.Module:
    # what the Compose tab puts in shared.models by default: an MLP on (N, 784), on the lab's device
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).to(pick_device())


def tensors_equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


@pytest.fixture(scope="module", autouse=True)
def _gloo_group_cleanup():
    yield
    ck.shutdown_process_group()


# ---------------------------------------------------------------------------------------------- callbacks


def test_model_choices_follow_the_session():
    update = tab.model_choices({"Compose": compose_like(), "not a model": 3}, "Compose")
    assert update["choices"] == [DEFAULT, "Compose"] and update["value"] == "Compose"
    assert tab.model_choices({}, "Compose")["value"] == DEFAULT
    assert "50,890 parameters" in tab.describe_model({"Compose": compose_like()}, "Compose")


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
def test_save_gives_file_facts_and_code_that_agree(tmp_path, monkeypatch, what, fmt, wrapper, unwrap_first):
    path, facts, code = tab.run_save({}, DEFAULT, what, fmt, wrapper, unwrap_first)
    path = Path(path)
    assert path.is_file() and path.is_relative_to(tempfile.gettempdir())
    fields = dict(zip(facts["field"], facts["value"], strict=False))
    assert fields["SHA-256"] == ck.sha256(path) and fields["keys"] == "16"
    prefixed = wrapper != "none" and not unwrap_first
    assert fields["first keys"].startswith("module.conv1.weight" if prefixed else "conv1.weight")
    # the code panel, run on its own, writes and reads a file with the same tensors
    monkeypatch.chdir(tmp_path)
    namespace = run_code(code)
    ours = ck.find_state_dict(ck.load(path, trusted=True))[0]
    theirs = namespace["whole"].state_dict() if what == "model" else namespace["state"]
    assert tensors_equal(ours, dict(theirs))


def test_save_whole_model_as_safetensors_is_one_sentence_error():
    with pytest.raises(gr.Error, match="tensors only"):
        guarded(tab.run_save)({}, DEFAULT, "model", ".safetensors", "none", False)


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_four_cases_on_a_session_model(wrapper, tmp_path, monkeypatch):
    *cells, code = tab.run_cases({"Compose": compose_like()}, "Compose", wrapper, "single-multi")
    assert len(cells) == 4 and all("**outputs bit-identical**" in cell for cell in cells)
    assert "`module.0.weight`" in cells[2] and "stripped leading 'module.'" in cells[2]
    monkeypatch.chdir(tmp_path)
    assert run_code(code)["same"] is True


def test_upload_report_loads_when_compatible(tmp_path, monkeypatch):
    wrapped = ck.parallel_wrap(ck.default_model(seed=5), "dataparallel")
    path = ck.save(wrapped, tmp_path / "from_multi_gpu.pth", what="checkpoint", epoch=7)
    status, counts, inside, keys, code, models = tab.run_upload(str(path), {}, DEFAULT)
    assert "Loaded" in status and "stripped leading 'module.'" in status and "'model'" in status
    expected = {"loaded": 16, "missing": 0, "unexpected": 0, "mismatched": 0}
    assert dict(zip(counts["status"], counts["keys"], strict=True)) == expected
    assert "epoch" in set(inside["key"]) and set(keys["status"]) == {"loaded"}
    loaded = models[tab.LOADED_LABEL]
    assert tensors_equal(loaded.state_dict(), ck.default_model(seed=5).state_dict())
    monkeypatch.chdir(tmp_path)
    namespace = run_code(code)
    assert tensors_equal(namespace["model"].state_dict(), loaded.state_dict())


def test_upload_of_another_model_is_reported_not_loaded(tmp_path):
    path = ck.save(compose_like(), tmp_path / "mlp.safetensors")
    status, counts, _, keys, _, models = tab.run_upload(str(path), {}, DEFAULT)
    assert "Not loaded" in status and tab.LOADED_LABEL not in models
    assert {"missing", "unexpected"} <= set(keys["status"])


def test_upload_of_a_mismatched_head_names_the_shapes(tmp_path):
    other = ck.default_model()
    other.fc = nn.Linear(32, 3)
    path = ck.save(other, tmp_path / "head3.pt")
    status, *_ = tab.run_upload(str(path), {}, DEFAULT)
    assert "fc.weight: saved (3, 32) vs model (10, 32)" in status


class Hostile:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_hostile_and_bad_uploads_are_one_sentence_errors(tmp_path):
    target = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "x": Hostile(str(target))}, evil)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint")
    for path, match in ((evil, "refused"), (empty, "empty"), (text, "not a checkpoint"), (None, "Field 'checkpoint'")):
        with pytest.raises(gr.Error, match=match) as info:
            guarded(tab.run_upload)(str(path) if path else None, {}, DEFAULT)
        assert "\n" not in info.value.message
    assert not target.exists()


def test_session_model_is_never_changed(tmp_path):
    model = compose_like().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    models = {"Compose": model}
    tab.run_save(models, "Compose", "checkpoint", ".pt", "ddp", False)
    tab.run_cases(models, "Compose", "ddp", "multi-single")
    tab.run_pitfalls(models, "Compose", "ddp")
    other = ck.save(ck.randomized_copy(model), tmp_path / "other.pt")
    *_, new_models = tab.run_upload(str(other), models, "Compose")
    assert models == {"Compose": model} and new_models[tab.LOADED_LABEL] is not model
    assert model.training and type(model) is nn.Sequential and not hasattr(model, "module")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_unknown_model_label_is_one_sentence_error():
    with pytest.raises(gr.Error, match="Field 'model' is 'U-Net'"):
        guarded(tab.run_cases)({"Compose": compose_like()}, "U-Net", "dataparallel", "multi-single")


def test_pitfalls_run_live():
    texts = tab.run_pitfalls({"Compose": compose_like()}, "Compose", "dataparallel")
    assert len(texts) == 6
    assert "without parentheses" in texts[0] and "builtins.getattr" in texts[0]
    assert "**unchanged**" in texts[1] and "difference now 0" in texts[1]
    assert "become `t`" in texts[2] and "2 keys collapse" in texts[2]  # "0.weight"[7:] is "t", "0.bias"[7:] is ""
    assert "`backbone.weight`" in texts[3] and "all 4 keys load" in texts[3]
    assert "`module.module.0.weight`" in texts[4] and "bit-identical" in texts[4]
    assert "map_location='cpu'" in texts[5]


# ---------------------------------------------------------------------------------------------- gradio_client


@pytest.mark.api
def test_client_uploads_a_checkpoint_and_reads_the_report(client, tmp_path):
    from gradio_client import handle_file

    path = ck.save(ck.parallel_wrap(ck.default_model(seed=3), "dataparallel"), tmp_path / "dp.safetensors")
    status, counts, inside, keys, code, *_ = client.predict(
        handle_file(str(path)), DEFAULT, api_name="/checkpoints_load"
    )
    assert "Loaded" in status and "stripped leading 'module.'" in status
    assert [row[:2] for row in counts["data"]][0] == ["loaded", 16]
    assert inside["data"][0][0] == "module.conv1.weight"  # order kept from the model, not safetensors' sorted one
    assert "load_file('dp.safetensors')" in code


@pytest.mark.api
def test_client_bad_upload_is_an_app_error(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(AppError, match="truncated or corrupt"):
        client.predict(handle_file(str(bad)), DEFAULT, api_name="/checkpoints_load")


@pytest.mark.api
def test_client_save_returns_a_file(client):
    path, facts, code = client.predict(
        DEFAULT, "state_dict", ".safetensors", "none", False, api_name="/checkpoints_save"
    )
    assert Path(path).name == "default_small_cnn_state_dict.safetensors"
    assert ck.sha256(path) == dict((r[0], r[1]) for r in facts["data"])["SHA-256"]


@pytest.mark.api
def test_client_session_model_from_compose_is_used(app_url):
    """A model built in the Compose tab of the same session is the one the Checkpoints tab saves and loads."""
    from gradio_client import Client

    import app

    if not any(fn.api_name == "compose_build" for fn in app.demo.fns.values()):
        pytest.skip("the Compose tab is not in this build")
    session = Client(app_url, verbose=False)  # its own session, so its State starts empty
    session.predict(
        "fc1 = nn.Linear(784, 32)\nnn.ReLU()\nfc2 = nn.Linear(32, 10)",
        "ordereddict",
        "1x784",
        api_name="/compose_build",
    )
    cells = session.predict("Compose", "ddp", "multi-single", api_name="/checkpoints_cases")
    assert "`module.fc1.weight`" in cells[2] and all("bit-identical" in cell for cell in cells[:4])


# ---------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_page_saves_downloads_and_plays_the_cases(page, tmp_path):
    from playwright.sync_api import expect

    open_tab(page, "Checkpoints")
    page.locator("#checkpoints-format").get_by_label(".safetensors").check()
    page.locator("#checkpoints-save").click()
    link = page.locator("#checkpoints-file a").first
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    download = tmp_path / info.value.suggested_filename
    info.value.save_as(download)
    assert download.name.endswith(".safetensors")
    assert tensors_equal(ck.load(download), ck.default_model().state_dict())
    expect(page.locator("#checkpoints-facts")).to_contain_text(ck.sha256(download))

    page.locator("#checkpoints-cases-run").click()
    for cell in ("single-single", "single-multi", "multi-single", "multi-multi"):
        expect(page.locator(f"#checkpoints-case-{cell}")).to_contain_text("bit-identical")

    upload = tmp_path / "from_ddp.pt"
    ck.save(ck.parallel_wrap(ck.default_model(seed=2), "dataparallel"), upload, what="checkpoint", epoch=3)
    page.locator("#checkpoints-upload input[type=file]").set_input_files(str(upload))
    page.locator("#checkpoints-load").click()
    expect(page.locator("#checkpoints-load-status")).to_contain_text("Loaded")
    expect(page.locator("#checkpoints-load-keys")).to_contain_text("module.conv1.weight")

    page.locator("#checkpoints-pitfall").get_by_text("Pitfall:").click()
    expect(page.locator("#checkpoints-pitfall-6")).to_contain_text("map_location")
    page.shot("checkpoints", full_page=True)
