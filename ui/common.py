"""What every tab shares: error translation for callbacks and the per-session stores that link the tabs."""

from __future__ import annotations

import functools
import inspect
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from lab.errors import LabError

__all__ = ["guarded", "Shared", "INTERNAL_ERROR", "code_box", "download_dir"]

log = logging.getLogger("lab.ui")

INTERNAL_ERROR = "An internal error happened; it has been logged on the server. Please try other values."


def _translate(exc: Exception) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, LabError):
        return gr.Error(str(exc), title="Input not accepted")
    log.exception("callback failed")  # the traceback stays on the server
    return gr.Error(INTERNAL_ERROR, title="Internal error")


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a callback so LabError becomes `gr.Error(message)` and any other exception a logged internal error.

    Keeps the callback's kind (plain, generator, async) and signature, so gr.Progress and streaming still work.
    """
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated for the page, logged when unexpected
                raise _translate(exc) from exc

        return gen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise _translate(exc) from exc

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc) from exc

    return wrapper


@dataclass
class Shared:
    """Per-session `gr.State`s that tabs read and write to hand work to each other.

    - `models`: dict label -> nn.Module, the models this session built ("Compose", "U-Net", "ResNet surgery",
      "Train"); the Checkpoints tab saves any of them.
    - `loss`: {"name": str, "params": dict}, the loss chosen in the Losses tab (the Train tab starts from it).
    - `schedule`: {"name": str, "params": dict}, the schedule chosen in the LR schedules tab.
    - `demo`: the enclosing Blocks, for `shared.demo.load(...)` of cheap default views (< 100 ms each).
    """

    demo: gr.Blocks
    models: gr.State
    loss: gr.State
    schedule: gr.State

    @classmethod
    def create(cls, demo: gr.Blocks) -> Shared:
        return cls(
            demo=demo,
            models=gr.State({}),
            loss=gr.State({"name": "dice_bce", "params": {}}),
            schedule=gr.State({"name": "", "params": {}}),
        )


def code_box(label: str = "PyTorch code", **kwargs: Any) -> gr.Code:
    """The code panel every tab has: Python, copy button, read-only."""
    return gr.Code(label=label, language="python", interactive=False, buttons=["copy"], **kwargs)


def download_dir(tab: str, keep_s: float = 900.0) -> Path:
    """A fresh folder for one file a tab hands out, under `<tmp>/lab-<tab>/`; folders older than `keep_s` go.

    Gradio copies a returned file into its own cache (cleaned by `Blocks(delete_cache=...)`), so our copy is only
    needed for the moment of returning it; pruning on each call keeps the temp dir bounded however many runs.
    """
    root = Path(tempfile.gettempdir()) / f"lab-{tab}"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > keep_s:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        except OSError:
            pass  # another session pruned it first
    return Path(tempfile.mkdtemp(dir=root))
