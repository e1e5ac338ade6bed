"""U-Net tab: callbacks called directly, the launched app through gradio_client, and the page in Chromium (English
and Chinese, the first view, errors that stay, links, a phone's width)."""

from __future__ import annotations

import contextlib
import re
import shutil

import gradio as gr
import nbformat
import numpy as np
import pytest
from PIL import Image

from lab import segment as seg
from lab.segment import dice, samples
from tests.conftest import SCREENSHOTS, open_tab
from tests.unet_panels import printed_number, run_standalone
from ui import unet as tab
from ui.cache import resolve
from ui.common import guarded
from ui.i18n import LANG

DEFAULT_BUILD = (3, 2, "bilinear", 64, 4, 256, 256)


def _png(path, img: Image.Image):
    img.save(path, format="PNG")
    return str(path)


@contextlib.contextmanager
def language(code: str):
    token = LANG.set(code)
    try:
        yield
    finally:
        LANG.reset(token)


def _dice(scores: str) -> float:
    return float(re.search(r"Dice \*\*([\d.]+)", scores).group(1))


# ------------------------------------------------------------------------------------------- callbacks
def test_first_view_is_the_tutorials_unet_and_a_segmented_sample():
    fig, totals, table, printed, code, note, overlay, prob, true, scores, seg_code, files, state = tab.open_view(
        *DEFAULT_BUILD, "cells_06", 0.5)
    assert "**17,263,042** parameters" in totals and "output **(1, 2, 256, 256)**" in totals
    assert list(table.columns) == ["block", "kind", "input shape", "output shape", "params", "GFLOPs"]
    assert printed.startswith("UNet(") and "(up4): Up(" in printed and "class UNet(nn.Module)" in code
    assert "the shipped small U-Net" in note and "base_channels=16, depth=3" in note
    assert "cells_06" in scores and _dice(scores) >= 0.95 and overlay.shape == (256, 256, 3)
    assert sorted(f.rsplit("/", 1)[1] for f in files) == ["cells_06.png", "cells_06_mask.png", "unet_small.json",
                                                          "unet_small.safetensors"]  # fmt: skip
    assert isinstance(state, seg.SegmentView) and 'Image.open("cells_06.png")' in seg_code


def test_first_view_speaks_chinese():
    with language("zh"):
        _, totals, table, *_, note, _, _, _, scores, _, _, _ = tab.open_view(*DEFAULT_BUILD, None, 0.5)
    assert "个参数" in totals and "模型块" in table.columns and "小型 U-Net" in note and "前景" in scores


def test_build_stores_the_model_for_the_other_tabs():
    fig, totals, table, printed, code, models = tab.build_unet(*DEFAULT_BUILD, {"compose": 1})
    assert set(models) == {"compose", "unet"}
    assert sum(p.numel() for p in resolve(models["unet"]).parameters()) == 17_263_042
    assert "which the Checkpoints tab can save" in totals and len(fig.data) > 0
    assert list(resolve(models["unet"]).state_dict())[:2] == ["inc.double_conv.0.weight", "inc.double_conv.1.weight"]


def test_build_transposed_odd_input():
    _, totals, table, *_ = tab.build_unet(1, 3, "transposed", 8, 3, 37, 45, None)
    assert table["output shape"].iloc[-1] == "[1, 3, 37, 45]" and "(1, 3, 37, 45)" in totals


@pytest.mark.parametrize(
    "args, message",
    [
        ((3, 2, "bilinear", 256, 5, 256, 256), "at most 100 M"),
        ((3, 2, "bilinear", 64, 4, 2048, 256), "Input height is 2048; a whole number from 16 to 1,024 is accepted"),
        ((3, 2, "bilinear", 64, 4, 8, 256), "Input height is 8; a whole number from 16 to 1,024"),
        ((3, 2, "sideways", 64, 4, 256, 256), "Upsampling is 'sideways'; one of 'bilinear', 'transposed'"),
        ((3, None, "bilinear", 64, 4, 256, 256), "Classes .n_classes. is None"),
        ((3, 2, "bilinear", 63, 4, 256, 256), "even"),
    ],
)
def test_build_refuses_bad_input_with_one_sentence(args, message):
    with pytest.raises(gr.Error, match=message) as info:
        guarded(tab.build_unet)(*args, {})
    assert info.value.message.count(". ") == 0  # one sentence


