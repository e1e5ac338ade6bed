"""Compose tab (5.1): callbacks called directly, the code panels run alone, the launched app through gradio_client,
the page in Chromium (English and Chinese, the first view, an error that stays, a link that restores the view)."""

from __future__ import annotations

import subprocess
import sys

import gradio as gr
import nbformat
import pandas as pd
import pytest
import torch

import locales
from lab import compose
from lab.notebook import to_notebook
from tests.conftest import SCREENSHOTS, open_tab, run_code
from ui import compose as tab
from ui.cache import resolve
from ui.common import guarded
from ui.i18n import LANG

BAD_INPUTS = [
    ("nn.Foo(3)", "1x784", "not an allowed layer"),
    ("", "1x784", "empty"),
    ("nn.Linear(784, 256)\nnn.Linear(128, 10)", "1x784", "expects input (*, 128) but got (1, 256)"),
    ("nn.Linear(784, 10)", "0x784", "input shape (0, 784)"),
    ("import os\nos.system('ls')", "1x784", "Line 2: `os.system` is not an allowed layer"),
]


def frame(value) -> pd.DataFrame:
    """A table output as a DataFrame: a DataFrame from the callback, {"headers", "data"} through the client."""
    if isinstance(value, dict):
        value = value.get("value", value)
        return pd.DataFrame(value["data"], columns=value["headers"])
    return value


def run_alone(code: str, folder) -> str:
    """Run a code panel with `python -I` in an empty folder; what it printed."""
    (folder / "panel.py").write_text(code, encoding="utf-8")
    return subprocess.run([sys.executable, "-I", "panel.py"], cwd=folder, capture_output=True, text=True,
                          timeout=300, check=True).stdout  # fmt: skip


# --- callbacks, called directly ---------------------------------------------------------------------------------


def test_callback_defaults_fill_every_output_and_the_session_store(tmp_path):
    other = torch.nn.Linear(2, 2)
    models = {"unet": other}
    printed, table, totals, code, equivalence, new_models = tab.run_compose(
        compose.DEFAULT_LAYERS, "ordereddict", "1x784", models
    )
    assert printed.startswith("Sequential(\n  (fc1): Linear(in_features=784, out_features=256, bias=True)")
    assert list(table.name) == ["fc1", "relu1", "fc2"] and list(table.columns) == tab.TABLE_COLUMNS
    assert "**203,530** parameters" in totals and "(1, 10)" in totals
    assert list(equivalence["max |diff| copied weights"]) == ["0"] * 4
    assert tab.LABEL == "compose" and models == {"unet": other} and new_models["unet"] is other
    assert isinstance(resolve(new_models["compose"]), torch.nn.Sequential)
    # the code panel alone, in an empty folder: the same print and the same output values
    out = run_alone(code, tmp_path)
    assert out.startswith(printed + "\n")
    last = out.strip().splitlines()[-1]
    values = totals.split("`")[1].replace(" …", "").split(", ")
    assert last.startswith("output (1, 10) [")
    assert [f"{float(v):.4f}" for v in last.split("[")[1].rstrip("]").split(", ")] == values


@pytest.mark.parametrize("style", compose.STYLES)
def test_every_style_prints_the_same_model_as_its_code(style):
    printed, _, _, code, *_ = tab.run_compose(compose.EXAMPLES["Small CNN"][0], style, "2x3x32x32", {})
    assert str(run_code(code)["net"]) == printed


def test_callback_words_the_view_in_chinese():
    token = LANG.set("zh")
    try:
        _, table, totals, _, equivalence, _ = tab.run_compose(compose.DEFAULT_LAYERS, "moduledict", "1x784", {})
        with pytest.raises(gr.Error) as info:
            guarded(tab.run_compose)("nn.Foo(3)", "sequential", "1x784", {})
        with pytest.raises(gr.Error) as shape_info:
            guarded(tab.run_compose)("nn.Linear(784, 256)\nnn.Linear(128, 10)", "sequential", "1x784", {})
    finally:
        LANG.reset(token)
    assert totals.startswith("参数 **203,530** 个") and list(table.columns)[:2] == ["名称", "类型"]
    assert "最大绝对差（复制权重后）" in equivalence.columns
    assert info.value.message.startswith("第 1 行：`nn.Foo` 不是可用的层")
    assert shape_info.value.message == ("层 'linear2'（Linear，第 2 行）需要形状为 (*, 128) 的输入，"
                                        "但得到的是 (1, 256)。")


@pytest.mark.parametrize(("text", "shape", "message"), BAD_INPUTS)
def test_callback_bad_input_becomes_one_sentence_gr_error(text, shape, message):
    with pytest.raises(gr.Error) as info:
        guarded(tab.run_compose)(text, "sequential", shape, {})
    assert message in info.value.message
    assert "Traceback" not in info.value.message


