"""Layers text -> `LayerSpec`s, read with `ast` and never run.

One layer per line (`fc1 = nn.Linear(784, 256)`, `nn.ReLU()`, `Linear(256, 10)`, `self.fc1 = ...`, `nn.ReLU(),`,
`('fc1', nn.Linear(784, 256)),`), or the tutorial's listings pasted as printed (5.1.2-5.1.4):

    net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), ...)          # over several lines too
    net2 = nn.Sequential(collections.OrderedDict([('fc1', nn.Linear(784, 256)), ...]))
    net = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()]); net.append(nn.Linear(256, 10)); net.extend([...])
    net = nn.ModuleDict({'linear': nn.Linear(784, 256), ...}); net['output'] = nn.Linear(256, 10)

`import` lines and `print(...)` lines are skipped. Every other name, call or attribute is refused with its line.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Sequence

from torch import nn

from lab.compose.arguments import check_arguments, literal, snippet
from lab.compose.layers import (
    FORBIDDEN_KWARGS,
    LAYERS,
    MAX_INT_ARGUMENT,
    MAX_LAYERS,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
    LayerSpec,
)
from lab.compose.nets import DictNet, ListNet
from lab.errors import LabError, Term, shown
from lab.inspect import check_input_shapes

__all__ = ["parse_specs", "layer_names", "parse_shape", "CONTAINERS"]

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")  # the tutorial's containers, read as lists of layers
_NN = ("nn", "torch.nn")
_Entry = tuple[str | None, ast.expr]  # (name or None, the layer's call node)


def _class_name(func: ast.expr, prefixes: tuple[str, ...]) -> str | None:
    """`nn.X` / `torch.nn.X` (or `collections.X`) / bare `X` -> "X"; anything else -> None."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute) and snippet(func.value) in prefixes:
        return func.attr
    return None


def _container(node: ast.expr) -> str | None:
    """The container a call builds ("Sequential", "ModuleList", "ModuleDict"), else None."""
    if isinstance(node, ast.Call):
        name = _class_name(node.func, _NN)
        return name if name in CONTAINERS else None
    return None


def _not_layer(node: ast.AST) -> LabError:
    return LabError("error.compose.not_layer", line=node.lineno, code=snippet(node))


def _pairs(node: ast.expr) -> list[_Entry]:
    """`OrderedDict([('fc1', layer), ...])`, `collections.OrderedDict(...)`, `{'fc1': layer}` or `[('fc1', layer)]`."""
    if isinstance(node, ast.Call) and _class_name(node.func, ("collections",)) in ("OrderedDict", "dict") \
            and len(node.args) == 1 and not node.keywords:
        node = node.args[0]
    if isinstance(node, ast.Dict):
        if len(node.keys) > MAX_LAYERS:
            raise LabError("error.compose.too_many", count=len(node.keys), limit=MAX_LAYERS)
        if not all(isinstance(k, ast.Constant) and isinstance(k.value, str) for k in node.keys):
            raise _not_layer(node)
        return [(k.value, v) for k, v in zip(node.keys, node.values, strict=True)]
    if isinstance(node, (ast.List, ast.Tuple)):
        if len(node.elts) > MAX_LAYERS:
            raise LabError("error.compose.too_many", count=len(node.elts), limit=MAX_LAYERS)
        entries = []
        for pair in node.elts:
            if not (isinstance(pair, ast.Tuple) and len(pair.elts) == 2 and isinstance(pair.elts[0], ast.Constant)
                    and isinstance(pair.elts[0].value, str)):  # fmt: skip
                raise _not_layer(pair)
            entries.append((pair.elts[0].value, pair.elts[1]))
        return entries
    raise _not_layer(node)


def _items(node: ast.expr) -> list[_Entry]:
    """The layers a list literal holds, unnamed: `[nn.Linear(784, 256), nn.ReLU()]`."""
    if not isinstance(node, (ast.List, ast.Tuple)):
        raise _not_layer(node)
    if len(node.elts) > MAX_LAYERS:
        raise LabError("error.compose.too_many", count=len(node.elts), limit=MAX_LAYERS)
    return [(None, e) for e in node.elts]


def _contents(call: ast.Call, kind: str) -> list[_Entry]:
    """What a container call holds: Sequential(*layers) or Sequential(OrderedDict), ModuleList([...]),
    ModuleDict({...} or OrderedDict or pairs)."""
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        raise _not_layer(call)
    if kind == "Sequential":
        if len(call.args) == 1 and not isinstance(call.args[0], ast.Call) or len(call.args) == 1 and \
                _class_name(call.args[0].func, ("collections",)) == "OrderedDict":  # fmt: skip
            return _pairs(call.args[0])
        if len(call.args) > MAX_LAYERS:
            raise LabError("error.compose.too_many", count=len(call.args), limit=MAX_LAYERS)
        return [(None, a) for a in call.args]
    if not call.args:
        return []
    if len(call.args) > 1:
        raise _not_layer(call)
    return _items(call.args[0]) if kind == "ModuleList" else _pairs(call.args[0])


