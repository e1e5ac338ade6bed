"""Train tab: callbacks called directly, the launched app through gradio_client, the page in Chromium (English and
Chinese, the first view, an error that stays, a link that restores the settings, the fold and a phone)."""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest
import torch

from lab import losses, schedules
from lab.checkpoints import load_with_config
from lab.unet import UNet
from tests.conftest import open_tab
from ui import train as tab

# source, files, base, depth, loss, loss params, optimizer, lr, scheduler, scheduler params, steps, batch, limit
TINY = [tab.DATA_SAMPLES, None, 4, 2, "dice_bce", "{}", "adamw", 3e-3, "StepLR", '{"step_size": 2}', 4, 4, 60]
DEFAULTS = [tab.DATA_SAMPLES, None, 16, 3, "dice_bce", "{}", "adamw", 3e-3, "OneCycleLR",
            '{"max_lr": 0.003, "pct_start": 0.15}', 300, 8, 60.0]  # fmt: skip
N_VAL = 6  # a fifth of the 28 samples
N_OUT = 13  # status, curves, gallery, table, checkpoint, code, torchrun script, models, best, 4 pitfall slots


def request(name: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=name)


def last(gen):
    out = None
    for out in gen:  # noqa: B007 - the last item is the point
        pass
    return out


def run_direct(args, session: str = "direct", models=None, best=None):
    return tab.train_run(*args, models or {}, best, request(session), progress=lambda *a, **k: None)


# ------------------------------------------------------------------------------------------- callbacks


def test_first_view_is_the_default_run_before_any_training():
    figure, code, script, chosen, samples, curves = tab.open_view(*DEFAULTS)
    assert [t.meta for t in curves.data] == ["planned", "loss", "lr", "dice"] and len(curves.data[1].x) == 0
    lr = figure.data[0].y
    assert len(lr) == 300 and max(lr) == pytest.approx(3e-3) and figure.data[0].meta == "planned"
    assert "def train_steps(" in code and "OneCycleLR(optimizer, max_lr=0.003, pct_start=0.15, total_steps=n_steps)" \
        in code and "from lab" not in code  # fmt: skip
    assert Path(script).name == "train_unet_ddp.py" and "DistributedDataParallel" in Path(script).read_text()
    assert "Dice + BCE" in chosen and "after every batch" in chosen
    names = zipfile.ZipFile(samples).namelist()
    assert len(names) == 56 and "train_samples/cells_00_mask.png" in names


def test_run_streams_then_shows_results():
    outs = list(run_direct(TINY))
    assert len(outs) >= 2 and all(len(o) == N_OUT for o in outs)
    status, fig, gallery, table, files, code, script, models, best, head, wrong, right, pit_table = outs[-1]
    assert status.startswith("**Done (all steps done)**") and "now use this model** (run 1)" in status
    assert "shared.models" not in status
    assert [t.meta for t in fig.data] == ["planned", "loss", "lr", "dice"] and len(fig.data[1].x) == 4
    assert fig.data[3].x[0] == 0  # validation Dice from step 0, before training
    assert len(gallery) == N_VAL and all("Dice" in caption for _, caption in gallery)
    assert len(table) == N_VAL and table["Dice"].between(0, 1).all()
    weights, config = sorted(files, key=lambda p: Path(p).suffix)[::-1]
    assert weights.endswith("unet_trained.safetensors") and config.endswith("unet_trained.json")
    assert isinstance(models["train"], UNet) and models["train"].config()["base_channels"] == 4
    loaded, config = load_with_config(weights, UNet)  # what the U-Net and Checkpoints tabs do with the download
    assert config == models["train"].config()
    assert all(torch.equal(a, b.cpu()) for a, b in zip(loaded.state_dict().values(),
                                                        models["train"].state_dict().values(), strict=True))
    assert "StepLR(optimizer, step_size=2)" in code and Path(script).name == "train_unet_ddp.py"
    assert best == {"runs": 1, "run": 1, "dice": pytest.approx(table["Dice"].mean())}
    assert "model.eval()" in head and pit_table.value["data"][-1][0] == "mean"
    assert tab.RUNNING == 0 and "direct" not in tab._STOPS