def test_segment_a_sample_and_rethreshold():
    note, overlay, prob, true, scores, code, files, state = tab.segment_image("cells_06", None, 0.5, tab.SHIPPED, {})
    assert overlay.shape == prob.shape == (256, 256, 3) and true.shape == (256, 256)
    assert _dice(scores) >= 0.9 and "ms** on **cpu" in scores
    overlay2, _, _, scores2, code2 = tab.rethreshold(state, 0.99)
    assert "threshold 0.99" in scores2 and not np.array_equal(overlay, overlay2) and "mask = prob > 0.99" in code2


def test_the_page_and_its_code_panel_agree():
    """The segmentation panel, run with `python -I` in an empty folder holding only the files the tab hands out,
    prints the tab's foreground share and Dice (within the bf16 tolerance lab.segment guarantees: test_segment)."""
    *_, scores, code, files, state = tab.segment_image("cells_12", None, 0.4, tab.SHIPPED, {})
    out = run_standalone(code, files)
    fg = float(re.search(r"([\d.]+)% foreground", scores).group(1))
    tolerance = 0.05 + 2 * (1 - seg.MASK_AGREEMENT) * fg
    assert printed_number(out, r"([\d.]+)% foreground") == pytest.approx(fg, abs=tolerance)
    assert printed_number(out, r"Dice ([\d.]+)") == pytest.approx(_dice(scores), abs=1 - seg.MASK_AGREEMENT + 1e-3)


@pytest.mark.parametrize(
    "make, same_colours",
    [
        pytest.param(lambda rgb: rgb.convert("L"), False, id="gray"),
        pytest.param(lambda rgb: rgb.convert("RGBA"), True, id="rgba"),
        pytest.param(lambda rgb: rgb.convert("P", palette=Image.Palette.ADAPTIVE), True, id="palette"),
        pytest.param(lambda rgb: Image.fromarray(np.asarray(rgb.convert("L")).astype(np.uint16) * 256), False,
                     id="16-bit"),
    ],
)  # fmt: skip
def test_uploads_of_every_kind_are_segmented(tmp_path, make, same_colours):
    s = samples()[0]
    path = _png(tmp_path / "upload.png", make(Image.fromarray(np.array(s.image))))
    note, overlay, prob, true, scores, code, files, state = tab.segment_image(None, path, 0.5, tab.SHIPPED, {})
    assert 'Image.open("upload.png")' in code and str(tmp_path) not in code  # by base name, no server path
    assert overlay.shape[:2] == (256, 256) and true is None and "no true mask" in scores
    assert [f.rsplit("/", 1)[1] for f in files] == ["unet_small.safetensors", "unet_small.json"]
    if same_colours:
        assert dice(state.prob > 0.5, s.mask) >= 0.85


