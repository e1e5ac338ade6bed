"""Losses tab: callbacks directly, the code panels run alone, the launched app through gradio_client, the page in
Chromium (English and Chinese, the first view, an error that stays, a link that restores the view)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from lab import losses as L
from lab.errors import LabError
from lab.segment import SHIPPED_WEIGHTS
from tests.conftest import open_tab
from ui import losses as U
from ui.common import guarded

SAMPLE = L.default_sample()
DEFAULTS = (SAMPLE, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT, 1.0, 0.25, 2.0)  # inputs of /losses_mask
OPEN = (U.DEFAULT_COMPARE, U.DEFAULT_CHOSEN, 1.0, 0.25, 2.0, SAMPLE, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT)
HAS_UNET = SHIPPED_WEIGHTS.exists()
PRINTED = re.compile(r"^(\w+): (-?[0-9.]+(?:e-?\d+)?)$", re.M)


def run_panel(code: str, files: list[str], tmp_path: Path) -> tuple[str, float]:
    """Run a code panel with `python -I` in an empty folder holding only the files the page offers; (name, value)."""
    folder = tmp_path / "panel"
    folder.mkdir()
    for path in files:
        shutil.copy(path, folder / Path(path).name)
    (folder / "panel.py").write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "panel.py"], cwd=folder, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    match = PRINTED.search(done.stdout)
    assert match, done.stdout
    return match.group(1), float(match.group(2))


# ------------------------------------------------------------------------------------ callbacks directly


def test_first_view_has_curves_mask_and_code():
    curves, table, bars, maps, summary, code, files = U.open_view(*OPEN)
    assert len(curves.data) == len(U.DEFAULT_COMPARE) * 4  # value and gradient, target 1 and 0
    assert list(table.columns) == U.TABLE_COLUMNS and len(table) == len(L.NAMES)
    assert "Dice" in summary and len(maps.data) == 4 and len(bars.data) == 2
    assert "class DiceBCELoss(nn.Module):" in code and [Path(f).name for f in files] == [f"{SAMPLE}_mask.png"]


def test_curves_default_view():
    fig = U.show_curves(U.DEFAULT_COMPARE, 1.0, 0.25, 2.0)
    bce = [t for t in fig.data if t.name == "BCEWithLogits"]
    # traces per loss: (target 1: value, gradient), (target 0: value, gradient)
    np.testing.assert_allclose(bce[1].y, np.asarray(bce[1].x) - 1, atol=1e-9)  # d BCE / d logit = p - 1
    np.testing.assert_allclose(bce[3].y, bce[3].x, atol=1e-9)  # target 0: p


def test_mask_table_matches_the_losses():
    table, *_ = U.show_mask(*DEFAULTS)
    _, probs, targets = L.prediction(*DEFAULTS[:3])
    dice = table.set_index("loss").loc["Dice"]
    assert dice["value"] == pytest.approx(L.DiceLoss(1.0)(L.as_logits(probs), targets).item(), abs=1e-6)
    assert dice["tutorial's class"] == pytest.approx(dice["value"], abs=1e-5)  # same formula at moderate logits
    assert table["tutorial's class"].isna().sum() == len(L.NAMES) - len(L.TUTORIAL)


CASES = [("dice_bce", "blur", 0.25), ("focal", "noise", 0.4), ("huber", "shift", 0.1), ("iou", "erode", 0.2),
         ("mse", "dilate", 0.3), ("dice", "unet", 0.0)]


@pytest.mark.parametrize("chosen, source, amount", CASES)
def test_code_panel_runs_alone_and_prints_the_tabs_value(chosen, source, amount, tmp_path):
    if source == "unet" and not HAS_UNET:
        pytest.skip("assets/unet_small.safetensors not built")
    args = (SAMPLE, source, amount, 0.5, 0.3, 1.5)
    table = U.show_mask(*args)[0].set_index("loss")
    code, files = U.show_code(chosen, *args)
    imports = [n for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not any("lab" in ast.unparse(n) for n in imports) and "/" not in "".join(Path(f).name for f in files)
    name, value = run_panel(code, files, tmp_path)
    assert value == pytest.approx(table.loc[L.LABELS[chosen], "value"], abs=2e-6)
    assert name in code


@pytest.mark.slow
def test_notebook_of_the_code_panel_executes(tmp_path):
    import nbclient
    import nbformat

    from ui.widgets import notebook_file

    code, files = U.show_code("focal", *DEFAULTS)
    path = Path(notebook_file(code, "6.1", "test", "losses"))
    for f in files:
        shutil.copy(f, tmp_path / Path(f).name)
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "6.1" in nb.cells[0].source
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    value = float(PRINTED.search(printed).group(2))
    assert value == pytest.approx(U.show_mask(*DEFAULTS)[0].set_index("loss").loc["Focal", "value"], abs=2e-6)


def test_choose_hands_a_loss_spec_to_the_train_tab():
    assert U.choose("Focal", 1.0, None, 3.0) == L.LossSpec("focal", (("alpha", None), ("gamma", 3.0)))
    assert U.choose("dice_bce", 0.5, 0.25, 2.0) == L.LossSpec("dice_bce", (("smooth", 0.5),))


def test_choose_fires_on_edits_only():
    """The Train tab's loss changes when the visitor picks or edits it, never merely by opening the tab."""
    import app

    fn = next(f for f in app.demo.fns.values() if f.api_name == "losses_choose")
    assert {event for _, event in fn.targets} == {"input", "submit", "blur"}
    shared_loss = [b for b in fn.outputs if isinstance(b, gr.State)]
    assert len(shared_loss) == 1 and len(fn.outputs) == 1