def test_a_worse_later_run_keeps_the_better_model():
    better = torch.nn.Identity()
    status, *rest = last(run_direct(TINY, session="worse", models={"train": better},
                                    best={"runs": 1, "run": 1, "dice": 1.0}))  # fmt: skip
    models, best = rest[6], rest[7]
    assert models["train"] is better and best == {"runs": 2, "run": 1, "dice": 1.0}
    assert "keep run 1** (validation Dice 1.000), better than this run 2" in status


def test_stop_before_start_still_gives_results():
    tab.arm(request("stopper"))
    assert tab.stop(request("stopper")).startswith("Stopping")
    status, *_ = last(run_direct([*TINY[:10], 200, 4, 60], session="stopper"))
    assert status.startswith("**Done (stopped)**")
    assert tab.stop(request("stopper")) == "No training is running."


@pytest.mark.parametrize(
    ("index", "value", "message"),
    [
        (10, 5001, "Steps is 5001; a whole number from 1 to 5,000 is accepted."),
        (12, 301, r"Time limit \(s\) is 301"),
        (12, None, r"Time limit \(s\) is None; a number above 0 and at most 300 is accepted."),
        (11, 65, "Batch size is 65"),
        (9, "{not json", "scheduler parameters"),
        (9, "[1, 2]", "Scheduler parameters is .*a JSON object of named parameters"),
        (5, '{"smooth": -1}', "smooth"),
        (0, "elsewhere", "Data is 'elsewhere'; one of 'samples', 'upload' is accepted."),
    ],
)
def test_bad_input_is_one_gr_error(index, value, message):
    args = list(TINY)
    args[index] = value
    with pytest.raises(gr.Error, match=message):
        last(tab.guarded(tab.train_run)(*args, {}, None, request("bad"), progress=lambda *a, **k: None))
    with pytest.raises(gr.Error, match=message):  # the preview refuses it too, before Start
        tab.guarded(tab.preview)(*args)


def test_upload_with_mask_of_other_size_refused(tmp_path):
    import numpy as np
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(tmp_path / f"p{i}.png")
        Image.fromarray(np.zeros((32 if i == 1 else 40, 40), np.uint8)).save(tmp_path / f"p{i}_mask.png")
    files = sorted(str(p) for p in tmp_path.iterdir())
    with pytest.raises(gr.Error, match="same size"):
        last(tab.guarded(tab.train_run)(tab.DATA_UPLOAD, files, *TINY[2:], {}, None, request("up"),
                                        progress=lambda *a, **k: None))  # fmt: skip


def test_hand_offs_from_the_losses_and_lr_tabs():
    name, params = tab.from_loss_tab(losses.LossSpec.of("focal", gamma=1.0))
    assert name["value"] == "focal" and json.loads(params) == {"gamma": 1.0}
    assert tab.from_loss_tab({"name": "Dice", "params": {"smooth": 2.0}})[0]["value"] == "dice"  # the older dict
    name, params = tab.from_schedule_tab(schedules.ScheduleSpec.of("OneCycleLR", {"max_lr": 0.01}))
    assert name["value"] == "OneCycleLR" and json.loads(params) == {"max_lr": 0.01}
    assert tab.from_schedule_tab({"name": "", "params": {}})[0]["value"] == tab.NO_SCHEDULE
    assert all(isinstance(u, type(gr.skip())) for u in tab.from_schedule_tab(None) + tab.from_loss_tab(None))
    figure, *_ = tab.preview(*TINY[:8], "OneCycleLR", params, 100, 8, 60)
    assert max(figure.data[0].y) == pytest.approx(0.01) and len(figure.data[0].y) == 100
    assert tab.scheduler_defaults("StepLR").startswith("{")


