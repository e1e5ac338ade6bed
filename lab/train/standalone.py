"""Standalone source: the classes and functions the lab runs, printed so they run without the lab.

`bundle(*objects)` gives the source of each object and of every module-level helper it uses (found by name in its
module, recursively, dependencies first), the imports and constants they need, minus the lab's input checks:

- a branch that only raises `LabError` (`if x.dim() != 4: raise LabError(...)`) is left out, and so is a bare
  `raise LabError(...)`; an `if` whose first branch goes keeps its `elif` as an `if`;
- a call to a check (`lab.errors.number`, `choice`, `text`, `flag`, or a lab function named `check_*`,
  `_check*`, `_validated` or `validate_*`) is left out as a statement, and as a value becomes the value it checks
  (its `value` or `params` argument);
- an assignment whose name only those checks read is left out (`params = _param_count(...)`);
- a lab class that specialises a plain class of the same name with checks (`lab.unet.UNet` of
  `lab.unet.blocks.UNet`) is printed as that plain class.

The printed code is the lab's own, line for line, comments included: only whole statements and check calls go
(`lab.train.strip` finds them).
Tests run every panel built from it in an empty folder with `python -I`, so a helper missed here is a NameError
there, not a silent difference.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import inspect
import re
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Any

from lab.train.strip import BundleError, Stripper, is_lab, plain

__all__ = ["Bundle", "bundle", "BundleError", "sorted_imports", "plain"]

_CONSTANTS = (bool, int, float, str, type(None))


@dataclass(frozen=True)
class Bundle:
    """Import lines, constant assignments and definitions (dependencies first), ready to be joined into a script."""

    imports: tuple[str, ...]  # one import per line, unsorted groups (see `sorted_imports`)
    constants: tuple[str, ...]
    definitions: tuple[str, ...]

    def text(self) -> str:
        parts = ["\n".join(sorted_imports(set(self.imports)))]
        if self.constants:
            parts.append("\n".join(self.constants))
        return "\n\n".join([*parts, "\n\n\n".join(self.definitions)]) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Free names: what a definition needs from its module


def _annotations(tree: ast.AST) -> set[int]:
    """id() of every node inside an annotation (the script starts with `from __future__ import annotations`)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        parts = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(node.returns)
            args = node.args
            parts += [a.annotation for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
            parts += [a.annotation for a in (args.vararg, args.kwarg) if a is not None]
        elif isinstance(node, ast.AnnAssign):
            parts.append(node.annotation)
        for part in parts:
            if part is not None:
                inside.update(id(n) for n in ast.walk(part))
    return inside


def _free_names(tree: ast.Module) -> list[str]:
    skip = _annotations(tree)
    bound, loaded = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in skip:
            if isinstance(node.ctx, ast.Load):
                loaded.append(node.id)
            else:
                bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not tree.body[0]:
            bound.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    own = tree.body[0].name if tree.body and hasattr(tree.body[0], "name") else None
    seen, out = set(), []
    for name in loaded:
        if name not in bound and name != own and not hasattr(builtins, name) and name not in seen:
            seen.add(name)
            out.append(name)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Bundling


@functools.lru_cache(maxsize=256)
def _stripped(obj: Any) -> tuple[str, tuple[str, ...], int]:
    """(source without the checks, the free names it uses, its first line), for one class or function of the lab."""
    lines, first = inspect.getsourcelines(obj)
    source = textwrap.dedent("".join(lines))
    module = sys.modules[obj.__module__]
    scope = vars(module)
    tree = ast.parse(source)
    stripper = Stripper(source, scope)
    stripper.body(tree.body)
    stripper.dead_assignments(tree)
    text = stripper.edits.apply()
    try:
        new_tree = ast.parse(text)
    except SyntaxError as exc:
        raise BundleError(f"leaving the checks out of {obj.__qualname__} broke its source: {exc}") from exc
    text = re.sub(r"  # fmt: (skip|off|on)$", "", text, flags=re.MULTILINE)  # formatter notes are no lesson
    return text.rstrip() + "\n", tuple(_free_names(new_tree)), first


def _import_line(name: str, value: Any) -> str:
    if isinstance(value, types.ModuleType):
        module = value.__name__
        if is_lab(value) or module.startswith("lab."):
            raise BundleError(f"the code uses the lab module {module} as {name!r}")
        if module == name:
            return f"import {module}"
        parent, _, last = module.rpartition(".")
        if last == name and parent and not parent.startswith("torch"):  # from PIL import Image
            return f"from {parent} import {name}"
        return f"import {module} as {name}"  # import torch.nn as nn, import numpy as np
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or "." in qualname:
        raise BundleError(f"cannot import {name!r} ({value!r}) in a standalone script")
    parts = module.split(".")
    for depth in range(1, len(parts) + 1):  # the shortest public path: torch.utils.data, not its .dataloader
        candidate = ".".join(parts[:depth])
        try:
            found = getattr(importlib.import_module(candidate), qualname)
        except (ImportError, AttributeError):
            continue
        if found is value:
            return f"from {candidate} import {qualname}" + ("" if qualname == name else f" as {name}")
    raise BundleError(f"{name!r} is not importable as {module}.{qualname}")


def _constant(value: Any) -> bool:
    if isinstance(value, _CONSTANTS):
        return True
    if isinstance(value, (tuple, frozenset)):
        return all(_constant(v) for v in value)
    import torch

    return isinstance(value, (torch.dtype, torch.memory_format))


@functools.lru_cache(maxsize=64)
def bundle(*objects: Any, order: tuple[str, ...] = ()) -> Bundle:
    """The standalone source of `objects` (classes and functions of the lab) and everything they use.

    Definitions come grouped by module in `order` (module name prefixes; others after them), each group in its
    module's own order, so the script reads like the lab: blocks, model, loss, data, loop. Cached: the lab's
    source does not change while it runs.
    """
    imports: set[str] = {"from __future__ import annotations"}
    constants: dict[str, str] = {}
    definitions: list[tuple[int, int, str]] = []
    done: set[int] = set()

    def visit(obj: Any, path: tuple[str, ...]) -> None:
        obj = plain(obj)
        if id(obj) in done:
            return
        done.add(id(obj))
        text, names, first = _stripped(obj)
        scope = vars(sys.modules[obj.__module__])
        for name in names:
            if name not in scope:
                raise BundleError(f"{obj.__qualname__} uses {name!r}, which its module does not define")
            value = scope[name]
            if is_lab(value) and (inspect.isclass(value) or inspect.isfunction(value)
                                   or hasattr(value, "__wrapped__")):
                if getattr(value, "__name__", name) != name:
                    raise BundleError(f"{obj.__qualname__} uses {value.__qualname__} under the name {name!r}")
                visit(value, (*path, name))
            elif _constant(value):
                if isinstance(value, (_CONSTANTS + (tuple, frozenset))):
                    constants[name] = f"{name} = {value!r}"
                else:  # a torch dtype or memory format: its repr is `torch.<name>`
                    imports.add("import torch")
                    constants[name] = f"{name} = {value!r}"
            else:
                imports.add(_import_line(name, value))
        rank = next((i for i, prefix in enumerate(order) if obj.__module__.startswith(prefix)), len(order))
        definitions.append((rank, first, text.rstrip()))

    for obj in objects:
        visit(obj, ())
    texts = tuple(text for _, _, text in sorted(definitions, key=lambda d: d[:2]))
    return Bundle(tuple(sorted(imports)), tuple(constants.values()), texts)


def sorted_imports(lines: set[str]) -> list[str]:
    """`from __future__` first, then the standard library, then the rest (torch, numpy, PIL, ...), each group's
    `import x` lines before its `from x import y` lines (merged per module), with a blank line between groups."""
    future = sorted(line for line in lines if line.startswith("from __future__"))
    groups: list[list[str]] = [[], []]
    froms: dict[str, list[str]] = {}
    for line in lines:
        if line in future:
            continue
        if line.startswith("from "):
            module, _, names = line[len("from "):].partition(" import ")
            froms.setdefault(module, []).extend(n.strip() for n in names.split(","))
        else:
            module = line.split()[1]
            groups[_third_party(module)].append(line)
    merged = [[], []]
    for module, names in froms.items():
        merged[_third_party(module)].append(f"from {module} import {', '.join(sorted(set(names)))}")
    out = [*future]
    for plain_lines, from_lines in zip(groups, merged, strict=True):
        block = sorted(plain_lines) + sorted(from_lines)
        if block:
            out += ([""] if out else []) + block
    return out


def _third_party(module: str) -> int:
    return 0 if module.split(".")[0] in sys.stdlib_module_names else 1
