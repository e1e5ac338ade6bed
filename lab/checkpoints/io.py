"""Saving and loading files (5.4.1, 5.4.2, 5.4.5): every format, atomic writes, safe reads, worded refusals.

- `save`: weights, a whole pickled model or the 5.4.5 training checkpoint, in .pt/.pth/.pkl (`torch.save`) or
  .safetensors (weights only). Written to a temp file beside the target, then `os.replace`: never half a file.
  A file over `UPLOAD_MAX_BYTES` is refused up front (what the lab saves, it loads back).
- `load`: untrusted files through `torch.load(weights_only=True)` after `lab.checkpoints.scan`, or safetensors;
  a file that needs code to unpickle is refused and nothing of it runs. `trusted=True` only for the lab's own files.

`checkpoint_dict`, `safetensors_ready` and `model_order` are plain torch: the code panels print their source.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file as st_save_file
from torch import nn

from lab.checkpoints import scan
from lab.checkpoints.bounds import MAX_VISITS, cut, walk
from lab.checkpoints.parallel import unwrap
from lab.errors import LabError, Term, choice, shown

__all__ = [
    "FORMATS", "WHATS", "UPLOAD_MAX_BYTES", "MAX_LOAD_BYTES", "KEY_ORDER", "save", "load", "file_bytes",
    "checkpoint_dict", "safetensors_ready", "model_order", "atomic_write",
]  # fmt: skip

FORMATS = (".pt", ".pth", ".pkl", ".safetensors")
WHATS = ("state_dict", "model", "checkpoint")
# What the lab loads back is what it saves (issue 12, item 7). The largest file a tab can hand out is the
# Surgery tab's largest model (ResNet-152, four hidden layers of 4,096, 10,000 classes, 1,024 extra inputs and the
# extra output: 162 M parameters, 619 MiB in fp32, in every format and wrapper; a 5.4.5 checkpoint's fresh
# optimizer adds no tensors). The U-Net and Train tabs stop at 100 M parameters (382 MiB), Compose at 50 M.
# `save` refuses a file over this up front, so every download loads back; app.py's max_file_size is this number.
# Zip checkpoints are memory-mapped when loaded: a big file costs page cache, not heap.
UPLOAD_MAX_BYTES = 640 * 2**20
MAX_LOAD_BYTES = UPLOAD_MAX_BYTES  # `load`'s default limit: the same one number
KEY_ORDER = "lab.key_order"  # safetensors metadata entry: the state_dict's key order as a JSON list
_DEFER_FREE_BYTES = 16 * 2**20  # replacing a file at least this big frees the old one on a background thread


# ---------------------------------------------------------------------------------------------------------------
# What goes into a file (plain torch: the code panels print these)


def checkpoint_dict(model: nn.Module, optimizer=None, scheduler=None, epoch=None, args=None) -> dict:
    """5.4.5's training checkpoint: the weights, the optimizer's and lr_scheduler's state, the epoch and the args."""
    checkpoint = {"model": model.state_dict(), "epoch": epoch}
    if optimizer is not None:
        checkpoint["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        checkpoint["lr_scheduler"] = scheduler.state_dict()
    if args is not None:
        checkpoint["args"] = args  # a plain dict: an argparse Namespace would need code to unpickle
    return checkpoint


def safetensors_ready(state_dict):
    """Tensors as safetensors takes them: contiguous, none sharing memory (a tied weight is stored twice)."""
    out, seen = {}, set()
    for key, value in state_dict.items():
        tensor = value.detach()
        storage = (str(tensor.device), tensor.untyped_storage().data_ptr())
        if storage in seen and tensor.numel():
            tensor = tensor.clone()  # safetensors refuses shared memory, so a tied weight gets its own copy
        seen.add(storage)
        out[key] = tensor.contiguous()
    return out


def model_order(keys, metadata, entry="lab.key_order"):
    """A safetensors file's keys in the model's order: safetensors sorts them by name, so the order the model had is
    kept in the metadata (`entry`) when saving; any other metadata leaves `keys` as they are."""
    try:
        order = json.loads((metadata or {}).get(entry) or "null")
    except (ValueError, RecursionError):  # "[[[[..." nests past the JSON decoder's recursion limit
        return keys
    if not isinstance(order, list) or len(order) != len(keys) or not all(isinstance(k, str) for k in order):
        return keys
    return order if set(order) == set(keys) else keys


# ---------------------------------------------------------------------------------------------------------------
# Writing


def _release_later(path: str) -> None:
    """Delete a file and its folder on a daemon thread (freeing a large file's blocks takes tens of ms on ext4)."""

    def unlink() -> None:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)  # already gone: nothing to free

    threading.Thread(target=unlink, name="lab-checkpoint-release", daemon=True).start()