def _target_name(target: ast.expr) -> str | None:
    """`fc1` or `self.fc1` -> its name; None for anything else."""
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
        return target.attr  # pasted from an __init__: self.fc1 = nn.Linear(...)
    return None


def _entries(stmt: ast.stmt, containers: dict[str, str]) -> list[_Entry]:
    """The layers one statement adds ([] for an import or a print line); anything else is refused."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return []
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
        name = _target_name(target)
        if name is not None and (kind := _container(value)) is not None:
            containers[name] = kind  # net = nn.ModuleList([...]): later lines may append to it
            return _contents(value, kind)
        if name is not None:
            return [(name, value)]
        if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and \
                containers.get(target.value.id) == "ModuleDict" and isinstance(target.slice, ast.Constant) and \
                isinstance(target.slice.value, str):  # fmt: skip
            return [(target.slice.value, value)]  # net['output'] = nn.Linear(256, 10)
        raise _not_layer(stmt)
    if not isinstance(stmt, ast.Expr):
        raise _not_layer(stmt)
    value = stmt.value
    if isinstance(value, ast.Call):
        if isinstance(value.func, ast.Name) and value.func.id == "print":
            return []  # print(net), print(net[-1]): the tab prints the model itself
        if (kind := _container(value)) is not None:
            return _contents(value, kind)
        func = value.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in containers:
            kind = containers[func.value.id]
            if func.attr == "append" and kind == "ModuleList" and len(value.args) == 1 and not value.keywords:
                return [(None, value.args[0])]
            if func.attr == "extend" and kind == "ModuleList" and len(value.args) == 1 and not value.keywords:
                return _items(value.args[0])
            raise _not_layer(stmt)
    if isinstance(value, (ast.Name, ast.Subscript, ast.Attribute)) and _root(value) in containers:
        return []  # `net[0]`, `net.output`: a notebook line that only shows a layer
    if isinstance(value, ast.Tuple) and len(value.elts) == 1:  # `nn.ReLU(),` pasted from a Sequential(...)
        return [(None, value.elts[0])]
    if isinstance(value, ast.Tuple) and len(value.elts) == 2 and isinstance(value.elts[0], ast.Constant) and \
            isinstance(value.elts[0].value, str):  # fmt: skip
        return [(value.elts[0].value, value.elts[1])]  # ('fc1', nn.Linear(784, 256)) pasted from an OrderedDict
    return [(None, value)]


def _root(node: ast.expr) -> str | None:
    """`net` for `net`, `net[0]`, `net.output`, `net['linear']`."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _layer_class(func: ast.expr, line: int) -> type[nn.Module]:
    """`nn.X`, `torch.nn.X` or bare `X`, with X in the allow-list."""
    name = _class_name(func, _NN)
    if name not in LAYERS:
        raise LabError("error.compose.not_allowed", line=line, code=snippet(func, limit=40),
                       some="nn." + ", nn.".join(sorted(LAYERS)[:8]), count=len(LAYERS))  # fmt: skip
    return LAYERS[name]


def _check_name(name: str, line: int) -> str:
    """A layer name must work as an attribute, an OrderedDict key and a ModuleDict key."""
    # instances, not classes: `training` and friends are set in __init__
    probes = (nn.Sequential(), nn.ModuleDict(), nn.ModuleList(), ListNet([]), DictNet({}))
    reserved = any(hasattr(p, name) for p in probes)
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or len(name) > MAX_NAME_CHARS \
            or reserved:  # fmt: skip
        why = Term("error.compose.name.reserved" if reserved else "error.compose.name.unusable")
        raise LabError("error.compose.bad_name", line=line, name=shown(name), why=why)
    return name


_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # Python's own line ends


