"""Code panels from the code the lab runs: the source of classes and functions, never a copy kept in a string."""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

__all__ = ["source", "body"]


def source(*objects: Any) -> str:
    """The source of each class or function, dedented, separated by two blank lines (as a module lays them out)."""
    return "\n\n\n".join(textwrap.dedent(inspect.getsource(obj)).rstrip() for obj in objects) + "\n"


def body(function: Any, *, keep_return: bool = True) -> str:
    """The statements inside a function, dedented: the snippet a pitfall shows for code it runs as a function.

    The docstring is dropped; with `keep_return=False` a final `return x` becomes the bare expression `x`.
    """
    src = textwrap.dedent(inspect.getsource(function))
    tree = ast.parse(src)
    fn = tree.body[0]
    assert isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)), "body() takes a function"
    statements = fn.body
    if statements and isinstance(statements[0], ast.Expr) and isinstance(getattr(statements[0], "value", None),
                                                                             ast.Constant):
        statements = statements[1:]  # the docstring
    lines = src.splitlines()
    start = statements[0].lineno - 1
    # keep comments right above the first statement
    while start > fn.lineno and lines[start - 1].strip().startswith("#"):
        start -= 1
    text = textwrap.dedent("\n".join(lines[start: statements[-1].end_lineno]))
    if not keep_return:
        last = text.splitlines()
        for i in range(len(last) - 1, -1, -1):
            if last[i].startswith("return "):
                last[i] = last[i][len("return "):]
                break
        text = "\n".join(last)
    return text.rstrip() + "\n"
