"""LR schedules tab: callbacks directly, the launched app through gradio_client, the page in Chromium (English and
Chinese: the first view without a click, an error that stays beside its input, a link that restores a comparison)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from urllib.parse import quote

import gradio as gr
import numpy as np
import pandas as pd
import pytest

import locales
from lab import schedules as S
from lab.errors import LabError
from tests.conftest import SCREENSHOTS, open_tab
from ui import schedules as U
from ui.i18n import LANG, words

COMMON = (100, 1, 0.1, False, False, "")  # steps, steps per epoch, lr, log-y, epochs axis, metrics
N_FIELDS = sum(U.POOL.values())
VIEW = ("params", "plot", "table", "csv", "code", "summary", "current", "schedule")
COMPARISON = ("overlays", "plot", "pick", "link", "table", "csv", "summary")


def view(outputs) -> dict:
    """The drawing outputs of select/curve/preset (they end with these, in this order)."""
    return dict(zip(VIEW, outputs[-len(VIEW) :], strict=True))


def field_values(updates) -> list:
    """What the pooled fields hold after `_field_updates` (hidden ones empty)."""
    return [u.get("value") if u.get("visible") else None for u in updates]


def lrs(table: pd.DataFrame) -> np.ndarray:
    return table[locales.text("en", "schedules.col.lr")].to_numpy()


@pytest.fixture
def chinese():
    token = LANG.set("zh")
    yield
    LANG.reset(token)


# ------------------------------------------------------------------------------------ callbacks directly


@pytest.mark.parametrize("name", S.NAMES)
def test_select_shows_the_schedulers_fields_and_torchs_curve(name):
    out = U.select_scheduler(name, *COMMON, [])
    updates = out[:N_FIELDS]
    shown = [u["label"] for u in updates if u.get("visible")]
    assert sorted(shown) == sorted(s.name for s in S.param_specs(name))
    assert all(u.get("info") for u in updates if u.get("visible"))  # a line of help each
    v = view(out)
    expected = S.lr_curve(name, S.default_params(name), steps=100)
    np.testing.assert_array_equal(lrs(v["table"]), expected["lr"])
    assert v["schedule"] == S.ScheduleSpec.of(name, S.default_params(name))  # typed, for the Train tab
    # the fields read back give the same schedule (what the curve event sends)
    again = view(U.show_curve(name, *COMMON, [], *field_values(updates)))
    np.testing.assert_array_equal(lrs(again["table"]), expected["lr"])


def test_help_and_fields_speak_the_visitors_language(chinese):
    out = U.select_scheduler("OneCycleLR", *COMMON, [])
    help_text = out[N_FIELDS + 1]
    assert help_text.startswith("**OneCycleLR**（每个 batch 之后 step 一次）") and "max_lr" in help_text
    infos = {u["label"]: u["info"] for u in out[:N_FIELDS] if u.get("visible")}
    assert infos["max_lr"] == "必填：学习率的峰值" and "Smith 原论文" in infos["three_phase"]
    v = view(out)
    assert "每个 batch step 一次" in v["summary"] and v["plot"].layout.yaxis.title.text == "学习率"
    assert list(v["table"].columns) == ["step", "epoch", "学习率"]


@pytest.mark.parametrize("name", ["StepLR", "SequentialLR", "ReduceLROnPlateau", "LambdaLR", "AdjustLearningRate"])
def test_code_panel_prints_the_table(name, tmp_path):
    v = view(U.select_scheduler(name, 60, 3, 0.05, False, True, "", []))
    (tmp_path / "lr.py").write_text(v["code"], encoding="utf-8")
    done = subprocess.run([sys.executable, "-I", "lr.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=True)  # fmt: skip
    printed = [float(line.split()[1]) for line in done.stdout.splitlines()]
    assert printed == lrs(v["table"]).tolist()


def test_csv_holds_the_whole_comparison_and_the_table_is_thinned():
    a = S.Curve.of("StepLR", {"step_size": 1000}, steps=3000)
    values = field_values(U._field_updates("CosineAnnealingLR", {"T_max": 5000}))
    v = view(U.show_curve("CosineAnnealingLR", 5000, 1, 0.1, True, False, "", [a], *values))
    csv = pd.read_csv(v["csv"])
    assert list(csv.columns) == ["step", "epoch", "lr", "#1 StepLR(step_size=1000)"] and len(csv) == 5000
    np.testing.assert_array_equal(csv["lr"], S.lr_curve("CosineAnnealingLR", {"T_max": 5000}, steps=5000)["lr"])
    np.testing.assert_array_equal(csv["#1 StepLR(step_size=1000)"][:3000], S.curve_frame(a)["lr"])
    assert csv["#1 StepLR(step_size=1000)"][3000:].isna().all()  # aligned by step
    assert len(v["table"]) <= U.TABLE_ROWS + 1 and v["plot"].layout.yaxis.type == "log"


def test_overlay_add_remove_clear():
    a = view(U.select_scheduler("StepLR", *COMMON, []))["current"]
    b = view(U.select_scheduler("ExponentialLR", *COMMON, []))["current"]
    out = dict(zip(COMPARISON, U.add_overlay([], a, False, False), strict=True))
    out = dict(zip(COMPARISON, U.add_overlay(out["overlays"], b, False, False), strict=True))
    names = [t.name for t in out["plot"].data if t.name != "marks"]
    assert names == ["ExponentialLR(gamma=0.95) = #2", "#1 StepLR(step_size=30)"]  # the current one drawn once
    assert out["pick"]["choices"] == ["1 · StepLR(step_size=30)", "2 · ExponentialLR(gamma=0.95)"]
    assert json.loads(out["link"]) == [a.to_link(), b.to_link()]
    assert "#2" in out["summary"] and list(pd.read_csv(out["csv"]).columns)[3:] == [
        "#1 StepLR(step_size=30)", "#2 ExponentialLR(gamma=0.95)"]
    again = dict(zip(COMPARISON, U.add_overlay(out["overlays"], b, False, False), strict=True))
    assert again["overlays"] == out["overlays"]  # adding the current curve twice changes nothing
    out = dict(zip(COMPARISON, U.remove_overlay(out["overlays"], "1 · StepLR(step_size=30)", b, False, False),
                   strict=True))  # fmt: skip
    assert out["overlays"] == [b] and out["pick"]["choices"] == ["1 · ExponentialLR(gamma=0.95)"]
    out = dict(zip(COMPARISON, U.clear_overlays(b, False, False), strict=True))
    assert out["overlays"] == [] and out["pick"]["choices"] == [] and out["link"] == ""
    full = [S.Curve.of("ExponentialLR", {"gamma": 0.5 + i / 100}) for i in range(U.MAX_OVERLAYS)]
    with pytest.raises(LabError, match=f"at most {U.MAX_OVERLAYS} curves"):
        U.add_overlay(full, a, False, False)
    with pytest.raises(LabError, match="empty"):
        U.remove_overlay([], None, a, False, False)
    with pytest.raises(LabError, match="no curve to add"):
        U.add_overlay([], None, False, False)


@pytest.mark.parametrize("preset", list(S.PRESETS))
def test_presets(preset):
    out = U.apply_preset(preset, 0.1, False)
    name, steps, spe = out[:3]
    setup = S.PRESETS[preset]
    assert (name, steps, spe) == (setup["name"], setup["steps"], setup["steps_per_epoch"])
    overlays = out[4 + N_FIELDS + 3]
    assert len(overlays) == len(setup["compare"])
    v = view(out)
    if preset == "tutorial_6_2_2":  # the tutorial's function, StepLR(30, 0.1) and LambdaLR: one and the same curve
        for other in overlays:
            np.testing.assert_allclose(S.curve_frame(other)["lr"], lrs(v["table"]), rtol=1e-12)
    if name == "ReduceLROnPlateau":
        assert any(t.yaxis == "y2" for t in v["plot"].data)
    if name in ("CosineAnnealingWarmRestarts", "SequentialLR"):
        assert v["plot"].layout.shapes  # restart / hand-over marks


def test_schedule_goes_to_the_train_tab_typed():
    values = field_values(U._field_updates("OneCycleLR", {**S.default_params("OneCycleLR"), "max_lr": 0.3}))
    v = view(U.show_curve("OneCycleLR", 200, 20, 0.1, False, True, "", [], *values))
    assert v["schedule"] == S.ScheduleSpec("OneCycleLR", '{"max_lr": 0.3}') and v["schedule"].kwargs()["max_lr"] == 0.3
    assert len(U.redraw("OneCycleLR", 200, 20, 0.1, True, True, "", [], *values)) == len(VIEW) - 1  # no schedule


def test_plateau_reads_typed_metrics():
    values = field_values(U._field_updates("ReduceLROnPlateau", {"patience": 1}))
    metrics = "1, 0.9, 0.9, 0.9, 0.9, 0.9"
    v = view(U.show_curve("ReduceLROnPlateau", 6, 1, 0.1, False, False, metrics, [], *values))
    expected = S.lr_curve("ReduceLROnPlateau", {"patience": 1}, steps=6, metrics=[1, 0.9, 0.9, 0.9, 0.9, 0.9])
    np.testing.assert_array_equal(lrs(v["table"]), expected["lr"])


@pytest.mark.parametrize(
    "name, params, common, english, chinese",
    [
        ("StepLR", {"gamma": 0.1}, COMMON, "StepLR needs step_size", "StepLR 需要参数 step_size"),
        ("StepLR", {"step_size": 30}, (100_001, 1, 0.1, False, False, ""), "steps is 100001", "steps（step 数）"),
        ("LambdaLR", {"lr_lambda": "__import__('os').system('id')"}, COMMON, "not allowed", "这是不允许的"),
        ("ReduceLROnPlateau", {"factor": 1.0}, COMMON, "factor is 1.0", "factor 的值为 1.0"),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10}, COMMON, "torch refuses", "torch 不接受"),
        ("SequentialLR", {"schedulers": "[{]", "milestones": "5"}, COMMON, "not valid JSON", "不是合法的 JSON"),
        ("ReduceLROnPlateau", {}, (100, 1, 0.1, False, False, "1, two"), "metrics must be numbers", "metrics 必须"),
    ],
)
def test_bad_input_is_one_sentence_in_both_languages(name, params, common, english, chinese):
    values = field_values(U._field_updates(name, params))
    with pytest.raises(LabError) as info:
        U.show_curve(name, *common, [], *values)
    assert english in str(info.value) and str(info.value).endswith(".") and "\n" not in str(info.value)
    token = LANG.set("zh")
    try:
        assert chinese in words(info.value)
    finally:
        LANG.reset(token)


def test_json_endpoint_for_scripts():
    with pytest.raises(LabError, match="not valid JSON"):
        U.curve_json("StepLR", "{step_size: 30}")
    with pytest.raises(LabError, match="dict of keyword arguments"):
        U.curve_json("StepLR", "[30]")
    out = U.curve_json("StepLR", '{"step_size": 3}', 10)
    assert out["lr"][3] == pytest.approx(0.01) and out["params"] == {"step_size": 3}
    assert "StepLR(optimizer" in out["code"]


def test_first_view_and_links():
    out = U.open_view("StepLR", json.dumps(U.DEFAULT_PARAMS), 100, 1, 0.1, False, False, "", "")
    summary, overlays, current = out[-4], out[-3], out[-1]
    assert summary.startswith("`StepLR(step_size=30)`") and overlays == [] and current == S.Curve.of("StepLR", {
        "step_size": 30})  # fmt: skip
    link = S.overlays_to_link([S.Curve.of("ExponentialLR", {"gamma": 0.9})])
    out = U.open_view("StepLR", '{"step_size": 0}', 100, 1, 0.1, True, False, "", link + "x")  # a bad comparison
    assert "⚠️" in out[-4] and out[-3] == []
    out = U.open_view("StepLR", '{"step_size": 0}', 100, 1, 0.1, True, False, "", link)
    assert "torch's defaults are shown" in out[-4] and out[-3] == [S.Curve.of("ExponentialLR", {"gamma": 0.9})]
    # a link's values are checked one by one (a refused one is ignored by first_view with a note)
    assert U.LINK_PARSERS["cmp"](link) == link and U.LINK_PARSERS["log"]("true") is True
    for key, raw in [("steps", "0"), ("lr", "11"), ("scheduler", "Nope"), ("log", "maybe"), ("params", "[1]"),
                     ("cmp", json.dumps([["StepLR", {}]] * 9)), ("metrics", "1, two")]:
        with pytest.raises((LabError, ValueError)):
            U.LINK_PARSERS[key](raw)


def test_pitfalls_fill_their_slots(chinese):
    class Slot:  # what pitfall_view reads of a slot: whether it has a table and a plot
        def __init__(self, table: bool, plot: bool) -> None:
            self.table, self.plot = (object() if table else None), (object() if plot else None)

    slots = [Slot(*shape) for shape in U.PITFALLS.values()]
    updates = U.show_pitfalls(0.1, slots)
    assert len(updates) == sum(3 + table + plot for table, plot in U.PITFALLS.values())
    heads = [u for u in updates if isinstance(u, str) and u.startswith("####")]
    assert heads[0].startswith("#### 使用示例编译不过 · 6.2.1") and "TabError" in updates[1]
    tables = [u for u in updates if isinstance(u, gr.Dataframe)]
    assert "参数组" in list(tables[-1].value["headers"])


# ------------------------------------------------------------------------------------ through gradio_client


@pytest.mark.api
def test_client_fetches_a_curve_and_its_csv(client):
    out = client.predict("CosineAnnealingLR", 100, 1, 0.1, False, False, "", api_name="/schedules_select")
    table, csv_path, code, summary = out[-4:]  # gr.State outputs do not reach the client
    expected = S.lr_curve("CosineAnnealingLR", {"T_max": 100}, steps=100)["lr"].to_numpy()
    np.testing.assert_allclose([row[2] for row in table["data"]], expected, rtol=1e-12)
    np.testing.assert_allclose(pd.read_csv(csv_path)["lr"], expected, rtol=1e-15)
    assert "CosineAnnealingLR(optimizer, T_max=100)" in code and summary.startswith("`CosineAnnealingLR(T_max=100)`")


@pytest.mark.api
def test_client_json_endpoint_for_scripts(client):
    params = S.PRESETS["warmup_cosine"]["params"]
    out = client.predict("SequentialLR", json.dumps(params), 200, 2, 0.05, api_name="/schedules_curve_json")
    expected = S.lr_curve("SequentialLR", params, steps=200, steps_per_epoch=2, base_lr=0.05)
    np.testing.assert_allclose(out["lr"], expected["lr"], rtol=1e-12)
    assert out["epoch"][3] == 1.5 and out["label"].startswith("SequentialLR([LinearLR(")


@pytest.mark.api
def test_client_comparison_and_its_csv(client):
    client.predict("ExponentialLR", api_name="/schedules_select")
    client.predict(api_name="/schedules_clear")
    _, pick, link, _, csv_path, _ = client.predict(api_name="/schedules_add")
    client.predict("StepLR", api_name="/schedules_select")
    plot, pick, link, _, csv_path, summary = client.predict(api_name="/schedules_add")
    assert [c[0] for c in pick["choices"]] == ["1 · ExponentialLR(gamma=0.95)", "2 · StepLR(step_size=30)"]
    assert json.loads(link)[1][0] == "StepLR" and "#2" in summary
    assert list(pd.read_csv(csv_path).columns) == ["step", "epoch", "lr", "#1 ExponentialLR(gamma=0.95)",
                                                   "#2 StepLR(step_size=30)"]  # fmt: skip


@pytest.mark.api
def test_client_gets_one_sentence_errors(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="steps is 100001"):
        client.predict("StepLR", 100_001, api_name="/schedules_select")


# ------------------------------------------------------------------------------------ in a real browser


@pytest.fixture
def expect():
    """playwright's expect, patient: on a loaded 2-core machine a queued event can wait many seconds."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=60_000)
    yield playwright_expect
    playwright_expect.set_options(timeout=5_000)


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.browser
def test_browser_first_view_overlays_and_the_address_bar(page, expect):
    open_tab(page, "LR schedules")
    summary = page.locator("#schedules-summary")
    expect(summary).to_contain_text("StepLR(step_size=30)")  # drawn when the tab opens, no click
    expect(page.locator("#schedules-code")).to_contain_text("StepLR(optimizer, step_size=30)")
    expect(page.locator("#schedules-table")).to_contain_text("0.0001")
    expect(page.locator("#schedules-number-0 label")).to_contain_text("step_size")
    page.locator("#schedules-add").click()
    expect(page.locator("#schedules-pick input")).to_have_value("1 · StepLR(step_size=30)")
    legend = page.locator("#schedules-plot .legend")
    expect(legend).to_contain_text("StepLR(step_size=30) = #1")  # the current curve and its copy: drawn once
    choose(page, "schedules-name", "CosineAnnealingWarmRestarts")
    expect(summary).to_contain_text("CosineAnnealingWarmRestarts(T_0=10)")
    expect(page.locator("#schedules-number-0 label")).to_contain_text("T_0")
    page.locator("#schedules-add").click()
    expect(page.locator("#schedules-pick input")).to_have_value("2 · CosineAnnealingWarmRestarts(T_0=10)")
    expect(legend).to_contain_text("#1 StepLR(step_size=30)")
    # a parameter edit redraws the curve and the address follows
    field = page.locator("#schedules-number-0 input")
    field.fill("25")
    field.press("Enter")
    expect(summary).to_contain_text("CosineAnnealingWarmRestarts(T_0=25)")
    expect(page.locator("#schedules-code")).to_contain_text("CosineAnnealingWarmRestarts(optimizer, T_0=25)")
    page.wait_for_url(re.compile(r"tab=schedules.*T_0%22%3A\+?25"))  # the address bar follows the edit
    url = page.url  # copied at once: see test_browser_address_stays_on_this_tab
    assert "cmp=" in url and "scheduler=CosineAnnealingWarmRestarts" in url
    page.locator("#schedules-plot").scroll_into_view_if_needed()
    page.shot("schedules")
    # the copied address reopens the same comparison in a fresh page
    fresh = page.context.new_page()
    fresh.set_default_timeout(30_000)
    fresh.goto(url)
    expect(fresh.locator("#schedules-summary")).to_contain_text("CosineAnnealingWarmRestarts(T_0=25)")
    expect(fresh.locator("#schedules-plot .legend")).to_contain_text("#2 CosineAnnealingWarmRestarts(T_0=10)")
    expect(fresh.locator("#schedules-plot .legend")).to_contain_text("#1 StepLR(step_size=30)")