def _tree(text: str) -> ast.Module:
    """The text's syntax tree; every way it can fail is a sentence naming the line."""
    if isinstance(text, str):
        text = text.removeprefix("\ufeff")  # a byte-order mark from a pasted file, which Python ignores in files too
    if not isinstance(text, str) or not text.strip():
        raise LabError("error.compose.empty")
    if len(text) > MAX_TEXT_CHARS:
        raise LabError("error.compose.too_long", count=len(text), limit=MAX_TEXT_CHARS)
    # ast.parse answers a null byte without a line number ("Line None") and a lone surrogate (half of a UTF-16
    # pair, which a JSON client can send) with a UnicodeEncodeError: both get a sentence naming the line
    bad_char = next((i for i, c in enumerate(text) if c == "\x00" or "\ud800" <= c <= "\udfff"), None)
    if bad_char is not None:
        number = len(_LINE_BREAK.split(text[:bad_char]))
        bad_line = _LINE_BREAK.split(text)[number - 1]
        what = Term("error.compose.null_byte") if text[bad_char] == "\x00" else \
            Term("error.compose.surrogate", code=f"U+{ord(text[bad_char]):04X}")  # fmt: skip
        raise LabError("error.compose.bad_char", line=number, text=shown(bad_line), what=what)
    try:
        return ast.parse(text, mode="exec")
    except SyntaxError as exc:
        where = Term("error.compose.where.line", line=exc.lineno) if exc.lineno else Term("error.compose.where.text")
        bad = (exc.text or "").strip()
        if "digits" in str(exc.msg) and "limit" in str(exc.msg):  # Python's int-string limit, worded for a person
            raise LabError("error.compose.big_digits", where=where, bad=bad[:40], low=-MAX_INT_ARGUMENT,
                           high=MAX_INT_ARGUMENT) from None  # fmt: skip
        raise LabError("error.compose.syntax", where=where, reason=str(exc.msg), bad=bad[:60]) from None
    except (RecursionError, MemoryError, ValueError):  # absurd nesting
        raise LabError("error.compose.nested") from None


def parse_specs(text: str) -> list[LayerSpec]:
    """Layers text -> specs, checked for syntax, allow-list, literals, names and the layer count (nothing built)."""
    tree = _tree(text)
    if len(tree.body) > MAX_LAYERS:
        raise LabError("error.compose.too_many", count=len(tree.body), limit=MAX_LAYERS)
    entries: list[_Entry] = []
    containers: dict[str, str] = {}
    for stmt in tree.body:
        entries += _entries(stmt, containers)
        if len(entries) > MAX_LAYERS:
            raise LabError("error.compose.too_many", count=len(entries), limit=MAX_LAYERS)
    if not entries:
        raise LabError("error.compose.no_layers")
    specs: list[LayerSpec] = []
    seen: dict[str, int] = {}
    for name, call in entries:
        line = call.lineno
        if not isinstance(call, ast.Call):
            raise LabError("error.compose.not_call", line=line, code=snippet(call))
        cls = _layer_class(call.func, line)
        where = f"nn.{cls.__name__}"
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            raise LabError("error.compose.starred", line=line, where=where)
        args = tuple(literal(a, line, where) for a in call.args)
        kwargs = {}
        for kw in call.keywords:
            if kw.arg in FORBIDDEN_KWARGS:
                raise LabError("error.compose.forbidden_kwarg", line=line, name=kw.arg, where=where)
            kwargs[kw.arg] = literal(kw.value, line, where)
        check_arguments(cls, args, kwargs, line)
        if name is not None:
            _check_name(name, line)
            if name in seen:
                raise LabError("error.compose.duplicate_name", line=line, name=shown(name), first=seen[name])
            seen[name] = line
        specs.append(LayerSpec(name, cls, args, kwargs, line))
    return specs


def layer_names(specs: Sequence[LayerSpec]) -> list[str]:
    """Names for the dict styles: the typed name, else the type in lower case plus a per-type count (relu1, relu2)."""
    taken = {s.name for s in specs if s.name}
    counts: dict[str, int] = {}
    names = []
    for spec in specs:
        if spec.name:
            names.append(spec.name)
            continue
        base = spec.cls.__name__.lower()
        while True:
            counts[base] = counts.get(base, 0) + 1
            candidate = f"{base}{counts[base]}"
            if candidate not in taken:
                break
        taken.add(candidate)
        names.append(candidate)
    return names


_SHAPE_SPLIT = re.compile(r"\s*(?:x|×|\*|,)\s*|\s+")


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """`"1x784"`, `"1, 784"`, `"(1, 784)"` or `"1 3 32 32"` -> a shape tuple; sizes positive and bounded."""
    if text is None or not isinstance(text, (str, Sequence)):  # an API client may send null
        raise LabError("error.compose.shape.not_shape", value=shown(text))
    if isinstance(text, str):
        body = text.strip().strip("()[]").strip()
        parts = [p for p in _SHAPE_SPLIT.split(body) if p]
        if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise LabError("error.compose.shape.not_numbers", value=shown(text))
        if any(len(p.lstrip("+-")) > 12 for p in parts):  # before int(): Python refuses over 4,300 digits
            raise LabError("error.compose.shape.digits", value=shown(text))
        sizes = [int(p) for p in parts]
    else:
        sizes = list(text)
    return check_input_shapes([tuple(sizes)])[0]
