"""Before and after: the top-level children of a model, and which of them the surgery replaced, added or froze."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch.nn as nn

from lab.inspect import count_params
from lab.surgery.core import WithExtraInput, WithExtraOutput

__all__ = ["COLUMNS", "CHANGES", "children_table", "mark_changes", "Changes", "changed_parts", "output_names"]

COLUMNS = ["name", "type", "params", "trainable"]
CHANGES = ("replaced", "new", "frozen", "unfrozen")  # the after table's `change` values ("" when unchanged)


def _rows(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children; a wrapper's `net` is opened one level (net.conv1, ..., net.fc) for comparison."""
    rows = []
    for name, child in model.named_children():
        if isinstance(model, (WithExtraInput, WithExtraOutput)) and name == "net":
            rows += [(f"net.{sub}", grandchild) for sub, grandchild in child.named_children()]
        else:
            rows.append((name, child))
    return rows


def children_table(model: nn.Module) -> pd.DataFrame:
    """One row per top-level child: name, type, params, trainable."""
    records = []
    for name, child in _rows(model):
        total, trainable = count_params(child)
        records.append({"name": name, "type": type(child).__name__, "params": total, "trainable": trainable})
    return pd.DataFrame(records, columns=COLUMNS)


def mark_changes(before: pd.DataFrame, after: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """The after table with a `change` column ("replaced", "new", "frozen", "unfrozen" or ""), and the names of
    the before rows whose counterpart changed (name -> change). Rows match by name, a wrapper's `net.` set aside.

    The before table itself stays as it was: it shows the untouched model.
    """
    after = after.copy()
    by_name = {row["name"]: row for row in before.to_dict("records")}
    changes, before_changes = [], {}
    wrapped = after["name"].str.startswith("net.").any()
    for row in after.to_dict("records"):
        name = row["name"]
        key = name.removeprefix("net.") if wrapped else name
        if wrapped and not name.startswith("net."):
            changes.append("new")  # the wrapper's own head
            continue
        old = by_name.get(key)
        if old is None:
            change = "new"
        elif (old["type"], old["params"]) != (row["type"], row["params"]):
            change = "replaced"
        elif old["trainable"] != row["trainable"]:
            change = "frozen" if row["trainable"] < old["trainable"] else "unfrozen"
        else:
            change = ""
        changes.append(change)
        if change and old is not None:
            before_changes[key] = change
    after["change"] = changes
    return after, before_changes


def output_names(model: nn.Module) -> tuple[str, ...]:
    """What the model's forward returns, by name: ("logits",) or ("logits", "features")."""
    if isinstance(model, WithExtraOutput) or getattr(model, "return_features", False):
        return ("logits", "features")
    return ("logits",)


@dataclass(frozen=True)
class Changes:
    """What the surgery changed, as data for the before | after view (the tab words it)."""

    before: pd.DataFrame  # the untouched model's children (no marks)
    after: pd.DataFrame  # the operated model's children, with `change`
    replaced: tuple[tuple[str, str], ...]  # (name, repr) of the before children that were replaced
    added: tuple[tuple[str, str], ...]  # (name, repr) of the after children that are new or replaced
    retrained: tuple[str, ...]  # after children whose requires_grad changed
    signature: str  # "WithExtraInput: forward(x, extra) -> logits" for a wrapper, else ""


def changed_parts(before: pd.DataFrame, before_children: dict[str, nn.Module], model: nn.Module) -> Changes:
    """Compare the untouched ResNet (its children table and modules) with `model` after the surgery."""
    after, before_changes = mark_changes(before, children_table(model))
    modules = dict(_rows(model))
    replaced = tuple((n, repr(before_children[n])) for n, c in before_changes.items() if c == "replaced")
    added = tuple((n, repr(modules[n])) for n, c in zip(after["name"], after["change"], strict=True)
                  if c in ("replaced", "new"))
    retrained = tuple(n for n, c in zip(after["name"], after["change"], strict=True) if c in ("frozen", "unfrozen"))
    signature = ""
    if isinstance(model, (WithExtraInput, WithExtraOutput)):
        inputs = "x, extra" if isinstance(model, WithExtraInput) else "x"
        signature = f"{type(model).__name__}: forward({inputs}) -> {', '.join(output_names(model))}"
    return Changes(before, after, replaced, added, retrained, signature)