def test_the_pitfall_runs_on_the_shipped_u_net_before_any_training():
    head, wrong, right, table = tab.run_pitfall({})
    assert "Validating without model.eval()" in head and "chapter 4" in head and "never shows" not in head
    assert "model.train()" in table.value["headers"] and len(table.value["data"]) >= 2


# ------------------------------------------------------------------------------------------- gradio_client


@pytest.mark.api
def test_client_runs_a_short_training(client):
    out = client.predict(*TINY, api_name="/train_start")  # shared.models and best are States: not in the API
    status, fig, gallery, table, files, code, script, *pitfall = out
    assert status.startswith("**Done") and len(pitfall) == 4
    assert len(gallery) == N_VAL and len(table["data"]) == N_VAL
    assert {Path(f).suffix for f in files} == {".safetensors", ".json"} and Path(script).name == "train_unet_ddp.py"


@pytest.mark.api
def test_client_gets_the_sentence(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Steps is 5001"):
        client.predict(*TINY[:10], 5001, 4, 60, api_name="/train_start")
    with pytest.raises(AppError, match="Batch size is 65"):
        client.predict(source=tab.DATA_SAMPLES, files=None, batch=65, api_name="/train_preview")


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
        " const t = p && p.data ? p.data.find(t => t.meta === 'loss') : null; return t ? t.x.length : 0; }"
    )


# CodeMirror draws only the lines in view: the whole text is in its editor state
_CODE_JS = "() => { const c = document.querySelector('#train-code .cm-content'); return c && c.cmTile ? " \
           "c.cmTile.view.state.doc.toString() : ''; }"  # fmt: skip


def _code(page) -> str:
    return page.evaluate(_CODE_JS)


def _wait_for_code(page, words: str) -> None:
    page.wait_for_function(f"() => ({_CODE_JS})().includes({json.dumps(words)})", timeout=60_000)


def _first_view(page) -> None:
    """The tab's first view, computed without a click: the lr preview drawn and the run's code shown."""
    _wait_for_code(page, "def train_steps(")
    page.wait_for_function("() => { const p = document.querySelector('#train-lr-preview .js-plotly-plot');"
                           " return p && p.data && p.data.length > 0; }", timeout=60_000)  # fmt: skip


@pytest.mark.browser
def test_first_view_above_the_fold_in_english(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(app_url + "?lang=en")
    open_tab(page, "Train")
    _first_view(page)
    expect(page.locator("#train-chosen")).to_contain_text("OneCycleLR")
    for button in ("#train-start", "#train-stop", "#train-ddp"):  # beside the curves, above the fold
        box = page.locator(button).bounding_box()
        assert box and box["y"] + box["height"] <= 800, (button, box)
    curves = page.locator("#train-curves").bounding_box()
    start = page.locator("#train-start").bounding_box()
    assert curves["x"] == pytest.approx(start["x"], abs=40) and curves["y"] > start["y"]
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(Path(__file__).parent / "screenshots" / "train_fold.png"))
    context.close()


@pytest.mark.browser
def test_the_page_in_chinese(browser, app_url):
    from playwright.sync_api import expect

    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(app_url + "?tab=train")
    _first_view(page)
    expect(page.locator("#train-start")).to_have_text("开始")
    expect(page.locator("#train-ddp")).to_contain_text("多 GPU 脚本")
    expect(page.locator("#train-chosen")).to_contain_text("学习率调整")
    expect(page.locator("#tab-train, [role=tab][aria-selected=true]").first).to_contain_text("训练")
    page.screenshot(path=str(Path(__file__).parent / "screenshots" / "train_zh.png"))
    context.close()


@pytest.mark.browser
def test_an_error_stays_beside_the_settings_until_the_next_run(page):
    from playwright.sync_api import expect

    open_tab(page, "Train")
    _first_view(page)
    page.locator("#train-steps input").fill("0")
    page.locator("#train-steps input").press("Enter")
    error = page.locator("#train-error")
    expect(error).to_contain_text("Steps is 0; a whole number from 1 to 5,000 is accepted.", timeout=30_000)
    time.sleep(2)
    expect(error).to_contain_text("Steps is 0")  # still there: no toast that fades
    page.locator("#train-steps input").fill("120")
    page.locator("#train-steps input").press("Enter")
    _wait_for_code(page, "seed, steps, batch_size = 0, 120, 8")
    expect(error).to_have_text("")


