"""The weights inside a loaded object, and loading them into a model (5.4.4): prefixes, the report, load_into.

- `find_state_dict`: a state_dict, a 5.4.5 training checkpoint (weights under "model", "state_dict", ...) or a
  whole model; non-tensor extras (the tutorial U-Net's `mask_values`) and tensors no model can take are skipped
  with a note. Reads at most two levels with one bounded `walk`.
- `strip_prefix` / `add_prefix`: a leading `module.` (DataParallel/DDP) or `_orig_mod.` (torch.compile) only.
- `compare` / `load_into`: wrapper prefixes fixed in either direction, shapes checked, a `LoadReport` of each key.

The report's notes and fixes are `Term`s (worded by the page); `renamed`, `notes` and `problems()` give English.
"""

from __future__ import annotations

import functools
import os
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from lab.checkpoints.bounds import cut, key_shown, walk
from lab.checkpoints.io import load
from lab.checkpoints.parallel import unwrap
from lab.errors import LabError, Term, render, shown

__all__ = ["WRAPPER_PREFIXES", "WEIGHT_KEYS", "strip_prefix", "add_prefix", "find_state_dict", "LoadReport",
           "compare", "load_into", "joined"]  # fmt: skip

# Leading key prefixes that wrappers add: DataParallel/DDP keep the model as `.module`, torch.compile as `._orig_mod`.
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Keys under which training checkpoints keep the model's weights (5.4.5, torchvision references, Lightning, timm).
WEIGHT_KEYS = ("model", "state_dict", "model_state_dict", "model_state", "net", "network", "weights", "params")
_MAX_WRAPPERS = 8  # leading wrapper prefixes looked for ("module.module." is 2)


def joined(terms: list[Term], empty: str = "checkpoints.none") -> Term:
    """Terms as one, "a; b; c" in the page's language (`Term(empty)` when there are none)."""
    if not terms:
        return Term(empty)
    out = terms[-1]
    for term in reversed(terms[:-1]):
        out = Term("checkpoints.join", first=term, rest=out)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Prefixes


def _mapping(state_dict: Any) -> Mapping[str, Any]:
    if not isinstance(state_dict, Mapping):
        raise LabError("error.checkpoints.state_dict_type", kind=type(state_dict).__name__)
    return state_dict


def _copy_with_metadata(state_dict: Mapping[str, Any]) -> OrderedDict:
    out = OrderedDict(_mapping(state_dict))
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        out._metadata = OrderedDict(metadata)  # module versions (BatchNorm etc.) travel with the keys
    return out


def _check_prefix(prefix: Any) -> None:
    if not isinstance(prefix, str):
        raise LabError("error.checkpoints.prefix", value=shown(prefix))


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


# ---------------------------------------------------------------------------------------------------------------
# Finding the weights


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
    return (t.layout == torch.strided and not t.is_quantized and not t.is_nested and t.device.type != "meta"
            and t.dtype in _COPYABLE_DTYPES)  # fmt: skip


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
    for path, value in walk(metadata, levels=1, containers=(Mapping,), what="checkpoints.walk.versions"):
        if len(path) == 1 and isinstance(path[0], str) and isinstance(value, dict):
            version = dict.get(value, "version")
            ok = isinstance(version, int) and not isinstance(version, bool) and 0 <= version < 2**16
            out[path[0]] = {"version": version} if ok else {}
    return out


def _skipped(keys: list[Any], kind: str) -> Term:
    """"skipped 2 non-tensor entries ('a', 'b'): metadata, not weights": `kind` is extra, unnamed or odd."""
    number = "one" if len(keys) == 1 else "many"
    return Term("checkpoints.note.skipped", count=len(keys), keys=", ".join(key_shown(k) for k in keys[:5]),
                what=Term(f"checkpoints.note.{kind}_{number}"), why=Term(f"checkpoints.note.why_{kind}"))  # fmt: skip


