"""Leaving the lab's input checks out of its own source (for `lab.train.standalone.bundle`).

`Stripper(obj, scope)` reads one function or class and finds what to drop: a branch that only raises `LabError`, a
bare `raise LabError(...)`, a call to a check as a statement (as a value it becomes the value it checks), an
assignment only those checks read. `Edits` applies the drops to the source text, line for line.
"""

from __future__ import annotations

import ast
import inspect
import re
import types
from collections.abc import Iterable
from typing import Any

__all__ = ["BundleError", "Stripper", "is_lab", "plain", "resolve", "walk_kept"]

# _check, _check_config, check_params, _validated, validate_params (but not `validate`, a loop's validation)
_CHECK_NAME = re.compile(r"^_?(check(_\w+)?|validated|validate_\w+)$")
_ERROR_CHECKS = frozenset({"number", "choice", "text", "flag"})  # lab.errors' one input check
_CHECKED_ARGUMENT = ("value", "params")  # what a check returns when it accepts


class BundleError(RuntimeError):
    """The lab's own source cannot be printed standalone (a bug of the lab, never of the visitor's input)."""



# ---------------------------------------------------------------------------------------------------------------
# What a name in the lab's source is


def is_lab(value: Any) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module == "lab" or module.startswith("lab.")


def _error_class(value: Any) -> bool:
    from lab.errors import LabError

    return isinstance(value, type) and issubclass(value, LabError)


def _check_function(value: Any, name: str) -> bool:
    if not callable(value) or isinstance(value, type):
        return False
    module = getattr(value, "__module__", "") or ""
    if module == "lab.errors":
        return getattr(value, "__name__", name) in _ERROR_CHECKS
    return is_lab(value) and bool(_CHECK_NAME.match(getattr(value, "__name__", name)))


def plain(obj: Any) -> Any:
    """The class printed for a lab class: the plain class it specialises with the lab's checks (a base class of the
    same name, as `lab.unet.UNet` specialises `lab.unet.blocks.UNet`), else the object itself."""
    if inspect.isclass(obj):
        for base in obj.__mro__[1:]:
            if base.__name__ == obj.__name__ and is_lab(base):
                return base
    return obj


def resolve(node: ast.expr, scope: dict[str, Any]) -> Any:
    """The object a `Name` or `module.attr` expression stands for in `scope`, or None."""
    if isinstance(node, ast.Name):
        return scope.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = scope.get(node.value.id)
        return getattr(owner, node.attr, None) if isinstance(owner, types.ModuleType) else None
    return None


# ---------------------------------------------------------------------------------------------------------------
# Leaving out the checks: edits on the source lines