@pytest.mark.browser
def test_browser_address_stays_on_this_tab(page, expect):
    open_tab(page, "LR schedules")
    expect(page.locator("#schedules-summary")).to_contain_text("StepLR(step_size=30)")
    choose(page, "schedules-name", "ExponentialLR")
    expect(page.locator("#schedules-summary")).to_contain_text("ExponentialLR(gamma=0.95)")
    page.wait_for_timeout(3000)  # the Train tab's preview follows the chosen schedule meanwhile
    assert "tab=schedules" in page.url and "scheduler=ExponentialLR" in page.url, page.url


@pytest.mark.browser
def test_browser_an_error_stays_beside_the_inputs_until_the_next_run(page, expect):
    open_tab(page, "LR schedules")
    expect(page.locator("#schedules-summary")).to_contain_text("StepLR(step_size=30)")
    steps = page.locator("#schedules-steps input")
    steps.fill("0")
    steps.press("Enter")
    error = page.locator("#schedules-error")
    expect(error).to_contain_text("steps is 0; a whole number from 1 to 100,000 is accepted.")
    expect(page.locator("#schedules-summary")).to_have_text("")  # no stale result under the error
    page.wait_for_timeout(1500)
    expect(error).to_contain_text("steps is 0")  # it stays (no toast that fades)
    steps.fill("90")
    steps.press("Enter")
    expect(page.locator("#schedules-summary")).to_contain_text("90 steps")
    expect(error).to_have_text("")


