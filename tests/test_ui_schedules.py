"""LR schedules tab: callbacks directly, the launched app through gradio_client, the page in Chromium."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd
import pytest

from lab import schedules as S
from tests.conftest import open_tab, run_code
from ui import schedules as U

COMMON = (100, 1, 0.1, False, False, "")  # steps, steps per epoch, lr, log-y, epochs axis, metrics
N_FIELDS = sum(U.POOL.values())
VIEW = ("plot", "table", "csv", "code", "summary", "schedule", "current")


def view(outputs) -> dict:
    return dict(zip(VIEW, outputs[-len(VIEW) :], strict=True))


def field_values(updates) -> list:
    """What the pooled fields hold after `_field_updates` (hidden ones empty)."""
    return [u.get("value") if u.get("visible") else None for u in updates]


# ------------------------------------------------------------------------------------ callbacks directly


@pytest.mark.parametrize("name", S.NAMES)
def test_select_shows_the_schedulers_fields_and_torchs_curve(name):
    out = U.select_scheduler(name, *COMMON, [])
    updates = out[:N_FIELDS]
    shown = [u["label"].removesuffix(" (required)") for u in updates if u.get("visible")]
    assert sorted(shown) == sorted(s.name for s in S.param_specs(name))
    assert all(u.get("info") for u in updates if u.get("visible"))  # a line of help each
    v = view(out)
    expected = S.lr_curve(name, S.default_params(name), steps=100)
    np.testing.assert_allclose(v["table"]["lr"], expected["lr"], rtol=1e-12)
    assert v["schedule"]["name"] == name
    # the fields read back give the same schedule (what the curve event sends)
    again = view(U.show_curve(name, *COMMON, [], *field_values(updates)))
    np.testing.assert_allclose(again["table"]["lr"], expected["lr"], rtol=1e-12)


@pytest.mark.parametrize("name", ["StepLR", "SequentialLR", "ReduceLROnPlateau", "LambdaLR", "AdjustLearningRate"])
def test_code_panel_reproduces_the_table(name):
    v = view(U.select_scheduler(name, 60, 3, 0.05, False, True, "", []))
    lrs = run_code(v["code"])["lrs"]
    np.testing.assert_allclose(lrs, v["table"]["lr"], rtol=1e-12)


def test_csv_holds_every_step_and_table_is_thinned():
    values = field_values(U._field_updates("CosineAnnealingLR", {"T_max": 5000}))
    v = view(U.show_curve("CosineAnnealingLR", 5000, 1, 0.1, True, False, "", [], *values))
    csv = pd.read_csv(v["csv"])
    assert len(csv) == 5000 and len(v["table"]) <= U.TABLE_ROWS + 1
    expected = S.lr_curve("CosineAnnealingLR", {"T_max": 5000}, steps=5000)["lr"]
    np.testing.assert_allclose(csv["lr"], expected, rtol=1e-15)
    assert v["plot"].layout.yaxis.type == "log"


def test_overlay_add_remove_clear():
    a = view(U.select_scheduler("StepLR", *COMMON, []))["current"]
    b = view(U.select_scheduler("ExponentialLR", *COMMON, []))["current"]
    overlays, fig, pick = U.add_overlay([], a, False, False)
    overlays, fig, pick = U.add_overlay(overlays, b, False, False)
    assert [t.name for t in fig.data[:3]] == ["ExponentialLR(gamma=0.95)", "StepLR(step_size=30)",
                                             "ExponentialLR(gamma=0.95)"]  # fmt: skip
    assert pick["choices"] == ["1 · StepLR(step_size=30)", "2 · ExponentialLR(gamma=0.95)"]
    overlays, fig, pick = U.remove_overlay(overlays, "1 · StepLR(step_size=30)", b, False, False)
    assert [o["label"] for o in overlays] == ["ExponentialLR(gamma=0.95)"]
    overlays, fig, pick = U.clear_overlays(b, False, False)
    assert overlays == [] and pick["choices"] == []
    full = [a] * U.MAX_OVERLAYS
    with pytest.raises(gr.Error, match=f"at most {U.MAX_OVERLAYS}"):
        U.add_overlay(full, a, False, False)
    with pytest.raises(gr.Error, match="empty"):
        U.remove_overlay([], None, a, False, False)


@pytest.mark.parametrize("label", list(S.PRESETS))
def test_presets(label):
    out = U.apply_preset(label, 0.1, False)
    name, steps, spe = out[:3]
    preset = S.PRESETS[label]
    assert (name, steps, spe) == (preset["name"], preset["steps"], preset["steps_per_epoch"])
    overlays = out[4 + N_FIELDS + 2]
    assert len(overlays) == len(preset["compare"])
    v = view(out)
    if preset["compare"]:  # the tutorial's function and StepLR(30, 0.1): the same curve
        np.testing.assert_allclose(overlays[0]["df"]["lr"], v["current"]["df"]["lr"], rtol=1e-12)
    if name == "ReduceLROnPlateau":
        assert any(t.name == "metric (right axis)" for t in v["plot"].data)
    if name in ("CosineAnnealingWarmRestarts", "SequentialLR"):
        assert v["plot"].layout.shapes  # restart / hand-over marks


def test_schedule_goes_to_the_train_tab():
    values = field_values(U._field_updates("OneCycleLR", {**S.default_params("OneCycleLR"), "max_lr": 0.3}))
    v = view(U.show_curve("OneCycleLR", 200, 20, 0.1, False, True, "", [], *values))
    assert v["schedule"]["name"] == "OneCycleLR"
    assert v["schedule"]["params"]["max_lr"] == 0.3 and v["schedule"]["params"]["total_steps"] is None


def test_plateau_reads_typed_metrics():
    values = field_values(U._field_updates("ReduceLROnPlateau", {"patience": 1}))
    metrics = "1, 0.9, 0.9, 0.9, 0.9, 0.9"
    v = view(U.show_curve("ReduceLROnPlateau", 6, 1, 0.1, False, False, metrics, [], *values))
    expected = S.lr_curve("ReduceLROnPlateau", {"patience": 1}, steps=6, metrics=[1, 0.9, 0.9, 0.9, 0.9, 0.9])
    np.testing.assert_allclose(v["table"]["lr"], expected["lr"])


@pytest.mark.parametrize(
    "name, params, common, message",
    [
        ("StepLR", {"gamma": 0.1}, COMMON, "StepLR needs step_size"),
        ("StepLR", {"step_size": 30}, (100_001, 1, 0.1, False, False, ""), "steps=100001"),
        ("LambdaLR", {"lr_lambda": "__import__('os').system('id')"}, COMMON, "not allowed"),
        ("ReduceLROnPlateau", {"factor": 1.0}, COMMON, "factor=1.0"),
        ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10}, COMMON, "torch refuses"),
        ("SequentialLR", {"schedulers": "[{]", "milestones": "5"}, COMMON, "not valid JSON"),
        ("ReduceLROnPlateau", {}, (100, 1, 0.1, False, False, "1, two"), "metrics must be numbers"),
    ],
)
def test_bad_input_is_one_sentence_gr_error(name, params, common, message):
    values = field_values(U._field_updates(name, params))
    with pytest.raises(gr.Error, match=message) as info:
        U.show_curve(name, *common, [], *values)
    assert info.value.message.endswith(".") and "\n" not in info.value.message


def test_json_endpoint_refuses_bad_json():
    with pytest.raises(gr.Error, match="not valid JSON"):
        U.curve_json("StepLR", "{step_size: 30}")
    with pytest.raises(gr.Error, match="JSON object"):
        U.curve_json("StepLR", "[30]")
    assert U.curve_json("StepLR", '{"step_size": 3}', 10)["lr"][3] == pytest.approx(0.01)


def test_pitfall_panel_runs_both_loops():
    for kind, _ in [(k, t) for t, k in U.PITFALL_CHOICES]:
        fig, text, wrong, right = U.show_pitfall(kind, 0.1)
        assert len(fig.data) == 2 and text.startswith("**") and wrong != right
        assert not np.allclose(fig.data[0].y, fig.data[1].y)


# ------------------------------------------------------------------------------------ through gradio_client


@pytest.mark.api
def test_client_fetches_a_curve_and_its_csv(client):
    out = client.predict("CosineAnnealingLR", 100, 1, 0.1, False, False, "", api_name="/schedules_select")
    table, csv_path, code = out[-4:-1]  # gr.State outputs do not reach the client
    expected = S.lr_curve("CosineAnnealingLR", {"T_max": 100}, steps=100)["lr"].to_numpy()
    np.testing.assert_allclose([row[1] for row in table["data"]], expected, rtol=1e-12)
    np.testing.assert_allclose(pd.read_csv(csv_path)["lr"], expected, rtol=1e-15)
    assert "CosineAnnealingLR(optimizer, T_max=100)" in code


@pytest.mark.api
def test_client_json_endpoint_for_scripts(client):
    params = {"schedulers": [{"name": "LinearLR", "params": {"start_factor": 0.1, "total_iters": 5}},
                             {"name": "CosineAnnealingLR", "params": {"T_max": 95}}], "milestones": [5]}  # fmt: skip
    import json

    out = client.predict("SequentialLR", json.dumps(params), 200, 2, 0.05, api_name="/schedules_curve_json")
    expected = S.lr_curve("SequentialLR", params, steps=200, steps_per_epoch=2, base_lr=0.05)
    np.testing.assert_allclose(out["lr"], expected["lr"], rtol=1e-12)
    assert out["epoch"][3] == 1.5 and out["label"].startswith("SequentialLR([LinearLR(")


@pytest.mark.api
def test_client_gets_one_sentence_errors(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="steps=100001"):
        client.predict("StepLR", 100_001, api_name="/schedules_select")


# ------------------------------------------------------------------------------------ in a real browser


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


@pytest.mark.browser
def test_browser_overlays_two_schedulers(page):
    from playwright.sync_api import expect

    open_tab(page, "LR schedules")
    summary = page.locator("#schedules-summary")
    expect(summary).to_contain_text("StepLR(step_size=30)")  # drawn when the tab opens
    page.locator("#schedules-add").click()
    expect(page.locator("#schedules-pick input")).to_have_value("1 · StepLR(step_size=30)")
    choose(page, "schedules-name", "CosineAnnealingWarmRestarts")
    expect(summary).to_contain_text("CosineAnnealingWarmRestarts(T_0=10)")
    expect(page.locator("#schedules-number-0 label")).to_contain_text("T_0")
    page.locator("#schedules-add").click()
    expect(page.locator("#schedules-pick input")).to_have_value("2 · CosineAnnealingWarmRestarts(T_0=10)")
    legend = page.locator("#schedules-plot .legend")
    expect(legend).to_contain_text("StepLR(step_size=30)")
    expect(legend).to_contain_text("CosineAnnealingWarmRestarts(T_0=10)")
    # a parameter edit redraws the curve
    field = page.locator("#schedules-number-0 input")
    field.fill("25")
    field.press("Enter")
    expect(summary).to_contain_text("CosineAnnealingWarmRestarts(T_0=25)")
    expect(page.locator("#schedules-code")).to_contain_text("CosineAnnealingWarmRestarts(optimizer, T_0=25)")
    page.locator("#schedules-plot").scroll_into_view_if_needed()
    page.shot("schedules")
