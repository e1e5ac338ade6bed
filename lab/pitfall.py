"""The one shape of a pitfall: one of the tutorial's mistakes, run live, beside the fix.

Every topic's `pitfalls.py` returns `Pitfall`s. The code on both sides comes from the source of what ran
(`lab.source`), the outcomes are what really happened (a value, or the exception PyTorch raised), and `facts`
holds the numbers the explanation quotes. The words (title, explanation) live in the catalogues under
`pitfall.<id>.title` and `pitfall.<id>.why`, filled with `facts`; nothing here is prose.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = ["Outcome", "Pitfall", "attempt"]


@dataclass(frozen=True)
class Outcome:
    """What one side produced: `value` (short text: a shape, a printout, a number) or the `error` it raised."""

    value: str = ""
    error: str = ""  # "ExceptionType: first line of its message", PyTorch's own words

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Pitfall:
    """A mistake of the tutorial (section `section`) run beside its fix."""

    id: str  # "<topic>.<name>", e.g. "compose.modulelist_forward"; keys its words in the catalogues
    section: str  # the tutorial section, e.g. "5.1.3"
    wrong_code: str
    right_code: str
    wrong: Outcome
    right: Outcome
    facts: dict[str, Any] = field(default_factory=dict)
    table: pd.DataFrame | None = None
    figure: Any = None  # a plotly figure, when a curve says it better


def attempt(fn: Callable[[], Any], show: Callable[[Any], str] = str) -> Outcome:
    """Run `fn()` and keep what happened: `Outcome(value=show(result))`, or the exception it raised.

    For the tutorial's wrong code, run on purpose: any exception is the lesson, so none escapes; the message is
    cut to its first line (PyTorch's words, not a traceback).
    """
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 - the mistake's own failure is what the pitfall shows
        lines = traceback.format_exception_only(type(exc), exc)
        first = (lines[-1] if lines else type(exc).__name__).strip().splitlines()[0]
        return Outcome(error=first[:300])
    return Outcome(value=show(result))
