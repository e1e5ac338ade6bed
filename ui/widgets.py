"""Widgets every tab builds the same way: a code panel with its notebook download, and a pitfall's panel.

Layout helpers (`code_panel`, `pitfall_slots`) are called inside a tab's layout; their update helpers
(`notebook_file`, `pitfall_view`) inside its callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from lab.errors import text
from lab.notebook import to_notebook
from lab.pitfall import Outcome, Pitfall
from ui.common import code_box, download_dir, guarded, light
from ui.i18n import i18n, t

__all__ = ["CodePanel", "code_panel", "notebook_file", "PitfallSlots", "pitfall_slots", "pitfall_view", "outcome_md"]


# ---------------------------------------------------------------------------------------------------------------
# Code panels


MAX_NOTEBOOK_CHARS = 200_000  # a code panel is a few hundred lines; an API client may send anything


@dataclass
class CodePanel:
    code: gr.Code
    notebook: gr.DownloadButton
    section: str  # the tutorial section the notebook's first cell names
    title_key: str  # catalogue key of that cell's title

    def wire(self, tab: str, api_name: str) -> None:
        """Clicking the download button writes the panel's current code as a notebook."""
        section, title_key = self.section, self.title_key

        def make(code: str) -> str:
            code = text("common.code", code, max_chars=MAX_NOTEBOOK_CHARS, allow_empty=True)
            return notebook_file(code, section, t(title_key), tab)

        callback = light(guarded(make))  # writes a small file: beside the views, never behind heavy work
        self.notebook.click(callback, self.code, self.notebook, api_name=api_name)


def code_panel(tab: str, section: str, title_key: str, *, elem_id: str, label: Any = None, **kwargs: Any) -> CodePanel:
    """The code box of a tab with a "Download as a notebook" button under it."""
    code = code_box(label=label, elem_id=elem_id, **kwargs)
    button = gr.DownloadButton(i18n("common.notebook"), size="sm", variant="secondary", elem_id=f"{elem_id}-notebook")
    return CodePanel(code, button, section, title_key)


def notebook_file(code: str, section: str, title: str, tab: str) -> str:
    """Write `code` as `<tab>_<section>.ipynb` in a fresh download folder; returns its path."""
    path = Path(download_dir(tab)) / f"{tab}_{section.replace('.', '_')}.ipynb"
    path.write_text(to_notebook(code, f"## {section} · {title}"), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------------------------------------------
# Pitfalls


@dataclass
class PitfallSlots:
    """The components of one pitfall: the heading and why, the wrong and the right side, a table, a figure."""

    pitfall_id: str
    head: gr.Markdown
    wrong: gr.Markdown
    right: gr.Markdown
    table: gr.Dataframe | None = None
    plot: gr.Plot | None = None

    @property
    def components(self) -> list[Any]:
        return [c for c in (self.head, self.wrong, self.right, self.table, self.plot) if c is not None]


def pitfall_slots(pitfall_id: str, *, table: bool = False, plot: bool = False) -> PitfallSlots:
    """Lay out one pitfall (inside the tab's pitfall accordion); its content comes from `pitfall_view`."""
    slug = pitfall_id.replace(".", "-").replace("_", "-")
    head = gr.Markdown(elem_id=f"pitfall-{slug}")
    with gr.Row(equal_height=False):
        wrong = gr.Markdown(elem_id=f"pitfall-{slug}-wrong", elem_classes=["pitfall-wrong"])
        right = gr.Markdown(elem_id=f"pitfall-{slug}-right", elem_classes=["pitfall-right"])
    frame = gr.Dataframe(interactive=False, elem_id=f"pitfall-{slug}-table", visible=False) if table else None
    figure = gr.Plot(elem_id=f"pitfall-{slug}-plot", visible=False) if plot else None
    return PitfallSlots(pitfall_id, head, wrong, right, frame, figure)


def outcome_md(outcome: Outcome) -> str:
    """"→ `value`" or "→ ❌ `ExceptionType: message`", as the panel prints what a side produced."""
    if outcome.ok:
        text = outcome.value if len(outcome.value) < 2000 else outcome.value[:2000] + " …"
        return f"{t('pitfall.produced')}\n```text\n{text}\n```" if "\n" in text else f"{t('pitfall.produced')} `{text}`"
    return f"{t('pitfall.raised')}\n```text\n{outcome.error}\n```"


def pitfall_view(slots: PitfallSlots, pitfall: Pitfall, *, table: pd.DataFrame | None = None,
                 figure: Any = None) -> list[Any]:
    """Updates for `slots.components` showing `pitfall` in the current language.

    `table`/`figure` override the pitfall's own (when the tab words their headers or titles first).
    """
    facts = {k: v for k, v in pitfall.facts.items()}
    head = f"#### {t(f'pitfall.{pitfall.id}.title')} · {pitfall.section}\n\n{t(f'pitfall.{pitfall.id}.why', **facts)}"
    wrong = f"**{t('pitfall.wrong')}**\n```python\n{pitfall.wrong_code.rstrip()}\n```\n{outcome_md(pitfall.wrong)}"
    right = f"**{t('pitfall.right')}**\n```python\n{pitfall.right_code.rstrip()}\n```\n{outcome_md(pitfall.right)}"
    updates: list[Any] = [head, wrong, right]
    if slots.table is not None:
        frame = table if table is not None else pitfall.table
        updates.append(gr.Dataframe(value=frame, visible=frame is not None))
    if slots.plot is not None:
        fig = figure if figure is not None else pitfall.figure
        updates.append(gr.Plot(value=fig, visible=fig is not None))
    return updates
