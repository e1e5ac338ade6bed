"""The lab's one exception type: wrong input, worded for the person who typed it, and `shown` to quote that input."""

from typing import Any


class LabError(ValueError):
    """Wrong user input. The message is one sentence naming the field, the value and what is accepted."""


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` for an error message, cut to `limit` characters plus its full length when longer.

    A 100 kB text field must not come back as a 100 kB toast (or log line): `shown("x" * 100_000)` is
    `'xxxx…' (100000 characters)` (with 57 x's). A cut string keeps its closing quote so the sentence still reads; the
    length is the string's own (for other values, that of their repr).
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    limit = max(limit, 8)
    if isinstance(value, str) and text[:1] in "'\"":
        return f"{text[: limit - 2]}…{text[0]} ({len(value)} characters)"
    return f"{text[: limit - 1]}… ({len(text)} characters)"
