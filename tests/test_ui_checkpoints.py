"""Checkpoints tab (5.4): callbacks directly, the launched app through gradio_client, the page in Chromium (English
and Chinese, the first view without a click, errors that stay beside their inputs, links that restore a view)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr
import pytest
import torch
from torch import nn

from lab import checkpoints as ck
from lab.device import pick_device
from tests.conftest import open_tab
from ui import checkpoints as tab
from ui.common import guarded
from ui.i18n import LANG

DEFAULT = tab.DEFAULT


def compose_like() -> nn.Module:
    # what the Compose tab puts in shared.models by default: an MLP on (N, 784), on the lab's device
    return nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10)).to(pick_device())


def tensors_equal(a: dict, b: dict) -> bool:
    return sorted(a) == sorted(b) and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


@pytest.fixture(scope="module", autouse=True)
def _gloo_group_cleanup():
    yield
    ck.shutdown_process_group()


@pytest.fixture
def chinese():
    token = LANG.set("zh")
    yield
    LANG.reset(token)


# ---------------------------------------------------------------------------------------------- callbacks


def test_model_choices_list_the_session_by_tab_id():
    update = tab.model_choices({"compose": compose_like(), "not a model": 3}, "compose")
    assert update["choices"] == [("Default: small CNN", DEFAULT), ("Compose", "compose")]
    assert update["value"] == "compose"
    assert tab.model_choices({}, "compose")["value"] == DEFAULT
    # a tab that still keys its model by its English label is read by its id
    assert tab.model_choices({"U-Net": compose_like()}, "unet")["choices"][1] == ("U-Net", "unet")
    assert "50,890 parameters" in tab.describe_model({"compose": compose_like()}, "compose")


def test_model_choices_in_chinese(chinese):
    update = tab.model_choices({"surgery": compose_like()}, None)
    assert update["choices"] == [("默认：小型 CNN", DEFAULT), ("修改 ResNet", "surgery")]


SAVE_COMBOS = [
    ("state_dict", ".pth", "none", False),
    ("state_dict", ".safetensors", "dataparallel", False),
    ("state_dict", ".pt", "ddp", True),
    ("model", ".pkl", "none", False),
    ("checkpoint", ".pt", "ddp", False),
]


@pytest.mark.parametrize(("what", "fmt", "wrapper", "unwrap_first"), SAVE_COMBOS)
def test_save_gives_file_facts_and_the_code_of_that_model(what, fmt, wrapper, unwrap_first):
    path, facts, code = tab.run_save({}, DEFAULT, what, fmt, wrapper, unwrap_first)
    path = Path(path)
    assert path.is_file() and path.is_relative_to(tempfile.gettempdir())
    assert path.name == f"default_cnn_{what}{fmt}"
    fields = dict(zip(facts["field"], facts["value"], strict=False))
    assert fields["SHA-256"] == ck.sha256(path) and fields["keys"] == "16"
    prefixed = wrapper != "none" and not unwrap_first
    assert fields["first keys"].startswith("module.conv1.weight" if prefixed else "conv1.weight")
    assert fields["code"].startswith("builds the default CNN with `default_model()`")
    assert "def default_model(" in code and f"path = {path.name!r}" in code  # the panel names the download


def test_save_names_the_tab_whose_code_rebuilds_the_model(chinese):
    path, facts, code = tab.run_save({"compose": compose_like()}, "compose", "state_dict", ".pt", "none", False)
    assert Path(path).name == "compose_state_dict.pt"
    assert "「模型定义」标签页的代码" in facts.iloc[-1, 1] and list(facts.columns) == ["项目", "值"]
    assert "def default_model(" not in code and "nn.Linear(in_features=784, out_features=64" in code


def test_save_whole_model_as_safetensors_is_one_sentence_error():
    with pytest.raises(gr.Error, match="tensors only"):
        guarded(tab.run_save)({}, DEFAULT, "model", ".safetensors", "none", False)


@pytest.mark.parametrize("wrapper", ck.WRAPPERS)
def test_four_cases_on_a_session_model(wrapper):
    *cells, code = tab.run_cases({"compose": compose_like()}, "compose", wrapper, "single-multi")
    assert len(cells) == 4 and all("**outputs bit-identical**" in cell for cell in cells)
    assert "`module.0.weight`" in cells[2] and "stripped leading 'module.'" in cells[2]
    assert "single_to_multi" in code and "nn.Linear(in_features=784, out_features=64" in code


def test_upload_report_loads_when_compatible():
    with tempfile.TemporaryDirectory() as tmp:
        wrapped = ck.parallel_wrap(ck.default_model(seed=5), "dataparallel")
        path = ck.save(wrapped, Path(tmp) / "from_multi_gpu.pth", what="checkpoint", epoch=7)
        status, counts, inside, keys, code, models = tab.run_upload(str(path), {}, DEFAULT)
    assert status.startswith("**Loaded**") and "stripped leading 'module.'" in status and "'model'" in status
    assert "**Checkpoints: loaded**" in status
    expected = {"loaded": 16, "missing": 0, "unexpected": 0, "mismatched": 0}
    assert dict(zip(counts["status"], counts["keys"], strict=True)) == expected
    assert "epoch" in set(inside["key"]) and set(keys["status"]) == {"loaded"}
    assert set(inside["kind"]) >= {"tensor"}  # catalogue words, not Terms
    assert tensors_equal(models[tab.LOADED].state_dict(), ck.default_model(seed=5).state_dict())
    assert "consume_prefix_in_state_dict_if_present(state, 'module.')" in code


def test_upload_report_in_chinese(chinese, tmp_path):
    path = ck.save(compose_like(), tmp_path / "mlp.safetensors")
    status, counts, inside, keys, _, _ = tab.run_upload(str(path), {}, DEFAULT)
    assert status.startswith("**没有加载**") and "缺少 16 个" in status
    assert list(counts.columns) == ["状态", "键数"] and "缺少" in set(counts["状态"])
    assert set(inside["类型"]) == {"张量"} and "多余" in set(keys["状态"])


def test_upload_of_another_model_is_reported_not_loaded(tmp_path):
    path = ck.save(compose_like(), tmp_path / "mlp.safetensors")
    status, counts, _, keys, _, models = tab.run_upload(str(path), {}, DEFAULT)
    assert status.startswith("**Not loaded**") and tab.LOADED not in models
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
    models = {"compose": model}
    tab.run_save(models, "compose", "checkpoint", ".pt", "ddp", False)
    tab.run_cases(models, "compose", "ddp", "multi-single")
    tab.run_pitfalls(models, "compose", "ddp")
    other = ck.save(ck.randomized_copy(model), tmp_path / "other.pt")
    *_, new_models = tab.run_upload(str(other), models, "compose")
    assert models == {"compose": model} and new_models[tab.LOADED] is not model
    assert model.training and type(model) is nn.Sequential and not hasattr(model, "module")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters()) and "state_dict" not in vars(model)


def test_unknown_model_is_one_sentence_error():
    with pytest.raises(gr.Error, match="Field 'model' is 'unet', which this session has not built"):
        guarded(tab.run_cases)({"compose": compose_like()}, "unet", "dataparallel", "multi-single")
    with pytest.raises(gr.Error, match="Field 'model' is a list"):
        guarded(tab.describe_model)({}, ["x"])


def test_pitfalls_run_live():
    found = {p.id: p for p in tab.run_pitfalls({"compose": compose_like()}, "compose", "ddp")}
    assert len(found) == 9
    assert "Weights only load failed" in found["checkpoints.no_parens"].wrong.error
    assert found["checkpoints.double_wrap"].facts["wrapper"] == "DistributedDataParallel"


def test_first_view_saves_the_default_model_and_plays_the_cases():
    out = tab.open_view({}, DEFAULT, "state_dict", ".pth", "none", False, "dataparallel", "multi-single")
    info, path, facts, code, *cells, case_code = out
    assert info.startswith("**Default: small CNN**") and Path(path).name == "default_cnn_state_dict.pth"
    assert "torch.save(model.state_dict(), path)" in code and "multi_to_single" in case_code
    assert len(cells) == 4 and all("bit-identical" in c for c in cells)


def test_first_view_from_a_link_naming_a_model_not_built(chinese):
    out = tab.open_view({}, "unet", "state_dict", ".pt", "none", False, "ddp", "multi-multi")
    assert out[0].startswith("⚠️") and "「U-Net」标签页" in out[0] and "默认：小型 CNN" in out[0]
    assert out[7].startswith("#### 多卡保存，多卡加载") and "逐位相同" in out[7] and "DDP" in out[8]


def test_component_texts_read_as_written():
    """Component text goes through the page's ICU formatting: no ASCII apostrophe (shown doubled on the page) in this
    tab's component texts, and the upload label states the real cap."""
    import re

    import locales

    source = Path(tab.__file__).read_text(encoding="utf-8")
    keys = set(re.findall(r'i18n\(f?"([^"{]+)"', source))
    keys |= {f"checkpoints.what.{w}" for w in ck.WHATS} | {f"checkpoints.case.choice.{c.replace('-', '_')}"
                                                          for c in ck.CASE_NAMES}  # fmt: skip
    for lang in locales.LANGS:
        for key in keys:
            assert "'" not in locales.text(lang, key), (lang, key)
        assert f"{ck.UPLOAD_MAX_BYTES // 2**20} MiB" in locales.text(lang, "checkpoints.upload")


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
    assert Path(path).name == "default_cnn_state_dict.safetensors"
    assert ck.sha256(path) == dict((r[0], r[1]) for r in facts["data"])["SHA-256"]
    # an old client naming the default CNN by its old label still gets it
    path, *_ = client.predict("Default: small CNN", "state_dict", ".pt", "none", False, api_name="/checkpoints_save")
    assert Path(path).name == "default_cnn_state_dict.pt"


