"""A code panel as a Jupyter notebook: a Markdown cell naming the tutorial section, then the code in cells."""

from __future__ import annotations

import ast

import nbformat

__all__ = ["cells", "to_notebook"]


def cells(code: str) -> list[str]:
    """Split a script into notebook cells at its top-level structure: the imports, each class or function, and each
    run of other statements between blank lines. Comments stay with the statement below them."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [code.strip("\n")]
    lines = code.splitlines()
    if not tree.body:
        return [code.strip("\n")] if code.strip() else []
    # a cell starts at a statement that begins a new kind of block, or after a blank line
    starts = []
    previous_kind = None
    for node in tree.body:
        kind = "import" if isinstance(node, (ast.Import, ast.ImportFrom)) else (
            "def" if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else "code")
        first = node.lineno - 1
        if getattr(node, "decorator_list", None):
            first = min(d.lineno for d in node.decorator_list) - 1
        while first > 0 and lines[first - 1].strip().startswith("#"):
            first -= 1
        blank_before = first > 0 and not lines[first - 1].strip()
        if previous_kind is None or kind == "def" or kind != previous_kind or (kind == "code" and blank_before):
            starts.append(first)
        previous_kind = kind
    starts[0] = 0
    bounds = [*starts[1:], len(lines)]
    out = ["\n".join(lines[a:b]).strip("\n") for a, b in zip(starts, bounds, strict=True)]
    return [c for c in out if c.strip()]


def to_notebook(code: str, title: str) -> str:
    """The notebook (nbformat 4, JSON text): `title` (Markdown, e.g. "## 5.1.2 Sequential") then the code's cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title)] + [nbformat.v4.new_code_cell(c) for c in cells(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.validate(nb)
    return nbformat.writes(nb)