def atomic_write(path: Path, write: Callable[[str], None]) -> Path:
    """Run `write(tmp_path)` on a temp file beside `path`, then rename it over `path` in one step.

    `os.replace` within one directory is atomic, so readers see the old file or the new one, never half of
    one. The temp file has `path`'s own name, in a hidden temp folder beside it: `torch.save` names the archive
    inside a file after the file, so the download is the same file the code panel writes. An old file of 16 MiB
    or more is first hard-linked aside so the replace does not wait for its blocks to be freed (tens of ms on
    ext4); that link is deleted on a background thread a moment after this returns. Missing parent folders are
    created. No fsync: that guards only against power loss and would double the time of a save.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name[:100]}.", suffix=".tmp")
    tmp = os.path.join(folder, path.name)
    old = None
    try:
        open(tmp, "xb").close()  # a name the file system refuses (too long, a NUL) fails here, as an OSError
        write(tmp)
        if path.is_file() and not path.is_symlink() and path.stat().st_size >= _DEFER_FREE_BYTES:
            old = os.path.join(folder, "old")
            try:
                os.link(path, old)
            except OSError:
                old = None  # no hard links here (some network or FAT file systems): replace frees it inline
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if old:
        _release_later(old)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return path


def _write_or_explain(path: Path, write: Callable[[str], None]) -> Path:
    """`atomic_write`, with the operating system's refusals (name too long, NUL byte, no permission) as LabError."""
    try:
        return atomic_write(path, write)
    except LabError:
        raise
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LabError("error.checkpoints.unwritable", name=shown(path.name), reason=cut(reason, 80)) from exc


def _exactly(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (a str subclass or a tuple is not what JSON gives back)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_exactly(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_exactly, a, b))
    return a == b


def _plain_args(args: Any) -> dict | None:
    """5.4.5's `args` as a plain dict: an argparse Namespace needs code to unpickle, a dict does not.

    Kept as given when it already is plain JSON data (so the file is the one the code panel writes), else rebuilt
    from JSON so only plain values remain and weights_only can load them.
    """
    if args is None:
        return None
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    if not isinstance(args, Mapping):
        raise LabError("error.checkpoints.args_type", kind=type(args).__name__)
    try:
        plain = json.loads(json.dumps(dict(args)))
        return dict(args) if _exactly(plain, dict(args)) else plain
    except (TypeError, ValueError, RecursionError) as exc:
        raise LabError("error.checkpoints.args_data", reason=cut(str(exc), 120)) from exc


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
        state = optimizer.state_dict()
        tensors += [v for _, v in walk(state, what="checkpoints.walk.optimizer") if isinstance(v, torch.Tensor)]
    data, count = _written_bytes(tensors, shared=fmt != ".safetensors")
    return data + 2048 * count + 2**20


def _too_big(model: nn.Module, what: str, suffix: str, size: int) -> LabError:
    params = sum(p.numel() for p in model.parameters())
    return LabError("error.checkpoints.too_big", model=type(unwrap(model)).__name__, params=params, what=what,
                    suffix=suffix, mib=f"{size / 2**20:,.0f}", limit=f"{UPLOAD_MAX_BYTES / 2**20:,.0f}")  # fmt: skip


def _check_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise LabError("error.checkpoints.suffix", name=shown(path.name), suffix=shown(suffix or "(none)"),
                       formats=", ".join(FORMATS))  # fmt: skip
    return suffix


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
    choice("checkpoints.what", what, WHATS)
    if suffix == ".safetensors" and what != "state_dict":
        raise LabError("error.checkpoints.safetensors_what", what=shown(what))
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0):
        raise LabError("error.checkpoints.epoch", value=shown(epoch))
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
        state = model.state_dict()
        extra = next((key for key, value in state.items() if not isinstance(value, torch.Tensor)), None)
        if extra is not None:
            raise LabError("error.checkpoints.safetensors_extra", key=shown(extra), kind=type(state[extra]).__name__)
        tensors = safetensors_ready(state)
        metadata = {"format": "pt", KEY_ORDER: json.dumps(list(tensors))}  # the model's order; the file sorts keys
        return _write_or_explain(path, within_limit(lambda tmp: st_save_file(tensors, tmp, metadata=metadata)))

    if what == "state_dict":
        payload: Any = model.state_dict()
    elif what == "model":
        payload = model
    else:
        payload = checkpoint_dict(model, optimizer, scheduler, epoch, _plain_args(args))
    try:
        return _write_or_explain(path, within_limit(lambda tmp: torch.save(payload, tmp)))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # local classes, lambdas and process groups cannot be pickled; weights always can
        found = re.search(r"(?:local object|pickle) '([^']{1,200})'", str(exc))
        holds = Term("checkpoints.pickle.holds", name=shown(found.group(1))) if found else \
            Term("checkpoints.pickle.part")  # fmt: skip
        raise LabError("error.checkpoints.unpicklable", model=type(model).__name__, holds=holds) from exc


