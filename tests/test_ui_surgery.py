"""ResNet surgery tab (5.3): callbacks called directly, the launched app through gradio_client, the page in Chromium.

Kept lean: resnet18 on 64x64 dummy batches unless the test is about another architecture.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest
import torch

from lab import surgery as S
from lab.inspect import count_params
from tests.conftest import open_tab, run_code
from ui import surgery as tab
from ui.common import guarded

# CUDA convolutions may use TF32 and other algorithms than the CPU: the code panel runs on CUDA when present
TOL = dict(rtol=1e-3, atol=1e-3) if torch.cuda.is_available() else dict(rtol=1e-5, atol=1e-5)

# arch, weights, new_head, hidden, dropout, classes, extra_input, extra_size, extra_output, freeze, batch, size
SMALL = ["resnet18", None, True, "128", 0.5, 10, False, 1, False, False, 2, 64]


def form(**changes) -> list:
    names = ["arch", "weights", "new_head", "hidden", "dropout", "classes", "extra_input", "extra_size",
             "extra_output", "freeze", "batch", "size"]
    values = dict(zip(names, SMALL, strict=True))
    values.update(changes)
    return [values[n] for n in names]


def frame(value) -> pd.DataFrame:
    """A table output as a DataFrame: a Styler from the callback, {"headers", "data"} through the client."""
    if isinstance(value, dict):
        return pd.DataFrame(value["data"], columns=value["headers"])
    return value.data if hasattr(value, "data") else value


BAD_INPUTS = [
    (dict(classes=1), "Classes must be a whole number from 2 to 10,000; got 1"),
    (dict(classes=10_001), "Classes must be a whole number from 2 to 10,000"),
    (dict(hidden="0"), "Hidden sizes '0'"),
    (dict(hidden="100000"), "from 1 to 4,096"),
    (dict(extra_input=True, extra_size=0), "Extra-input size must be a whole number from 1 to 1,024; got 0"),
    (dict(extra_input=True, extra_size=-3), "Extra-input size"),
    (dict(batch=100), "Batch size"),
    (dict(size=8), "Image size"),
]


# --- callbacks, called directly ---------------------------------------------------------------------------------


def test_callback_fills_every_view_and_the_session_store():
    other = torch.nn.Linear(2, 2)
    before_md, before_t, before_print, after_md, after_t, after_print, forward, code, models = tab.run_surgery(
        *form(extra_input=True, extra_size=2, extra_output=True, freeze=True), {"U-Net": other})
    before_t, after_t = frame(before_t), frame(after_t)
    assert "11,689,512 parameters" in before_md and "Random weights" in before_md
    assert before_t.loc[before_t["name"] == "fc", "change"].item() == "replaced"
    assert after_t["change"].tolist()[-2:] == ["replaced", "new"]  # net.fc -> Identity, the new head
    assert (after_t.loc[after_t["name"].str.startswith("net.layer"), "change"] == "frozen").all()
    assert before_print.startswith("(fc): Linear(in_features=512, out_features=1000")
    assert "Linear(in_features=514, out_features=128" in after_print
    outputs = forward[forward["model"] == "after"][["name", "shape"]].values.tolist()
    assert outputs == [["x", "(2, 3, 64, 64)"], ["extra", "(2, 2)"], ["logits", "(2, 10)"], ["features", "(2, 512)"]]
    model = models[tab.LABEL]
    assert models["U-Net"] is other and isinstance(model, S.WithExtraInput)
    head = 514 * 128 + 128 + 128 * 10 + 10
    assert f"{count_params(model)[0]:,} parameters · {head:,} trainable" in after_md

    # the code panel builds the same model and gives the same numbers
    ns = run_code(code)
    assert count_params(ns["model"]) == count_params(model)
    model.eval()
    with torch.no_grad():
        want = model(ns["x"].to(next(model.parameters()).device), ns["extra"])
    for got, ref in zip(ns["outputs"], want, strict=True):
        assert torch.allclose(got.cpu(), ref.cpu(), **TOL)


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


def test_pitfall_callbacks_run_live():
    fig, final = tab.run_softmax_pitfall()
    assert len(fig.data) == 2 and final["final loss"][1] >= S.softmax_loss_floor(3) - 1e-6
    assert final["final loss"][0] < 0.1
    assert frame(tab.run_extra_input_pitfall("resnet18"))["joined width"].tolist() == [1001, 513]
    assert "identical: True" in tab.run_unused_input_pitfall("resnet18")["result"][1]
    assert tab.run_device_pitfall()["code"].tolist()[:2] == ["model.cuda()", "model.to(device)"]


# --- through gradio_client -------------------------------------------------------------------------------------


@pytest.mark.api
def test_api_apply_and_code(client):
    result = client.predict(*form(arch="resnet34", new_head=False, extra_output=True, classes=5),
                            api_name="/surgery_apply")
    before_md, before_t, before_print, after_md, after_t, after_print, forward, code = result
    forward = frame(forward)
    assert forward[forward["model"] == "after"]["shape"].tolist() == ["(2, 3, 64, 64)", "(2, 5)", "(2, 512)"]
    assert "21,797,672 parameters" in before_md and "WithExtraOutput" in after_md
    assert frame(after_t)["change"].tolist()[-1] == "new"
    ns = run_code(code)
    assert [tuple(o.shape) for o in ns["outputs"]] == [(2, 5), (2, 512)]
    total = count_params(ns["model"])[0]
    assert f"{total:,} parameters" in after_md


@pytest.mark.api
def test_api_bad_input_and_wrong_weights_are_app_errors(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Classes must be a whole number from 2 to 10,000"):
        client.predict(*form(classes=0), api_name="/surgery_apply")
    path = tmp_path / "r18.pt"
    torch.save(S.resnet("resnet18").state_dict(), path)
    with pytest.raises(AppError, match="does not fit resnet50: .*mismatched"):
        client.predict(*form(arch="resnet50", weights=handle_file(str(path))), api_name="/surgery_apply")


@pytest.mark.api
def test_api_pitfalls(client):
    table = frame(client.predict(api_name="/surgery_pitfall_device"))
    assert table["code"].tolist()[:2] == ["model.cuda()", "model.to(device)"]
    table = frame(client.predict("resnet18", api_name="/surgery_pitfall_unused_input"))
    assert "missing 1 required positional argument" in table["result"][0]


# --- in Chromium -----------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_page_apply_compare_and_pitfall(page):
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)
    open_tab(page, "ResNet surgery")
    page.locator("#surgery-arch input").click()
    page.get_by_role("option", name="resnet18", exact=True).click()
    expect(page.locator("#surgery-arch input")).to_have_value("resnet18")
    page.locator("#surgery-size input").fill("64")
    page.locator("#surgery-extra-input input").check()
    page.locator("#surgery-freeze input").check()
    page.locator("#surgery-run").click()
    expect(page.locator("#surgery-before-totals")).to_contain_text("11,689,512 parameters")
    expect(page.locator("#surgery-after-table")).to_contain_text("frozen")
    expect(page.locator("#surgery-forward")).to_contain_text("(2, 1)")
    expect(page.locator("#surgery-after-print")).to_contain_text("in_features=513")

    # bad input: a toast, and the page still works afterwards
    page.locator("#surgery-classes input").fill("1")
    page.locator("#surgery-run").click()
    expect(page.get_by_text("Classes must be a whole number from 2 to 10,000; got 1")).to_be_visible()

    page.locator("#surgery-pitfall-softmax").get_by_text("Pitfall:").click()
    expect(page.locator("#surgery-softmax-table")).to_contain_text("Softmax (tutorial 5.3.1)")
    expect(page.locator("#surgery-softmax-plot .js-plotly-plot")).to_be_visible()
    page.locator("#surgery-pitfall-softmax").scroll_into_view_if_needed()
    page.shot("surgery")