def find_state_dict(obj: Any) -> tuple[OrderedDict, list[str]]:
    """The weights inside a loaded object, and notes (English) on where they were and what was skipped.

    Accepts a state_dict, a training checkpoint dict (weights under "model", "state_dict",
    "model_state_dict", ...), or a whole nn.Module. Non-tensor entries (e.g. the tutorial U-Net's
    `mask_values`), tensors under keys that are not strings, and tensors no model can take (sparse,
    quantized, nested, meta, packed dtypes) are skipped with a note. Reads two levels with one bounded `walk`
    and goes one level deeper at most twice (a module, then the weights it holds). `find_weights` gives the
    notes as Terms, for the page.
    """
    sd, notes = find_weights(obj)
    return sd, [render(note, "en") for note in notes]


def find_weights(obj: Any) -> tuple[OrderedDict, list[Term]]:
    """`find_state_dict` with its notes as catalogue Terms."""
    notes: list[Term] = []
    if isinstance(obj, nn.Module):
        notes.append(Term("checkpoints.note.whole_model", model=type(obj).__name__))
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        raise LabError("error.checkpoints.not_weights", kind=type(obj).__name__)
    entries: list[tuple[Any, Any]] = []  # the top level, in order
    holders: list[int] = []  # entries that are mappings with a tensor directly inside
    for path, value in walk(obj, levels=2, containers=(Mapping,)):
        if len(path) == 1:
            entries.append((path[0], value))
        elif len(path) == 2 and isinstance(value, torch.Tensor) and holders[-1:] != [len(entries) - 1]:
            holders.append(len(entries) - 1)
    if not any(isinstance(value, torch.Tensor) for _, value in entries):
        for name in WEIGHT_KEYS:
            hit = next((i for i, (key, value) in enumerate(entries)
                        if isinstance(key, str) and key == name and (isinstance(value, nn.Module) or i in holders)),
                       None)  # fmt: skip
            if hit is not None:
                sd, inner_notes = find_weights(entries[hit][1])  # a module or a tensor mapping: ends there
                others = [key for i, (key, _) in enumerate(entries) if i != hit]
                also = Term("checkpoints.note.also", keys=", ".join(map(key_shown, others[:6]))) if others else ""
                notes.append(Term("checkpoints.note.checkpoint", name=shown(name), also=also))
                return sd, notes + inner_notes
        if len(holders) == 1:
            key, inner = entries[holders[0]]
            notes.append(Term("checkpoints.note.found_under", key=key_shown(key)))
            sd, inner_notes = find_weights(inner)
            return sd, notes + inner_notes
        listed = ", ".join(key_shown(key) for key, _ in entries[:8]) or Term("checkpoints.none")
        raise LabError("error.checkpoints.no_weights", keys=listed, names=", ".join(WEIGHT_KEYS))
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
    for keys, kind in ((extras, "extra"), (unnamed, "unnamed"), (odd, "odd")):
        if keys:
            notes.append(_skipped(keys, kind))
    metadata = _clean_metadata(getattr(obj, "_metadata", None))
    if metadata is not None:
        sd._metadata = metadata
    return sd, notes


# ---------------------------------------------------------------------------------------------------------------
# The report


