"""Saving and loading models, tutorial 5.4: formats, what to store, single vs multi-GPU, done safely.

Scope
- `save`: weights (`state_dict`), a whole pickled model, or the training checkpoint of 5.4.5 (model,
  optimizer and lr_scheduler state_dicts, epoch, args as a plain dict) in .pt/.pth/.pkl (`torch.save`)
  or .safetensors (weights only: asking for "model" or "checkpoint" in .safetensors raises LabError,
  because that format stores tensors and nothing else). Every write is atomic: a temp file in the same
  directory, then `os.replace`, so a failure never leaves a half-written file behind.
- `load`: untrusted files go through `torch.load(weights_only=True)` or safetensors. A file whose
  unpickling needs other Python globals (a pickled whole model, a `state_dict` saved without
  parentheses, an argparse Namespace, a hostile `__reduce__`) raises LabError and none of its code runs.
  The format is read from the file's first bytes, not its name; empty, truncated, corrupt, oversized and
  not-a-checkpoint files raise LabError with a sentence in the visitor's terms (never torch's or the OS's text).
- Bounded work on untrusted files (issue 12): before anything is unpickled, the pickle's instructions are
  counted and its globals listed without running them (`MAX_PICKLE_OPS`, `MAX_PICKLE_BYTES`, zip entries);
  every walk over a loaded object goes through `walk`, which counts visits (a shared dict once per path to it)
  and depth. What the lab saves it loads back: `save` refuses a file over `UPLOAD_MAX_BYTES` up front.
- `load_into`: finds the weights inside training checkpoints, fixes leading wrapper prefixes (`module.`
  from DataParallel/DDP, `module.module.` from double wrapping, `_orig_mod.` from torch.compile) in either
  direction, skips non-tensor extras such as the tutorial U-Net's `mask_values`, and reports shape
  mismatches instead of crashing.
- `parallel_wrap`: DataParallel or DistributedDataParallel, also on a CPU-only machine (DDP through a
  single-process gloo group on 127.0.0.1).
- `save_with_config` / `load_with_config`: weights plus a sidecar JSON holding the constructor arguments,
  so a model can be rebuilt and loaded without pickling code (what the Train tab downloads).
- The four cases of 5.4.4 (`play_case`) and the tutorial's pitfalls (`pitfall_*`), each run for real.
"""

from __future__ import annotations

import argparse
import atexit
import copy
import datetime
import functools
import hashlib
import inspect
import io
import itertools
import json
import os
import pickle
import pickletools
import re
import socket
import struct
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file as st_save_file
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from lab.errors import LabError, shown

__all__ = [
    "FORMATS",
    "WHATS",
    "WRAPPERS",
    "WRAPPER_PREFIXES",
    "MAX_LOAD_BYTES",
    "UPLOAD_MAX_BYTES",
    "LEGACY_MAX_BYTES",
    "MAX_PICKLE_BYTES",
    "MAX_PICKLE_OPS",
    "MAX_ZIP_ENTRIES",
    "MAX_VISITS",
    "MAX_DEPTH",
    "WalkLimit",
    "walk",
    "file_bytes",
    "LoadReport",
    "CaseResult",
    "save",
    "load",
    "load_into",
    "compare",
    "find_state_dict",
    "strip_prefix",
    "add_prefix",
    "parallel_wrap",
    "unwrap",
    "shutdown_process_group",
    "save_with_config",
    "load_with_config",
    "config_path",
    "file_info",
    "contents",
    "sha256",
    "default_model",
    "DEFAULT_MODEL_CODE",
    "save_code",
    "load_code",
    "training_objects",
    "example_inputs",
    "outputs_equal",
    "randomized_copy",
    "play_case",
    "case_code",
    "pitfall_state_dict_no_parens",
    "pitfall_assign_state_dict",
    "pitfall_slice_seven",
    "pitfall_replace_everywhere",
    "pitfall_double_wrap",
    "pitfall_map_location",
]

FORMATS = (".pt", ".pth", ".pkl", ".safetensors")
WHATS = ("state_dict", "model", "checkpoint")
WRAPPERS = ("dataparallel", "ddp")
# Leading key prefixes that wrappers add: DataParallel/DDP keep the model as `.module`, torch.compile as `._orig_mod`.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Keys under which training checkpoints keep the model's weights (5.4.5, torchvision references, Lightning, timm).
WEIGHT_KEYS = ("model", "state_dict", "model_state_dict", "model_state", "net", "network", "weights", "params")
# What the lab loads back is what it saves (issue 12, item 7). The largest file a tab can hand out is the
# Surgery tab's largest model (ResNet-152, four hidden layers of 4,096, 10,000 classes, 1,024 extra inputs and the
# extra output: 162 M parameters, 619 MiB in fp32, in every format and wrapper; a 5.4.5 checkpoint's fresh
# optimizer adds no tensors). The U-Net and Train tabs stop at 100 M parameters (382 MiB), Compose at 50 M.
# `save` refuses a file over this up front, so every download loads back; app.py's max_file_size is this number.
# Zip checkpoints are memory-mapped when loaded: a big file costs page cache, not heap.
UPLOAD_MAX_BYTES = 640 * 2**20
MAX_LOAD_BYTES = UPLOAD_MAX_BYTES  # `load`'s default limit: the same one number
# Untrusted files are bounded by counts, not only by size: a 2 kB pickle can describe 2^40 paths through one
# shared dict, and a 20 MB one ten million objects (13 s and 114 MB to unpickle).
LEGACY_MAX_BYTES = 256 * 2**20  # pre-1.6 (non-zip) torch files are read into memory, not mapped
MAX_PICKLE_BYTES = 16 * 2**20  # a file's object list (data.pkl): ResNet-152 DDP checkpoint, 125 kB
MAX_PICKLE_OPS = 500_000  # pickle instructions, counted before unpickling: ~37 per tensor, ~13,000 tensors
MAX_ZIP_ENTRIES = MAX_PICKLE_OPS // 10  # one record per tensor storage, and each costs over 10 instructions
MAX_VISITS = 200_000  # entries one walk over a loaded object may visit (a shared entry once per path to it)
MAX_DEPTH = 64  # nesting levels a walk follows; real checkpoints nest fewer than 10
_SAFETENSORS_MAX_HEADER = 16 * 2**20  # tensor names, dtypes, shapes, offsets: ~100 bytes a tensor
_MAX_WRAPPERS = 8  # leading wrapper prefixes looked for ("module.module." is 2)
_MAX_SIDECAR_BYTES = 1 << 20  # a config JSON beside weights
_HASH_CHUNK = 1 << 20
_DEFER_FREE_BYTES = 16 * 2**20  # replacing a file at least this big frees the old one on a background thread
_ORDER_KEY = "lab.key_order"  # safetensors metadata entry: the state_dict's key order as a JSON list


# ----------------------------------------------------------------------------------------------------------
# Small helpers: prefixes, wrappers, state dict discovery
# ----------------------------------------------------------------------------------------------------------


def _cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _mapping(state_dict: Any) -> Mapping[str, Any]:
    if not isinstance(state_dict, Mapping):
        raise LabError(f"Field 'state_dict' is a {type(state_dict).__name__}; a mapping of key -> tensor is accepted.")
    return state_dict


def _copy_with_metadata(state_dict: Mapping[str, Any]) -> OrderedDict:
    out = OrderedDict(_mapping(state_dict))
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = OrderedDict(metadata)  # module versions (BatchNorm etc.) travel with the keys
    return out


def _check_prefix(prefix: Any) -> None:
    if not isinstance(prefix, str):
        raise LabError(f"Field 'prefix' is {shown(prefix)}; a string such as 'module.' is accepted.")


def strip_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> OrderedDict:
    """A copy of `state_dict` with `prefix` removed where it leads a key (never inside a key)."""
    _check_prefix(prefix)
    out = _copy_with_metadata(state_dict)
    consume_prefix_in_state_dict_if_present(out, prefix)  # torch's own leading-only strip, metadata included
    return out


def add_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> OrderedDict:
    """A copy of `state_dict` with `prefix` put in front of every key (what wrapping in DataParallel does)."""
    _check_prefix(prefix)
    out = OrderedDict((prefix + key, value) for key, value in _mapping(state_dict).items())
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        # metadata keys are module paths without the trailing dot: "" is the root, "conv1" a child
        out._metadata = OrderedDict(
            ((prefix + key) if key else prefix.rstrip("."), value) for key, value in metadata.items()
        )
        if "" in metadata:
            out._metadata[""] = metadata[""]
    return out


