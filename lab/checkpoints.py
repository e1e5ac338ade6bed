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
  not-a-checkpoint files raise LabError.
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
import hashlib
import inspect
import json
import os
import pickle
import re
import socket
import struct
import tempfile
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
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
MAX_LOAD_BYTES = 1 << 30  # 1 GiB: resnet152 weights are 240 MB; anything bigger is not for a 2-core Space
UPLOAD_MAX_BYTES = 50 * 1024 * 1024  # matches app.LAUNCH_KW["max_file_size"]
_SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own header limit
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
    """The wrapper prefixes that lead every key, e.g. "module.module." for a double-wrapped model."""
    prefix = ""
    while keys:
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


def _is_tensor_mapping(obj: Any) -> bool:
    return isinstance(obj, Mapping) and any(isinstance(v, torch.Tensor) for v in obj.values())


def find_state_dict(obj: Any) -> tuple[OrderedDict, list[str]]:
    """The weights inside a loaded object, and notes on where they were and what was skipped.

    Accepts a state_dict, a training checkpoint dict (weights under "model", "state_dict",
    "model_state_dict", ...), or a whole nn.Module. Non-tensor entries (e.g. the tutorial U-Net's
    `mask_values`) are skipped with a note.
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
    if not _is_tensor_mapping(obj):
        for key in WEIGHT_KEYS:
            inner = obj.get(key)
            if isinstance(inner, nn.Module) or _is_tensor_mapping(inner):
                sd, inner_notes = find_state_dict(inner)
                others = [k for k in obj if k != key]
                notes.append(
                    f"training checkpoint: weights found under {shown(key)}"
                    + (f"; also holds {', '.join(map(shown, others[:6]))}" if others else "")
                )
                return sd, notes + inner_notes
        nested = [k for k, v in obj.items() if _is_tensor_mapping(v)]
        if len(nested) == 1:
            notes.append(f"weights found under {shown(nested[0])}")
            sd, inner_notes = find_state_dict(obj[nested[0]])
            return sd, notes + inner_notes
        listed = ", ".join(map(shown, list(obj)[:8])) or "none"
        raise LabError(
            f"No weights found in the checkpoint (top-level keys: {listed}); a state_dict or a dict with the "
            f"weights under one of {', '.join(WEIGHT_KEYS)} is accepted."
        )
    extras = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if extras:
        notes.append(
            f"skipped {len(extras)} non-tensor entr{'y' if len(extras) == 1 else 'ies'} "
            f"({', '.join(map(shown, extras[:5]))}): metadata, not weights"
        )
    sd = OrderedDict((k, v) for k, v in obj.items() if isinstance(v, torch.Tensor))
    metadata = getattr(obj, "_metadata", None)
    if metadata is not None:
        sd._metadata = OrderedDict(metadata)
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

    if suffix == ".safetensors":
        tensors = _safetensors_ready(model.state_dict())
        # safetensors stores keys sorted; the metadata keeps the model's order for people reading the file
        metadata = {"format": "pt", _ORDER_KEY: json.dumps(list(tensors))}
        return _write_or_explain(path, lambda tmp: st_save_file(tensors, tmp, metadata=metadata))

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
        return _write_or_explain(path, lambda tmp: torch.save(payload, tmp))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # local classes, lambdas and process groups cannot be pickled; weights always can
        raise LabError(
            f"The whole {type(model).__name__} cannot be pickled ({_cut(str(exc).splitlines()[0], 120)}); "
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
            f"File {shown(str(path))} cannot be written ({_cut(reason, 80)}); "
            "use a short name of letters, digits, '_' and '.' in a folder you can write to."
        ) from exc


# ----------------------------------------------------------------------------------------------------------
# Loading: format sniffing, safe unpickling, clear errors
# ----------------------------------------------------------------------------------------------------------


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
        if header_len > _SAFETENSORS_MAX_HEADER or 8 + header_len > size:
            raise LabError(
                f"File {shown(path.name)} has a safetensors header claiming {header_len} bytes in a {size}-byte file; "
                "it is truncated or corrupt."
            )
        return "safetensors"
    raise LabError(
        f"File {shown(path.name)} is not a checkpoint: it starts with bytes {head[:8].hex()}; "
        "a torch.save file (.pt/.pth/.pkl) or a .safetensors file is accepted."
    )


_UNSAFE_HINTS = (
    ("argparse.Namespace", "an argparse Namespace (store args as a plain dict instead)"),
    ("builtins.getattr", "a bound method (`torch.save(model.state_dict, path)` without parentheses)"),
    ("torch.nn.", "a pickled whole model (its class is code)"),
    ("torchvision.", "a pickled whole model (its class is code)"),
)


def _unsafe_message(path: Path, exc: BaseException) -> str:
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # noqa: BLE001 - legacy files: fall back to the name in torch's message
        names = re.findall(r"GLOBAL ([\w.]+)", str(exc))
    names = sorted(set(names))
    what = "Python objects beyond tensors"
    for needle, hint in _UNSAFE_HINTS:
        if any(needle in name for name in names):
            what = hint
            break
    listed = (", ".join(names[:3]) + (", ..." if len(names) > 3 else "")) if names else "unknown globals"
    return (
        f"File {shown(path.name)} was refused: it holds {what}, and unpickling it would import and run code "
        f"({listed}) that could do anything on this machine, so only files of tensors are accepted; "
        "re-save it with torch.save(model.state_dict(), path) or as .safetensors."
    )


def _describe_load_error(path: Path, exc: BaseException) -> str:
    text = str(exc)
    if "CUDA" in text and "deserialize" in text:
        return (
            f"File {shown(path.name)} was saved on a CUDA GPU and this machine has none; "
            "load it with map_location='cpu' (then move the model with .to(device))."
        )
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        if "Unsupported global" in text or "GLOBAL" in text or "Weights only" in text:
            return _unsafe_message(path, exc)
    if "magic number" in text:
        return (
            f"File {shown(path.name)} is a plain Python pickle, not a torch.save checkpoint; "
            "save weights with torch.save(model.state_dict(), path) or as .safetensors."
        )
    first = text.strip().splitlines()[0][:160] if text.strip() else type(exc).__name__
    return f"File {shown(path.name)} is truncated or corrupt and cannot be read ({first}); upload an intact checkpoint."


def _load_safetensors(path: Path, device: str) -> OrderedDict:
    """Tensors in the order the model had (kept in the metadata), else the file's order."""
    with safe_open(str(path), framework="pt", device=device) as f:  # header checked against the file size, mmap'd
        keys = list(f.keys())
        try:
            order = json.loads((f.metadata() or {}).get(_ORDER_KEY, "[]"))
        except ValueError:
            order = []
        if isinstance(order, list) and sorted(order) == sorted(keys):
            keys = order
        return OrderedDict((key, f.get_tensor(key)) for key in keys)