def test_bad_uploads_and_missing_models_are_refused(tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image")
    big = _png(tmp_path / "big.png", Image.new("L", (2100, 16)))
    for args, message in [
        ((None, str(fake), 0.5, tab.SHIPPED, {}), "not an image"),
        ((None, big, 0.5, tab.SHIPPED, {}), "2048"),
        ((None, None, 0.5, tab.SHIPPED, {}), "No image chosen"),
        (("cells_99", None, 0.5, tab.SHIPPED, {}), "Sample is .*cells_99.*; one of .*cells_00"),
        (("cells_00", None, 0.5, tab.TRAINED, {}), "Train tab"),
        (("cells_00", None, 0.5, "nope", {}), "Model is .*nope"),
    ]:
        with pytest.raises(gr.Error, match=message):
            guarded(tab.segment_image)(*args)
    with pytest.raises(gr.Error, match="Nothing segmented"):
        guarded(tab.rethreshold)(None, 0.5)
    with language("zh"), pytest.raises(gr.Error, match="「训练」标签页还没有训练过"):
        guarded(tab.segment_image)("cells_00", None, 0.5, tab.TRAINED, {})


def test_trained_model_from_the_train_tab_is_used():
    from lab.segment import pretrained

    note, *_, scores, code, files, state = tab.segment_image("cells_01", None, 0.5, tab.TRAINED,
                                                             {"train": pretrained("cpu")})  # fmt: skip
    assert "the Train tab's U-Net" in note and "Dice" in scores and state.card.source == "train"
    assert 'load_file("unet_trained.safetensors")' in code and 'open("unet_trained.json")' in code
    assert [f.rsplit("/", 1)[1] for f in files] == ["cells_01.png", "cells_01_mask.png"]  # Train hands out the rest


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
    uploaded, info, which, again = tab.load_weights([sidecar, weights], 3)  # any order
    assert which == tab.UPLOADED and again == 4 and "unet_trained.safetensors" in info and "unet_trained.json" in info
    assert "base_channels=4" in info and uploaded["card"].config == model.config()
    note, *_, scores, code, files, state = tab.segment_image("cells_02", None, 0.5, tab.UPLOADED, {}, uploaded)
    direct = segment(model, samples()[2].image, threshold=0.5)
    np.testing.assert_allclose(state.prob, direct.prob, atol=1e-5)
    assert "your uploaded weights" in note and "Dice" in scores and 'load_file("unet_trained.safetensors")' in code
    out = run_standalone(code, [*files, weights, sidecar])  # the visitor's own files beside the page's
    assert printed_number(out, r"Dice ([\d.]+)") == pytest.approx(_dice(scores), abs=1 - seg.MASK_AGREEMENT + 1e-3)


def _text(path, text: str) -> str:
    path.write_text(text)
    return str(path)


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
)  # fmt: skip
def test_bad_weight_files_are_refused_with_one_sentence(tmp_path, saved_small_unet, files, message):
    _, weights, sidecar = saved_small_unet
    shutil.copyfile(weights, weights.replace("unet_trained", "copy"))
    with pytest.raises(gr.Error, match=message) as info:
        guarded(tab.load_weights)(files(tmp_path, weights, sidecar))
    assert info.value.message.count(". ") == 0  # one sentence
    with pytest.raises(gr.Error, match="no weights uploaded"):
        guarded(tab.segment_image)("cells_00", None, 0.5, tab.UPLOADED, {}, None)


def test_pitfalls_are_worded_in_both_languages():
    (figure, sizes), (skip, values) = tab.run_pitfall(572, 4)
    assert sizes["paper: in → out"].iloc[-1] == "392 → 388" and sizes["code: in → out"].iloc[-1] == "572 → 572"
    assert sizes["stage"].iloc[0] == "encoder level 0" and "crops skip 568 → 392" in sizes["skip handling"].iloc[-1]
    assert values["shape"].tolist() == ["(1, 16, 256, 256)", "(1, 16, 256, 256)", "(1, 32, 256, 256)",
                                        "(1, 16, 256, 256)"]  # fmt: skip
    with language("zh"):
        (_, sizes), (_, values) = tab.run_pitfall(572, 4)
    assert sizes.columns[0] == "阶段" and sizes.iloc[0, 0] == "编码器第 0 层" and "形状" in values.columns
    with pytest.raises(gr.Error, match="use 764 to 4,096 px for depth 6"):
        guarded(tab.run_pitfall)(572, 6)


