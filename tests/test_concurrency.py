"""One server-wide limit on concurrent work (issue 12, item 3): at most 2 computations and 1 training; views
served from the cache run beside them in their own, wider group (issue 17)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import pytest

from tests.conftest import free_port
from ui import cache
from ui.common import TRAINING, VIEW, WORK, limit_concurrency


def test_every_queued_event_of_the_lab_is_in_one_of_two_groups():
    import app

    groups = {}
    for fn in app.demo.fns.values():
        if fn.queue:
            groups.setdefault(fn.concurrency_id, set()).add(fn.concurrency_limit)
    assert groups[WORK] == {2} and groups[VIEW] == {8} and groups[TRAINING] == {1}
    assert set(groups) == {WORK, VIEW, TRAINING}
    for fn in app.demo.fns.values():  # every computing event holds a heavy-work slot; light ones say they are
        if fn.queue and fn.concurrency_id == WORK:
            assert getattr(fn.fn, "lab_heavy", False), fn.api_name
        if fn.queue and fn.concurrency_id == VIEW:
            assert getattr(fn.fn, "lab_light", False), fn.api_name


def test_the_first_views_and_pitfalls_are_light():
    import app

    light = {fn.api_name for fn in app.demo.fns.values() if fn.concurrency_id == VIEW}
    for tab in ("compose", "unet", "surgery", "losses", "schedules", "train"):
        assert f"{tab}_open" in light and f"{tab}_open_link" in light, tab
    assert {"surgery_pitfall_softmax", "unet_pitfall", "schedules_pitfall", "losses_choose"} <= light
    # a build or a curve with the visitor's own settings is a cache miss: heavy work, never in the views' group
    assert not {"compose_build", "unet_build", "surgery_apply", "schedules_curve", "train_preview"} & light


def test_unqueued_events_compute_nothing():
    import app

    unqueued = sorted(fn.api_name for fn in app.demo.fns.values()
                      if not fn.queue and fn.fn is not None and fn.api_visibility != "private")
    assert unqueued == ["compose_example", "header", "train_arm", "train_stop"]  # fill inputs, word, flip a flag


@pytest.fixture
def counting_app():
    """Three different events and one training event, each recording how many of its group run at once."""
    lock = threading.Lock()
    running = {WORK: 0, TRAINING: 0}
    peak = {WORK: 0, TRAINING: 0}

    def slow(group: str):
        def fn(x):
            with lock:
                running[group] += 1
                peak[group] = max(peak[group], running[group])
            time.sleep(0.4)
            with lock:
                running[group] -= 1
            return x

        return fn

    with gr.Blocks() as demo:
        box = gr.Number()
        out = gr.Number()
        for name in ("a", "b", "c"):
            gr.Button(name).click(slow(WORK), box, out, api_name=name)
        gr.Button("t").click(slow(TRAINING), box, out, api_name="t", concurrency_id=TRAINING)
    limit_concurrency(demo, work=2, training=1)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield url, peak
    demo.close()


@pytest.fixture
def view_app():
    """Two heavy events held until released, a cached view (a miss is heavy work), and a view already cached."""
    release, started = threading.Event(), threading.Semaphore(0)

    def held(x):
        started.release()
        release.wait(60)
        return x

    @cache.cached
    def view(x: int) -> int:
        return x * 10

    cache.MEMO.clear()
    view(7)  # warm: the next call with 7 is a hit

    def light_view(x):
        return view(int(x))

    light_view.lab_light = True
    with gr.Blocks() as demo:
        box, out = gr.Number(), gr.Number()
        for name in ("h1", "h2"):
            gr.Button(name).click(held, box, out, api_name=name)
        gr.Button("v").click(light_view, box, out, api_name="v")
    limit_concurrency(demo, work=2, view=8, training=1)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_port=free_port(), quiet=True)
    yield url, release, started
    release.set()
    demo.close()


@pytest.mark.api
def test_a_cached_view_is_served_while_heavy_work_holds_every_slot(view_app):
    from gradio_client import Client

    url, release, started = view_app
    heavy = [Client(url, verbose=False).submit(1, api_name=name) for name in ("/h1", "/h2")]
    assert started.acquire(timeout=60) and started.acquire(timeout=60)  # both slots taken, held
    assert Client(url, verbose=False).predict(7, api_name="/v") == 70  # a hit: not queued behind them
    miss = Client(url, verbose=False).submit(8, api_name="/v")  # a miss needs a slot: it waits for one
    release.set()
    assert miss.result(timeout=60) == 80 and [job.result(timeout=60) for job in heavy] == [1, 1]


@pytest.mark.api
def test_limit_holds_across_different_events(counting_app):
    from gradio_client import Client

    url, peak = counting_app
    calls = ["/a", "/b", "/c", "/a", "/b", "/c", "/t", "/t", "/t"]
    clients = [Client(url, verbose=False) for _ in calls]
    with ThreadPoolExecutor(len(calls)) as pool:
        results = list(pool.map(lambda pair: pair[0].predict(1, api_name=pair[1]), zip(clients, calls, strict=True)))
    assert results == [1] * len(calls)
    assert peak[WORK] == 2  # six requests of three events: never more than two at once, and two did overlap
    assert peak[TRAINING] == 1