def _leading_wrappers(keys: list[str]) -> str:
    """The wrapper prefixes that lead every key, e.g. "module.module." for a double-wrapped model.

    At most `_MAX_WRAPPERS` of them: a key of "module." repeated a million times must not cost a million passes.
    """
    prefix = ""
    for _ in range(_MAX_WRAPPERS if keys else 0):
        for candidate in WRAPPER_PREFIXES:
            if all(key.startswith(prefix + candidate) for key in keys):
                prefix += candidate
                break
        else:
            break
    return prefix


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside any DataParallel / DDP / torch.compile wrappers (the tutorial's `model.module`)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


# ----------------------------------------------------------------------------------------------------------
# Bounded walks over loaded objects (issue 12): every reader of a loaded object goes through `walk`
# ----------------------------------------------------------------------------------------------------------


class WalkLimit(LabError):
    """A walk over a loaded object reached its visit budget or its depth limit; the message says which."""


_CONTAINERS = (Mapping, list, tuple, set, frozenset, nn.Module)
_END = object()


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
    what: str = "The checkpoint",
) -> Iterator[tuple[tuple, Any]]:
    """Every (path, value) in `obj`, parents before children: `()` for `obj` itself, then key paths.

    Iterative (an explicit stack of child iterators), so nesting never meets Python's recursion limit, and
    bounded by visits, not by distinct objects: a dict referenced twice at each of 40 levels counts 2^41
    visits, so the walk stops at `max_visits` instead of running for hours. Past `max_visits` visits or
    `max_depth` levels it raises `WalkLimit` (a LabError) whose sentence starts with `what`. `levels` stops
    opening containers at that depth (their entries are not walked and no error is raised); `containers` says
    which types are opened (mappings, lists, tuples, sets and modules by default; tensors never).
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
            raise WalkLimit(
                f"{what} holds more than {max_visits:,} entries to look through (an entry shared by several "
                f"places counts once per place); files with at most {max_visits:,} are accepted."
            )
        if len(path) >= max_depth:
            raise WalkLimit(
                f"{what} nests containers more than {max_depth} levels deep; files nested at most "
                f"{max_depth} levels deep are accepted."
            )
        child_path = (*path, key)
        yield child_path, child
        if levels is None or len(child_path) < levels:
            inner = _children(child, containers)
            if inner is not None:
                stack.append((inner, child_path))


def _brief(value: Any, limit: int = 60) -> str | None:
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


def _key_text(key: Any, limit: int = 200) -> str:
    """A key as a table shows it: a string as it is (cut to `limit`), anything else by a short repr or its type."""
    if isinstance(key, str):
        return _cut(key, limit)
    return _brief(key) or f"<{type(key).__name__}>"


def _key_shown(key: Any) -> str:
    """A key quoted in a sentence: `shown` for strings (quotes, cut), else a short repr or its type."""
    return shown(key) if isinstance(key, str) else (_brief(key) or f"a {type(key).__name__}")


# Tensor dtypes `load_state_dict` can copy into a model's weights (bits, 1-7 bit ints and packed fp4 cannot).
_COPYABLE_DTYPES = frozenset(
    getattr(torch, name)
    for name in (
        "float64 float32 float16 bfloat16 complex128 complex64 complex32 bool uint8 int8 int16 int32 int64 "
        "uint16 uint32 uint64 float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz"
    ).split()
    if hasattr(torch, name)
)


def _plain_tensor(t: torch.Tensor) -> bool:
    """A dense tensor with data, of a dtype a model's weights can take (not sparse, quantized, nested or meta)."""
    return (
        t.layout == torch.strided
        and not t.is_quantized
        and not t.is_nested
        and t.device.type != "meta"
        and t.dtype in _COPYABLE_DTYPES
    )


def _clean_tensor(t: torch.Tensor) -> torch.Tensor:
    """`t`, or a plain view of it when it carries instance attributes (a file can set `t.numel = ...`)."""
    return t if type(t) is torch.Tensor and not vars(t) else torch.Tensor.detach(t)


def _clean_metadata(metadata: Any) -> OrderedDict | None:
    """A state_dict's `_metadata` (module path -> {"version": int}) rebuilt from plain values, or None.

    From a file it is whatever the unpickler allowed, and `load_state_dict` hands each entry to the modules'
    `_load_from_state_dict`, which reads its "version" and compares it with ints.
    """
    if not isinstance(metadata, Mapping):
        return None
    out = OrderedDict()
    for path, value in walk(metadata, levels=1, containers=(Mapping,), what="The checkpoint's module versions"):
        if len(path) == 1 and isinstance(path[0], str) and isinstance(value, dict):
            version = dict.get(value, "version")
            ok = isinstance(version, int) and not isinstance(version, bool) and 0 <= version < 2**16
            out[path[0]] = {"version": version} if ok else {}
    return out


def _skipped(keys: list[Any], one: str, many: str, why: str) -> str:
    listed = ", ".join(_key_shown(k) for k in keys[:5])
    return f"skipped {len(keys)} {one if len(keys) == 1 else many} ({listed}): {why}"


def find_state_dict(obj: Any) -> tuple[OrderedDict, list[str]]:
    """The weights inside a loaded object, and notes on where they were and what was skipped.

    Accepts a state_dict, a training checkpoint dict (weights under "model", "state_dict",
    "model_state_dict", ...), or a whole nn.Module. Non-tensor entries (e.g. the tutorial U-Net's
    `mask_values`), tensors under keys that are not strings, and tensors no model can take (sparse,
    quantized, nested, meta, packed dtypes) are skipped with a note. Reads two levels with one bounded `walk`
    and goes one level deeper at most twice (a module, then the weights it holds).
    """
    notes: list[str] = []
    if isinstance(obj, nn.Module):
        notes.append(f"the file holds a whole {type(obj).__name__} model; its state_dict() was used")
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise LabError(
            f"The checkpoint holds a {type(obj).__name__}, not weights; a state_dict (a dict of tensors) "
            "or a training checkpoint dict is accepted."
        )
    entries: list[tuple[Any, Any]] = []  # the top level, in order
    holders: list[int] = []  # entries that are mappings with a tensor directly inside
    for path, value in walk(obj, levels=2, containers=(Mapping,)):
        if len(path) == 1:
            entries.append((path[0], value))
        elif len(path) == 2 and isinstance(value, torch.Tensor) and holders[-1:] != [len(entries) - 1]:
            holders.append(len(entries) - 1)
    if not any(isinstance(value, torch.Tensor) for _, value in entries):
        for name in WEIGHT_KEYS:
            hit = next(
                (
                    i
                    for i, (key, value) in enumerate(entries)
                    if isinstance(key, str) and key == name and (isinstance(value, nn.Module) or i in holders)
                ),
                None,
            )
            if hit is not None:
                sd, inner_notes = find_state_dict(entries[hit][1])  # a module or a tensor mapping: ends there
                others = [key for i, (key, _) in enumerate(entries) if i != hit]
                notes.append(
                    f"training checkpoint: weights found under {shown(name)}"
                    + (f"; also holds {', '.join(map(_key_shown, others[:6]))}" if others else "")
                )
                return sd, notes + inner_notes
        if len(holders) == 1:
            key, inner = entries[holders[0]]
            notes.append(f"weights found under {_key_shown(key)}")
            sd, inner_notes = find_state_dict(inner)
            return sd, notes + inner_notes
        listed = ", ".join(_key_shown(key) for key, _ in entries[:8]) or "none"
        raise LabError(
            f"No weights found in the checkpoint (top-level keys: {listed}); a state_dict or a dict with the "
            f"weights under one of {', '.join(WEIGHT_KEYS)} is accepted."
        )
    sd = OrderedDict()
    extras, unnamed, odd = [], [], []
    for key, value in entries:
        if not isinstance(value, torch.Tensor):
            extras.append(key)
        elif not isinstance(key, str):
            unnamed.append(key)
        elif not _plain_tensor(value):
            odd.append(key)
        else:
            sd[key] = _clean_tensor(value)
    if extras:
        notes.append(_skipped(extras, "non-tensor entry", "non-tensor entries", "metadata, not weights"))
    if unnamed:
        notes.append(_skipped(unnamed, "tensor", "tensors", "a state_dict's keys are names, and these are not strings"))
    if odd:
        notes.append(
            _skipped(odd, "tensor", "tensors", "sparse, quantized, nested, meta or packed tensors cannot be weights")
        )
    metadata = _clean_metadata(getattr(obj, "_metadata", None))
    if metadata is not None:
        sd._metadata = metadata
    return sd, notes


# ----------------------------------------------------------------------------------------------------------
# Saving: atomic writes, every format
# ----------------------------------------------------------------------------------------------------------


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise LabError(
            f"File name {shown(path.name)} has format {shown(suffix or '(none)')}; use one of {', '.join(FORMATS)}."
        )
    return suffix


def _release_later(path: str) -> None:
    """Delete a file on a daemon thread (freeing a large file's blocks takes tens of ms on ext4)."""

    def unlink() -> None:
        try:
            os.unlink(path)
        except OSError:
            pass  # already gone; nothing to free

    threading.Thread(target=unlink, name="lab-checkpoint-release", daemon=True).start()


def _atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Run `write(tmp_path)` on a temp file beside `path`, then rename it over `path` in one step.

    `os.replace` within one directory is atomic, so readers see the old file or the new one, never half of
    one. An old file of 16 MiB or more is first hard-linked aside so the replace does not wait for its
    blocks to be freed (tens of ms on ext4); that hidden `.old` link is deleted on a background thread a
    moment after this returns. Missing parent folders are created. No fsync: that guards only against
    power loss and would double the time of a save.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    old = None
    try:
        write(tmp)
        if path.is_file() and not path.is_symlink() and path.stat().st_size >= _DEFER_FREE_BYTES:
            old = f"{tmp[:-4]}.old"
            try:
                os.link(path, old)
            except OSError:
                old = None  # no hard links here (some network or FAT file systems): replace frees it inline
        os.replace(tmp, path)
    except BaseException:
        for leftover in (tmp, old):
            if leftover and os.path.exists(leftover):
                os.unlink(leftover)
        raise
    if old:
        _release_later(old)
    return path