def test_the_segmentation_notebook_runs_beside_its_files(tmp_path):
    """The notebook download of the segmentation panel, executed with nbclient in a folder holding its files."""
    from nbclient import NotebookClient

    from ui.widgets import notebook_file

    *_, code, files, state = tab.segment_image("cells_06", None, 0.5, tab.SHIPPED, {})
    for f in files:
        shutil.copyfile(f, tmp_path / f.rsplit("/", 1)[1])
    nb = nbformat.read(notebook_file(code, "5.2", "Segmenting an image with the U-Net", "unet"), as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "5.2" in nb.cells[0].source
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"{state.foreground:.1f}% foreground" in printed or "% foreground" in printed
    assert printed_number(printed, r"Dice ([\d.]+)") == pytest.approx(state.dice, abs=1 - seg.MASK_AGREEMENT + 1e-3)


# ------------------------------------------------------------------------------------------- API
@pytest.mark.api
def test_api_first_view_and_segmentation(new_client):
    *_, note, overlay, prob, true, scores, code, files, _link_note = new_client.predict(
        *DEFAULT_BUILD, "cells_06", 0.5, api_name="/unet_open")  # fmt: skip
    assert "cells_06" in scores and "shipped small U-Net" in note
    note, overlay, prob, true, scores, code, files = new_client.predict("cells_06", None, 0.5, tab.SHIPPED,
                                                                        api_name="/unet_segment")  # fmt: skip
    assert 'Image.open("cells_06.png")' in code and _dice(scores) >= 0.9
    assert np.asarray(Image.open(overlay)).shape[:2] == (256, 256)
    assert np.asarray(Image.open(true)).shape[:2] == (256, 256)
    assert sorted(f.rsplit("/", 1)[1] for f in files) == ["cells_06.png", "cells_06_mask.png", "unet_small.json",
                                                          "unet_small.safetensors"]  # fmt: skip


@pytest.mark.api
def test_api_builds_and_refuses(client):
    from gradio_client.exceptions import AppError

    _, totals, table, printed, code = client.predict(3, 2, "bilinear", 16, 3, 64, 64, api_name="/unet_build")
    assert "output **(1, 2, 64, 64)**" in totals and "UNet(" in printed
    with pytest.raises(AppError, match="Input height is 4096; a whole number from 8 to 1,024 is accepted"):
        client.predict(3, 2, "bilinear", 16, 3, 4096, 64, api_name="/unet_build")


@pytest.mark.api
def test_api_loads_uploaded_weights_and_segments_with_them(client, saved_small_unet):
    from gradio_client import handle_file

    from lab.segment import segment

    model, weights, sidecar = saved_small_unet
    info, which = client.predict([handle_file(weights), handle_file(sidecar)], api_name="/unet_load_weights")
    assert which == tab.UPLOADED and "base_channels=4" in info
    *_, scores, code, files = client.predict("cells_03", None, 0.5, tab.UPLOADED, api_name="/unet_segment")
    s = samples()[3]
    expected = dice(segment(model, s.image, threshold=0.5).mask, s.mask)
    assert _dice(scores) == pytest.approx(expected, abs=0.0015)


# ------------------------------------------------------------------------------------------- browser
def _page(browser, app_url, query: str = "", *, locale: str = "en-US", width: int = 1400, height: int = 1000):
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url + query)
    page.wait_for_selector("#lab-header")
    return context, page


