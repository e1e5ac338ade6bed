"""U-Net tab: callbacks called directly, the launched app through gradio_client, and the page in Chromium."""

from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from lab.segment import dice, samples
from tests.conftest import open_tab, run_code
from ui import unet as tab
from ui.common import guarded

BILINEAR, TRANSPOSED = tab.UPSAMPLING[0][0], tab.UPSAMPLING[1][0]


def _png(path, img: Image.Image):
    img.save(path, format="PNG")
    return str(path)


# ------------------------------------------------------------------------------------------- callbacks
def test_build_defaults_are_the_tutorials_unet(capsys):
    fig, totals, table, printed, code, models = tab.build_unet(3, 2, BILINEAR, 64, 4, 256, 256, {"Compose": 1})
    assert "**17,263,042** parameters" in totals and "(1, 2, 256, 256)" in totals
    assert list(table["block"]) == ["inc", "down1", "down2", "down3", "down4", "up1", "up2", "up3", "up4", "outc"]
    assert table["params"].sum() == 17_263_042
    assert printed.startswith("UNet(") and "(up4): Up(" in printed
    assert set(models) == {"Compose", "U-Net"} and sum(p.numel() for p in models["U-Net"].parameters()) == 17_263_042
    assert len(fig.data) > 0
    # the code panel builds the same model and reports the same totals
    ns = run_code(code)
    capsys.readouterr()
    assert ns["params"] == table["params"].sum()
    assert ns["flops"] / 1e9 == pytest.approx(table["GFLOPs"].sum(), abs=1e-3)
    assert list(ns["model"].state_dict()) == list(models["U-Net"].state_dict())


def test_build_transposed_odd_input():
    _, totals, table, *_ = tab.build_unet(1, 3, TRANSPOSED, 8, 3, 37, 45, None)
    assert table["output_shape"].iloc[-1] == "[1, 3, 37, 45]"
    assert "(1, 3, 37, 45)" in totals


@pytest.mark.parametrize(
    "args, message",
    [
        ((3, 2, BILINEAR, 256, 5, 256, 256), "at most 100 M"),
        ((3, 2, BILINEAR, 64, 4, 2048, 256), "above 1024"),
        ((3, 2, BILINEAR, 64, 4, 8, 256), "smaller than 2\\*\\*depth = 16"),
        ((3, 2, "sideways", 64, 4, 256, 256), "Upsampling"),
        ((3, None, BILINEAR, 64, 4, 256, 256), "Classes is empty"),
        ((3, 2, BILINEAR, 63, 4, 256, 256), "even"),
    ],
)
def test_build_refuses_bad_input_with_one_sentence(args, message):
    with pytest.raises(gr.Error, match=message) as info:
        guarded(tab.build_unet)(*args, {})
    assert info.value.message.count(". ") == 0  # one sentence


def test_segment_a_sample_and_rethreshold(capsys):
    overlay, prob, true, scores, code, state = tab.segment_image("cells_06", None, 0.5, tab.SHIPPED, {})
    assert overlay.shape == prob.shape == (256, 256, 3) and true.shape == (256, 256)
    d = float(re.search(r"Dice \*\*([\d.]+)", scores).group(1))
    assert d >= 0.9 and "ms** on **cpu" in scores
    # the code panel's plain fp32 run gives the same mask (bf16 may move a few boundary pixels)
    ns = run_code(code)
    capsys.readouterr()
    assert dice(ns["mask"], state["prob"] > 0.5) >= 0.995
    assert ns["dice"] == pytest.approx(d, abs=0.005)
    overlay2, _, _, scores2 = tab.rethreshold(state, 0.99)
    assert "threshold 0.99" in scores2 and not np.array_equal(overlay, overlay2)


@pytest.mark.parametrize(
    "make, same_colours",
    [
        pytest.param(lambda rgb: rgb.convert("L"), False, id="gray"),
        pytest.param(lambda rgb: rgb.convert("RGBA"), True, id="rgba"),
        pytest.param(lambda rgb: rgb.convert("P", palette=Image.Palette.ADAPTIVE), True, id="palette"),
        pytest.param(lambda rgb: Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 256), False,
                     id="16-bit"),
    ],
)
def test_uploads_of_every_kind_are_segmented(tmp_path, make, same_colours):
    s = samples()[0]
    path = _png(tmp_path / "upload.png", make(Image.fromarray(np.array(s.image))))
    overlay, prob, true, scores, code, state = tab.segment_image(None, path, 0.5, tab.SHIPPED, {})
    assert path in code
    assert overlay.shape[:2] == (256, 256) and true is None and "no true mask" in scores
    if same_colours:
        assert dice(state["prob"] > 0.5, s.mask) >= 0.85


