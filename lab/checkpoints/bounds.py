"""Bounded walks over loaded objects (issue 12): every reader of an object from a file goes through `walk`.

A 2 kB pickle can describe 2^40 paths through one shared dict, or nest 30,000 levels deep; `walk` counts visits
(a shared entry once per path to it) and depth, and stops with `WalkLimit` (a LabError) past either bound. The
helpers below show keys and small values in a table or a sentence at a cost bounded the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from lab.errors import LabError, Term, shown

__all__ = ["MAX_VISITS", "MAX_DEPTH", "WalkLimit", "walk", "brief", "key_text", "key_shown", "cut"]

MAX_VISITS = 200_000  # entries one walk over a loaded object may visit (a shared entry once per path to it)
MAX_DEPTH = 64  # nesting levels a walk follows; real checkpoints nest fewer than 10
_CONTAINERS = (Mapping, list, tuple, set, frozenset, nn.Module)
_END = object()


def cut(text: str, limit: int = 60) -> str:
    """`text`, or its first `limit - 3` characters and "..." (a file may hold 100,000-character keys)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class WalkLimit(LabError):
    """A walk over a loaded object reached its visit budget or its depth limit; the message says which."""


def _children(obj: Any, containers: tuple[type, ...]) -> Iterator[tuple[Any, Any]] | None:
    """(key, child) pairs of a container, produced lazily (a list of 10^7 ints costs nothing until walked), or None.

    A mapping is read through its type's `items`, never the instance's: the weights-only unpickler lets a file set
    attributes on an OrderedDict, `items` among them. A module's children are its state_dict entries (only
    trusted objects hold modules: weights_only refuses them).
    """
    if isinstance(obj, torch.Tensor) or not isinstance(obj, containers):
        return None
    if isinstance(obj, nn.Module):
        return iter(obj.state_dict().items())
    if isinstance(obj, Mapping):
        return iter(type(obj).items(obj))
    if isinstance(obj, (list, tuple, set, frozenset)):
        return enumerate(obj)
    return None


def walk(
    obj: Any,
    *,
    levels: int | None = None,
    containers: tuple[type, ...] = _CONTAINERS,
    max_visits: int = MAX_VISITS,
    max_depth: int = MAX_DEPTH,
    what: str = "checkpoints.walk.checkpoint",
) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in `obj`, parents before children: `()` for `obj` itself, then key paths.

    Iterative (an explicit stack of child iterators), so nesting never meets Python's recursion limit, and
    bounded by visits, not by distinct objects: a dict referenced twice at each of 40 levels counts 2^41
    visits, so the walk stops at `max_visits` instead of running for hours. Past `max_visits` visits or
    `max_depth` levels it raises `WalkLimit` (a LabError) whose sentence starts with `what` (a catalogue key:
    "checkpoints.walk.checkpoint" is "The checkpoint"). `levels` stops opening containers at that depth (their
    entries are not walked and no error is raised); `containers` says which types are opened (mappings, lists,
    tuples, sets and modules by default; tensors never).
    """
    yield (), obj
    visits = 1
    top = None if levels == 0 else _children(obj, containers)
    stack = [(top, ())] if top is not None else []
    while stack:
        entries, path = stack[-1]
        item = next(entries, _END)
        if item is _END:
            stack.pop()
            continue
        key, child = item
        visits += 1
        if visits > max_visits:
            raise WalkLimit("error.checkpoints.walk_visits", what=Term(what), limit=max_visits)
        if len(path) >= max_depth:
            raise WalkLimit("error.checkpoints.walk_depth", what=Term(what), limit=max_depth)
        child_path = (*path, key)
        yield child_path, child
        if levels is None or len(child_path) < levels:
            inner = _children(child, containers)
            if inner is not None:
                stack.append((inner, child_path))


def brief(value: Any, limit: int = 60) -> str | None:
    """`repr(value)` if it is at most `limit` characters, else None, at a cost bounded by `limit`.

    A walk of at most `limit` visits first checks that `value` is small plain data (lists, tuples, sets of
    numbers, short strings, dtypes, devices); only then is repr called, so a list of 10^7 ints, a 600-digit
    int or a tensor never has its repr built.
    """
    try:
        for _, item in walk(value, max_visits=limit, max_depth=limit // 2, containers=(list, tuple, set, frozenset)):
            if isinstance(item, (str, bytes)):
                if len(item) > limit:
                    return None
            elif isinstance(item, int):  # bool too
                if item.bit_length() > 4 * limit:  # ~1.2 digits per 4 bits: certainly longer than `limit`
                    return None
            elif type(item) in (list, tuple, set, frozenset, torch.Size):
                continue
            elif not isinstance(item, (float, complex, type(None), torch.dtype, torch.device)):
                return None
    except WalkLimit:
        return None
    text = repr(value)
    return text if len(text) <= limit else None


def key_text(key: Any, limit: int = 200) -> str:
    """A key as a table shows it: a string as it is (cut to `limit`), anything else by a short repr or its type."""
    if isinstance(key, str):
        return cut(key, limit)
    return brief(key) or f"<{type(key).__name__}>"


def key_shown(key: Any) -> str:
    """A key quoted in a sentence: `shown` for strings (quotes, cut), else a short repr or its type."""
    return shown(key) if isinstance(key, str) else (brief(key) or f"a {type(key).__name__}")