def _safetensors_ready(state_dict: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Tensors safetensors accepts: contiguous, not sharing storage (tied weights are stored twice)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[tuple[str, int]] = set()
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise LabError(
                f"Entry {shown(key)} is a {type(value).__name__}; .safetensors stores tensors only, use .pt for extras."
            )
        tensor = value.detach()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in seen and tensor.numel():
            tensor = tensor.clone()  # a tied weight: safetensors refuses shared memory, so store a copy
        seen.add(storage)
        out[key] = tensor.contiguous()
    return out


def _plain_args(args: Any) -> dict | None:
    """5.4.5's `args` as a plain dict: an argparse Namespace needs code to unpickle, a dict does not."""
    if args is None:
        return None
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if not isinstance(args, Mapping):
        raise LabError(f"Field 'args' is a {type(args).__name__}; a dict (or an argparse Namespace) is accepted.")
    try:
        return json.loads(json.dumps(dict(args)))  # only plain values survive, so weights_only can load them
    except (TypeError, ValueError) as exc:
        raise LabError(
            f"Field 'args' holds a value that is not plain data ({exc}); use numbers, strings, lists."
        ) from exc


def _written_bytes(tensors: Iterable[torch.Tensor], *, shared: bool) -> tuple[int, int]:
    """(data bytes, tensor count) a file holds for `tensors`: torch.save writes each storage once (`shared`),
    safetensors each tensor's own bytes. Meta tensors count their size, so a model need not be allocated."""
    total, count, seen = 0, 0, set()
    for t in tensors:
        count += 1
        if not shared:
            total += t.numel() * t.element_size()
            continue
        storage = t.untyped_storage()
        key = (str(storage.device), storage.data_ptr()) if storage.data_ptr() else ("tensor", id(t))
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total, count


def file_bytes(
    model: nn.Module, fmt: str = ".pt", what: str = "state_dict", optimizer: torch.optim.Optimizer | None = None
) -> int:
    """An upper estimate of the size of the file `save(model, f"x{fmt}", what=what, optimizer=optimizer)` writes.

    Tensor data, plus 2 KiB a tensor (its pickle, its zip record with 64-byte alignment, its safetensors header
    entry, a module's pickled attributes) and 1 MiB for the rest. Works on the meta device: the largest model a tab
    builds can be checked without allocating it.
    """
    tensors: list[torch.Tensor] = list(model.state_dict().values())
    if what == "checkpoint" and optimizer is not None:
        tensors += [
            v for _, v in walk(optimizer.state_dict(), what="The optimizer state") if isinstance(v, torch.Tensor)
        ]
    data, count = _written_bytes(tensors, shared=fmt != ".safetensors")
    return data + 2048 * count + 2**20


def _too_big(model: nn.Module, what: str, suffix: str, size: int) -> LabError:
    params = sum(p.numel() for p in model.parameters())
    return LabError(
        f"Saving this {type(unwrap(model)).__name__} ({params:,} parameters) as {what} in {suffix} would write a "
        f"{size / 2**20:,.0f} MiB file; the lab loads files of at most {UPLOAD_MAX_BYTES / 2**20:,.0f} MiB back, so it "
        "saves at most that much: use a smaller model."
    )


def save(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    what: str = "state_dict",
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    epoch: int | None = None,
    args: Any = None,
    unwrap_first: bool = False,
) -> Path:
    """Save `model` to `path` atomically; the format follows the suffix (.pt/.pth/.pkl/.safetensors).

    `what`: "state_dict" (weights), "model" (the whole pickled model: needs its code to load) or
    "checkpoint" (5.4.5: {"model", "optimizer", "lr_scheduler", "epoch", "args"}). .safetensors holds
    weights only. `unwrap_first=True` saves `model.module`, the tutorial's advice for multi-GPU models.
    A file over `UPLOAD_MAX_BYTES` (what the lab's upload paths accept) is refused with a LabError: up front
    from `file_bytes`, and again from the written size before the file replaces anything.
    """
    path = Path(path)
    suffix = _check_suffix(path)
    if what not in WHATS:
        raise LabError(f"Field 'what' is {shown(what)}; use one of {', '.join(WHATS)}.")
    if suffix == ".safetensors" and what != "state_dict":
        raise LabError(
            f"Format .safetensors cannot hold what={shown(what)}: it stores tensors only; "
            "save what='state_dict' there, or use .pt/.pth/.pkl for a whole model or training checkpoint."
        )
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise LabError(f"Field 'epoch' is {shown(epoch)}; a whole number >= 0 is accepted.")
    if unwrap_first:
        model = unwrap(model)
    estimate = file_bytes(model, suffix, what, optimizer)
    if estimate > UPLOAD_MAX_BYTES:
        raise _too_big(model, what, suffix, estimate)

    def within_limit(write: Callable[[str], None]) -> Callable[[str], None]:
        def checked(tmp: str) -> None:
            write(tmp)
            size = os.path.getsize(tmp)
            if size > UPLOAD_MAX_BYTES:  # the estimate was short: still never hand out a file the lab refuses
                raise _too_big(model, what, suffix, size)

        return checked

    if suffix == ".safetensors":
        tensors = _safetensors_ready(model.state_dict())
        # safetensors stores keys sorted; the metadata keeps the model's order for people reading the file
        metadata = {"format": "pt", _ORDER_KEY: json.dumps(list(tensors))}
        return _write_or_explain(path, within_limit(lambda tmp: st_save_file(tensors, tmp, metadata=metadata)))

    if what == "state_dict":
        payload: Any = model.state_dict()
    elif what == "model":
        payload = model
    else:
        payload = {"model": model.state_dict(), "epoch": epoch}
        if optimizer is not None:
            payload["optimizer"] = optimizer.state_dict()
        if scheduler is not None:
            payload["lr_scheduler"] = scheduler.state_dict()
        if args is not None:
            payload["args"] = _plain_args(args)
    try:
        return _write_or_explain(path, within_limit(lambda tmp: torch.save(payload, tmp)))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # local classes, lambdas and process groups cannot be pickled; weights always can
        found = re.search(r"(?:local object|pickle) '([^']{1,200})'", str(exc))
        holds = f"it holds {shown(found.group(1))}, which" if found else "part of it"
        raise LabError(
            f"The whole {type(model).__name__} cannot be pickled: {holds} is code or a live resource, not data; "
            "save what='state_dict' instead."
        ) from exc


def _write_or_explain(path: Path, write: Callable[[str], None]) -> Path:
    """`_atomic_write`, with the operating system's refusals (name too long, NUL byte, no permission) as LabError."""
    try:
        return _atomic_write(path, write)
    except LabError:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LabError(
            f"File {shown(path.name)} cannot be written ({_cut(reason, 80)}); "
            "use a short name of letters, digits, '_' and '.' in a folder you can write to."
        ) from exc


# ----------------------------------------------------------------------------------------------------------
# Loading: format sniffing, safe unpickling, clear errors
# ----------------------------------------------------------------------------------------------------------


# What other files start with: named in the refusal, so a visitor sees what they sent instead of hex.
_OTHER_FORMATS = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ", "an xz archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
)


def _sniff(path: Path, size: int) -> str:
    """'zip' (torch >= 1.6), 'pickle' (legacy torch.save or plain pickle) or 'safetensors', from the bytes."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if 8 + header_len > size:
            raise LabError(
                f"File {shown(path.name)} has a safetensors header claiming {header_len:,} bytes in a {size:,}-byte "
                "file; it is truncated or corrupt: upload an intact .safetensors file."
            )
        if header_len > _SAFETENSORS_MAX_HEADER:
            raise LabError(
                f"File {shown(path.name)} has a safetensors header of {header_len / 2**20:,.1f} MiB; headers of at "
                f"most {_SAFETENSORS_MAX_HEADER / 2**20:.0f} MiB (about 150,000 tensors) are accepted."
            )
        return "safetensors"
    kind = next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)
    if kind is None and head and all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        kind = "a text file"
    described = f"it looks like {kind}" if kind else f"it starts with bytes {head[:8].hex()}"
    raise LabError(
        f"File {shown(path.name)} is not a checkpoint ({described}); "
        "a torch.save file (.pt/.pth/.pkl) or a .safetensors file is accepted."
    )


# ----------------------------------------------------------------------------------------------------------
# Reading a pickle without running it: instructions counted, globals listed
# ----------------------------------------------------------------------------------------------------------

# Globals torch's weights-only unpickler allows that the lab still refuses: `bytearray(2**34)` asks for 16 GiB of
# zeroed (so really touched) memory from a 60-byte pickle. Checkpoints never need one.
_BLOCKED_GLOBALS = {"builtins.bytearray": "a bytearray, which may ask for any amount of memory"}


def _allowed_globals() -> set[str] | None:
    """The globals `torch.load(weights_only=True)` would import, or None if this torch does not say."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals  # the allowlist weights_only applies
    except ImportError:
        return None
    allowed = set(_get_allowed_globals())
    for item in torch.serialization.get_safe_globals():  # add_safe_globals: none in the lab, but honoured
        allowed.add(item[1] if isinstance(item, tuple) else f"{item.__module__}.{item.__qualname__}")
    return allowed - set(_BLOCKED_GLOBALS)


def _global_name(module: str, name: str) -> str:
    """`module.name` as Python 3 imports it (protocol 2 pickles say `__builtin__`, as torch.load maps too)."""
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    if (module, name) in NAME_MAPPING:
        module, name = NAME_MAPPING[(module, name)]
    elif module in IMPORT_MAPPING:
        module = IMPORT_MAPPING[module]
    return f"{module}.{name}"


def _corrupt(path: Path, reason: str) -> LabError:
    return LabError(
        f"File {shown(path.name)} is truncated or corrupt: {reason}; upload an intact checkpoint "
        "(a torch.save .pt/.pth/.pkl file or a .safetensors file)."
    )


@dataclass
class _Scan:
    """What one pickle's instructions say, read without running them."""

    ops: int = 0
    globals: set[str] = field(default_factory=set)
    magic: bool = False  # the whole pickle is torch's legacy magic number


def _scan_pickle(stream: Any, path: Path, ops_left: int) -> _Scan:
    """Count one pickle's instructions and list the globals it imports, without unpickling (pickletools.genops).

    Costs ~2 us an instruction and stops at `ops_left`: the count bounds what unpickling would create, since
    each instruction makes at most one object (a shared one is a reference, not a copy).
    """
    scan, args, strings = _Scan(), [], ["", ""]
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            scan.ops += 1
            if scan.ops > ops_left:
                raise LabError(
                    f"File {shown(path.name)} describes more than {MAX_PICKLE_OPS:,} pickled objects; checkpoints of "
                    f"at most {MAX_PICKLE_OPS:,} (about 13,000 tensors with their names) are accepted."
                )
            if opcode.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                scan.globals.add(_global_name(module, name))
            elif opcode.name == "STACK_GLOBAL":  # protocol 4: module and name are the last two strings pushed
                scan.globals.add(_global_name(*strings))
            elif isinstance(arg, str):
                strings = [strings[1], arg]
            if scan.ops <= 3:
                args.append(arg)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - genops on hostile bytes: truncated, unknown opcode, bad UTF-8
        raise _corrupt(path, "its list of objects cannot be read") from exc
    scan.magic = scan.ops == 3 and args[1] == torch.serialization.MAGIC_NUMBER
    return scan