@pytest.mark.parametrize("smooth, alpha, gamma, field", [(-1, 0.25, 2.0, "smooth"), (1.0, 1.5, 2.0, "alpha"),
                                                          (1.0, -0.2, 2.0, "alpha"), (1.0, 0.25, -1, "gamma")])
def test_bad_parameters_are_one_sentence_errors(smooth, alpha, gamma, field):
    for call in (lambda: U.show_curves(["dice"], smooth, alpha, gamma),
                 lambda: U.show_mask(SAMPLE, "blur", 0.25, smooth, alpha, gamma),
                 lambda: U.show_code("dice", SAMPLE, "blur", 0.25, smooth, alpha, gamma),
                 lambda: U.choose("dice", smooth, alpha, gamma)):
        with pytest.raises(gr.Error) as info:
            guarded(call)()
        message = info.value.message
        assert message.startswith(f"{field} is ") and message.count(". ") == 0 and message.endswith(".")


def test_no_loss_chosen_is_an_error():
    with pytest.raises(LabError, match="none chosen"):
        U.show_curves([], 1.0, 0.25, 2.0)


@pytest.mark.parametrize("name, raw, expected", [
    ("losses", '["Dice","focal"]', ["dice", "focal"]), ("losses", "iou,bce", ["iou", "bce"]),
    ("loss", "DiceLoss", "dice"), ("smooth", "0.5", 0.5), ("alpha", "1", 1.0), ("gamma", "0", 0.0),
    ("alpha", "none", None), ("sample", SAMPLE, SAMPLE), ("source", "unet", "unet"), ("amount", "0.4", 0.4),
])  # fmt: skip
def test_links_read_back_good_values(name, raw, expected):
    assert U.LINK_PARSERS[name](raw) == expected


@pytest.mark.parametrize("name, raw", [("losses", "[]"), ("losses", "hinge"), ("losses", "[" * 5000),
                                       ("loss", "x" * 500), ("smooth", "-1"),
                                       ("alpha", "2"), ("gamma", "nan"), ("sample", "../etc"), ("source", "melt"),
                                       ("amount", "1.5")])  # fmt: skip
def test_links_refuse_bad_values(name, raw):
    with pytest.raises(ValueError):  # LabError is a ValueError: the link's value is ignored with a note
        U.LINK_PARSERS[name](raw)


# -------------------------------------------------------------------------------------- gradio_client


@pytest.mark.api
def test_client_reads_default_values_table(client):
    result = client.predict(*DEFAULTS, api_name="/losses_mask")
    table = result[0]
    assert table["headers"] == U.TABLE_COLUMNS
    values = {row[0]: row[1] for row in table["data"]}
    expected = U.show_mask(*DEFAULTS)[0].set_index("loss")["value"]
    assert values.keys() == set(expected.index)
    for label, value in values.items():
        assert value == pytest.approx(expected[label], abs=1e-6)


@pytest.mark.api
def test_client_gets_error_for_bad_gamma(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="^gamma is -1"):
        client.predict(*DEFAULTS[:5], -1.0, api_name="/losses_mask")


@pytest.mark.api
def test_client_opens_the_first_view(new_client):
    out = new_client.predict(*OPEN, api_name="/losses_open")  # the 8 link settings first, the header's note last
    curves, table, bars, maps, summary, code, files = out[8:-1]
    assert "class DiceBCELoss" in code and "Dice" in summary and len(files) == 1


@pytest.mark.api
@pytest.mark.parametrize("name", [*L.PITFALLS, "focal"])
def test_client_runs_every_pitfall_live(client, name):
    if name == "focal":
        head, wrong, right, table, figure = client.predict(*DEFAULTS[:3], 0.25, 2.0, api_name="/losses_pitfall")
        assert "rescaled BCE" in head and "BCE_EXP" in wrong
        return
    head, wrong, right, *_ = client.predict(api_name=f"/losses_pitfall_{name}")
    assert head.startswith("#### ") and "6.1." in head and "```python" in wrong and "```python" in right
    if name == "dice_indentation":
        assert "TabError" in wrong and "line 5" in head


