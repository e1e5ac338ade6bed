"""Hardening (issue 9): sessions never see each other's state, and the files they leave behind are cleaned up.

Each `Client` is its own Gradio session (its own session hash), so its `gr.State`s (the LR tab's overlay list,
`shared.models`) are its own. Checked through the outputs a person sees: the overlay dropdown and the plot's
traces (LR schedules tab), and the model dropdown and model description (Checkpoints tab) after one session
uploads a checkpoint.

Temporary files: Gradio's cache (uploads, returned files) is cleaned by `Blocks(delete_cache=(1800, 3600))`; each
tab that writes its own files into the system temp folder must prune them too. The tests plant a file that is two
hours old where a tab keeps its files and check that the tab's next call removes it.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.api

# the label of ui.checkpoints.LOADED in English (a literal: the test must not import the UI)
LOADED = "Checkpoints: loaded"
DEFAULT = "Default: small CNN"


@pytest.fixture
def two_sessions(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False), Client(app_url, verbose=False)


def _choices(update) -> list[str]:
    """The choices of a returned gr.Dropdown update (gradio_client hands back the update dict)."""
    if isinstance(update, dict):
        return [c[0] if isinstance(c, (list, tuple)) else c for c in update.get("choices", [])]
    return []


def _trace_names(plot) -> list[str]:
    import json

    figure = plot.get("plot") if isinstance(plot, dict) else None
    figure = json.loads(figure) if isinstance(figure, str) else figure or {}
    return [t.get("name", "") for t in figure.get("data", [])]


def _add(client, name: str):
    client.predict(name=name, api_name="/schedules_select")
    client.predict(name=name, api_name="/schedules_curve")
    plot, pick, *_ = client.predict(api_name="/schedules_add")
    return _choices(pick), _trace_names(plot)


def test_overlay_lists_stay_per_session(two_sessions):
    a, b = two_sessions
    a_choices, _ = _add(a, "ExponentialLR")
    b_choices, b_traces = _add(b, "CosineAnnealingLR")
    a_choices, a_traces = _add(a, "StepLR")
    assert len(a_choices) == 2 and "ExponentialLR" in a_choices[0] and "StepLR" in a_choices[1], a_choices
    assert len(b_choices) == 1 and "CosineAnnealingLR" in b_choices[0], b_choices
    assert not any("ExponentialLR" in t for t in b_traces), b_traces
    assert not any("CosineAnnealingLR" in t for t in a_traces), a_traces
    # clearing one session's list leaves the other's alone
    _, pick, *_ = b.predict(api_name="/schedules_clear")
    assert _choices(pick) == []
    plot, pick, *_ = a.predict(api_name="/schedules_add")
    assert len(_choices(pick)) == 2  # the current curve is in a's comparison already: adding it again changes nothing


def test_uploaded_model_stays_per_session(two_sessions):
    from gradio_client import handle_file

    a, b = two_sessions
    saved, _facts, _code = a.predict(DEFAULT, "state_dict", ".pt", "none", False, api_name="/checkpoints_save")
    status, *_ = a.predict(handle_file(saved), DEFAULT, api_name="/checkpoints_load")
    assert "Loaded" in status and LOADED in status, status
    assert LOADED in _choices(a.predict(DEFAULT, api_name="/checkpoints_focus"))
    assert _choices(b.predict(DEFAULT, api_name="/checkpoints_focus")) == [DEFAULT]
    assert a.predict(LOADED, api_name="/checkpoints_model_info").startswith(f"**{LOADED}**")
    # naming the other session's model is refused (or falls back to the default), never the upload
    from gradio_client.exceptions import AppError

    try:
        info = b.predict(LOADED, api_name="/checkpoints_model_info")
    except AppError as exc:
        assert "not built" in str(exc), str(exc)
    else:
        assert info.startswith(f"**{DEFAULT}**") and LOADED not in info, info
    with pytest.raises(AppError):
        b.predict(LOADED, "state_dict", ".pt", "none", False, api_name="/checkpoints_save")


# ----------------------------------------------------------------------------------------------------------
# Temporary files the tabs write themselves
# ----------------------------------------------------------------------------------------------------------

TWO_HOURS = 2 * 3600


def _plant(path: Path) -> Path:
    """An old leftover: a file (or a folder holding one) last touched two hours ago."""
    target = path / "leftover.bin" if not path.suffix else path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"old")
    old = time.time() - TWO_HOURS
    for p in {target, target.parent}:
        os.utime(p, (old, old))
    return path


def test_checkpoint_downloads_are_pruned(client):
    old = _plant(Path(tempfile.gettempdir()) / "lab-checkpoints" / "planted-by-test-isolation")
    client.predict(DEFAULT, "state_dict", ".pt", "none", False, api_name="/checkpoints_save")
    assert not old.exists(), "ui/checkpoints.py keeps its download folders beyond 15 minutes"


def test_schedule_csvs_are_pruned(client):
    old = _plant(Path(tempfile.gettempdir()) / "lab-schedules" / "lr-planted-by-test-isolation.csv")
    client.predict(name="StepLR", api_name="/schedules_curve")
    assert not old.exists(), "ui/schedules.py keeps its CSV files beyond an hour"


def test_training_downloads_are_pruned(client):
    old = _plant(Path(tempfile.gettempdir()) / "lab-train" / "planted-by-test-isolation")
    client.predict(source="samples", files=None, base_channels=4, depth=2, steps=2, batch=2, time_limit=5.0,
                   api_name="/train_start")
    assert not old.exists(), "ui/train.py keeps every run's checkpoint folder for ever"
