"""Train tab: callbacks called directly, the launched app through gradio_client, the page in Chromium."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
import torch

from lab.checkpoints import load_with_config
from lab.unet import UNet
from tests.conftest import open_tab
from ui import train as tab

# source, files, base, depth, loss, loss params, optimizer, lr, scheduler, scheduler params, steps, batch, limit
TINY = [tab.DATA_SAMPLES, None, 4, 2, "dice_bce", "{}", "adamw", 3e-3, "StepLR", '{"step_size": 2}', 4, 4, 60]
N_VAL = 6  # a fifth of the 28 samples


def request(name: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=name)


def last(gen):
    out = None
    for out in gen:  # noqa: B007 - the last item is the point
        pass
    return out


def run_direct(args, session: str = "direct", models=None):
    return tab.run(*args, models or {}, request(session), progress=lambda *a, **k: None)


# ------------------------------------------------------------------------------------------- callbacks


def test_run_streams_then_shows_results():
    outs = list(run_direct(TINY))
    assert len(outs) >= 2
    status, fig, gallery, table, files, code, models, pitfall = outs[-1]
    assert status.startswith("**Done (all steps done)**")
    assert [t.name for t in fig.data] == ["lr planned", "loss", "lr", "val Dice"] and len(fig.data[1].x) == 4
    assert len(gallery) == N_VAL and all("Dice" in caption for _, caption in gallery)
    assert len(table) == N_VAL and table["dice"].between(0, 1).all()
    weights, config = sorted(files, key=lambda p: Path(p).suffix)[::-1]
    assert weights.endswith(".safetensors") and config.endswith(".json")
    assert isinstance(models["Train"], UNet) and models["Train"].config()["base_channels"] == 4
    loaded, config = load_with_config(weights, UNet)  # what the U-Net and Checkpoints tabs do with the download
    assert config == models["Train"].config()
    assert all(torch.equal(a, b.cpu()) for a, b in zip(loaded.state_dict().values(),
                                                        models["Train"].state_dict().values(), strict=True))
    assert "make_scheduler('StepLR'" in code and pitfall["name"].iloc[-1] == "mean"
    assert tab.RUNNING == 0 and "direct" not in tab._STOPS


def test_stop_before_start_still_gives_results():
    tab.arm(request("stopper"))
    assert tab.stop(request("stopper")).startswith("Stopping")
    status, *_ = last(run_direct([*TINY[:10], 200, 4, 60], session="stopper"))
    assert status.startswith("**Done (stopped)**")
    assert tab.stop(request("stopper")) == "No training is running."


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (10, 5001, "steps"),
        (12, 301, "time_limit_s"),
        (12, None, "time limit"),
        (11, 65, "batch_size"),
        (9, "{not json", "scheduler parameters"),
        (5, '{"smooth": -1}', "smooth"),
    ],
)
def test_bad_input_is_one_gr_error(index, value, message):
    args = list(TINY)
    args[index] = value
    with pytest.raises(gr.Error, match=message):
        last(tab.guarded(tab.run)(*args, {}, request("bad"), progress=lambda *a, **k: None))


def test_upload_with_mask_of_other_size_refused(tmp_path):
    import numpy as np
    from PIL import Image

    for i, size in enumerate([(40, 40), (40, 40), (40, 40)]):
        Image.fromarray(np.zeros((*size, 3), np.uint8)).save(tmp_path / f"p{i}.png")
        Image.fromarray(np.zeros((32 if i == 1 else 40, 40), np.uint8)).save(tmp_path / f"p{i}_mask.png")
    files = sorted(str(p) for p in tmp_path.iterdir())
    with pytest.raises(gr.Error, match="same size"):
        last(tab.guarded(tab.run)(tab.DATA_UPLOAD, files, *TINY[2:], {}, request("up"), progress=lambda *a, **k: None))


def test_preview_and_tab_links():
    fig = tab.preview("OneCycleLR", '{"max_lr": 0.01}', 1e-3, 100, 8, tab.DATA_SAMPLES, None)
    lr = fig.data[0].y
    assert max(lr) == pytest.approx(0.01) and len(lr) == 100
    assert tab.scheduler_defaults("StepLR").startswith("{")
    assert tab.from_loss_tab({"name": "focal", "params": {"gamma": 1.0}})[1] == '{"gamma": 1.0}'
    assert tab.from_schedule_tab({"name": "", "params": {}})[0]["value"] == tab.NO_SCHEDULE


# ------------------------------------------------------------------------------------------- gradio_client


@pytest.mark.api
def test_client_runs_a_short_training(client):
    status, fig, gallery, table, files, code, pitfall = client.predict(
        *TINY, api_name="/train_start"
    )  # shared.models is a State: not part of the API
    assert status.startswith("**Done")
    assert len(gallery) == N_VAL and len(table["data"]) == N_VAL
    assert {Path(f).suffix for f in files} == {".safetensors", ".json"}


@pytest.mark.api
def test_client_stop_ends_a_running_training(client):
    job = client.submit(*TINY[:10], 3000, 4, 120, api_name="/train_start")
    deadline = time.time() + 60
    while tab.RUNNING == 0 and time.time() < deadline:
        time.sleep(0.1)
    client.predict(api_name="/train_stop")
    status = job.result(timeout=120)[0]
    assert status.startswith("**Done (stopped)**")


@pytest.mark.api
def test_second_training_waits_in_the_queue(client, app_url):
    from gradio_client import Client
    from gradio_client.utils import Status

    first = client.submit(*TINY[:10], 3000, 4, 120, api_name="/train_start")
    deadline = time.time() + 60
    while tab.RUNNING == 0 and time.time() < deadline:
        time.sleep(0.1)
    other = Client(app_url, verbose=False)
    second = other.submit(*TINY, api_name="/train_start")
    deadline = time.time() + 30
    while second.status().code != Status.IN_QUEUE and time.time() < deadline:
        time.sleep(0.1)
    status = second.status()
    assert status.code == Status.IN_QUEUE and status.rank == 0  # first in line, behind the running one
    assert tab.RUNNING == 1  # concurrency_limit=1 for trainings
    client.predict(api_name="/train_stop")
    assert first.result(timeout=120)[0].startswith("**Done (stopped)**")
    assert second.result(timeout=120)[0].startswith("**Done (all steps done)**")


# ------------------------------------------------------------------------------------------- browser


def _points(page) -> int:
    return page.evaluate(
        "() => { const p = document.querySelector('#train-curves .js-plotly-plot');"
        " return p && p.data ? p.data.find(t => t.name === 'loss').x.length : 0; }"
    )


@pytest.mark.browser
def test_page_trains_and_the_curve_grows(page):
    open_tab(page, "Train")
    page.locator("#train-steps input").fill("400")
    page.locator("#train-limit input").fill("15")
    page.locator("#train-start").click()
    page.wait_for_function(
        "() => { const p = document.querySelector('#train-curves .js-plotly-plot');"
        " return p && p.data && p.data.find(t => t.name === 'loss').x.length > 0; }",
        timeout=60_000,
    )
    first = _points(page)
    page.wait_for_function(f"() => document.querySelector('#train-curves .js-plotly-plot').data"
                           f".find(t => t.name === 'loss').x.length > {first}", timeout=30_000)  # fmt: skip
    page.locator("#train-stop").click()
    gr_expect = page.locator("#train-status")
    from playwright.sync_api import expect

    expect(gr_expect).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#train-gallery img").first).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.shot("train", full_page=True)


@pytest.mark.browser
def test_closed_page_ends_its_training(browser, app_url):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(app_url)
    open_tab(pg, "Train")
    pg.locator("#train-steps input").fill("5000")
    pg.locator("#train-limit input").fill("120")
    pg.locator("#train-start").click()
    deadline = time.time() + 60
    while tab.RUNNING == 0 and time.time() < deadline:
        time.sleep(0.1)
    assert tab.RUNNING == 1
    context.close()
    deadline = time.time() + 45
    while tab.RUNNING and time.time() < deadline:
        time.sleep(0.2)
    assert tab.RUNNING == 0