# ---------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_page_first_view_and_pitfalls_in_english(page):
    from playwright.sync_api import expect

    open_tab(page, "Losses")  # the tab's first view: no other click
    expect(page.locator("#losses-curves .js-plotly-plot")).to_be_visible(timeout=60_000)
    expect(page.locator("#losses-curves")).to_contain_text("d loss / d logit")
    expect(page.locator("#losses-table")).to_contain_text("Focal", timeout=30_000)
    expect(page.locator("#losses-code")).to_contain_text("class DiceBCELoss")
    expect(page.locator("#losses-files").get_by_role("cell", name=f"{SAMPLE}_mask.png")).to_be_visible()
    assert "tab=losses" in page.url and "loss=dice_bce" in page.url
    page.locator("#losses-pitfall").get_by_text("Pitfalls of the tutorial, run live").click()
    expect(page.locator("#pitfall-losses-dice-indentation-wrong")).to_contain_text("TabError", timeout=30_000)
    expect(page.locator("#pitfall-losses-focal-plot .js-plotly-plot")).to_be_visible(timeout=30_000)
    page.shot("losses", full_page=True)


@pytest.mark.browser
def test_page_in_chinese(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(app_url)
        page.get_by_role("tab", name="损失函数", exact=True).click()
        expect(page.locator("#losses-curves")).to_contain_text("单个像素", timeout=60_000)
        expect(page.get_by_text("自定义损失函数（教程 6.1）")).to_be_visible()
        expect(page.locator("#losses-table")).to_contain_text("教程的类", timeout=30_000)
        expect(page.locator("#losses-summary")).to_contain_text("以 0.5 为阈值")
        page.locator("#losses-pitfall").get_by_text("教程中的坑：现场运行").click()
        expect(page.locator("#pitfall-losses-focal")).to_contain_text("缩放", timeout=30_000)
        page.screenshot(path=str(Path(__file__).parent / "screenshots" / "losses_zh.png"), full_page=True)
    finally:
        context.close()


@pytest.mark.browser
def test_an_error_stays_beside_the_settings_until_the_next_run(page):
    from playwright.sync_api import expect

    open_tab(page, "Losses")
    expect(page.locator("#losses-table")).to_contain_text("Focal", timeout=60_000)
    expect(page.locator("#losses-code")).to_contain_text("import numpy as np", timeout=30_000)
    smooth = page.locator("#losses-smooth input")
    smooth.fill("-1")
    smooth.press("Enter")
    error = page.locator("#losses-error")
    expect(error).to_contain_text("smooth is -1", timeout=30_000)
    expect(page.locator("#losses-table")).not_to_contain_text("Focal", timeout=30_000)  # no stale result under it
    expect(page.locator("#losses-code")).not_to_contain_text("import numpy as np")
    page.locator("#losses-source").get_by_text("noise", exact=True).click()  # another setting: the sentence stays
    expect(error).to_contain_text("smooth is -1", timeout=30_000)
    smooth.fill("0.5")
    smooth.press("Enter")
    expect(page.locator("#losses-table")).to_contain_text("Focal", timeout=30_000)
    expect(page.locator("#losses-code")).to_contain_text("def noise(mask", timeout=30_000)  # the top of the code
    expect(error).not_to_contain_text("smooth")
    assert "smooth=0.5" in page.url and "source=noise" in page.url  # the address follows the settings


@pytest.mark.browser
def test_a_link_restores_the_settings(browser, app_url):
    """A copied address reopens the tab with its settings; a bad value is ignored with a note. (Which computed view
    lands last, the link's or the plain tab-select's, is decided in ui.common.first_view.)"""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(f"{app_url}?tab=losses&loss=focal&gamma=3&source=noise&amount=0.5&losses=%5B%22iou%22%5D&smooth=oops")
        expect(page.locator("#losses-gamma input")).to_have_value("3", timeout=60_000)
        expect(page.locator("#losses-chosen input")).to_have_value("Focal")
        expect(page.locator("#losses-compare")).to_contain_text("IoU (Jaccard)")
        expect(page.locator("#losses-amount input[type=number]")).to_have_value("0.5")
        expect(page.locator("#lab-note")).to_contain_text("smooth=oops")  # the bad value ignored, with a note
        expect(page.locator("#losses-code")).to_contain_text("import numpy as np", timeout=60_000)
        assert "loss=focal" in page.url and "gamma=3" in page.url
    finally:
        context.close()