def _refuse_globals(path: Path, names: set[str]) -> None:
    """LabError when the pickle imports anything weights_only (or the lab) would not: nothing of it has run."""
    blocked = sorted(names & set(_BLOCKED_GLOBALS))
    if blocked:
        raise LabError(
            f"File {shown(path.name)} was refused: it holds {_BLOCKED_GLOBALS[blocked[0]]}, so only tensors, numbers, "
            "strings, lists and dicts are accepted; re-save it with torch.save(model.state_dict(), path)."
        )
    allowed = _allowed_globals()
    unsafe = sorted(names - allowed) if allowed is not None else []
    if unsafe:
        raise LabError(_unsafe_message(path, unsafe))


def _zip_directory(path: Path, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) as a zip's end record declares them, or None when it has none.

    Read from the last 64 kB before anything parses the central directory, which builds one Python object per
    entry (a 600 MB zip can hold millions). Like `zipfile`, a zip64 end record, when its locator sits right
    before the classic one, overrides it: torch.save always writes one.
    """
    tail_len = min(size, 22 + 65535)
    with open(path, "rb") as f:
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            return None
        entries, directory = struct.unpack("<HL", tail[at + 10 : at + 16])
        locator = tail[at - 20 : at] if at >= 20 else b""
        if locator[:4] != b"PK\x06\x07":
            return None if entries == 0xFFFF or directory == 0xFFFFFFFF else (entries, directory)
        (offset,) = struct.unpack("<Q", locator[8:16])
        if offset > size - 56:
            return None
        f.seek(offset)
        record = f.read(56)
        if record[:4] != b"PK\x06\x06":
            return None
        return struct.unpack("<QQ", record[32:48])


def _check_zip(path: Path, size: int, *, scan: bool) -> None:
    """The zip's end record, entry count, storage method and object list, checked before torch opens it."""
    found = _zip_directory(path, size)
    if found is None:
        raise _corrupt(path, "its zip directory is missing")
    if not scan:
        return
    entries, directory = found
    if entries > MAX_ZIP_ENTRIES or directory > 128 * MAX_ZIP_ENTRIES:  # torch.save's entries take ~75 bytes each
        raise LabError(
            f"File {shown(path.name)} is a zip of {entries:,} entries in a {directory:,}-byte directory; checkpoints "
            f"of at most {MAX_ZIP_ENTRIES:,} entries (one per tensor) are accepted."
        )
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            packed = [info.filename for info in infos if info.compress_type != zipfile.ZIP_STORED]
            if packed:
                raise LabError(
                    f"File {shown(path.name)} has compressed entries ({shown(packed[0])}); torch.save writes them "
                    "uncompressed, so it was repacked or is corrupt: upload the file torch.save wrote."
                )
            top = infos[0].filename.split("/")[0] if infos else ""
            try:
                info = archive.getinfo(f"{top}/data.pkl")
            except KeyError:
                raise LabError(
                    f"File {shown(path.name)} is a zip archive but not a torch.save checkpoint (it has no data.pkl); "
                    "a torch.save file (.pt/.pth/.pkl) or a .safetensors file is accepted."
                ) from None
            if info.file_size > MAX_PICKLE_BYTES:
                raise LabError(
                    f"File {shown(path.name)} lists its objects in {info.file_size / 2**20:,.1f} MiB of pickle; "
                    f"checkpoints whose list is at most {MAX_PICKLE_BYTES / 2**20:.0f} MiB are accepted."
                )
            data = archive.read(info)  # checks the CRC too
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile on hostile bytes: bad offsets, CRC, encryption, ...
        raise _corrupt(path, "its zip entries cannot be read") from exc
    _refuse_globals(path, _scan_pickle(io.BytesIO(data), path, MAX_PICKLE_OPS).globals)


def _check_pickle(path: Path, size: int) -> None:
    """A non-zip pickle: a plain pickle is refused (code or not), a legacy torch file scanned like a zip's list.

    A legacy file is five pickles (magic number, protocol, system info, the objects, storage keys) and then raw
    storage bytes; at most `MAX_PICKLE_BYTES` of it are read for the scan.
    """
    with open(path, "rb") as f:
        head = io.BytesIO(f.read(MAX_PICKLE_BYTES + 1))
    first = _scan_pickle(head, path, MAX_PICKLE_OPS)
    _refuse_globals(path, first.globals)
    if not first.magic:
        raise LabError(
            f"File {shown(path.name)} is a plain Python pickle, not a torch.save checkpoint; "
            "save weights with torch.save(model.state_dict(), path) or as .safetensors."
        )
    if size > LEGACY_MAX_BYTES:
        raise LabError(
            f"File {shown(path.name)} is a legacy (pre-1.6, non-zip) torch file of {size / 2**20:,.0f} MiB; those "
            f"are read into memory, so up to {LEGACY_MAX_BYTES / 2**20:.0f} MiB are accepted: re-save it with a "
            "current torch.save."
        )
    ops_left = MAX_PICKLE_OPS - first.ops
    for _ in range(4):
        if head.tell() > MAX_PICKLE_BYTES:
            raise LabError(
                f"File {shown(path.name)} lists its objects in more than {MAX_PICKLE_BYTES / 2**20:.0f} MiB of "
                f"pickle; checkpoints whose list is at most {MAX_PICKLE_BYTES / 2**20:.0f} MiB are accepted."
            )
        scan = _scan_pickle(head, path, ops_left)
        _refuse_globals(path, scan.globals)
        ops_left -= scan.ops


_UNSAFE_HINTS = (
    ("argparse.Namespace", "an argparse Namespace (store args as a plain dict instead)"),
    ("builtins.getattr", "a bound method (`torch.save(model.state_dict, path)` without parentheses)"),
    ("torch.nn.", "a pickled whole model (its class is code)"),
    ("torchvision.", "a pickled whole model (its class is code)"),
    ("lab.", "a pickled whole model (its class is code)"),
)