@pytest.mark.parametrize(("name", "wrong", "right"), [
    ("mysequential", "NameError: name 'OrderedDict' is not defined", "output (1, 10)"),
    ("pseudo_code", "SyntaxError: invalid syntax (<tutorial 5.1.3>, line 2)", "output (1, 10)"),
    ("modulelist_forward", 'NotImplementedError: Module [ModuleList] is missing the required "forward" function',
     "output (1, 10)"),
    ("moduledict_order", "['act', 'linear', 'output']", "['linear', 'act', 'output']"),
])  # fmt: skip
def test_every_pitfall_runs_live_and_is_worded(name, wrong, right):
    with gr.Blocks():
        slots = tab.pitfall_slots(f"compose.{name}")
    head, wrong_md, right_md = tab.run_pitfall(name, slots)
    assert head.startswith(f"#### {locales.text('en', f'pitfall.compose.{name}.title')}")
    assert "{" not in head.replace("`{", "")  # every fact filled in
    assert wrong in wrong_md and right in right_md
    assert "class " not in wrong_md or name in ("mysequential", "pseudo_code")


def test_walk_throughs_run_the_tutorial_listings():
    sequential = tab.run_walk("sequential")
    assert "['0', '1', '2']" in sequential and "torch.Size([1, 10])" in sequential
    assert "Linear(in_features=256, out_features=10, bias=True)\nTrue" in sequential  # net2[-1], net2.fc1 is net2[0]
    containers = tab.run_walk("containers")
    assert "5 Linear(in_features=256, out_features=10, bias=True)" in containers  # len(net), net[2] after extend
    assert "Linear(in_features=784, out_features=256, bias=True)\nLinear(in_features=256, out_features=10" in containers
    assert "['linear', 'act', 'output']" in containers


def test_residual_stack_and_its_code_alone(tmp_path):
    printed, table, totals, code = tab.run_residual(784, 64, 3, 10)
    assert printed.startswith("ResidualMLP(")
    assert "(0-2): 3 x ResidualBlock(" in printed  # print() folds identical blocks
    assert "blocks.2.fc2" in list(table.name)
    model_total = 784 * 64 + 64 + 3 * (2 * 64 + 64 * 128 + 128 + 128 * 64 + 64) + 64 * 10 + 10
    assert f"**{model_total:,}** parameters" in totals and "(2, 10)" in totals
    out = run_alone(code, tmp_path)
    assert out.startswith(printed + "\n") and f"{model_total:,} parameters" in out
    values = totals.split("`")[1].replace(" …", "").split(", ")
    printed_values = out.strip().splitlines()[-1].split("[")[1].rstrip("]").split(", ")
    assert [f"{float(v):.4f}" for v in printed_values] == values
    with pytest.raises(gr.Error, match="Blocks \\(depth\\) is 9; a whole number from 1 to 8 is accepted."):
        guarded(tab.run_residual)(784, 64, 9, 10)


def test_the_code_panel_runs_as_a_notebook(tmp_path):
    import nbclient

    *_, code, _, _ = tab.run_compose(compose.DEFAULT_LAYERS, "modulelist", "1x784", {})
    nb = nbformat.reads(to_notebook(code, "## 5.1 · test"), as_version=4)
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    printed = "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)
    assert printed.startswith("ListNet(\n  (layers): ModuleList(") and "output (1, 10)" in printed


def test_links_parse_what_the_address_bar_holds():
    assert tab._layers_link("nn.ReLU()") == "nn.ReLU()" and tab._shape_link("2x784") == "2x784"
    assert compose.check_style("modulelist") == "modulelist"
    for parse, bad in ((tab._layers_link, "os.system('ls')"), (tab._shape_link, "0x1"), (compose.check_style, "x")):
        with pytest.raises(ValueError):
            parse(bad)


def test_intro_and_allowed_state_the_bounds_the_lab_checks():
    for lang in locales.LANGS:
        allowed = locales.text(lang, "compose.allowed")
        for bound in (str(compose.MAX_LAYERS), f"{compose.MAX_PARAMS:,}", f"{compose.MAX_INT_ARGUMENT:,}"):
            assert bound in allowed, (lang, bound)
        residual = locales.text(lang, "compose.residual.intro")
        assert str(compose.MAX_RESIDUAL_WIDTH) in residual and str(compose.MAX_RESIDUAL_DEPTH) in residual


# --- through gradio_client -------------------------------------------------------------------------------------


@pytest.mark.api
def test_api_build_every_style(client):
    for style in compose.STYLES:
        printed, table, totals, code, equivalence = client.predict(
            compose.DEFAULT_LAYERS, style, "1x784", api_name="/compose_build"
        )
        rows = table["data"]
        assert [row[table["headers"].index("type")] for row in rows][-3:] == ["Linear", "ReLU", "Linear"]
        assert "203,530" in totals
        assert str(run_code(code)["net"]) == printed
    assert printed.startswith("DictNet(")