@pytest.mark.browser
def test_page_first_view_build_error_that_stays_and_segmentation(page):
    from playwright.sync_api import expect

    open_tab(page, "U-Net")  # no click on Build: the first view is computed when the tab opens
    expect(page.locator("#unet-totals")).to_contain_text("17,263,042", timeout=60_000)
    expect(page.locator("#unet-figure .js-plotly-plot")).to_be_visible(timeout=30_000)
    expect(page.locator("#unet-scores")).to_contain_text("cells_06", timeout=30_000)
    expect(page.locator("#unet-model-note")).to_contain_text("the shipped small U-Net")
    expect(page.locator("#unet-files")).to_contain_text(re.compile(r"unet_small\s*\.safetensors"))
    assert "tab=unet" in page.url and "sample=cells_06" in page.url
    page.locator("#unet-figure").scroll_into_view_if_needed()
    page.shot("unet-builder")
    # an error stays beside the builder's inputs, the stale result goes, and the next run clears it
    page.locator("#unet-height input").fill("5000")
    page.locator("#unet-build").click()
    expect(page.locator("#unet-build-error")).to_contain_text("Input height is 5000", timeout=30_000)
    expect(page.locator("#unet-totals")).not_to_contain_text("17,263,042")
    page.wait_for_timeout(12_000)  # longer than a toast lives: the sentence is still there
    expect(page.locator("#unet-build-error")).to_contain_text("Input height is 5000")
    page.locator("#unet-height input").fill("64")
    page.locator("#unet-build").click()
    expect(page.locator("#unet-totals")).to_contain_text("(1, 2, 64, 256)", timeout=60_000)
    expect(page.locator("#unet-build-error")).to_be_hidden()
    # segmentation: a gallery click segments that sample; the threshold sits right under the mask it changes
    page.locator("#unet-gallery button").filter(has_text="cells_03").first.click()
    expect(page.locator("#unet-sample input")).to_have_value("cells_03")
    expect(page.locator("#unet-scores")).to_contain_text("cells_03", timeout=60_000)
    image, slider = page.locator("#unet-overlay").bounding_box(), page.locator("#unet-threshold").bounding_box()
    assert 0 <= slider["y"] - (image["y"] + image["height"]) < 40 and abs(slider["x"] - image["x"]) < 5
    page.locator("#unet-overlay").scroll_into_view_if_needed()
    page.shot("unet")
    # a model that is not there: the sentence stays beside the segmentation inputs until the next run
    page.locator("#unet-model").get_by_text("the Train tab’s U-Net").click()
    expect(page.locator("#unet-segment-error")).to_contain_text("has not trained a U-Net", timeout=30_000)
    page.locator("#unet-model").get_by_text("shipped small U-Net").click()
    expect(page.locator("#unet-scores")).to_contain_text("cells_03", timeout=60_000)
    expect(page.locator("#unet-segment-error")).to_be_hidden()
    # the pitfalls, run live
    page.locator("#unet-pitfall").get_by_text("Pitfalls:").click()
    expect(page.locator("#pitfall-unet-figure-vs-code-table")).to_contain_text("392 → 388", timeout=60_000)
    expect(page.locator("#pitfall-unet-skip-concat-wrong")).to_contain_text("32 channels, but got 16")
    page.locator("#pitfall-unet-skip-concat-table").scroll_into_view_if_needed()
    page.shot("unet-pitfall")


@pytest.mark.browser
def test_page_link_restores_the_view_in_chinese(browser, app_url):
    from playwright.sync_api import expect

    query = ("?tab=unet&lang=zh&channels=1&classes=3&upsampling=transposed&base=16&depth=3&height=64&width=96"
             "&sample=cells_12&threshold=0.3")  # fmt: skip
    context, page = _page(browser, app_url, query, locale="zh-CN")
    try:
        expect(page.locator("#unet-totals")).to_contain_text("(1, 3, 64, 96)", timeout=60_000)
        expect(page.locator("#unet-totals")).to_contain_text("个参数")
        expect(page.locator("#unet-scores")).to_contain_text("cells_12")
        expect(page.locator("#unet-scores")).to_contain_text("阈值 0.30")
        expect(page.locator("#unet-sample input")).to_have_value("cells_12")
        expect(page.locator("#unet-model-note")).to_contain_text("随实验室提供的小型 U-Net")
        expect(page.locator("#unet-build")).to_have_text("构建 U-Net")
        expect(page.locator("#unet-upsampling input[value='transposed']")).to_be_checked()
        assert "depth=3" in page.url and "threshold=0.3" in page.url
        SCREENSHOTS.mkdir(exist_ok=True)
        page.locator("#unet-figure").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "unet-zh.png"))
    finally:
        context.close()
    # a bad value is ignored with a note, never an error page
    context, page = _page(browser, app_url, "?tab=unet&depth=9&sample=nope")
    try:
        expect(page.locator("#lab-note")).to_contain_text("depth=9", timeout=60_000)
        expect(page.locator("#lab-note")).to_contain_text("sample=nope")
        expect(page.locator("#unet-totals")).to_contain_text("17,263,042", timeout=60_000)
    finally:
        context.close()