def _unsafe_message(path: Path, names: Iterable[str]) -> str:
    names = sorted(set(names))
    what = "Python objects beyond tensors"
    for needle, hint in _UNSAFE_HINTS:
        if any(needle in name for name in names):
            what = hint
            break
    listed = (", ".join(_cut(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")) or "unknown globals"
    return (
        f"File {shown(path.name)} was refused: it holds {what}, and unpickling it would import and run code "
        f"({listed}) that could do anything on this machine, so only files of tensors are accepted; "
        "re-save it with torch.save(model.state_dict(), path) or as .safetensors."
    )


# torch's words for a broken file (matched, never shown) -> what is wrong, in the visitor's terms
_LOAD_FAILURES = (
    ("central directory", "its zip directory is missing"),
    ("failed locating file", "it refers to a tensor record that is not in the file"),
    ("not resizable", "a tensor claims more data than its record in the file holds"),
    ("out of bounds for storage", "a tensor claims more data than its record in the file holds"),
    ("wrong byte size", "a tensor's data is not the size its header declares"),
    ("can't allocate memory", "a tensor claims more memory than this server has"),
    ("unexpected EOF", "it ends before its last tensor"),
    ("overflow", "a tensor claims an impossible size"),
    ("Negative dimension", "a tensor claims a negative size"),
    ("negative", "a tensor claims a negative size"),
)


def _describe_load_error(path: Path, exc: BaseException) -> str:
    """One sentence for a torch.load failure: never torch's text (C++ file names, format strings, paths)."""
    text = str(exc)
    if "CUDA" in text and "deserialize" in text:
        return (
            f"File {shown(path.name)} was saved on a CUDA GPU and this machine has none; "
            "load it with map_location='cpu' (then move the model with .to(device))."
        )
    if "magic number" in text:
        return (
            f"File {shown(path.name)} is a plain Python pickle, not a torch.save checkpoint; "
            "save weights with torch.save(model.state_dict(), path) or as .safetensors."
        )
    if "Unsupported global" in text:  # only when this torch's allowlist could not be read up front
        return _unsafe_message(path, re.findall(r"GLOBAL ([\w.]+)", text))
    if isinstance(exc, MemoryError):
        return str(_corrupt(path, "a tensor claims more memory than this server has"))
    if isinstance(exc, EOFError):
        return str(_corrupt(path, "it ends before its last object"))
    reason = next((why for needle, why in _LOAD_FAILURES if needle in text), None)
    if reason is None and isinstance(exc, pickle.UnpicklingError):
        reason = "its objects are not the tensors, numbers, strings, lists and dicts a checkpoint holds"
    return str(_corrupt(path, reason or "it cannot be read as a checkpoint"))


# safetensors' words for a broken header (matched, never shown) -> what is wrong
_SAFETENSORS_FAILURES = (
    ("unknown variant", "a tensor has a data type safetensors does not know"),
    ("invalid shape, data type, or offset", "a tensor's shape, data type or offsets do not fit its data"),
    ("offset", "a tensor's offsets do not fit the file"),
    ("invalid value", "a tensor's shape or offsets are not whole numbers"),
    ("JSON", "its header is not the JSON safetensors writes"),
)


def _key_order(text: Any, keys: list[str]) -> list[str]:
    """The model's key order kept in the metadata by `save`, if it names exactly `keys`; else `keys`."""
    if not isinstance(text, str):
        return keys
    try:
        order = json.loads(text)
    except (ValueError, RecursionError):  # "[[[[..." nests past the JSON decoder's recursion limit
        return keys
    if not isinstance(order, list) or len(order) != len(keys) or not all(isinstance(k, str) for k in order):
        return keys
    return order if set(order) == set(keys) else keys


def _load_safetensors(path: Path, device: str) -> OrderedDict:
    """Tensors in the order the model had (kept in the metadata), else the file's order; mapped, not read."""
    try:
        with safe_open(str(path), framework="pt", device=device) as f:  # header checked against the file size
            keys = list(f.keys())
            if len(keys) > MAX_VISITS:
                raise LabError(
                    f"File {shown(path.name)} holds {len(keys):,} tensors; files of at most {MAX_VISITS:,} tensors "
                    "are accepted."
                )
            order = _key_order((f.metadata() or {}).get(_ORDER_KEY), keys)
            return OrderedDict((key, f.get_tensor(key)) for key in order)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - SafetensorError and the OS's and torch's errors on hostile bytes
        text = str(exc)
        reason = next(
            (why for needle, why in _SAFETENSORS_FAILURES if needle in text), "its header does not fit its data"
        )
        raise LabError(
            f"File {shown(path.name)} is not a valid safetensors file: {reason}; upload an intact one "
            "(safetensors.torch.save_file writes them)."
        ) from exc


def load(
    path: str | os.PathLike,
    *,
    trusted: bool = False,
    map_location: Any = "cpu",
    max_bytes: int | None = MAX_LOAD_BYTES,
) -> Any:
    """Read a checkpoint file; untrusted files never run code (weights_only=True or safetensors).

    `trusted=True` unpickles anything, whole models included: only for files the lab itself just wrote.
    `map_location` as in torch.load ("cpu" by default so GPU-saved files open anywhere); `max_bytes`
    refuses bigger files before reading them (None: no limit). An untrusted pickle is scanned first
    (instructions counted, globals listed, no object made), so a tiny file cannot buy unbounded work and
    nothing of a hostile one runs; every failure is one sentence naming the file by its base name.
    """
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else None
    except (OSError, ValueError):  # a name the OS refuses (too long, NUL byte) names no file either
        size = None
    if size is None:
        raise LabError(f"File {shown(path.name)} does not exist; upload or choose a checkpoint file.")
    if size == 0:
        raise LabError(f"File {shown(path.name)} is empty (0 bytes); a checkpoint file is accepted.")
    if max_bytes is not None and size > max_bytes:
        raise LabError(
            f"File {shown(path.name)} is {size / 2**20:.1f} MiB; files up to {max_bytes / 2**20:.0f} MiB are accepted."
        )
    kind = _sniff(path, size)
    if kind == "safetensors":
        return _load_safetensors(path, "cpu" if map_location is None else str(torch.device(map_location)))
    if kind == "zip":
        _check_zip(path, size, scan=not trusted)
    elif not trusted:
        _check_pickle(path, size)
    try:
        # mmap: storages are mapped, not read up front, and their sizes are checked against the zip records
        obj = torch.load(path, map_location=map_location, weights_only=not trusted, mmap=(kind == "zip"))
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of a foreign file becomes one sentence
        raise LabError(_describe_load_error(path, exc)) from exc
    if isinstance(obj, str):  # `compare`/`load_into` read a str as a path: a file must not name a server file
        raise LabError(
            f"File {shown(path.name)} holds a text string, not a checkpoint; a state_dict (a dict of tensors) or a "
            "training checkpoint dict is accepted."
        )
    return obj


# ----------------------------------------------------------------------------------------------------------
# Loading into a model: the report
# ----------------------------------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What `load_into` did: keys loaded, missing, unexpected, mismatched (key, saved, model shape), fixes."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    saved_keys: dict[str, str] = field(default_factory=dict)  # model key -> key as stored in the file

    @property
    def ok(self) -> bool:
        """Every model key found with the right shape and nothing left over: loads with strict=True."""
        return bool(self.loaded) and not (self.missing or self.unexpected or self.mismatched)

    def problems(self) -> str:
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                listed = ", ".join(_cut(k) for k in keys[:3])
                parts.append(f"{len(keys)} {label} ({listed}{' ...' if len(keys) > 3 else ''})")
        if self.mismatched:
            key, saved, want = self.mismatched[0]
            more = f" and {len(self.mismatched) - 1} more" if len(self.mismatched) > 1 else ""
            parts.append(
                f"{len(self.mismatched)} mismatched ({key}: saved {tuple(saved)} vs model {tuple(want)}{more})"
            )
        return "; ".join(parts) or "none"

    def to_frame(self) -> pd.DataFrame:
        """One row per key: status, the key in the model and in the file, both shapes."""
        rows = []
        cut = functools.partial(_cut, limit=200)  # a file may hold 10,000-character keys
        for key in self.loaded:
            rows.append(("loaded", cut(key), cut(self.saved_keys.get(key, key)), "", ""))
        for key, saved, want in self.mismatched:
            rows.append(
                ("mismatched", cut(key), cut(self.saved_keys.get(key, key)), str(tuple(saved)), str(tuple(want)))
            )
        for key in self.missing:
            rows.append(("missing", cut(key), "", "", ""))
        for key in self.unexpected:
            rows.append(("unexpected", "", cut(key), "", ""))
        return pd.DataFrame(rows, columns=["status", "model key", "key in file", "saved shape", "model shape"])

    def summary(self) -> pd.DataFrame:
        counts = {
            "loaded": len(self.loaded),
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "mismatched": len(self.mismatched),
        }
        return pd.DataFrame({"status": list(counts), "keys": list(counts.values())})


def _source_object(source: Any) -> Any:
    """A path is loaded (untrusted); anything else is the loaded object. `load` never returns a str, so an
    uploaded file holding "/etc/passwd" cannot turn into a path here."""
    if isinstance(source, (str, os.PathLike)):
        return load(source)
    return source


def _match(model_sd: Mapping[str, torch.Tensor], sd: Mapping[str, torch.Tensor]) -> tuple[OrderedDict, list[str]]:
    """Rename wrapper prefixes so `sd` fits `model_sd`; pick identity unless the swap matches more keys."""
    saved_prefix = _leading_wrappers(list(sd))
    model_prefix = _leading_wrappers(list(model_sd))
    if saved_prefix == model_prefix:
        return _copy_with_metadata(sd), []
    renamed = strip_prefix(sd, saved_prefix) if saved_prefix else _copy_with_metadata(sd)
    if model_prefix:
        renamed = add_prefix(renamed, model_prefix)
    if sum(k in model_sd for k in renamed) <= sum(k in model_sd for k in sd):
        return _copy_with_metadata(sd), []
    fixes = []
    if saved_prefix:
        fixes.append(f"stripped leading {saved_prefix!r} from {len(sd)} keys")
    if model_prefix:
        fixes.append(f"added leading {model_prefix!r} for the wrapped model")
    return renamed, fixes


def _compare(model: nn.Module, source: Any) -> tuple[LoadReport, OrderedDict]:
    sd, notes = find_state_dict(_source_object(source))
    model_sd = model.state_dict()
    fitted, fixes = _match(model_sd, sd)
    report = LoadReport(renamed=fixes, notes=notes)
    original_keys = list(sd)
    for new_key, old_key in zip(fitted, original_keys, strict=True):  # renaming keeps order and count
        if new_key != old_key:
            report.saved_keys[new_key] = old_key
    for key, tensor in fitted.items():
        if key not in model_sd:
            report.unexpected.append(report.saved_keys.get(key, key))
        elif tuple(tensor.shape) != tuple(model_sd[key].shape):
            report.mismatched.append((key, tuple(tensor.shape), tuple(model_sd[key].shape)))
        else:
            report.loaded.append(key)
    report.missing = [key for key in model_sd if key not in fitted]
    return report, fitted


def compare(model: nn.Module, source: Any) -> LoadReport:
    """The report `load_into` would give, without changing `model` (a dry run)."""
    return _compare(model, source)[0]


def load_into(model: nn.Module, source: Any, *, strict: bool = True) -> LoadReport:
    """Load the weights in `source` (a path or a loaded object) into `model`, fixing wrapper prefixes.

    With `strict=True` any missing, unexpected or mismatched key raises LabError listing them and the
    model is left unchanged; with `strict=False` every key that fits is loaded and the rest reported.
    """
    report, fitted = _compare(model, source)
    if strict and not report.ok:
        raise LabError(f"The checkpoint does not fit this {type(unwrap(model)).__name__}: {report.problems()}.")
    if not report.loaded:
        raise LabError(f"No key of the checkpoint fits this {type(unwrap(model)).__name__}: {report.problems()}.")
    subset = OrderedDict((k, fitted[k]) for k in report.loaded)
    if hasattr(fitted, "_metadata"):
        subset._metadata = fitted._metadata
    with torch.no_grad():
        model.load_state_dict(subset, strict=report.ok)
    return report


# ----------------------------------------------------------------------------------------------------------
# DataParallel / DistributedDataParallel, also on a CPU-only machine
# ----------------------------------------------------------------------------------------------------------

_GROUP_LOCK = threading.Lock()
_OWN_GROUP = False
_DDP_LOCK = threading.Lock()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_process_group() -> None:
    """A single-process gloo group (world size 1) on 127.0.0.1, created once and reused."""
    global _OWN_GROUP
    with _GROUP_LOCK:
        if dist.is_initialized():
            return
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{_free_port()}",
            rank=0,
            world_size=1,
            timeout=datetime.timedelta(seconds=60),
        )
        _OWN_GROUP = True
        atexit.register(shutdown_process_group)  # destroy it cleanly when the app exits


def shutdown_process_group() -> None:
    """Destroy the gloo group `parallel_wrap` created (a later "ddp" wrap creates a new one)."""
    global _OWN_GROUP
    with _GROUP_LOCK:
        if _OWN_GROUP and dist.is_initialized():
            dist.destroy_process_group()
        _OWN_GROUP = False


def parallel_wrap(model: nn.Module, kind: str = "dataparallel") -> nn.Module:
    """Wrap `model` (not a copy) as multi-GPU training does: keys gain a leading `module.`.

    "dataparallel": nn.DataParallel (on a machine without GPUs it only wraps; with GPUs it moves the model
    to cuda:0, as DataParallel always does). "ddp": DistributedDataParallel in a single-process gloo group
    on 127.0.0.1, so it works on a CPU; a CUDA model gets `device_ids=[its GPU]`.
    """
    if kind not in WRAPPERS:
        raise LabError(f"Field 'wrapper' is {shown(kind)}; use one of {', '.join(WRAPPERS)}.")
    if kind == "dataparallel":
        return nn.DataParallel(model)
    if not any(p.requires_grad for p in model.parameters()):
        raise LabError(
            "DDP needs at least one trainable parameter and this model has none; unfreeze a layer or use DataParallel."
        )
    _ensure_process_group()
    device = next(model.parameters()).device
    device_ids = [device.index or 0] if device.type == "cuda" else None
    with _DDP_LOCK:  # DDP's constructor broadcasts over the one shared group: one wrap at a time
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


# ----------------------------------------------------------------------------------------------------------
# Weights + sidecar JSON (what the Train tab downloads), file facts
# ----------------------------------------------------------------------------------------------------------


def config_path(path: str | os.PathLike) -> Path:
    """The sidecar JSON beside a weights file: `unet.safetensors` -> `unet.json`."""
    return Path(path).with_suffix(".json")


def save_with_config(
    model: nn.Module, path: str | os.PathLike, config: Mapping[str, Any], **save_kwargs: Any
) -> tuple[Path, Path]:
    """Save the weights (any format, `what="state_dict"` by default) and `config` as JSON beside them.

    `config` holds what rebuilds the architecture, e.g. {"n_channels": 3, "n_classes": 1, "depth": 3};
    returns (weights path, JSON path). Pair with `load_with_config`.
    """
    try:
        text = json.dumps(dict(config), indent=2, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise LabError(f"Field 'config' is not JSON data ({exc}); use numbers, strings, lists and dicts.") from exc
    weights = save(model, path, **save_kwargs)
    sidecar = config_path(weights)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text + "\n", encoding="utf-8")

    return weights, _atomic_write(sidecar, write)


def load_with_config(
    path: str | os.PathLike,
    build: Callable[..., nn.Module],
    *,
    map_location: Any = "cpu",
    strict: bool = True,
) -> tuple[nn.Module, dict]:
    """Rebuild a model with `build(**config)` from the sidecar JSON, then load the weights safely into it.

    Two JSON layouts are accepted: flat constructor arguments, as `save_with_config` writes them
    ({"n_channels": 3, "depth": 3, ...}), or those arguments nested under "config" beside other facts
    ({"config": {...}, "train": {...}}, like the shipped assets/unet_small.json). Returns (model, the
    constructor arguments used). Arguments `build` does not take raise LabError.
    """
    sidecar = config_path(path)
    if not sidecar.is_file():
        raise LabError(
            f"No config file {shown(sidecar.name)} beside {shown(Path(path).name)}; save with save_with_config."
        )
    if sidecar.stat().st_size > _MAX_SIDECAR_BYTES:
        raise LabError(
            f"Config file {shown(sidecar.name)} is {sidecar.stat().st_size / 2**20:,.1f} MiB; a config JSON of at most "
            f"{_MAX_SIDECAR_BYTES // 2**10:,} KiB is accepted."
        )
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a 5,000-digit number, "[[[[..." nesting
        where = f" (at line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise LabError(
            f"Config file {shown(sidecar.name)} is not valid JSON{where}; re-save it with save_with_config."
        ) from exc
    if not isinstance(config, dict):
        raise LabError(f"Config file {shown(sidecar.name)} holds a {type(config).__name__}; a JSON object is accepted.")
    if isinstance(config.get("config"), dict):
        config = config["config"]  # nested layout: the constructor arguments sit beside other facts
    try:
        model = build(**config)
    except TypeError as exc:  # a key the constructor does not take, a missing required one, a wrong kind of value
        raise LabError(_config_mismatch(sidecar.name, build, config)) from exc
    load_into(model, load(path, map_location=map_location), strict=strict)
    return model, config


def _config_mismatch(name: str, build: Callable[..., nn.Module], config: Mapping[str, Any]) -> str:
    """Which keys of a config JSON `build` does not take or misses, in words (not Python's TypeError text)."""
    model = getattr(build, "__name__", "the model")
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in config if k not in params] if params and not takes_any else []
    missing = [
        k
        for k, p in params.items()
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in config
    ]
    if unknown:
        problem = f"it has keys {model} does not take ({', '.join(map(shown, unknown[:4]))})"
    elif missing:
        problem = f"it lacks {', '.join(map(shown, missing[:4]))}"
    else:
        problem = "one of its values is not of the kind the constructor takes"
    takes = ", ".join(k for k, p in params.items() if p.kind is not p.VAR_KEYWORD) or "its own arguments"
    return (
        f"Config file {shown(name)} does not fit {model}: {problem}; {model} takes {takes}: "
        "use the JSON saved with these weights."
    )


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tensor_row(key: str, t: torch.Tensor) -> tuple[str, str, str, str, int]:
    """A tensor's row, read through torch.Tensor's own methods (a loaded tensor may carry a `numel` attribute)."""
    kind = "tensor"
    if t.is_nested:
        kind, shape = "tensor (nested)", "(ragged)"  # a nested tensor has no single shape
    else:
        shape = str(tuple(t.shape))
        if t.layout != torch.strided:
            kind = f"tensor ({str(t.layout).replace('torch.', '')})"
        elif t.is_quantized:
            kind = "tensor (quantized)"
        elif t.device.type == "meta":
            kind = "tensor (meta: no data)"
    return key, kind, shape, str(t.dtype).replace("torch.", ""), int(torch.Tensor.numel(t))


