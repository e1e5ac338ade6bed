"""The lab's one exception type and its one input check.

A `LabError` carries what went wrong as data: a catalogue key (`"error.value"`) and its parameters (the field, the
value as the visitor typed it, what is accepted). The page words it in the visitor's language from `locales/`;
`str(error)` is the English sentence, for API users and logs. Every topic checks its inputs with `number`,
`choice`, `text` and `flag`, so every refusal has one shape: "Steps is 0; a whole number from 1 to 5,000 is
accepted."
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LabError", "Term", "shown", "render", "number", "choice", "text", "flag", "fmt"]


class Term:
    """A piece of a message that is itself text of the catalogue: `Term("accept.int_range", low=1, high=10)`."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"Term({self.key!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Term) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)


class LabError(ValueError):
    """Wrong user input: `LabError("error.value", field="train.steps", value=shown(0), accepted=Term(...))`.

    `key` names the sentence in the catalogues (`locales/<lang>/`), `params` fill it; a param named `field` is a
    field key (`"train.steps"` is worded by `field.train.steps`), a `Term` param is worded too. `str()` gives the
    English sentence; `render(error, "zh")` the Chinese one.
    """

    def __init__(self, key: str, /, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __str__(self) -> str:
        return render(self, "en")

    def __reduce__(self):  # picklable with its params (multiprocessing, copy)
        return (_rebuild, (self.key, self.params))


def _rebuild(key: str, params: dict[str, Any]) -> LabError:
    return LabError(key, **params)


def fmt(x: Any) -> str:
    """A number as messages show it: `5000` -> "5,000", `1e-06` -> "1e-06", `0.5` -> "0.5"."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:g}"


def render(message: LabError | Term | str, lang: str = "en") -> str:
    """The sentence of an error (or a Term) in `lang`; a plain string is returned as it is."""
    if isinstance(message, str):
        return message
    from locales import has, text  # the catalogues are data; imported late so `lab` loads without them first

    params: dict[str, Any] = {}
    for name, value in message.params.items():
        if isinstance(value, Term):
            value = render(value, lang)
        elif name == "field" and isinstance(value, str) and has(f"field.{value}"):
            value = text(lang, f"field.{value}")
        elif isinstance(value, (list, tuple)) and name != "value":
            value = ", ".join(render(v, lang) if isinstance(v, Term) else str(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            value = fmt(value)
        params[name] = value
    return text(lang, message.key, **params)


def shown(value: Any, limit: int = 60) -> str:
    """`repr(value)` for an error message, cut to `limit` characters plus its full length when longer.

    A 100 kB text field must not come back as a 100 kB toast (or log line): `shown("x" * 100_000)` is
    `'xxxx…' (100000 characters)` (with 57 x's). A cut string keeps its closing quote so the sentence still reads; the
    length is the string's own (for other values, that of their repr).
    """
    try:
        text_ = repr(value)
    except Exception:  # noqa: BLE001 - a hostile object's __repr__ must not break the message about it
        return f"<{type(value).__name__}>"
    if len(text_) <= limit:
        return text_
    limit = max(limit, 8)
    if isinstance(value, str) and text_[:1] in "'\"":
        return f"{text_[: limit - 2]}…{text_[0]} ({len(value)} characters)"
    return f"{text_[: limit - 1]}… ({len(text_)} characters)"


# ---------------------------------------------------------------------------------------------------------------
# The one input check: every topic refuses a value with these, so every refusal reads the same.


def _refuse(field: str, value: Any, accepted: Term) -> LabError:
    return LabError("error.value", field=field, value=shown(value), accepted=accepted)


def number(
    field: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    integer: bool = False,
    low_open: bool = False,
) -> int | float:
    """`value` as an int (`integer=True`) or a finite float within [low, high] (low excluded with `low_open`).

    Accepts what a form or a JSON client sends: ints, floats, numeric strings; a float with no fraction where an
    integer is asked (3.0 -> 3). Refuses bools, NaN, infinities and anything else with one sentence.
    """
    if integer:
        accepted = Term("accept.integer_range", low=fmt(low), high=fmt(high))
    elif low is not None and high is not None:
        accepted = Term("accept.number_above" if low_open else "accept.number_range", low=fmt(low), high=fmt(high))
    else:
        accepted = Term("accept.number")
    x: Any = value
    if isinstance(x, str) and len(x) <= 40:
        try:
            x = float(x.strip().replace("_", ""))
        except ValueError:
            raise _refuse(field, value, accepted) from None
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise _refuse(field, value, accepted)
    if isinstance(x, int) and abs(x) > 2**63:  # beyond any bound a field has (and beyond float: 10**400)
        raise _refuse(field, value, accepted)
    if isinstance(x, float) and not math.isfinite(x):
        raise _refuse(field, value, accepted)
    if integer:
        if isinstance(x, float):
            if x != int(x):
                raise _refuse(field, value, accepted)
            x = int(x)
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and x > high
    if too_low or too_high:
        raise _refuse(field, value, accepted)
    return x if integer else float(x)


def choice(field: str, value: Any, options: Iterable[Any]) -> Any:
    """`value` if it is one of `options` (compared with ==, so "sgd" but not "SGD"), else one sentence listing them."""
    options = list(options.keys() if isinstance(options, Mapping) else options)
    try:
        if value in options:
            return value
    except TypeError:  # an unhashable or incomparable value from a JSON client
        pass
    listed = [repr(o) for o in options[:12]] + (["…"] if len(options) > 12 else [])
    raise _refuse(field, value, Term("accept.one_of", options=", ".join(listed)))


def text(field: str, value: Any, *, max_chars: int, allow_empty: bool = False) -> str:
    """`value` as a string of at most `max_chars` characters (empty only with `allow_empty`)."""
    if value is None and allow_empty:
        return ""
    if not isinstance(value, str) or len(value) > max_chars or (not allow_empty and not value.strip()):
        raise _refuse(field, value, Term("accept.text", max_chars=fmt(max_chars)))
    return value


def flag(field: str, value: Any) -> bool:
    """`value` as a bool: True/False (and 0/1 from a JSON client)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _refuse(field, value, Term("accept.flag"))
