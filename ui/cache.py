"""Work that does not depend on the visitor, done once per server; heavy work, at most two at a time (issue 17).

A class opening the teacher's link asks for the same tutorial views at the same moment. The lab's views are
deterministic (seeded): `cached(fn)(*args)` computes `fn(*args)` once per distinct plain arguments and serves the
stored result after (`lab.cache.Memo`: an LRU capped by entries and bytes, single-flight, warmed lazily). Calls
whose arguments are not plain values (an uploaded file's path, a model, a session's state) are never stored:
`cached(fn)` only stores calls whose arguments are str/int/float/bool/None, tuples of these, or frozen
dataclasses of these, and the callers pass an upload's path only to the uncached form.

Results are shared between sessions, so nothing that holds them may change them: tables and figures are read,
never written, by the page; a model in a result is shared read-only, and every tab that wraps, trains or loads into
a model works on its own `copy.deepcopy` (Checkpoints and Train do).

`HEAVY` bounds the computations running at once, server-wide: every WORK event (`ui.common.limit_concurrency`)
and every cache miss holds it, so a class's first views and the heavy events share one limit of two, while cache
hits and cheap events run beside them in their own, wider group.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from lab.cache import Memo

__all__ = ["MEMO", "HEAVY", "Held", "cached", "heavy", "held", "plain_key", "resolve"]

F = TypeVar("F", bound=Callable[..., Any])

# 512 MiB in all, 128 MiB at most for one value (the default ResNet-50 surgery fits, a ResNet-152 does not): with
# the server idle at ~0.8 GiB and two computations at a time, a full cache keeps the server under 4 GiB.
MEMO = Memo(max_entries=512, max_bytes=512 * 2**20)
HEAVY_LIMIT = 2
_SLOTS = threading.BoundedSemaphore(HEAVY_LIMIT)
_DEPTH = threading.local()  # a thread that holds a slot does not take a second one (nested heavy calls)
_PLAIN = (str, int, float, bool, type(None))


class _Heavy:
    """`with HEAVY:` holds one of the server's heavy-work slots (re-entrant within a thread)."""

    def __enter__(self) -> _Heavy:
        depth = getattr(_DEPTH, "n", 0)
        if depth == 0:
            _SLOTS.acquire()
        _DEPTH.n = depth + 1
        return self

    def __exit__(self, *exc: Any) -> None:
        _DEPTH.n -= 1
        if _DEPTH.n == 0:
            _SLOTS.release()


HEAVY = _Heavy()


def held() -> bool:
    """Whether this thread holds a heavy-work slot."""
    return getattr(_DEPTH, "n", 0) > 0


def _plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_plain(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = getattr(type(value), "__dataclass_params__", None)
        return bool(params and params.frozen) and all(
            _plain(getattr(value, f.name)) for f in dataclasses.fields(value))  # fmt: skip
    return False


def plain_key(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Hashable | None:
    """The cache key of `fn(*args, **kwargs)`, or None when an argument is not a plain value (never stored)."""
    if not all(_plain(a) for a in args) or not all(_plain(v) for v in kwargs.values()):
        return None
    # A float and an equal int are one key in a dict (1 == 1.0); their types keep them apart (a view may differ).
    typed = tuple((type(a).__name__, a) for a in args)
    named = tuple(sorted((k, type(v).__name__, v) for k, v in kwargs.items()))
    return (fn.__module__, fn.__qualname__, typed, named)


def heavy(fn: F) -> F:
    """`fn` holding a heavy-work slot while it runs (a generator holds it until it is exhausted or closed)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen(*args: Any, **kwargs: Any) -> Any:
            with HEAVY:
                yield from fn(*args, **kwargs)

        return gen  # type: ignore[return-value]

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        with HEAVY:
            return fn(*args, **kwargs)

    return call  # type: ignore[return-value]


def cached(fn: F) -> F:
    """`fn` computed once per distinct plain arguments, server-wide; a miss holds a heavy-work slot.

    Raised errors are not stored (the next call tries again). Calls with arguments that are not plain values run
    uncached, under a slot.
    """
    slow = heavy(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        key = plain_key(fn, args, kwargs)
        if key is None:
            return slow(*args, **kwargs)
        # A thread that holds a slot never waits for another's computation (that one may be waiting for the slot).
        return MEMO.get(key, lambda: slow(*args, **kwargs), wait=not held())

    call.uncached = fn  # type: ignore[attr-defined]
    return call  # type: ignore[return-value]


class Held:
    """A session's built model, kept as the cached call that builds it (`fn(*args, **kwargs).<attr>`), not as the
    model: the model lives in the bounded cache, shared by every session that built the same thing, and is built
    again (the same seeded weights) when the cache has let it go. Thirty sessions that each build a different large
    model then hold a few hundred bytes each, not a few hundred MB (issue 12's storm).

    A model the lab cannot build again from plain settings (an upload's, a trained one) is kept as the model.
    """

    __slots__ = ("fn", "args", "kwargs", "attr")

    def __init__(self, fn: Callable[..., Any], *args: Any, attr: str | None = None, **kwargs: Any) -> None:
        self.fn, self.args, self.kwargs, self.attr = fn, args, kwargs, attr

    def model(self) -> Any:
        result = self.fn(*self.args, **self.kwargs)
        return getattr(result, self.attr) if self.attr else result


def resolve(value: Any) -> Any:
    """The model a session holds: `value` itself, or the model a `Held` builds."""
    return value.model() if isinstance(value, Held) else value