@dataclass
class LoadReport:
    """What `load_into` did: keys loaded, missing, unexpected, mismatched (key, saved, model shape), fixes.

    `stripped` / `added` are the wrapper prefixes removed from the file's keys / put in front of them;
    `fixes` and `note_terms` say so (and what else was found) as catalogue Terms; `renamed` and `notes` in English.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    note_terms: list[Term] = field(default_factory=list)
    saved_keys: dict[str, str] = field(default_factory=dict)  # model key -> key as stored in the file
    stripped: str = ""
    added: str = ""
    renamed_count: int = 0

    @property
    def ok(self) -> bool:
        """Every model key found with the right shape and nothing left over: loads with strict=True."""
        return bool(self.loaded) and not (self.missing or self.unexpected or self.mismatched)

    @property
    def fixes(self) -> list[Term]:
        out = []
        if self.stripped:
            out.append(Term("checkpoints.fix.stripped", prefix=repr(self.stripped), count=self.renamed_count))
        if self.added:
            out.append(Term("checkpoints.fix.added", prefix=repr(self.added)))
        return out

    @property
    def renamed(self) -> list[str]:
        """The prefix fixes applied, in English ("stripped leading 'module.' from 16 keys")."""
        return [render(term, "en") for term in self.fixes]

    @property
    def notes(self) -> list[str]:
        return [render(term, "en") for term in self.note_terms]

    def problem_term(self) -> Term:
        """"2 missing (a, b); 1 unexpected (c)" as a Term, worded in the page's language."""
        parts = []
        for label, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            if keys:
                parts.append(Term(f"checkpoints.problems.{label}", count=len(keys),
                                  keys=", ".join(cut(k) for k in keys[:3]), more=" ..." if len(keys) > 3 else ""))
        if self.mismatched:
            key, saved, want = self.mismatched[0]
            more = len(self.mismatched) - 1
            parts.append(Term("checkpoints.problems.mismatched", count=len(self.mismatched), key=key,
                              saved=str(tuple(saved)), model=str(tuple(want)),
                              more=Term("checkpoints.problems.more", count=more) if more else ""))  # fmt: skip
        return joined(parts)

    def problems(self) -> str:
        return render(self.problem_term(), "en")

    def to_frame(self) -> pd.DataFrame:
        """One row per key: status, the key in the model and in the file, both shapes."""
        rows = []
        short = functools.partial(cut, limit=200)  # a file may hold 10,000-character keys
        for key in self.loaded:
            rows.append(("loaded", short(key), short(self.saved_keys.get(key, key)), "", ""))
        for key, saved, want in self.mismatched:
            rows.append(("mismatched", short(key), short(self.saved_keys.get(key, key)), str(tuple(saved)),
                         str(tuple(want))))  # fmt: skip
        for key in self.missing:
            rows.append(("missing", short(key), "", "", ""))
        for key in self.unexpected:
            rows.append(("unexpected", "", short(key), "", ""))
        return pd.DataFrame(rows, columns=["status", "model key", "key in file", "saved shape", "model shape"])

    def summary(self) -> pd.DataFrame:
        counts = {"loaded": len(self.loaded), "missing": len(self.missing), "unexpected": len(self.unexpected),
                  "mismatched": len(self.mismatched)}  # fmt: skip
        return pd.DataFrame({"status": list(counts), "keys": list(counts.values())})


def _source_object(source: Any) -> Any:
    """A path is loaded (untrusted); anything else is the loaded object. `load` never returns a str, so an
    uploaded file holding "/etc/passwd" cannot turn into a path here."""
    if isinstance(source, (str, os.PathLike)):
        return load(source)
    return source


def _match(model_sd: Mapping[str, torch.Tensor], sd: Mapping[str, torch.Tensor]) -> tuple[OrderedDict, str, str]:
    """Rename wrapper prefixes so `sd` fits `model_sd`: (renamed copy, prefix stripped, prefix added).

    Identity unless the swap matches more keys.
    """
    saved_prefix = _leading_wrappers(list(sd))
    model_prefix = _leading_wrappers(list(model_sd))
    if saved_prefix == model_prefix:
        return _copy_with_metadata(sd), "", ""
    renamed = strip_prefix(sd, saved_prefix) if saved_prefix else _copy_with_metadata(sd)
    if model_prefix:
        renamed = add_prefix(renamed, model_prefix)
    if sum(k in model_sd for k in renamed) <= sum(k in model_sd for k in sd):
        return _copy_with_metadata(sd), "", ""
    return renamed, saved_prefix, model_prefix


def _compare(model: nn.Module, source: Any) -> tuple[LoadReport, OrderedDict]:
    sd, notes = find_weights(_source_object(source))
    model_sd = model.state_dict()
    fitted, stripped, added = _match(model_sd, sd)
    report = LoadReport(note_terms=notes, stripped=stripped, added=added, renamed_count=len(sd) if stripped else 0)
    for new_key, old_key in zip(fitted, list(sd), strict=True):  # renaming keeps order and count
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
    name = type(unwrap(model)).__name__
    if strict and not report.ok:
        raise LabError("error.checkpoints.does_not_fit", model=name, problems=report.problem_term())
    if not report.loaded:
        raise LabError("error.checkpoints.nothing_fits", model=name, problems=report.problem_term())
    subset = OrderedDict((k, fitted[k]) for k in report.loaded)
    if hasattr(fitted, "_metadata"):
        subset._metadata = fitted._metadata
    with torch.no_grad():
        model.load_state_dict(subset, strict=report.ok)
    return report