@pytest.mark.api
def test_client_first_view(new_client):
    out = new_client.predict(DEFAULT, "checkpoint", ".pt", "none", False, "ddp", "multi-single",
                         api_name="/checkpoints_default")  # the 6 link settings first, the header's note last
    info, path, facts, code, *cells, case_code = out[6:-1]
    assert info.startswith("**Default: small CNN**") and Path(path).name == "default_cnn_checkpoint.pt"
    assert all("bit-identical" in cell for cell in cells) and "DDP" in case_code


@pytest.mark.api
def test_client_session_model_from_compose_is_used(app_url):
    """A model built in the Compose tab of the same session is the one the Checkpoints tab saves and loads."""
    from gradio_client import Client

    import app

    if not any(fn.api_name == "compose_build" for fn in app.demo.fns.values()):
        pytest.skip("the Compose tab is not in this build")
    session = Client(app_url, verbose=False)  # its own session, so its State starts empty
    session.predict("fc1 = nn.Linear(784, 32)\nnn.ReLU()\nfc2 = nn.Linear(32, 10)", "ordereddict", "1x784",
                    api_name="/compose_build")  # fmt: skip
    cells = session.predict("compose", "ddp", "multi-single", api_name="/checkpoints_cases")
    assert "`module.fc1.weight`" in cells[2] and all("bit-identical" in cell for cell in cells[:4])
    assert "nn.Linear(784, 32)" in cells[4]  # the case code rebuilds THE session's model


