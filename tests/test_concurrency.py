"""One server-wide limit on concurrent work (issue 12, item 3): at most 2 computing requests and 1 training."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
import pytest

from tests.conftest import free_port
from ui.common import TRAINING, WORK, limit_concurrency


def test_every_queued_event_of_the_lab_is_in_one_of_two_groups():
    import app

    groups = {}
    for fn in app.demo.fns.values():
        if fn.queue:
            groups.setdefault(fn.concurrency_id, set()).add(fn.concurrency_limit)
    assert groups[WORK] == {2}
    assert groups[TRAINING] == {1}
    assert set(groups) == {WORK, TRAINING}


def test_unqueued_events_compute_nothing():
    import app

    unqueued = sorted(fn.api_name for fn in app.demo.fns.values() if not fn.queue and fn.fn is not None)
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
