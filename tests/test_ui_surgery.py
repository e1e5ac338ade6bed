"""ResNet surgery tab (5.3): callbacks called directly, the launched app through gradio_client, the page in Chromium.

Kept lean: resnet18 on small dummy batches unless the test is about the tab's first view (the tutorial's resnet50).
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import gradio as gr
import pandas as pd
import pytest
import torch

import locales
from lab import surgery as S
from lab.inspect import count_params
from tests.conftest import SCREENSHOTS, open_tab, run_code
from ui import common
from ui import surgery as tab
from ui.cache import resolve
from ui.common import guarded
from ui.i18n import LANG

# CUDA convolutions may use TF32 and other algorithms than the CPU: the code panel runs on CUDA when present
TOL = dict(rtol=1e-3, atol=1e-3) if torch.cuda.is_available() else dict(rtol=1e-5, atol=1e-5)

# arch, weights, new_head, hidden, dropout, classes, extra_input, extra_size, extra_output, freeze, batch, size
SMALL = ["resnet18", None, True, "128", 0.5, 10, False, 1, False, False, 2, 64]
NAMES = ["arch", "weights", "new_head", "hidden", "dropout", "classes", "extra_input", "extra_size", "extra_output",
         "freeze", "batch", "size"]

# ui.common.first_view computes a linked view on load AND when the link's ?tab= selects the tab; until open_once
# leaves a linked tab to the load, the later of the two may be the default view (see the report of issue 15).
FIRST_VIEW_RACE = "def open_once(already" in inspect.getsource(common.first_view)


def form(**changes) -> list:
    values = dict(zip(NAMES, SMALL, strict=True))
    values.update(changes)
    return [values[n] for n in NAMES]


def frame(value) -> pd.DataFrame:
    """A table output as a DataFrame: a Styler from the callback, {"headers", "data"} through the client."""
    if isinstance(value, dict):
        value = value.get("value", value)  # a gr.Dataframe update
        return pd.DataFrame(value["data"], columns=value["headers"])
    return value.data if hasattr(value, "data") else value


BAD_INPUTS = [
    (dict(classes=1), "Classes is 1; a whole number from 2 to 10,000 is accepted."),
    (dict(classes=10_001), "Classes is 10001; a whole number from 2 to 10,000 is accepted."),
    (dict(hidden="0"), "Hidden sizes is '0'; up to 4 whole numbers from 1 to 4,096"),
    (dict(hidden="100000"), "Hidden sizes is '100000'"),
    (dict(extra_input=True, extra_size=0), "Extra-input size is 0; a whole number from 1 to 1,024 is accepted."),
    (dict(extra_input=True, extra_size=-3), "Extra-input size is -3"),
    (dict(batch=100), "Batch size is 100; a whole number from 1 to 8 is accepted."),
    (dict(size=8), "Image size is 8; a whole number from 32 to 384 is accepted."),
    (dict(arch="vgg16"), "Architecture is 'vgg16'"),
]


# --- callbacks, called directly ---------------------------------------------------------------------------------


def test_callback_fills_every_view_and_the_session_store(tmp_path):
    other = torch.nn.Linear(2, 2)
    models = {"unet": other}
    before_md, before_t, before_print, after_md, after_t, after_print, forward, code, new_models = tab.run_surgery(
        *form(extra_input=True, extra_size=2, extra_output=True, freeze=True), models)
    before_t, after_t, forward = frame(before_t), frame(after_t), frame(forward)
    assert "11,689,512 parameters" in before_md and "Random weights" in before_md
    assert list(before_t.columns) == ["name", "type", "params", "trainable"]  # "Before": the untouched model
    assert after_t["change"].tolist()[-2:] == ["replaced", "new"]  # net.fc -> Identity, the new head
    assert (after_t.loc[after_t["name"].str.startswith("net.layer"), "change"] == "frozen").all()
    assert before_print.startswith("(fc): Linear(in_features=512, out_features=1000")
    assert after_print.startswith("# WithExtraInput: forward(x, extra) -> logits, features")
    assert "Linear(in_features=514, out_features=128" in after_print and "# requires_grad changed: net.conv1" in \
        after_print
    outputs = forward[forward["model"] == "after"][["name", "shape"]].values.tolist()
    assert outputs == [["x", "(2, 3, 64, 64)"], ["extra", "(2, 2)"], ["logits", "(2, 10)"], ["features", "(2, 512)"]]
    model = resolve(new_models[tab.LABEL])
    assert tab.LABEL == "surgery" and new_models is not models and models == {"unet": other}  # a new dict
    assert new_models["unet"] is other and isinstance(model, S.WithExtraInput)
    head = 514 * 128 + 128 + 128 * 10 + 10
    assert f"{count_params(model)[0]:,} parameters · {head:,} trainable" in after_md

    # the code panel builds the same model and gives the same numbers...
    ns = run_code(code)
    assert count_params(ns["model"]) == count_params(model)
    model.eval()
    with torch.no_grad():
        want = model(ns["x"].to(next(model.parameters()).device), ns["extra"])
    for got, ref in zip(ns["outputs"], want, strict=True):
        assert torch.allclose(got.cpu(), ref.cpu(), **TOL)
    # ...and, alone in an empty folder, prints the counts and shapes the tab shows
    (tmp_path / "surgery.py").write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, "-I", "surgery.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, check=True).stdout  # fmt: skip
    assert out.splitlines()[0] == "before: 11,689,512 parameters, 11,689,512 trainable"
    assert out.splitlines()[-1] == f"after: {count_params(model)[0]:,} parameters, {head:,} trainable"
    assert [line.split(" ", 2)[1:] for line in out.splitlines()[1:-1]] == outputs


def test_callback_words_the_view_in_chinese():
    token = LANG.set("zh")
    try:
        before_md, before_t, _, after_md, after_t, _, forward, *_ = tab.run_surgery(*form(freeze=True), {})
    finally:
        LANG.reset(token)
    assert before_md.startswith("**修改前** · torchvision `resnet18` · 参数 11,689,512 个")
    assert "随机初始化" in before_md and after_md.startswith("**修改后**")
    assert list(frame(before_t).columns) == ["名称", "类型", "参数量", "可训练"]
    assert set(frame(after_t)["改动"]) == {"已冻结", "已替换", ""}
    assert frame(forward)["模型"].tolist()[:2] == ["修改前", "修改前"]


@pytest.mark.parametrize(("changes", "message"), BAD_INPUTS)
def test_callback_bad_input_becomes_one_sentence_gr_error(changes, message):
    with pytest.raises(gr.Error) as info:
        guarded(tab.run_surgery)(*form(**changes), {})
    assert message in info.value.message and "Traceback" not in info.value.message


def test_weights_for_another_architecture_lists_the_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    state = S.resnet("resnet18").state_dict()
    torch.save(state, path)
    with pytest.raises(gr.Error) as info:
        guarded(tab.run_surgery)(*form(arch="resnet34", weights=str(path)), {})
    message = info.value.message
    assert "'resnet18.pth' does not fit resnet34" in message and "missing (layer1.2." in message
    before_md, *_ = tab.run_surgery(*form(weights=str(path)), {})
    assert f"Loaded {len(state)} tensors from `resnet18.pth` into the resnet." in before_md


@pytest.mark.parametrize("name", list(tab.PITFALL_INPUTS))
def test_every_pitfall_callback_runs_live_and_is_worded(name):
    with gr.Blocks():
        slots = tab.pitfall_slots(f"surgery.{name}", table=True, plot=name == "softmax")
    args = ["resnet18"] if tab.PITFALL_INPUTS[name] else []
    head, wrong, right, table, *plot = tab.run_pitfall(name, slots, *args)
    assert head.startswith(f"#### {locales.text('en', f'pitfall.surgery.{name}.title')}")
    assert "{" not in head.split("\n", 2)[2].replace("`{", "").replace("{:", "")  # every fact filled in
    assert wrong.startswith("**The tutorial's way**") and right.startswith("**The right way**")
    columns = list(frame(table.value).columns)
    assert columns and all(not c.startswith("surgery.col.") for c in columns)
    if name == "softmax":
        assert plot[0].value is not None and "Softmax (tutorial 5.3.1)" in frame(table.value)["head"].tolist()


def test_links_parse_what_the_address_bar_holds():
    parse = {"arch": S.check_arch, "head": tab._flag, "classes": S.check_classes, "size": S.check_size}
    assert parse["arch"]("resnet18") == "resnet18" and parse["head"]("false") is False
    assert parse["classes"]("7") == 7 and parse["size"]("64") == 64
    for name, bad in (("arch", "vgg"), ("head", "maybe"), ("classes", "1"), ("size", "9999")):
        with pytest.raises((ValueError, TypeError)):
            parse[name](bad)


def test_intro_states_the_bounds_the_lab_checks():
    for lang in locales.LANGS:
        intro = locales.text(lang, "surgery.intro")
        for bound in (f"{S.MAX_CLASSES:,}", f"{S.MAX_HIDDEN:,}", f"{S.MAX_EXTRA:,}", str(S.MAX_HIDDEN_LAYERS),
                      str(S.MAX_BATCH), str(S.MIN_SIZE), str(S.MAX_SIZE)):
            assert bound in intro, (lang, bound)
        assert f"1-{S.MAX_BATCH}" in locales.text(lang, "surgery.batch")
        assert f"{S.MIN_SIZE}-{S.MAX_SIZE}" in locales.text(lang, "surgery.size")


# --- through gradio_client -------------------------------------------------------------------------------------


@pytest.mark.api
def test_api_apply_and_code(client):
    result = client.predict(*form(arch="resnet34", new_head=False, extra_output=True, classes=5),
                            api_name="/surgery_apply")
    before_md, before_t, before_print, after_md, after_t, after_print, forward, code = result
    forward = frame(forward)
    assert forward[forward["model"] == "after"]["shape"].tolist() == ["(2, 3, 64, 64)", "(2, 5)", "(2, 512)"]
    assert "21,797,672 parameters" in before_md and "WithExtraOutput" in after_md
    assert frame(after_t)["change"].tolist()[-1] == "new" and "change" not in frame(before_t).columns
    ns = run_code(code)
    assert [tuple(o.shape) for o in ns["outputs"]] == [(2, 5), (2, 512)]
    total = count_params(ns["model"])[0]
    assert f"{total:,} parameters" in after_md


@pytest.mark.api
def test_api_notebook_of_the_code(client, tmp_path):
    import nbformat

    *_, code = client.predict(*form(), api_name="/surgery_apply")
    path = client.predict(code, api_name="/surgery_notebook")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.startswith("## 5.3 · Modify a ResNet")
    assert "".join(c.source + "\n" for c in nb.cells[1:]).replace("\n", "") == code.replace("\n", "")


@pytest.mark.api
def test_api_bad_input_and_wrong_weights_are_app_errors(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Classes is 0; a whole number from 2 to 10,000 is accepted."):
        client.predict(*form(classes=0), api_name="/surgery_apply")
    path = tmp_path / "r18.pt"
    torch.save(S.resnet("resnet18").state_dict(), path)
    with pytest.raises(AppError, match="does not fit resnet50: .*mismatched"):
        client.predict(*form(arch="resnet50", weights=handle_file(str(path))), api_name="/surgery_apply")
    before_md, *_ = client.predict(*form(weights=handle_file(str(path))), api_name="/surgery_apply")
    assert "tensors from `r18.pt` into the resnet." in before_md  # an uploaded state_dict still loads


@pytest.mark.api
def test_api_pitfalls(client):
    head, wrong, right, table = client.predict("resnet18", api_name="/surgery_pitfall_unused_input")
    assert "missing 1 required positional argument: 'add_variable'" in wrong and "(logits (2, 10)" in right
    assert frame(table)["call"].tolist()[0] == "model(x)"
    head, *_ = client.predict(api_name="/surgery_pitfall_pretrained_open")
    assert "pretrained=True" in head and "download.pytorch.org" in head


# --- in Chromium -----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_first_view_error_that_stays_and_pitfall(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    open_tab(page, "ResNet surgery")
    # the tutorial's surgery, computed without a click: resnet50 with 5.3.1's head
    expect(page.locator("#surgery-before-totals")).to_contain_text("25,557,032 parameters")
    expect(page.locator("#surgery-after-table")).to_contain_text("replaced")
    expect(page.locator("#surgery-forward")).to_contain_text("(2, 10)")
    expect(page.locator("#surgery-code")).to_contain_text("def make_head(")
    assert "replaced" not in page.locator("#surgery-before-table").inner_text()  # "Before": no change marks
    assert "tab=surgery" in page.url and "arch=resnet50" in page.url  # the address shares the view

    # a refused value: one sentence beside the inputs, no stale results under it
    page.locator("#surgery-classes input").fill("1")
    page.locator("#surgery-run").click()
    expect(page.locator("#surgery-error")).to_contain_text("Classes is 1; a whole number from 2 to 10,000")
    expect(page.locator("#surgery-after-totals")).not_to_contain_text("parameters")
    # the next run clears it
    page.locator("#surgery-arch input").click()
    page.get_by_role("option", name="resnet18", exact=True).click()
    page.locator("#surgery-classes input").fill("7")
    page.locator("#surgery-size input").fill("64")
    page.locator("#surgery-extra-input input").check()
    page.locator("#surgery-freeze input").check()
    page.locator("#surgery-run").click()
    expect(page.locator("#surgery-forward")).to_contain_text("(2, 7)")
    expect(page.locator("#surgery-error")).to_have_text("")
    expect(page.locator("#surgery-before-totals")).to_contain_text("11,689,512 parameters")
    expect(page.locator("#surgery-after-table")).to_contain_text("frozen")
    expect(page.locator("#surgery-after-print")).to_contain_text("in_features=513")
    assert "classes=7" in page.url and "arch=resnet18" in page.url and "freeze=true" in page.url

    page.locator("#surgery-pitfall-softmax").get_by_text("Pitfall:").click()
    expect(page.locator("#pitfall-surgery-softmax")).to_contain_text("does not stall")
    expect(page.locator("#pitfall-surgery-softmax-table")).to_contain_text("Softmax (tutorial 5.3.1)")
    expect(page.locator("#pitfall-surgery-softmax-plot .js-plotly-plot")).to_be_visible()
    page.locator("#surgery-run").scroll_into_view_if_needed()
    page.shot("surgery", full_page=True)


@pytest.mark.browser
@pytest.mark.xfail(FIRST_VIEW_RACE, reason="ui.common.first_view: the linked view races the tab's own first view",
                   strict=False)  # fmt: skip
def test_page_in_chinese_restores_a_link(browser, app_url):
    from playwright.sync_api import expect

    expect.set_options(timeout=120_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{app_url}?tab=surgery&arch=resnet18&classes=5&size=64&extra=true&extra_size=3&output=true"
                  "&batch=99")  # batch=99 is refused by the check: ignored with a note
        expect(page.locator("#surgery-forward")).to_contain_text("(2, 5)")
        expect(page.locator("#surgery-before-totals")).to_contain_text("修改前")
        expect(page.locator("#surgery-before-totals")).to_contain_text("11,689,512")
        expect(page.locator("#surgery-forward")).to_contain_text("(2, 3)")
        expect(page.locator("#surgery-after-table")).to_contain_text("新增")
        expect(page.locator("#lab-note")).to_contain_text("batch=99")
        expect(page.locator("#surgery-classes input")).to_have_value("5")
        expect(page.locator("#surgery-extra-input input")).to_be_checked()
        expect(page.get_by_role("button", name="应用修改")).to_be_visible()
        page.locator("#surgery-pitfall-frozen-bn").get_by_text("坑").first.click()
        expect(page.locator("#pitfall-surgery-frozen-bn")).to_contain_text("冻结主干并不会冻结 BatchNorm")
        page.screenshot(path=str(SCREENSHOTS / "surgery_zh.png"), full_page=True)
    finally:
        context.close()
