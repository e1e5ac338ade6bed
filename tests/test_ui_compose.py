"""Compose tab (5.1): callbacks called directly, the launched app through gradio_client, the page in Chromium."""

from __future__ import annotations

import gradio as gr
import pytest
import torch

from lab import compose
from tests.conftest import open_tab, run_code
from ui import compose as tab
from ui.common import guarded

BAD_INPUTS = [
    ("nn.Foo(3)", "1x784", "not an allowed layer"),
    ("", "1x784", "empty"),
    ("nn.Linear(784, 256)\nnn.Linear(128, 10)", "1x784", "expects input (*, 128) but got (1, 256)"),
    ("nn.Linear(784, 10)", "0x784", "input shape (0, 784)"),
]


# --- callbacks, called directly ---------------------------------------------------------------------------------


def test_callback_defaults_fill_every_output_and_the_session_store():
    other = torch.nn.Linear(2, 2)
    printed, table, totals, code, equivalence, models = tab.run_compose(
        compose.DEFAULT_LAYERS, "ordereddict", "1x784", {"U-Net": other}
    )
    assert printed.startswith("Sequential(\n  (fc1): Linear(in_features=784, out_features=256, bias=True)")
    assert list(table.name) == ["fc1", "relu1", "fc2"]
    assert "**203,530** parameters" in totals and "(1, 10)" in totals
    assert str(run_code(code)["net"]) == printed
    assert list(equivalence["max |diff| copied weights"]) == ["0"] * 4
    assert models["U-Net"] is other and isinstance(models["Compose"], torch.nn.Sequential)


@pytest.mark.parametrize(("text", "shape", "message"), BAD_INPUTS)
def test_callback_bad_input_becomes_one_sentence_gr_error(text, shape, message):
    with pytest.raises(gr.Error) as info:
        guarded(tab.run_compose)(text, "sequential", shape, {})
    assert message in info.value.message
    assert "Traceback" not in info.value.message


def test_pitfall_callback_runs_live():
    bare, loop, order = tab.run_pitfall()
    assert bare.startswith("NotImplementedError") and "forward" in bare
    assert loop.endswith("(1, 10)")
    assert order.index("(linear)") < order.index("(act)") < order.index("(output)")


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
def test_api_bad_input_is_an_app_error_and_app_stays_usable(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="not an allowed layer"):
        client.predict("nn.Foo(3)", "sequential", "1x784", api_name="/compose_build")
    *_, equivalence = client.predict(compose.DEFAULT_LAYERS, "modulelist", "2, 784", api_name="/compose_style")
    assert len(equivalence["data"]) == 4


@pytest.mark.api
def test_api_pitfall(client):
    bare, loop, order = client.predict(api_name="/compose_pitfall")
    assert "NotImplementedError" in bare and "(1, 10)" in loop and "(output)" in order


# --- in Chromium -----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_click_through_reads_table(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)  # the first forward in a fresh server imports torch's meta kernels (~2 s)
    open_tab(page, "Compose")
    page.locator("#compose-run").click()
    table = page.locator("#compose-table")
    # the default style is plain nn.Sequential: index names, and the tutorial's own 5.1.2 printout
    expect(table).to_contain_text("(1, 10)", timeout=30_000)
    expect(page.locator("#compose-printed")).to_contain_text("(0): Linear(in_features=784, out_features=256")
    expect(page.locator("#compose-totals")).to_contain_text("203,530")
    rows = table.locator('[role="row"][data-index]')  # Gradio 6's virtualised body rows
    expect(rows).to_have_count(3)
    last = rows.nth(2).inner_text()
    assert "Linear" in last and "(1, 10)" in last and "2570" in last

    # another style: the table follows the radio
    page.locator("#compose-style").get_by_text("nn.ModuleDict").click()
    expect(table).to_contain_text("layers.fc2")
    expect(page.locator("#compose-equivalence")).to_contain_text("DictNet")
    page.locator("#compose-pitfall").get_by_text("Pitfall:").click()
    expect(page.locator("#compose-pitfall-bare textarea")).to_have_value(
        'NotImplementedError: Module [ModuleList] is missing the required "forward" function'
    )
    expect(page.locator("#compose-pitfall-dict")).to_contain_text("(output)")
    page.shot("compose", full_page=True)

    # bad input: a toast, and the page still works afterwards
    page.locator("#compose-layers .cm-content").fill("nn.Linear(784, 256)\nnn.Linear(128, 10)")
    page.locator("#compose-run").click()
    expect(page.get_by_text("expects input (*, 128) but got (1, 256)")).to_be_visible()
    page.locator("#compose-layers .cm-content").fill(compose.DEFAULT_LAYERS)
    page.locator("#compose-run").click()
    expect(page.locator("#compose-totals")).to_contain_text("203,530")

    # an example fills the inputs; running it shows a CNN's table
    page.locator("#compose-examples").get_by_text("Small CNN").click()
    expect(page.locator("#compose-shape input, #compose-shape textarea").first).to_have_value("2x3x32x32")
    page.locator("#compose-run").click()
    expect(table).to_contain_text("layers.conv2")
    expect(table).to_contain_text("(2, 32, 16, 16)")