@pytest.mark.browser
def test_a_link_restores_the_settings(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url + '?tab=train&steps=120&batch=4&scheduler=StepLR&scheduler_params={"step_size":7}&lr=0.01'
              "&depth=2&steps_bad=1&limit=abc")  # fmt: skip
    _wait_for_code(page, "StepLR(optimizer, step_size=7)")
    _wait_for_code(page, "seed, steps, batch_size = 0, 120, 4")
    expect(page.locator("#lab-note")).to_contain_text("limit=")  # the bad value is ignored with a note
    assert page.locator("#train-steps input").input_value() == "120"
    assert "steps=120" in page.url and "tab=train" in page.url


@pytest.mark.browser
def test_page_trains_and_the_curve_grows(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url + "?tab=train&base=4&depth=2&steps=400&limit=120")  # a small U: steps of a fraction of a second
    _first_view(page)
    _wait_for_code(page, "seed, steps, batch_size = 0, 400, 8")
    page.locator("#train-start").click()
    page.wait_for_function(
        "() => { const p = document.querySelector('#train-curves .js-plotly-plot');"
        " const t = p && p.data ? p.data.find(t => t.meta === 'loss') : null; return t && t.x.length > 0; }",
        timeout=60_000,
    )
    first = _points(page)
    page.wait_for_function(f"() => document.querySelector('#train-curves .js-plotly-plot').data"
                           f".find(t => t.meta === 'loss').x.length > {first}", timeout=30_000)  # fmt: skip
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("Done", timeout=60_000)
    expect(page.locator("#train-gallery img").first).to_be_visible()
    page.evaluate("window.scrollTo(0, 0)")
    page.shot("train", full_page=True)


@pytest.mark.browser
def test_on_a_phone_the_progress_and_the_curve_titles_do_not_overlap(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(app_url + "?tab=train&base=4&depth=2&steps=2000&limit=120")
    _first_view(page)
    _wait_for_code(page, "seed, steps, batch_size = 0, 2000, 8")
    page.locator("#train-start").click()
    page.wait_for_function("() => { const p = document.querySelector('#train-curves .js-plotly-plot');"
                           " const t = p && p.data ? p.data.find(t => t.meta === 'loss') : null;"
                           " return t && t.x.length > 0; }", timeout=60_000)  # fmt: skip
    page.locator("#train-status").scroll_into_view_if_needed()
    overlaps = page.evaluate(
        "() => { const boxes = s => [...document.querySelectorAll(s)].map(e => e.getBoundingClientRect())"
        "  .filter(r => r.width > 0 && r.height > 0);"
        " const progress = boxes('#train-status .progress-text, #train-status .progress-level, #train-status .eta-bar,"
        "  #train-status .meta-text, #train-status .progress-bar');"
        " const titles = boxes('#train-curves .annotation-text, #train-curves .gtitle');"
        " const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;"
        " const pairs = [];"
        " titles.forEach((t, i) => { progress.forEach(p => { if (hit(t, p)) pairs.push(['progress', i]); });"
        "   titles.forEach((u, j) => { if (j > i && hit(t, u)) pairs.push([i, j]); }); });"
        " return {pairs, titles: titles.length}; }"
    )
    page.screenshot(path=str(Path(__file__).parent / "screenshots" / "train_phone.png"))
    page.locator("#train-stop").click()
    assert overlaps["titles"] == 3 and overlaps["pairs"] == [], overlaps
    context.close()


@pytest.mark.browser
def test_closed_page_ends_its_training(browser, app_url):
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(app_url + "?tab=train&base=4&depth=2&steps=5000&limit=120")
    _first_view(pg)
    _wait_for_code(pg, "seed, steps, batch_size = 0, 5000, 8")
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
