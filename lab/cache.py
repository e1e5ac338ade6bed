"""A bounded memo for results that do not depend on who asks: the tutorial's default views, pitfall results, code.

Thirty students opening a teacher's link ask for the same deterministic (seeded) views at the same moment; each
is computed once and served from here after. `Memo` is an LRU capped by entries and by an estimate of bytes,
single-flight (while one caller computes a key, the others asking for it wait for that result instead of
computing it again), and never stores a failure. What goes in must not be mutated afterwards: callers keep
results that sessions may change (models above all) out of it, or copy them on the way out (`copy=`).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import torch

__all__ = ["Memo", "CacheStats", "approx_bytes"]

T = TypeVar("T")


def approx_bytes(value: Any, _budget: list[int] | None = None) -> int:
    """A quick estimate of the memory a result holds: arrays, tensors and frames by their buffers, text by length,
    containers and dataclasses by their members (at most 10,000 visits: a rough number, never a slow one)."""
    budget = _budget if _budget is not None else [10_000]
    if budget[0] <= 0:
        return 0
    budget[0] -= 1
    if isinstance(value, (str, bytes)):
        return len(value) + 50
    if isinstance(value, np.ndarray):
        return int(value.nbytes) + 100
    if isinstance(value, torch.Tensor):
        return int(value.numel() * value.element_size()) + 100
    if isinstance(value, torch.nn.Module):  # a built model: its weights and buffers (tied ones once)
        tensors = {id(t): t for t in (*value.parameters(), *value.buffers())}
        return sum(int(t.numel() * t.element_size()) for t in tensors.values()) + 1000
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(index=True, deep=False).sum()) + 100 * len(value.columns) + 40 * len(value)
    if isinstance(value, dict):
        return 64 + sum(approx_bytes(k, budget) + approx_bytes(v, budget) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return 56 + sum(approx_bytes(v, budget) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(approx_bytes(getattr(value, f.name, None), budget) for f in fields(value))
    if hasattr(value, "to_plotly_json"):  # a plotly figure: its traces' arrays and text
        return approx_bytes(value.to_plotly_json(), budget)
    return sys.getsizeof(value, 64)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    entries: int = 0
    bytes: int = 0


class _Pending:
    """A computation in flight: the waiters' event and, when done, its result or its failure."""

    __slots__ = ("done", "value", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Memo:
    """`memo.get(key, compute)`: the value stored under `key`, computing it with `compute()` once if absent.

    Bounded by `max_entries` and `max_bytes` (least recently used entries go first; a single value larger than
    `max_bytes / 4` is returned but not kept). `copy`, if given, is applied to every value handed out (a hit or the
    fresh value), so a caller may keep a copy-on-read store of mutable results.
    """

    def __init__(self, *, max_entries: int = 512, max_bytes: int = 256 * 2**20,
                 copy: Callable[[Any], Any] | None = None) -> None:  # fmt: skip
        self.max_entries, self.max_bytes, self.copy = max_entries, max_bytes, copy
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, _Pending] = {}
        self._lock = threading.Lock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.stats.entries = self.stats.bytes = 0

    def _out(self, value: T) -> T:
        return self.copy(value) if self.copy is not None else value

    def get(self, key: Hashable, compute: Callable[[], T], *, wait: bool = True) -> T:
        """With `wait=False`, a caller that finds `key` computing elsewhere computes its own value instead of waiting
        (for callers that hold a resource the computing thread may need)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.stats.hits += 1
                return self._out(self._items[key][0])
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                pending = self._pending[key] = _Pending()
                self.stats.misses += 1
            elif not wait:
                self.stats.misses += 1
                pending = None
            else:
                self.stats.hits += 1  # served by the computation in flight
        if pending is None:
            return self._out(compute())
        if not owner:
            pending.done.wait()
            if pending.error is not None:
                raise pending.error
            return self._out(pending.value)
        try:
            value = compute()
        except BaseException as exc:
            pending.error = exc
            with self._lock:
                del self._pending[key]
            pending.done.set()
            raise
        pending.value = value
        self._store(key, value)
        with self._lock:
            del self._pending[key]
        pending.done.set()
        return self._out(value)

    def _store(self, key: Hashable, value: Any) -> None:
        size = approx_bytes(value)
        if size > self.max_bytes // 4:
            return
        with self._lock:
            if key in self._items:
                self.stats.bytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self.stats.bytes += size
            while self._items and (len(self._items) > self.max_entries or self.stats.bytes > self.max_bytes):
                _, (_, freed) = self._items.popitem(last=False)
                self.stats.bytes -= freed
            self.stats.entries = len(self._items)