# ---------------------------------------------------------------------------------------------------------------
# Reading

# torch's words for a broken file (matched, never shown) -> what is wrong (`checkpoints.corrupt.<reason>`)
_LOAD_FAILURES = (
    ("central directory", "no_directory"),
    ("failed locating file", "missing_record"),
    ("not resizable", "more_data"),
    ("out of bounds for storage", "more_data"),
    ("wrong byte size", "byte_size"),
    ("can't allocate memory", "memory"),
    ("unexpected EOF", "ends_early"),
    ("overflow", "impossible_size"),
    ("Negative dimension", "negative_size"),
    ("negative", "negative_size"),
)
# safetensors' words for a broken header (matched, never shown) -> what is wrong (`checkpoints.st_invalid.<reason>`)
_SAFETENSORS_FAILURES = (
    ("unknown variant", "dtype"),
    ("invalid shape, data type, or offset", "layout"),
    ("offset", "offsets"),
    ("invalid value", "numbers"),
    ("JSON", "json"),
)


def _load_error(path: Path, exc: BaseException) -> LabError:
    """One sentence for a torch.load failure: never torch's text (C++ file names, format strings, paths)."""
    text = str(exc)
    if "CUDA" in text and "deserialize" in text:
        return LabError("error.checkpoints.cuda_file", name=shown(path.name))
    if "magic number" in text:
        return LabError("error.checkpoints.plain_pickle", name=shown(path.name))
    if "Unsupported global" in text:  # only when this torch's allowlist could not be read up front
        return scan.unsafe_error(path, re.findall(r"GLOBAL ([\w.]+)", text))
    if isinstance(exc, MemoryError):
        return scan.corrupt(path, "memory")
    if isinstance(exc, EOFError):
        return scan.corrupt(path, "ends_before_object")
    reason = next((why for needle, why in _LOAD_FAILURES if needle in text), None)
    if reason is None and isinstance(exc, pickle.UnpicklingError):
        reason = "not_plain"
    return scan.corrupt(path, reason or "unreadable")


def _load_safetensors(path: Path, device: str) -> OrderedDict:
    """Tensors in the order the model had (kept in the metadata), else the file's order; mapped, not read."""
    try:
        with safe_open(str(path), framework="pt", device=device) as f:  # header checked against the file size
            keys = list(f.keys())
            if len(keys) > MAX_VISITS:
                raise LabError("error.checkpoints.st_tensors", name=shown(path.name), count=len(keys),
                               limit=MAX_VISITS)  # fmt: skip
            order = model_order(keys, f.metadata(), KEY_ORDER)
            return OrderedDict((key, f.get_tensor(key)) for key in order)
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - SafetensorError and the OS's and torch's errors on hostile bytes
        text = str(exc)
        reason = next((why for needle, why in _SAFETENSORS_FAILURES if needle in text), "header")
        raise LabError("error.checkpoints.st_invalid", name=shown(path.name),
                       reason=Term(f"checkpoints.st_invalid.{reason}")) from exc  # fmt: skip


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
    name = shown(path.name)
    try:
        size = path.stat().st_size if path.is_file() else None
    except (OSError, ValueError):  # a name the OS refuses (too long, NUL byte) names no file either
        size = None
    if size is None:
        raise LabError("error.checkpoints.no_file", name=name)
    if size == 0:
        raise LabError("error.checkpoints.empty_file", name=name)
    if max_bytes is not None and size > max_bytes:
        raise LabError("error.checkpoints.file_big", name=name, mib=f"{size / 2**20:.1f}",
                       limit=f"{max_bytes / 2**20:.0f}")  # fmt: skip
    kind = scan.sniff(path, size)
    if kind == "safetensors":
        return _load_safetensors(path, "cpu" if map_location is None else str(torch.device(map_location)))
    if kind == "zip":
        scan.check_zip(path, size, scan=not trusted)
    elif not trusted:
        scan.check_pickle(path, size)
    try:
        # mmap: storages are mapped, not read up front, and their sizes are checked against the zip records
        obj = torch.load(path, map_location=map_location, weights_only=not trusted, mmap=(kind == "zip"))
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of a foreign file becomes one sentence
        raise _load_error(path, exc) from exc
    if isinstance(obj, str):  # `compare`/`load_into` read a str as a path: a file must not name a server file
        raise LabError("error.checkpoints.text_string", name=name)
    return obj
