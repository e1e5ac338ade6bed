"""The assembled app: header, error translation, and the page in a real browser."""

from __future__ import annotations

import gradio as gr
import pytest

from lab.device import describe, pick_device
from lab.errors import LabError
from ui.common import INTERNAL_ERROR, guarded


def test_pick_device_honours_env(monkeypatch):
    monkeypatch.setenv("LAB_DEVICE", "cpu")
    assert pick_device().type == "cpu"
    monkeypatch.setenv("LAB_DEVICE", "not-a-device")
    with pytest.raises(LabError, match="LAB_DEVICE"):
        pick_device()


def test_describe_names_torch_version():
    import torch

    assert torch.__version__ in describe()


def test_guarded_turns_lab_error_into_gr_error():
    @guarded
    def bad(x):
        raise LabError(f"Field 'x' got {x}; use a positive number.")

    with pytest.raises(gr.Error, match="got -1"):
        bad(-1)


def test_guarded_hides_internal_errors():
    @guarded
    def broken():
        return {}["missing"]

    with pytest.raises(gr.Error) as info:
        broken()
    assert info.value.message == INTERNAL_ERROR


def test_guarded_keeps_generators_streaming():
    @guarded
    def gen(n):
        yield from range(n)
        raise LabError("stop")

    it = gen(2)
    assert [next(it), next(it)] == [0, 1]
    with pytest.raises(gr.Error, match="stop"):
        next(it)


@pytest.mark.browser
def test_page_shows_header(page):
    from playwright.sync_api import expect

    expect(page.locator("#lab-header")).to_contain_text("PyTorch lab")
    expect(page.locator("#lab-runs-on")).to_contain_text("torch")  # where the lab runs, written per visitor