@pytest.mark.browser
def test_browser_link_restores_a_comparison_and_ignores_bad_values(browser, app_url, expect):
    cmp = S.overlays_to_link([S.Curve.of("StepLR", {"step_size": 10}, steps=50)])
    query = (f"?tab=schedules&scheduler=ExponentialLR&params={quote(json.dumps({'gamma': 0.9}))}&steps=50&log=true"
             f"&cmp={quote(cmp)}&spe=0")  # fmt: skip
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(app_url + query)
        expect(page.locator("#schedules-summary")).to_contain_text("ExponentialLR(gamma=0.9)")
        expect(page.locator("#schedules-summary")).to_contain_text("50 steps")
        expect(page.locator("#schedules-pick input")).to_have_value("1 · StepLR(step_size=10)")
        expect(page.locator("#schedules-log input")).to_be_checked()
        expect(page.locator("#lab-note")).to_contain_text("spe=")  # the bad value, ignored with a note
    finally:
        context.close()


@pytest.mark.browser
def test_browser_in_chinese(browser, app_url, expect):
    context = browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(app_url)
        page.wait_for_selector("#lab-header")
        open_tab(page, locales.text("zh", "tab.schedules"))
        expect(page.locator("#schedules-summary")).to_contain_text("每个 epoch step 一次")
        expect(page.get_by_text("动态调整学习率（教程 6.2）")).to_be_visible()
        expect(page.locator("#schedules-number-0")).to_contain_text("两次衰减之间隔多少个 epoch")
        page.locator("#schedules-pitfall").get_by_text(locales.text("zh", "pitfall.accordion")).click()
        expect(page.locator("#pitfall-schedules-usage-tab-error")).to_contain_text("使用示例编译不过 · 6.2.1")
        expect(page.locator("#pitfall-schedules-usage-tab-error-wrong")).to_contain_text("TabError")
        steps = page.locator("#schedules-steps input")
        steps.fill("0")
        steps.press("Enter")
        expect(page.locator("#schedules-error")).to_contain_text("1 到 100,000 之间的整数")
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "schedules-zh.png"))
    finally:
        context.close()