def _leaf_kind(value: Any) -> str:
    """The 'kind' cell of a value that is not opened: a short repr, "list of N dicts", or the type's name."""
    if isinstance(value, (list, tuple)) and value:
        # optimizer param_groups: say what they are instead of a long repr (checked on at most MAX_VISITS items)
        if all(isinstance(v, Mapping) for v in itertools.islice(value, MAX_VISITS)) and len(value) <= MAX_VISITS:
            return f"list of {len(value)} dicts"
    return _brief(value) or type(value).__name__


def contents(obj: Any, *, max_rows: int | None = None) -> pd.DataFrame:
    """What a loaded object holds: one row per entry (nested dicts flattened as 'optimizer/state/...').

    Lists, tuples and other values are one row each (a short repr or their type); dicts and modules are opened.
    Bounded: after `max_rows` rows, `MAX_VISITS` entries or `MAX_DEPTH` levels the listing stops, and its last
    row (key "…") says that it was cut and why.
    """
    rows: list[tuple[str, str, str, str, int]] = []
    try:
        for path, value in walk(obj, containers=(Mapping, nn.Module)):
            if isinstance(value, Mapping):  # opened: its entries get the rows
                continue
            if max_rows is not None and len(rows) >= max_rows:
                rows.append(("…", f"listing cut after {max_rows:,} rows: the file holds more entries", "", "", 0))
                break
            key = "/".join(_key_text(k) for k in path)
            if isinstance(value, nn.Module):
                rows.append(((key + "/" if key else "") + "(whole model)", type(value).__name__, "", "", 0))
            elif isinstance(value, torch.Tensor):
                rows.append(_tensor_row(key or "(tensor)", value))
            else:
                rows.append((key, _leaf_kind(value), "", "", 0))
    except WalkLimit as exc:
        rows.append(("…", f"listing cut: {exc}", "", "", 0))
    return pd.DataFrame(rows, columns=["key", "kind", "shape", "dtype", "numel"])


def file_info(path: str | os.PathLike, *, trusted: bool = False, first: int = 5) -> dict[str, Any]:
    """Size, SHA-256, format, key count and first keys of a checkpoint file (loaded safely unless trusted)."""
    path = Path(path)
    obj = load(path, trusted=trusted)
    try:
        sd, _ = find_state_dict(obj)
        keys = list(sd)
    except LabError:
        keys = [_key_text(p[0]) for p, _ in walk(obj, levels=1, containers=(Mapping,)) if p]
    return {
        "file": path.name,
        "format": path.suffix.lower(),
        "bytes": path.stat().st_size,
        "keys": len(keys),
        "first keys": keys[:first],
        "sha256": sha256(path),
    }


_DDP_SETUP = (
    "import socket, torch.distributed as dist\n"
    "from torch.nn.parallel import DistributedDataParallel as DDP\n"
    "if not dist.is_initialized():  # a one-process gloo group on a free port: DDP on a CPU\n"
    "    with socket.socket() as s:\n"
    "        s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]\n"
    "    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=0, world_size=1)\n"
)


def _wrap_code(wrapper: str) -> str:
    if wrapper == "dataparallel":
        return "model = nn.DataParallel(model)  # keys gain a leading 'module.'\n"
    if wrapper == "ddp":
        return _DDP_SETUP + "model = DDP(model)  # keys gain a leading 'module.'\n"
    return ""