class Edits:
    """Line edits on a dedented source: deletions, dedents and replaced segments, applied in one go."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines = source.splitlines()
        self.deleted: set[int] = set()  # 0-based line numbers
        self.dedents: dict[int, int] = {}
        self.segments: list[tuple[int, int, int, int, str]] = []  # (line0, col0, line1, col1, text), 1-based lines

    def delete(self, first: int, last: int) -> None:
        self.deleted.update(range(first - 1, last))

    def dedent(self, first: int, last: int, by: int) -> None:
        for i in range(first - 1, last):
            self.dedents[i] = by

    def replace(self, node: ast.AST, text: str) -> None:
        self.segments.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, text))

    def apply(self) -> str:
        lines = list(self.lines)
        for l0, c0, l1, c1, text in sorted(self.segments, reverse=True):
            head, tail = lines[l0 - 1][:c0], lines[l1 - 1][c1:]
            lines[l0 - 1] = head + text + tail
            for i in range(l0, l1):
                self.deleted.add(i)
        out = []
        for i, line in enumerate(lines):
            if i in self.deleted:
                continue
            by = self.dedents.get(i, 0)
            out.append(line[by:] if line[:by].strip() == "" else line)
        return "\n".join(out) + "\n"


class Stripper:
    """Finds the checks in one object's source and records the edits that leave them out."""

    def __init__(self, source: str, scope: dict[str, Any]) -> None:
        self.source, self.scope = source, scope
        self.edits = Edits(source)
        self.dropped: set[int] = set()  # id() of statements left out

    # what a statement is
    def _raises_error(self, stmt: ast.stmt) -> bool:
        if not isinstance(stmt, ast.Raise) or stmt.exc is None:
            return False
        target = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return _error_class(resolve(target, self.scope))

    def _check_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        target = node.func
        name = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
        return _check_function(resolve(target, self.scope), name)

    def _only_checks(self, body: list[ast.stmt]) -> bool:
        return all(self._raises_error(s) or (isinstance(s, ast.Expr) and self._check_call(s.value)) for s in body)

    def _drop(self, stmt: ast.stmt) -> None:
        self.dropped.add(id(stmt))
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        self.edits.delete(first, stmt.end_lineno)

    # walking
    def body(self, statements: list[ast.stmt]) -> None:
        for stmt in statements:
            self.statement(stmt)

    def statement(self, stmt: ast.stmt) -> None:
        if self._raises_error(stmt) or (isinstance(stmt, ast.Expr) and self._check_call(stmt.value)):
            self._drop(stmt)
            return
        if isinstance(stmt, ast.If):
            self._if(stmt)
            return
        compound = False
        for field in ("body", "orelse", "finalbody"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                compound = True
                self.body(inner)
        for handler in getattr(stmt, "handlers", []):
            self.body(handler.body)
        if not compound:  # a simple statement: a check inside it becomes the value it checks
            self._checked_values(stmt)

    def _checked_values(self, stmt: ast.stmt) -> None:
        """`x = check(field, value, ...)` -> `x = value`; a statement reduced to `x = x` goes."""
        for node in ast.walk(stmt):
            if not self._check_call(node):
                continue
            argument = self._checked_argument(node)
            text = ast.get_source_segment(self.source, argument)
            if isinstance(stmt, ast.Assign) and stmt.value is node and len(stmt.targets) == 1:
                target = ast.get_source_segment(self.source, stmt.targets[0])
                if target == text:
                    self._drop(stmt)
                    return
            self.edits.replace(node, text)
            return  # one per statement: nested checks inside a check's arguments are left with it

    def _checked_argument(self, call: ast.Call) -> ast.expr:
        function = resolve(call.func, self.scope)
        try:
            names = list(inspect.signature(function).parameters)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"cannot read the signature of check {function!r}") from exc
        bound = dict(zip(names, call.args, strict=False)) | {k.arg: k.value for k in call.keywords if k.arg}
        for name in _CHECKED_ARGUMENT:
            if name in bound and not isinstance(bound[name], ast.Starred):
                return bound[name]
        raise BundleError(f"check {getattr(function, '__name__', function)} has no value or params argument")

    def _if(self, node: ast.If) -> None:
        lines = self.edits.lines
        branches: list[tuple[str, int, list[ast.stmt]]] = [("if", node.lineno, node.body)]
        current = node
        while current.orelse:
            nested = current.orelse[0]
            if len(current.orelse) == 1 and isinstance(nested, ast.If) and \
                    lines[nested.lineno - 1].lstrip().startswith("elif"):  # fmt: skip
                branches.append(("elif", nested.lineno, nested.body))
                current = nested
                continue
            header = next(i for i in range(nested.lineno - 1, current.lineno - 1, -1)
                          if lines[i - 1].lstrip().startswith("else"))  # fmt: skip
            branches.append(("else", header, current.orelse))
            break
        ends = [b[1] - 1 for b in branches[1:]] + [node.end_lineno]
        keep = [not self._only_checks(body) for _, _, body in branches]
        if not any(keep):
            self._drop(node)
            return
        for (_, first, _), last, kept in zip(branches, ends, keep, strict=True):
            if not kept:
                self.edits.delete(first, last)
        if not keep[0]:  # the first branch went: the next kept one leads
            index = keep.index(True)
            kind, first, body = branches[index]
            line = lines[first - 1]
            if kind == "elif":
                self.edits.segments.append((first, line.index("elif"), first, line.index("elif") + 4, "if"))
            else:  # only the else branch is left: its body runs unconditionally
                self.edits.delete(first, first)
                self.edits.dedent(body[0].lineno, ends[index], body[0].col_offset - node.col_offset)
        for (_, _, body), kept in zip(branches, keep, strict=True):
            if kept:
                self.body(body)

    def dead_assignments(self, tree: ast.Module) -> None:
        """Assignments whose name only left-out statements read."""
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            read_before, read_after = set(), set()
            for node in walk_kept(function, set()):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    read_before.add(node.id)
            for node in walk_kept(function, self.dropped):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    read_after.add(node.id)
            for node in walk_kept(function, self.dropped):
                if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                        and node.targets[0].id in read_before - read_after and isinstance(node.value, ast.Call)
                        and is_lab(resolve(node.value.func, self.scope))):  # fmt: skip
                    self._drop(node)


def walk_kept(node: ast.AST, dropped: set[int]) -> Iterable[ast.AST]:
    stack = [node]
    while stack:
        item = stack.pop()
        if id(item) in dropped:
            continue
        yield item
        stack.extend(ast.iter_child_nodes(item))