def _zip_directory_ok(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except (zipfile.BadZipFile, ValueError, struct.error, OSError):  # is_zipfile itself trips on some corruptions
        return False


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
    refuses bigger files before reading them (None: no limit).
    """
    path = Path(path)
    try:
        size = path.stat().st_size if path.is_file() else None
    except (OSError, ValueError):  # a name the OS refuses (too long, NUL byte) names no file either
        size = None
    if size is None:
        raise LabError(f"File {shown(str(path))} does not exist; upload or choose a checkpoint file.")
    if size == 0:
        raise LabError(f"File {shown(path.name)} is empty (0 bytes); a checkpoint file is accepted.")
    if max_bytes is not None and size > max_bytes:
        raise LabError(
            f"File {shown(path.name)} is {size / 2**20:.1f} MiB; files up to {max_bytes / 2**20:.0f} MiB are accepted."
        )
    kind = _sniff(path, size)
    if kind == "safetensors":
        device = "cpu" if map_location is None else str(torch.device(map_location))
        try:
            return _load_safetensors(path, device)
        except (SafetensorError, RuntimeError, ValueError, OSError) as exc:
            raise LabError(
                f"File {shown(path.name)} is not a valid safetensors file ({str(exc)[:160]}); upload an intact one."
            ) from exc
    if kind == "zip" and not _zip_directory_ok(path):
        raise LabError(
            f"File {shown(path.name)} is truncated or corrupt (its zip directory is missing); "
            "upload an intact checkpoint."
        )
    try:
        # mmap: storages are mapped, not read up front, and their sizes are checked against the zip records
        return torch.load(path, map_location=map_location, weights_only=not trusted, mmap=(kind == "zip"))
    except LabError:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure of a foreign file becomes one sentence
        raise LabError(_describe_load_error(path, exc)) from exc


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
        for key in self.loaded:
            rows.append(("loaded", key, self.saved_keys.get(key, key), "", ""))
        for key, saved, want in self.mismatched:
            rows.append(("mismatched", key, self.saved_keys.get(key, key), str(tuple(saved)), str(tuple(want))))
        for key in self.missing:
            rows.append(("missing", key, "", "", ""))
        for key in self.unexpected:
            rows.append(("unexpected", "", key, "", ""))
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
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabError(
            f"Config file {shown(sidecar.name)} is not valid JSON ({exc}); re-save it with save_with_config."
        ) from exc
    if not isinstance(config, dict):
        raise LabError(f"Config file {shown(sidecar.name)} holds a {type(config).__name__}; a JSON object is accepted.")
    if isinstance(config.get("config"), dict):
        config = config["config"]  # nested layout: the constructor arguments sit beside other facts
    try:
        model = build(**config)
    except TypeError as exc:  # a key the constructor does not take, or a missing required one
        raise LabError(
            f"Config file {shown(sidecar.name)} does not fit {getattr(build, '__name__', 'the model')} ({exc}); "
            "use the JSON saved with these weights."
        ) from exc
    load_into(model, load(path, map_location=map_location), strict=strict)
    return model, config


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(obj: Any, prefix: str = "") -> list[tuple[str, str, str, str, int]]:
    """(key, kind, shape, dtype, numel) for everything in a loaded object, nested dicts flattened with '/'."""
    if isinstance(obj, nn.Module):
        return [(prefix + "(whole model)", type(obj).__name__, "", "", 0)] + _walk(obj.state_dict(), prefix)
    if isinstance(obj, torch.Tensor):
        return [
            (
                prefix.rstrip("/") or "(tensor)",
                "tensor",
                str(tuple(obj.shape)),
                str(obj.dtype).replace("torch.", ""),
                obj.numel(),
            )
        ]
    if isinstance(obj, Mapping):
        rows = []
        for key, value in obj.items():
            rows.extend(_walk(value, f"{prefix}{key}/" if isinstance(value, Mapping) else f"{prefix}{key}"))
        return rows
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(v, Mapping) for v in obj):
        return [(prefix.rstrip("/"), f"list of {len(obj)} dicts", "", "", 0)]
    text = repr(obj)
    return (
        [(prefix.rstrip("/"), type(obj).__name__, "", "", 0)]
        if len(text) > 60
        else [(prefix.rstrip("/"), text, "", "", 0)]
    )


def contents(obj: Any) -> pd.DataFrame:
    """What a loaded checkpoint holds: one row per entry (nested dicts flattened as 'optimizer/state/...')."""
    rows = _walk(obj)
    return pd.DataFrame(rows, columns=["key", "kind", "shape", "dtype", "numel"])


def file_info(path: str | os.PathLike, *, trusted: bool = False, first: int = 5) -> dict[str, Any]:
    """Size, SHA-256, format, key count and first keys of a checkpoint file (loaded safely unless trusted)."""
    path = Path(path)
    obj = load(path, trusted=trusted)
    try:
        sd, _ = find_state_dict(obj)
        keys = list(sd)
    except LabError:
        keys = list(obj) if isinstance(obj, Mapping) else []
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