def save_code(what: str, fmt: str, *, wrapper: str = "none", unwrap_first: bool = False, name: str = "model") -> str:
    """Runnable code doing what `save` did on the default model, then reading the file back safely."""
    if what not in WHATS or fmt not in FORMATS:
        raise LabError(
            f"Fields 'what'/'format' are {shown(what)}/{shown(fmt)}; use {', '.join(WHATS)} and {', '.join(FORMATS)}."
        )
    path = f"{name}{fmt}"
    lines = [
        DEFAULT_MODEL_CODE.rstrip("\n"),
        "# (the lab's default model stands in for yours)",
        _wrap_code(wrapper).rstrip("\n"),
    ]
    target = "model.module" if unwrap_first and wrapper != "none" else "model"
    if fmt == ".safetensors":
        lines += [
            "from safetensors.torch import save_file, load_file",
            f"save_file({{k: v.contiguous() for k, v in {target}.state_dict().items()}}, {path!r})",
            f"state = load_file({path!r})  # tensors only: nothing to unpickle",
            "keys = list(state)",
        ]
    elif what == "state_dict":
        lines += [
            f"torch.save({target}.state_dict(), {path!r})  # note the parentheses",
            f"state = torch.load({path!r}, map_location='cpu', weights_only=True)",
            "keys = list(state)",
        ]
    elif what == "model":
        lines += [
            f"torch.save({target}, {path!r})  # pickles the class too: loading needs its code",
            f"whole = torch.load({path!r}, map_location='cpu', weights_only=False)  # only for files you made",
            "keys = list(whole.state_dict())",
        ]
    else:
        lines += [
            "optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)",
            "lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)",
            "checkpoint = {",
            f"    'model': {target}.state_dict(),",
            "    'optimizer': optimizer.state_dict(),",
            "    'lr_scheduler': lr_scheduler.state_dict(),",
            "    'epoch': 0,",
            "    'args': {'lr': 0.01, 'momentum': 0.9},  # plain dict: a Namespace would need weights_only=False",
            "}",
            f"torch.save(checkpoint, {path!r})",
            f"state = torch.load({path!r}, map_location='cpu', weights_only=True)['model']",
            "keys = list(state)",
        ]
    lines.append("print(len(keys), 'keys; first:', keys[:5])")
    return "\n".join(line for line in lines if line) + "\n"


