"""Weights with a JSON of constructor arguments beside them, and the facts of a file (what it holds, its hash).

`save_with_config` / `load_with_config`: a model rebuilt from its constructor arguments and loaded safely, without
pickling code (what the Train tab downloads, and the shipped `assets/unet_small.json`). `contents` and `file_info`
describe a file for the page: bounded like every reader of a loaded object.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from lab.checkpoints.bounds import MAX_VISITS, WalkLimit, brief, key_text, walk
from lab.checkpoints.io import atomic_write, load, save
from lab.checkpoints.state import find_state_dict, load_into
from lab.errors import LabError, Term, shown

__all__ = ["config_path", "save_with_config", "load_with_config", "sha256", "contents", "file_info"]

_MAX_SIDECAR_BYTES = 1 << 20  # a config JSON beside weights
_HASH_CHUNK = 1 << 20


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
        raise LabError("error.checkpoints.config_data", reason=str(exc)[:120]) from exc
    weights = save(model, path, **save_kwargs)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text + "\n", encoding="utf-8")

    return weights, atomic_write(config_path(weights), write)


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
    name = shown(sidecar.name)
    if not sidecar.is_file():
        raise LabError("error.checkpoints.config_missing", name=name, weights=shown(Path(path).name))
    if sidecar.stat().st_size > _MAX_SIDECAR_BYTES:
        raise LabError("error.checkpoints.config_big", name=name, mib=f"{sidecar.stat().st_size / 2**20:,.1f}",
                       limit=_MAX_SIDECAR_BYTES // 2**10)  # fmt: skip
    try:
        config = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # bad JSON or UTF-8, a 5,000-digit number, "[[[[..." nesting
        where = Term("checkpoints.config.at", line=exc.lineno, column=exc.colno) \
            if isinstance(exc, json.JSONDecodeError) else ""  # fmt: skip
        raise LabError("error.checkpoints.config_json", name=name, where=where) from exc
    if not isinstance(config, dict):
        raise LabError("error.checkpoints.config_type", name=name, kind=type(config).__name__)
    if isinstance(config.get("config"), dict):
        config = config["config"]  # nested layout: the constructor arguments sit beside other facts
    try:
        model = build(**config)
    except TypeError as exc:  # a key the constructor does not take, a missing required one, a wrong kind of value
        raise _config_mismatch(sidecar.name, build, config) from exc
    load_into(model, load(path, map_location=map_location), strict=strict)
    return model, config


def _config_mismatch(name: str, build: Callable[..., nn.Module], config: Mapping[str, Any]) -> LabError:
    """Which keys of a config JSON `build` does not take or misses, in words (not Python's TypeError text)."""
    model = getattr(build, "__name__", "model")
    try:
        params = inspect.signature(build).parameters
    except (TypeError, ValueError):
        params = {}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    unknown = [k for k in config if k not in params] if params and not takes_any else []
    missing = [k for k, p in params.items()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and k not in config]
    if unknown:
        problem = Term("checkpoints.config.unknown", model=model, keys=", ".join(map(shown, unknown[:4])))
    elif missing:
        problem = Term("checkpoints.config.lacks", keys=", ".join(map(shown, missing[:4])))
    else:
        problem = Term("checkpoints.config.kind")
    takes = ", ".join(k for k, p in params.items() if p.kind is not p.VAR_KEYWORD) or Term("checkpoints.config.own")
    return LabError("error.checkpoints.config_mismatch", name=shown(name), model=model, problem=problem, takes=takes)


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tensor_row(key: str, t: torch.Tensor) -> tuple[str, Term, Any, str, int]:
    """A tensor's row, read through torch.Tensor's own methods (a loaded tensor may carry a `numel` attribute)."""
    kind = Term("checkpoints.kind.tensor")
    dtype, numel = str(t.dtype).replace("torch.", ""), int(torch.Tensor.numel(t))
    if t.is_nested:  # a nested tensor has no single shape
        return key, Term("checkpoints.kind.nested"), Term("checkpoints.kind.ragged"), dtype, numel
    shape = str(tuple(t.shape))
    if t.layout != torch.strided:
        kind = Term("checkpoints.kind.layout", layout=str(t.layout).replace("torch.", ""))
    elif t.is_quantized:
        kind = Term("checkpoints.kind.quantized")
    elif t.device.type == "meta":
        kind = Term("checkpoints.kind.meta")
    return key, kind, shape, dtype, numel


def _leaf_kind(value: Any) -> Term | str:
    """The 'kind' cell of a value that is not opened: a short repr, "list of N dicts", or the type's name."""
    if isinstance(value, (list, tuple)) and value:
        # optimizer param_groups: say what they are instead of a long repr (checked on at most MAX_VISITS items)
        if all(isinstance(v, Mapping) for v in itertools.islice(value, MAX_VISITS)) and len(value) <= MAX_VISITS:
            return Term("checkpoints.kind.dicts", count=len(value))
    return brief(value) or type(value).__name__


def contents(obj: Any, *, max_rows: int | None = None) -> pd.DataFrame:
    """What a loaded object holds: one row per entry (nested dicts flattened as 'optimizer/state/...').

    Lists, tuples and other values are one row each (a short repr or their type); dicts and modules are opened.
    Bounded: after `max_rows` rows, `MAX_VISITS` entries or `MAX_DEPTH` levels the listing stops, and its last
    row (key "…") says that it was cut and why. Cells that are words ("tensor", "list of 3 dicts", the cut row's
    reason) are catalogue Terms: the page words them.
    """
    rows: list[tuple[str, Any, str, str, int]] = []
    try:
        for path, value in walk(obj, containers=(Mapping, nn.Module)):
            if isinstance(value, Mapping):  # opened: its entries get the rows
                continue
            if max_rows is not None and len(rows) >= max_rows:
                rows.append(("…", Term("checkpoints.kind.cut_rows", rows=max_rows), "", "", 0))
                break
            key = "/".join(key_text(k) for k in path)
            if isinstance(value, nn.Module):
                rows.append((key, Term("checkpoints.kind.whole_model", model=type(value).__name__), "", "", 0))
            elif isinstance(value, torch.Tensor):
                rows.append(_tensor_row(key or "(tensor)", value))
            else:
                rows.append((key, _leaf_kind(value), "", "", 0))
    except WalkLimit as exc:
        rows.append(("…", Term("checkpoints.kind.cut", reason=Term(exc.key, **exc.params)), "", "", 0))
    return pd.DataFrame(rows, columns=["key", "kind", "shape", "dtype", "numel"])


def file_info(path: str | os.PathLike, *, trusted: bool = False, first: int = 5) -> dict[str, Any]:
    """Size, SHA-256, format, key count and first keys of a checkpoint file (loaded safely unless trusted)."""
    path = Path(path)
    obj = load(path, trusted=trusted)
    try:
        keys = list(find_state_dict(obj)[0])
    except LabError:
        keys = [key_text(p[0]) for p, _ in walk(obj, levels=1, containers=(Mapping,)) if p]
    return {
        "file": path.name,
        "format": path.suffix.lower(),
        "bytes": path.stat().st_size,
        "keys": len(keys),
        "first keys": keys[:first],
        "sha256": sha256(path),
    }