@pytest.mark.api
def test_client_notebook_of_a_code_panel(client):
    import nbformat

    code = tab.run_save({}, DEFAULT, "state_dict", ".pt", "none", False)[2]
    path = client.predict(code, api_name="/checkpoints_save_notebook")
    nb = nbformat.read(path, as_version=4)
    assert Path(path).name == "checkpoints_5_4_2.ipynb" and nb.cells[0].cell_type == "markdown"
    assert "5.4.2" in nb.cells[0].source and "def default_model(" in "".join(c.source for c in nb.cells)


@pytest.mark.api
def test_client_cuda_pitfall(client):
    head, wrong, right, table = client.predict(api_name="/checkpoints_pitfall_cuda")
    assert "CUDA_VISIBLE_DEVICES" in head and "device_count()" in wrong and "device_count()" in right


# ---------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_page_first_view_save_upload_error_that_stays_and_pitfalls(page, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # a busy machine: the first view may take a few seconds to arrive
    open_tab(page, "Checkpoints")
    # the first view, without a click: the default model's save code and the four cases played
    expect(page.locator("#checkpoints-case-multi-single")).to_contain_text("bit-identical")
    expect(page.locator("#checkpoints-save-code")).to_contain_text("def default_model(")
    expect(page.locator("#checkpoints-facts")).to_contain_text("default_cnn_state_dict.pth")
    assert "tab=checkpoints" in page.url and "format=.pth" in page.url

    page.locator("#checkpoints-format").get_by_label(".safetensors").check()
    page.locator("#checkpoints-save").click()
    expect(page.locator("#checkpoints-facts")).to_contain_text("default_cnn_state_dict.safetensors")
    link = page.locator("#checkpoints-file a").first
    with page.expect_download() as info:
        link.click()
    download = tmp_path / info.value.suggested_filename
    info.value.save_as(download)
    assert tensors_equal(ck.load(download), ck.default_model().state_dict())
    expect(page.locator("#checkpoints-facts")).to_contain_text(ck.sha256(download))
    assert "format=.safetensors" in page.url

    # a good upload, then a bad one: its sentence stays beside the upload and the previous report is cleared
    good = tmp_path / "from_ddp.pt"
    ck.save(ck.parallel_wrap(ck.default_model(seed=2), "dataparallel"), good, what="checkpoint", epoch=3)
    page.locator("#checkpoints-upload input[type=file]").set_input_files(str(good))
    page.locator("#checkpoints-load").click()
    expect(page.locator("#checkpoints-load-status")).to_contain_text("Loaded")
    expect(page.locator("#checkpoints-load-keys")).to_contain_text("module.conv1.weight")
    bad = tmp_path / "notes.pt"
    bad.write_text("these are my notes")
    page.locator("#checkpoints-upload").get_by_label("Clear").click()
    page.locator("#checkpoints-upload input[type=file]").set_input_files(str(bad))
    page.locator("#checkpoints-load").click()
    expect(page.locator("#checkpoints-load-error")).to_contain_text("not a checkpoint")
    expect(page.locator("#checkpoints-load-status")).not_to_contain_text("Loaded")
    expect(page.locator("#checkpoints-load-keys")).not_to_contain_text("module.conv1.weight")
    page.wait_for_timeout(1500)
    expect(page.locator("#checkpoints-load-error")).to_contain_text("not a checkpoint")  # it stays
    page.locator("#checkpoints-upload").get_by_label("Clear").click()
    page.locator("#checkpoints-upload input[type=file]").set_input_files(str(good))
    page.locator("#checkpoints-load").click()
    expect(page.locator("#checkpoints-load-status")).to_contain_text("Loaded")
    expect(page.locator("#checkpoints-load-error")).to_have_text("")  # cleared by the next run

    page.locator("#checkpoints-pitfall").get_by_text("Pitfall: nine ways").click()
    expect(page.locator("#pitfall-checkpoints-map-location")).to_contain_text("map_location", timeout=60_000)
    expect(page.locator("#pitfall-checkpoints-no-parens-wrong")).to_contain_text("Weights only load failed")
    page.shot("checkpoints", full_page=True)


@pytest.mark.browser
def test_page_in_chinese_from_a_link(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    try:
        page.goto(f"{app_url}?tab=checkpoints&format=.safetensors&case_wrapper=ddp&unwrap=maybe")
        page.wait_for_selector("#lab-header")
        expect(page.get_by_role("tab", name="模型保存与读取", exact=True)).to_have_attribute("aria-selected", "true")
        expect(page.locator("#checkpoints-case-multi-multi")).to_contain_text("逐位相同")
        expect(page.locator("#checkpoints-case-multi-multi")).to_contain_text("多卡保存，多卡加载")
        expect(page.locator("#checkpoints-facts")).to_contain_text("default_cnn_state_dict.safetensors")
        expect(page.locator("#checkpoints-case-code")).to_contain_text("DDP")
        expect(page.locator("#lab-note")).to_contain_text("unwrap=")  # a bad value is ignored with a note
        expect(page.locator("#checkpoints-save")).to_have_text("保存")
        page.locator("#checkpoints-cuda").get_by_text("CUDA_VISIBLE_DEVICES").first.click()
        expect(page.locator("#pitfall-checkpoints-cuda-visible-devices")).to_contain_text("CUDA 启动", timeout=90_000)
    finally:
        context.close()