@pytest.mark.api
def test_api_pasted_listing_and_notebook(client):
    text, shape = compose.EXAMPLES["5.1.4 ModuleDict listing"]
    printed, table, totals, code, equivalence = client.predict(text, "moduledict", shape, api_name="/compose_build")
    assert "(output): Linear(in_features=256, out_features=10" in printed
    path = client.predict(code, api_name="/compose_notebook")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.startswith("## 5.1 · Define a model")


@pytest.mark.api
def test_api_bad_input_is_an_app_error_and_app_stays_usable(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not an allowed layer"):
        client.predict("nn.Foo(3)", "sequential", "1x784", api_name="/compose_build")
    *_, equivalence = client.predict(compose.DEFAULT_LAYERS, "modulelist", "2, 784", api_name="/compose_style")
    assert len(equivalence["data"]) == 4


@pytest.mark.api
def test_api_pitfalls_residual_and_walks(client):
    head, wrong, right = client.predict(api_name="/compose_pitfall")  # the old name: the ModuleList pitfall
    assert "NotImplementedError" in wrong and "(1, 10)" in right
    head, wrong, right = client.predict(api_name="/compose_pitfall_mysequential_open")
    assert "NameError" in wrong and "OrderedDict" in head
    printed, table, totals, code = client.predict(784, 32, 2, 10, api_name="/compose_residual")
    assert "(0-1): 2 x ResidualBlock(" in printed and "(2, 10)" in totals
    assert "ModuleDict(" in client.predict(api_name="/compose_walk_containers")


# --- in Chromium -----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_first_view_error_that_stays_and_pitfall(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # the first forward in a fresh server imports torch's meta kernels (~2 s)
    open_tab(page, "Compose")
    # the tutorial's 5.1.2 MLP, computed without a click
    table = page.locator("#compose-table")
    expect(table).to_contain_text("(1, 10)")
    expect(page.locator("#compose-printed")).to_contain_text("(0): Linear(in_features=784, out_features=256")
    expect(page.locator("#compose-totals")).to_contain_text("203,530")
    expect(page.locator("#compose-code")).to_contain_text("nn.Sequential(")
    assert "tab=compose" in page.url and "style=sequential" in page.url

    # a refused text: one sentence beside the layers, no stale results under it
    page.locator("#compose-layers .cm-content").fill("nn.Linear(784, 256)\nnn.Linear(128, 10)")
    page.locator("#compose-run").click()
    expect(page.locator("#compose-error")).to_contain_text("expects input (*, 128) but got (1, 256)")
    expect(page.locator("#compose-totals")).not_to_contain_text("parameters")
    # the next run clears it; another style follows the radio
    page.locator("#compose-layers .cm-content").fill(compose.DEFAULT_LAYERS)
    page.locator("#compose-style").get_by_text("nn.ModuleDict").click()
    expect(table).to_contain_text("layers.fc2")
    expect(page.locator("#compose-error")).to_have_text("")
    expect(page.locator("#compose-equivalence")).to_contain_text("DictNet")
    assert "style=moduledict" in page.url

    page.locator("#compose-pitfall-modulelist-forward").get_by_text("Pitfall:").click()
    expect(page.locator("#pitfall-compose-modulelist-forward-wrong")).to_contain_text("NotImplementedError")
    # an example fills the inputs; running it shows a CNN's table
    page.locator("#compose-examples").get_by_text("Small CNN").click()
    expect(page.locator("#compose-shape input, #compose-shape textarea").first).to_have_value("2x3x32x32")
    page.locator("#compose-run").click()
    expect(table).to_contain_text("(2, 32, 16, 16)")
    page.shot("compose", full_page=True)


@pytest.mark.browser
def test_page_in_chinese_restores_a_link(browser, app_url):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{app_url}?tab=compose&style=modulelist&shape=3x784&layers=nn.Linear(784,%2032)%0Ann.ReLU()")
        expect(page.locator("#compose-printed")).to_contain_text("ListNet(")
        expect(page.locator("#compose-table")).to_contain_text("(3, 32)")
        expect(page.locator("#compose-totals")).to_contain_text("参数 **25,120** 个".replace("**", ""))
        expect(page.get_by_role("button", name="构建并运行")).to_be_visible()
        page.locator("#compose-pitfall-moduledict-order").get_by_text("坑").first.click()
        expect(page.locator("#pitfall-compose-moduledict-order")).to_contain_text("ModuleDict 保持插入顺序")
        page.screenshot(path=str(SCREENSHOTS / "compose_zh.png"), full_page=True)
    finally:
        context.close()
