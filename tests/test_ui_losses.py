"""Losses tab: callbacks directly, the launched app through gradio_client, the page in Chromium."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch

from lab import losses as L
from lab.segment import ASSETS
from tests.conftest import open_tab, run_code
from ui import losses as U

SAMPLE = U._sample_names()[0]
DEFAULTS = (SAMPLE, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT, 1.0, 0.25, 2.0)  # inputs of /losses_mask
HAS_UNET = (ASSETS / "unet_small.safetensors").exists()


# ------------------------------------------------------------------------------------ callbacks directly


def test_curves_default_view():
    fig = U.show_curves(U.DEFAULT_COMPARE, 1.0, 0.25, 2.0)
    assert len(fig.data) == len(U.DEFAULT_COMPARE) * 4  # value and gradient, target 1 and 0
    bce = [t for t in fig.data if t.name == "BCEWithLogits"]
    # traces per loss: (target 1: value, gradient), (target 0: value, gradient)
    np.testing.assert_allclose(bce[1].y, np.asarray(bce[1].x) - 1, atol=1e-9)  # d BCE / d logit = p - 1
    np.testing.assert_allclose(bce[3].y, bce[3].x, atol=1e-9)  # target 0: p


def test_mask_table_matches_the_losses():
    table, bars, maps, summary = U.show_mask(*DEFAULTS)
    assert list(table.columns) == U.TABLE_COLUMNS and len(table) == len(L.NAMES)
    mask = torch.from_numpy(U._sample(SAMPLE).mask.copy()).float()[None, None]
    logits = L.as_logits(L.degrade(mask, U.DEFAULT_SOURCE, U.DEFAULT_AMOUNT))
    dice = table.set_index("loss").loc["Dice"]
    assert dice["value"] == pytest.approx(L.DiceLoss(1.0)(logits, mask).item(), abs=1e-6)
    assert dice["tutorial's class"] == pytest.approx(dice["value"], abs=1e-5)  # same formula at moderate logits
    assert table["tutorial's class"].isna().sum() == len(L.NAMES) - len(L.TUTORIAL)
    assert "Dice" in summary and len(maps.data) == 4 and len(bars.data) == 2


@pytest.mark.parametrize("chosen, source, amount", [("dice_bce", "blur", 0.25), ("focal", "noise", 0.4),
                                                     ("huber", "shift", 0.1), ("iou", "erode", 0.2)])
def test_code_panel_reproduces_the_table(chosen, source, amount):
    args = (SAMPLE, source, amount, 0.5, 0.3, 1.5)
    table = U.show_mask(*args)[0].set_index("loss")
    ns = run_code(U.show_code(chosen, *args))
    assert ns["loss"].item() == pytest.approx(table.loc[L.LABELS[chosen], "value"], abs=2e-6)


def test_pitfall_tutorial_focal_has_bce_gradient_shape():
    fig, focal_table, saturation, tutorial_code, corrected_code = U.show_pitfall(SAMPLE, "blur", 0.25, 0.25, 2.0)
    assert "BCE_EXP = torch.exp(-BCE)" in tutorial_code and 'reduction="none"' in corrected_code
    bce, tutorial, focal = fig.data
    np.testing.assert_allclose(tutorial.y, bce.y, rtol=1e-4)  # a rescaled BCE: same share per pixel
    assert not np.allclose(focal.y, bce.y, rtol=1e-2)
    row = saturation[(saturation["logit"] == 17.0) & (saturation["target"] == 0)].iloc[0]
    assert row["sigmoid + BCE: grad"] == 0 and row["with logits: grad"] == pytest.approx(1.0)
    assert len(focal_table) == 4


def test_choose_writes_the_train_tabs_loss():
    assert U.choose("Focal", 1.0, None, 3.0) == {"name": "focal", "params": {"alpha": None, "gamma": 3.0}}
    assert U.choose("dice_bce", 0.5, 0.25, 2.0) == {"name": "dice_bce", "params": {"smooth": 0.5}}


@pytest.mark.parametrize("smooth, alpha, gamma, field", [(-1, 0.25, 2.0, "smooth"), (1.0, 1.5, 2.0, "alpha"),
                                                          (1.0, -0.2, 2.0, "alpha"), (1.0, 0.25, -1, "gamma")])
def test_bad_parameters_are_one_sentence_errors(smooth, alpha, gamma, field):
    for call in (lambda: U.show_curves(["dice"], smooth, alpha, gamma),
                 lambda: U.show_mask(SAMPLE, "blur", 0.25, smooth, alpha, gamma),
                 lambda: U.choose("dice", smooth, alpha, gamma)):
        with pytest.raises(gr.Error, match=field) as info:
            call()
        assert info.value.message.count(". ") == 0 and info.value.message.endswith(".")


def test_no_loss_chosen_is_an_error():
    with pytest.raises(gr.Error, match="none chosen"):
        U.show_curves([], 1.0, 0.25, 2.0)


@pytest.mark.skipif(not HAS_UNET, reason="assets/unet_small.safetensors not built yet")
def test_unet_prediction_source_and_its_code():
    args = (SAMPLE, "unet", 0.0, 1.0, 0.25, 2.0)
    table, _, _, summary = U.show_mask(*args)
    assert table["value"].notna().all() and "Dice" in summary
    ns = run_code(U.show_code("dice", *args))
    assert ns["loss"].item() == pytest.approx(table.set_index("loss").loc["Dice", "value"], abs=2e-6)


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

    with pytest.raises(AppError, match="gamma"):
        client.predict(*DEFAULTS[:5], -1.0, api_name="/losses_mask")


# ---------------------------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_page_shows_curves(page):
    from playwright.sync_api import expect

    open_tab(page, "Losses")
    # every tab's load events share the queue: the first plot may take a while on a busy machine
    expect(page.locator("#losses-curves .js-plotly-plot")).to_be_visible(timeout=60_000)
    expect(page.locator("#losses-curves")).to_contain_text("d loss / d logit")
    expect(page.locator("#losses-table")).to_contain_text("Focal", timeout=30_000)
    expect(page.locator("#losses-maps .js-plotly-plot")).to_be_visible(timeout=30_000)
    page.locator("#losses-pitfall").get_by_text("Pitfall:").click()
    expect(page.locator("#losses-focal-plot .js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(page.locator("#losses-code")).to_contain_text("class DiceBCELoss")
    expect(page.locator("#losses-tutorial-focal")).to_contain_text("BCE_EXP")
    page.shot("losses", full_page=True)