def load_code(path_name: str, report: LoadReport, *, default: bool = True) -> str:
    """Runnable code that loads `path_name` safely into the model the way `load_into` just did."""
    model = DEFAULT_MODEL_CODE.rstrip("\n") if default else "# model = ...  # the model you chose in the tab"
    lines = [model, "import torch"]
    if path_name.lower().endswith(".safetensors"):
        lines += ["from safetensors.torch import load_file", f"state = load_file({path_name!r})"]
    else:
        lines.append(f"state = torch.load({path_name!r}, map_location='cpu', weights_only=True)")
    lines += [
        "for key in ('model', 'state_dict', 'model_state_dict'):  # training checkpoints keep the weights inside",
        "    if isinstance(state.get(key), dict):",
        "        state = state[key]",
        "        break",
        "state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}  # drops extras like mask_values",
    ]
    for fix in report.renamed:
        match = re.search(r"stripped leading '([^']+)'", fix)
        if match:
            lines += [
                "from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present",
                f"consume_prefix_in_state_dict_if_present(state, {match.group(1)!r})  # leading prefix only",
            ]
        match = re.search(r"added leading '([^']+)'", fix)
        if match:
            lines.append(f"state = {{{match.group(1)!r} + k: v for k, v in state.items()}}")
    if report.mismatched:
        lines.append("shapes = {k: v.shape for k, v in model.state_dict().items()}")
        lines.append(
            "state = {k: v for k, v in state.items() if k not in shapes or v.shape == shapes[k]}  # skip mismatched"
        )
    strict = report.ok
    lines += [
        f"result = model.load_state_dict(state, strict={strict})",
        "print('missing:', result.missing_keys, 'unexpected:', result.unexpected_keys)",
    ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------
# Running models: inputs, equality, fresh copies
# ----------------------------------------------------------------------------------------------------------


def default_model(seed: int = 0) -> nn.Module:
    """The small CNN the tab works on when no other tab has built a model: conv-BN-ReLU x2, pool, linear."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(3, 16, 3, padding=1)),
                    ("bn1", nn.BatchNorm2d(16)),
                    ("relu1", nn.ReLU()),
                    ("conv2", nn.Conv2d(16, 32, 3, padding=1)),
                    ("bn2", nn.BatchNorm2d(32)),
                    ("relu2", nn.ReLU()),
                    ("pool", nn.AdaptiveAvgPool2d(1)),
                    ("flatten", nn.Flatten()),
                    ("fc", nn.Linear(32, 10)),
                ]
            )
        ).eval()


DEFAULT_MODEL_CODE = """\
from collections import OrderedDict
import torch, torch.nn as nn
torch.manual_seed(0)
model = nn.Sequential(OrderedDict([
    ("conv1", nn.Conv2d(3, 16, 3, padding=1)), ("bn1", nn.BatchNorm2d(16)), ("relu1", nn.ReLU()),
    ("conv2", nn.Conv2d(16, 32, 3, padding=1)), ("bn2", nn.BatchNorm2d(32)), ("relu2", nn.ReLU()),
    ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(32, 10)),
])).eval()
"""


def training_objects(model: nn.Module) -> tuple[torch.optim.Optimizer, Any, dict]:
    """The optimizer, lr_scheduler and args the tab stores in a 5.4.5 checkpoint (those of `save_code`)."""
    args = {"lr": 0.01, "momentum": 0.9}
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=args["momentum"])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    return optimizer, scheduler, args


def example_inputs(model: nn.Module, batch: int = 2, size: int = 32) -> tuple[torch.Tensor, ...]:
    """A seeded input that fits `model`: from the first layer with weights (Linear, ConvNd, Embedding).

    Extra forward arguments (5.3.3's external input) get a float tensor of shape (batch, num_extra).
    """
    base = unwrap(model)
    device = next(base.parameters(), torch.empty(0)).device
    generator = torch.Generator().manual_seed(0)
    first = next(
        (m for m in base.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Embedding))), None
    )
    if first is None:
        raise LabError(f"Cannot guess an input for {type(base).__name__}: it has no Linear, Conv or Embedding layer.")
    if isinstance(first, nn.Embedding):
        x = torch.randint(0, first.num_embeddings, (batch, 8), generator=generator)
    elif isinstance(first, nn.Linear):
        x = torch.randn(batch, first.in_features, generator=generator)
    else:
        dims = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(first)]
        x = torch.randn(batch, first.in_channels, *([size] * dims), generator=generator)
    params = list(inspect.signature(base.forward).parameters.values())
    extra = [p for p in params[1:] if p.default is inspect.Parameter.empty and p.kind is p.POSITIONAL_OR_KEYWORD]
    width = int(getattr(base, "num_extra", 1))
    extras = tuple(torch.randn(batch, width, generator=generator) for _ in extra)
    return tuple(t.to(device) for t in (x, *extras))


def _flat_outputs(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _flat_outputs(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _flat_outputs(v)]
    return []


def _forward(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> list[torch.Tensor]:
    """The model's outputs (flattened, on the CPU) in eval mode, inputs moved to the model's device."""
    device = next(unwrap(model).parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return [t.cpu() for t in _flat_outputs(model(*(t.to(device) for t in inputs)))]
    except Exception as exc:  # noqa: BLE001 - a model from another tab may want other inputs
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        raise LabError(f"The model did not run on a guessed input of shape {shapes} ({str(exc)[:120]}).") from exc
    finally:
        model.train(was_training)


def outputs_equal(a: nn.Module, b: nn.Module, inputs: tuple[torch.Tensor, ...] | None = None) -> tuple[bool, float]:
    """(bit-identical outputs?, max |difference|) of two models on the same input, in eval mode."""
    inputs = example_inputs(a) if inputs is None else inputs
    return _same(_forward(a, inputs), _forward(b, inputs))


def _same(out_a: list[torch.Tensor], out_b: list[torch.Tensor]) -> tuple[bool, float]:
    if len(out_a) != len(out_b) or any(x.shape != y.shape for x, y in zip(out_a, out_b, strict=False)):
        return False, float("inf")
    pairs = list(zip(out_a, out_b, strict=True))
    diff = max((float((x.float() - y.float()).abs().max()) for x, y in pairs if x.numel()), default=0.0)
    return all(torch.equal(x, y) for x, y in pairs), diff


def randomized_copy(model: nn.Module, seed: int = 1) -> nn.Module:
    """A deep copy with fresh random weights (what a newly built model of the same architecture has)."""
    fresh = copy.deepcopy(unwrap(model))
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
    return fresh


# ----------------------------------------------------------------------------------------------------------
# 5.4.4: the four single/multi-GPU cases, run for real
# ----------------------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    """One cell of the 2 x 2 grid: how it was saved and loaded, keys on both sides, the fix, the proof."""

    saved: str
    loaded: str
    file_keys: list[str]
    model_keys: list[str]
    fix: str
    equal: bool
    max_diff: float
    diff_before: float
    report: LoadReport
    path: Path

    @property
    def title(self) -> str:
        return f"saved {self.saved}, loaded {self.loaded}"


_CASE_FIX = {
    ("single", "single"): "none needed: the keys match",
    ("single", "multi"): "load into the plain model first, then wrap it: the wrapper adds 'module.' itself",
    (
        "multi",
        "single",
    ): "strip the leading 'module.' (consume_prefix_in_state_dict_if_present); better, save model.module.state_dict()",
    ("multi", "multi"): "none needed: both sides have 'module.'",
}


def play_case(
    model: nn.Module,
    saved: str,
    loaded: str,
    directory: str | os.PathLike,
    *,
    wrapper: str = "dataparallel",
    fmt: str = ".pt",
) -> CaseResult:
    """Save `model` single or wrapped, load into a fresh model single or wrapped, prove the outputs equal."""
    for name, value in (("saved", saved), ("loaded", loaded)):
        if value not in ("single", "multi"):
            raise LabError(f"Field {name!r} is {shown(value)}; use 'single' or 'multi'.")
    original = copy.deepcopy(unwrap(model)).eval()
    source = parallel_wrap(copy.deepcopy(original), wrapper) if saved == "multi" else original
    path = save(source, Path(directory) / f"case_{saved}_{loaded}{fmt}")
    fresh = randomized_copy(original)
    inputs = example_inputs(original)
    reference = _forward(original, inputs)  # the saved model's outputs, computed once
    diff_before = _same(reference, _forward(fresh, inputs))[1]
    state = load(path)
    if loaded == "multi" and saved == "single":
        report = load_into(fresh, state)  # 5.4.4 case 2: load first, then wrap
        target = parallel_wrap(fresh, wrapper)
    else:
        target = parallel_wrap(fresh, wrapper) if loaded == "multi" else fresh
        report = load_into(target, state)
    fix = _CASE_FIX[(saved, loaded)]
    if report.renamed:
        fix += f" (load_into: {'; '.join(report.renamed)})"
    equal, diff = _same(reference, _forward(target, inputs))
    return CaseResult(
        saved=saved,
        loaded=loaded,
        file_keys=list(state),
        model_keys=list(target.state_dict()),
        fix=fix,
        equal=equal,
        max_diff=diff,
        diff_before=diff_before,
        report=report,
        path=path,
    )


def case_code(saved: str, loaded: str, wrapper: str = "dataparallel") -> str:
    """Runnable code for one 5.4.4 case on a small model, ending in an equality check."""
    wrap = "nn.DataParallel({m})" if wrapper == "dataparallel" else "DDP({m})"
    setup = _DDP_SETUP if wrapper == "ddp" else ""
    lines = [
        "import copy, torch, torch.nn as nn",
        "from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present",
        setup.rstrip("\n"),
        "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')  # DataParallel uses cuda:0 when it can",
        "torch.manual_seed(0)",
        "model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).to(device).eval()",
        "x = torch.randn(2, 8, device=device)",
        f"saved_model = {wrap.format(m='copy.deepcopy(model)')}" if saved == "multi" else "saved_model = model",
        "torch.save(saved_model.state_dict(), 'case.pt')",
        "fresh = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4)).to(device).eval()",
        "state = torch.load('case.pt', map_location=device, weights_only=True)",
    ]
    if saved == "multi" and loaded == "single":
        lines += [
            "consume_prefix_in_state_dict_if_present(state, 'module.')  # leading prefix only",
            "fresh.load_state_dict(state)",
        ]
    elif saved == "single" and loaded == "multi":
        lines += ["fresh.load_state_dict(state)", f"fresh = {wrap.format(m='fresh')}  # wrap after loading"]
    elif saved == "multi" and loaded == "multi":
        lines += [f"fresh = {wrap.format(m='fresh')}", "fresh.load_state_dict(state)  # both sides have 'module.'"]
    else:
        lines += ["fresh.load_state_dict(state)"]
    lines += [
        "with torch.no_grad():",
        "    same = torch.equal(model(x), fresh(x))",
        "print('keys in file:', list(state)[:2], '| outputs equal:', same)",
    ]
    return "\n".join(line for line in lines if line) + "\n"


# ----------------------------------------------------------------------------------------------------------
# The tutorial's pitfalls (seed/NOTES.md 5.4), each run for real
# ----------------------------------------------------------------------------------------------------------


def _abs_diff(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> float:
    return max((float((a[k].float() - b[k].float()).abs().max()) for k in a if k in b and a[k].numel()), default=0.0)


def pitfall_state_dict_no_parens(model: nn.Module, directory: str | os.PathLike) -> dict[str, Any]:
    """`torch.save(model.state_dict, path)` pickles a bound method (and the whole model): refused safely."""
    base = unwrap(model)
    wrong = Path(directory) / "no_parens.pt"
    right = Path(directory) / "with_parens.pt"
    _atomic_write(wrong, lambda tmp: torch.save(base.state_dict, tmp))  # the mistake, kept on purpose
    save(base, right)
    try:
        load(wrong)
        error = ""
    except LabError as exc:
        error = str(exc)
    return {
        "wrong_bytes": wrong.stat().st_size,
        "right_bytes": right.stat().st_size,
        "unsafe_globals": sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(wrong))),
        "error": error,
        "right_keys": len(load(right)),
    }


def pitfall_assign_state_dict(model: nn.Module) -> dict[str, Any]:
    """`fresh.state_dict = sd` replaces a method and loads nothing; `load_state_dict(sd)` loads."""
    original = unwrap(model)
    state = original.state_dict()
    fresh = randomized_copy(original)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    fresh.state_dict = state  # the tutorial's mistake: now an attribute, no weight was touched
    after_assign = {k: v for k, v in nn.Module.state_dict(fresh).items()}
    unchanged = all(torch.equal(before[k], after_assign[k]) for k in before)
    diff_assign = _abs_diff(state, after_assign)
    del fresh.state_dict  # back to the method
    fresh.load_state_dict(state)
    diff_load = _abs_diff(state, fresh.state_dict())
    return {"weights_unchanged": unchanged, "diff_after_assign": diff_assign, "diff_after_load_state_dict": diff_load}


def pitfall_slice_seven(model: nn.Module) -> dict[str, Any]:
    """`{k[7:]: v}` on keys without 'module.' cuts real names; `strip_prefix` leaves them alone."""
    base = unwrap(model)
    state = base.state_dict()
    sliced = OrderedDict((k[7:], v) for k, v in state.items())
    report = compare(base, sliced)
    fixed = strip_prefix(state, "module.")
    return {
        "keys": list(state),
        "sliced": list(sliced),
        "collapsed": len(state) - len(sliced),
        "report": report,
        "fixed_same": list(fixed) == list(state),
    }


def _inner_module_model() -> nn.Module:
    # a model whose own layers include one named "module": keys like "backbone.module.weight"
    return nn.Sequential(
        OrderedDict(
            [
                ("backbone", nn.Sequential(OrderedDict([("module", nn.Linear(4, 8)), ("act", nn.ReLU())]))),
                ("head", nn.Linear(8, 2)),
            ]
        )
    )


def pitfall_replace_everywhere(wrapper: str = "dataparallel") -> dict[str, Any]:
    """`k.replace('module.', '')` also deletes 'module.' inside names; `strip_prefix` removes the leading one."""
    model = _inner_module_model()
    wrapped = parallel_wrap(copy.deepcopy(model), wrapper)
    state = wrapped.state_dict()
    replaced = OrderedDict((k.replace("module.", ""), v) for k, v in state.items())
    stripped = strip_prefix(state, "module.")
    bad = compare(model, replaced)
    good = load_into(copy.deepcopy(model), stripped)
    return {
        "saved": list(state),
        "replaced": list(replaced),
        "stripped": list(stripped),
        "replace_report": bad,
        "strip_report": good,
    }


def pitfall_double_wrap(model: nn.Module, wrapper: str = "dataparallel") -> dict[str, Any]:
    """Wrapping a wrapped model gives 'module.module.' keys; `unwrap` first, and `load_into` strips both."""
    base = unwrap(model)
    twice = parallel_wrap(parallel_wrap(copy.deepcopy(base), wrapper), wrapper)
    keys = list(twice.state_dict())
    fresh = randomized_copy(base)
    report = load_into(fresh, twice.state_dict())
    return {
        "keys": keys,
        "once_keys": list(nn.DataParallel(copy.deepcopy(base)).state_dict()),
        "report": report,
        "equal": outputs_equal(base, fresh)[0],
    }


class _CudaTag:
    """Makes `torch.save` label CPU storages "cuda:0", as a file written on a GPU is labelled.

    Registered once with torch's public `register_package`; it tags nothing unless switched on, and its
    deserializer declines (returns None) so loading goes through torch's own CUDA path.
    """

    def __init__(self) -> None:
        self.local = threading.local()
        self.registered = False
        self.lock = threading.Lock()

    def tag(self, obj: Any) -> str | None:
        if getattr(self.local, "on", False) and getattr(obj, "device", torch.device("meta")).type == "cpu":
            return "cuda:0"
        return None

    @staticmethod
    def decline(obj: Any, location: str) -> None:
        return None

    def save_as_cuda(self, obj: Any, path: Path) -> None:
        with self.lock:
            if not self.registered:
                torch.serialization.register_package(1, self.tag, self.decline)  # before the CPU tagger (10)
                self.registered = True
        self.local.on = True
        try:
            _atomic_write(path, lambda tmp: torch.save(obj, tmp))
        finally:
            self.local.on = False


_CUDA_TAG = _CudaTag()


def pitfall_map_location(model: nn.Module, directory: str | os.PathLike) -> dict[str, Any]:
    """A GPU-saved file loaded without `map_location`: fails on a machine without CUDA; "cpu" always works.

    On a CUDA machine the file is really saved from the GPU; elsewhere it is written with the same
    "cuda:0" storage labels a GPU save writes, so the real torch error shows.
    """
    base = unwrap(model)
    path = Path(directory) / "saved_on_gpu.pt"
    state = {k: v.detach() for k, v in base.state_dict().items()}
    if torch.cuda.is_available():
        _atomic_write(path, lambda tmp: torch.save({k: v.to("cuda") for k, v in state.items()}, tmp))
    else:
        _CUDA_TAG.save_as_cuda(state, path)
    try:  # torch's own words first, then the lab's sentence
        torch.load(path, weights_only=True)
        torch_error = ""
    except RuntimeError as exc:
        torch_error = str(exc).strip().splitlines()[0]
    try:
        without = load(path, map_location=None)
        error = ""
        device_without = str(next(iter(without.values())).device) if without else ""
    except LabError as exc:
        error, device_without = str(exc), ""
    with_cpu = load(path, map_location="cpu")
    return {
        "cuda_available": torch.cuda.is_available(),
        "error_without": error,
        "torch_error": torch_error,
        "device_without": device_without,
        "device_with_cpu": str(next(iter(with_cpu.values())).device) if with_cpu else "",
        "keys": len(with_cpu),
    }