def test_bad_uploads_and_missing_models_are_refused(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image")
    big = _png(tmp_path / "big.png", Image.new("L", (2100, 16)))
    for args, message in [
        ((None, str(fake), 0.5, tab.SHIPPED, {}), "not an image"),
        ((None, big, 0.5, tab.SHIPPED, {}), "2048"),
        ((None, None, 0.5, tab.SHIPPED, {}), "No image chosen"),
        (("cells_99", None, 0.5, tab.SHIPPED, {}), "not one of the shipped samples"),
        (("cells_00", None, 0.5, tab.TRAINED, {}), "Train tab"),
    ]:
        with pytest.raises(gr.Error, match=message):
            guarded(tab.segment_image)(*args)
    with pytest.raises(gr.Error, match="Nothing segmented"):
        guarded(tab.rethreshold)(None, 0.5)


def test_trained_model_from_the_train_tab_is_used():
    from lab.segment import pretrained

    *_, scores, state = tab.segment_image("cells_01", None, 0.5, tab.TRAINED, {"Train": pretrained("cpu")})
    assert "Dice" in scores


@pytest.fixture
def saved_small_unet(tmp_path):
    """A small U-Net saved the way the Train tab hands it out: weights + flat config JSON."""
    import torch

    from lab.checkpoints import save_with_config
    from lab.unet import UNet

    torch.manual_seed(0)
    model = UNet(3, 1, base_channels=4, depth=2).eval()
    weights, sidecar = save_with_config(model, tmp_path / "unet_trained.safetensors", model.config())
    return model, str(weights), str(sidecar)


def test_uploaded_weights_segment_like_the_model_itself(saved_small_unet):
    from lab.segment import segment

    model, weights, sidecar = saved_small_unet
    uploaded, info, which = tab.load_weights([sidecar, weights])  # any order
    assert which == tab.UPLOADED and "unet_trained.safetensors" in info and "unet_trained.json" in info
    assert "base_channels=4" in info and uploaded["config"] == model.config()
    *_, scores, code, state = tab.segment_image("cells_02", None, 0.5, tab.UPLOADED, {}, uploaded)
    direct = segment(model, samples()[2].image, threshold=0.5)
    assert samples()[2].name == "cells_02" and state["prob"].shape == direct.prob.shape
    np.testing.assert_allclose(state["prob"], direct.prob, atol=1e-5)
    assert "Dice" in scores and "unet_trained.safetensors" in code


@pytest.mark.parametrize(
    "files, message",
    [
        (lambda d, w, j: [], "No weights file"),
        (lambda d, w, j: [j], "0 weights file"),
        (lambda d, w, j: [w, w.replace("unet_trained", "copy"), j], "exactly one weights file"),
        (lambda d, w, j: [_text(d / "notes.txt", "hi"), w], "not accepted"),
        (lambda d, w, j: [_text(d / "fake.safetensors", "not weights"), j], "is not a checkpoint"),
        (lambda d, w, j: [w, _text(d / "broken.json", "{")], "broken.json.*not valid JSON"),
        (lambda d, w, j: [w, _text(d / "other.json", '{"depth": 2, "colour": 1}')], "does not fit UNet"),
        (lambda d, w, j: [w, _text(d / "deep.json", '{"depth": 4, "base_channels": 4, "n_classes": 1}')],
         "does not fit this UNet"),
    ],
)
def test_bad_weight_files_are_refused_with_one_sentence(tmp_path, saved_small_unet, files, message):
    import shutil

    _, weights, sidecar = saved_small_unet
    shutil.copyfile(weights, weights.replace("unet_trained", "copy"))
    with pytest.raises(gr.Error, match=message) as info:
        guarded(tab.load_weights)(files(tmp_path, weights, sidecar))
    assert info.value.message.count(". ") == 0  # one sentence
    with pytest.raises(gr.Error, match="no weights uploaded"):
        guarded(tab.segment_image)("cells_00", None, 0.5, tab.UPLOADED, {}, None)


def _text(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_pitfall_tables():
    sizes, skips = tab._pitfall_views(572, 4)
    assert sizes["paper: in -> out"].iloc[-1].endswith("-> 388")
    assert sizes["code: in -> out"].iloc[-1] == "572 -> 572"
    assert skips["output shape"].tolist() == ["(1, 128, 256, 256)", "(1, 64, 256, 256)"]


# ------------------------------------------------------------------------------------------- API
@pytest.mark.api
def test_api_segments_a_sample(client):
    overlay, prob, true, scores, code = client.predict("cells_06", None, 0.5, tab.SHIPPED, api_name="/unet_segment")
    assert "cells_06.png" in code
    assert float(re.search(r"Dice \*\*([\d.]+)", scores).group(1)) >= 0.9
    assert np.asarray(Image.open(overlay)).shape[:2] == (256, 256)
    assert np.asarray(Image.open(true)).shape[:2] == (256, 256)


@pytest.mark.api
def test_api_builds_and_refuses(client):
    from gradio_client.exceptions import AppError

    _, totals, table, printed, code = client.predict(3, 2, BILINEAR, 16, 3, 64, 64, api_name="/unet_build")
    assert "output **(1, 2, 64, 64)**" in totals and "UNet(" in printed
    with pytest.raises(AppError, match="above 1024"):
        client.predict(3, 2, BILINEAR, 16, 3, 4096, 64, api_name="/unet_build")


@pytest.mark.api
def test_api_loads_uploaded_weights_and_segments_with_them(client, saved_small_unet):
    from gradio_client import handle_file

    from lab.segment import segment

    model, weights, sidecar = saved_small_unet
    info, which = client.predict([handle_file(weights), handle_file(sidecar)], api_name="/unet_load_weights")
    assert which == tab.UPLOADED and "base_channels=4" in info
    *_, scores, code = client.predict("cells_03", None, 0.5, tab.UPLOADED, api_name="/unet_segment")
    s = samples()[3]
    expected = dice(segment(model, s.image, threshold=0.5).mask, s.mask)
    assert float(re.search(r"Dice \*\*([\d.]+)", scores).group(1)) == pytest.approx(expected, abs=0.0015)


# ------------------------------------------------------------------------------------------- browser
@pytest.mark.browser
def test_page_builds_a_unet_and_segments_a_sample(page):
    from playwright.sync_api import expect

    open_tab(page, "U-Net")
    page.locator("#unet-build").click()
    expect(page.locator("#unet-totals")).to_contain_text("17,263,042", timeout=60_000)
    expect(page.locator("#unet-figure .js-plotly-plot")).to_be_visible()
    page.locator("#unet-figure").scroll_into_view_if_needed()
    page.shot("unet-builder")
    page.locator("#unet-gallery button").filter(has_text="cells_06").first.click()
    expect(page.locator("#unet-sample input")).to_have_value("cells_06")
    expect(page.locator("#unet-scores")).to_contain_text("cells_06", timeout=60_000)
    expect(page.locator("#unet-scores")).to_contain_text("Dice")
    expect(page.locator("#unet-overlay img")).to_be_visible()
    page.locator("#unet-overlay").scroll_into_view_if_needed()
    page.shot("unet")
    page.locator("#unet-pitfall").get_by_text("Pitfall:").click()
    expect(page.locator("#unet-pitfall-table")).to_contain_text("388", timeout=30_000)
    expect(page.locator("#unet-pitfall-skip")).to_contain_text("(1, 128, 256, 256)")
    page.locator("#unet-pitfall-table").scroll_into_view_if_needed()
    page.shot("unet-pitfall")


@pytest.mark.browser
def test_page_uploads_weights_and_segments_with_them(page, saved_small_unet):
    from playwright.sync_api import expect

    _, weights, sidecar = saved_small_unet
    open_tab(page, "U-Net")
    page.locator("#unet-weights input[type=file]").set_input_files([weights, sidecar])
    expect(page.locator("#unet-weights-info")).to_contain_text("Loaded unet_trained.safetensors", timeout=30_000)
    expect(page.locator("#unet-model input[value='Uploaded weights']")).to_be_checked()
    page.locator("#unet-gallery button").filter(has_text="cells_06").first.click()
    expect(page.locator("#unet-scores")).to_contain_text("cells_06", timeout=60_000)
    expect(page.locator("#unet-segment-code")).to_contain_text("Your uploaded weights")
    page.locator("#unet-weights").scroll_into_view_if_needed()
    page.shot("unet-weights")