@pytest.mark.browser
def test_page_upload_clears_the_sample_and_weights_segment(browser, app_url, saved_small_unet, tmp_path):
    from playwright.sync_api import expect

    _, weights, sidecar = saved_small_unet
    context, page = _page(browser, app_url, "?tab=unet")
    try:
        expect(page.locator("#unet-scores")).to_contain_text("cells_06", timeout=60_000)
        photo = _png(tmp_path / "my cells.png", Image.fromarray(np.array(samples()[5].image)[:64, :80]))
        page.locator("#unet-upload input[type=file]").set_input_files(photo)
        expect(page.locator("#unet-scores")).to_contain_text("my cells.png", timeout=60_000)
        expect(page.locator("#unet-sample input")).to_have_value("")
        expect(page.locator("#unet-segment-code")).to_contain_text('Image.open("my cells.png")')
        page.locator("#unet-weights input[type=file]").set_input_files([weights, sidecar])
        expect(page.locator("#unet-weights-info")).to_contain_text("Loaded unet_trained.safetensors", timeout=60_000)
        expect(page.locator("#unet-model input[value='Uploaded weights']")).to_be_checked()
        expect(page.locator("#unet-model-note")).to_contain_text("your uploaded weights", timeout=60_000)
        expect(page.locator("#unet-segment-code")).to_contain_text('load_file("unet_trained.safetensors")')
        page.locator("#unet-weights").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "unet-weights.png"))
    finally:
        context.close()


@pytest.mark.browser
def test_page_on_a_phone_nothing_overlaps(browser, app_url):
    """390 x 844: the U drawing fits the screen's width, and no two of the tab's parts cover each other."""
    from playwright.sync_api import expect

    context, page = _page(browser, app_url, "?tab=unet", width=390, height=844)
    try:
        expect(page.locator("#unet-totals")).to_contain_text("17,263,042", timeout=60_000)
        expect(page.locator("#unet-scores")).to_contain_text("cells_06", timeout=60_000)
        plot = page.locator("#unet-figure .js-plotly-plot").bounding_box()
        assert plot["x"] >= 0 and plot["x"] + plot["width"] <= 390
        ids = ["unet-build", "unet-figure", "unet-totals", "unet-table", "unet-printed", "unet-code", "unet-gallery",
               "unet-sample", "unet-upload", "unet-model", "unet-weights", "unet-segment", "unet-scores",
               "unet-overlay", "unet-threshold", "unet-prob", "unet-true", "unet-segment-code", "unet-files"]
        boxes = {i: page.locator(f"#{i}").bounding_box() for i in ids}
        for i in ids:
            assert boxes[i]["x"] >= -1 and boxes[i]["x"] + boxes[i]["width"] <= 391, i
        for a in ids:
            for b in ids[ids.index(a) + 1:]:
                pa, pb = boxes[a], boxes[b]
                overlap_x = min(pa["x"] + pa["width"], pb["x"] + pb["width"]) - max(pa["x"], pb["x"])
                overlap_y = min(pa["y"] + pa["height"], pb["y"] + pb["height"]) - max(pa["y"], pb["y"])
                assert overlap_x <= 1 or overlap_y <= 1, (a, b, pa, pb)
        # the drawing's boxes do not cover each other at this width: every block label is drawn inside the plot
        labels = page.locator("#unet-figure .textpoint").all()
        rects = [label.bounding_box() for label in labels]
        assert len(rects) == 10
        for j, r in enumerate(rects):
            assert r["x"] >= plot["x"] - 1 and r["x"] + r["width"] <= plot["x"] + plot["width"] + 1
            for q in rects[j + 1:]:
                assert min(r["x"] + r["width"], q["x"] + q["width"]) - max(r["x"], q["x"]) <= 1 or \
                    min(r["y"] + r["height"], q["y"] + q["height"]) - max(r["y"], q["y"]) <= 1
        page.locator("#unet-figure").scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "unet-phone.png"))
        page.locator("#unet-overlay").scroll_into_view_if_needed()
        expect(page.locator("#unet-overlay img")).to_be_visible()
        page.wait_for_function("() => document.querySelector('#unet-overlay img').complete")
        page.screenshot(path=str(SCREENSHOTS / "unet-phone-segment.png"))
    finally:
        context.close()

