"""A layer's arguments, read from the text without running it: literals, literal arithmetic, and each value
checked against the constructor's type hints (issue 12: `nn.Linear(1e308, 3)` is refused in words, not in C++).

Accepted: numbers, strings, True/False/None, tuples and lists of them, and arithmetic on numbers with `+ - * / //
%` (`nn.Linear(16 * 5 * 5, 120)`). Every intermediate whole number is bounded, so no arithmetic can grow huge;
`**` is refused (one line of it could ask for a number with millions of digits).
"""

from __future__ import annotations

import ast
import functools
import inspect as pyinspect
import math
import operator
import types
import typing
from typing import Any

import torch
from torch import nn

from lab.compose.layers import MAX_INT_ARGUMENT
from lab.errors import LabError, Term, shown

__all__ = ["literal", "check_arguments", "snippet"]

LiteralValue = int | float | bool | str | None | tuple | list

_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
              ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}  # fmt: skip
_ARITHMETIC_BOUND = 2**63  # any whole number met on the way: products of two such numbers stay cheap
_MAX_DEPTH = 200  # nested tuples and arithmetic (two frames a level: well inside Python's limit)


def snippet(node: ast.AST, limit: int = 60) -> str:
    """The source of a node for an error message, shortened (and safe on absurdly nested input)."""
    try:
        text = ast.unparse(node)
    except (RecursionError, ValueError):  # ValueError: an int too long for str() (a 5,000-digit hex literal)
        return type(node).__name__
    text = " ".join(text.split()) if "\n" in text else text  # one line: a message is one sentence
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number_text(value: int) -> str | Term:
    """An int for a message, without str() on a huge one (Python refuses ints over 4,300 digits)."""
    if abs(value) < 10**30:
        return f"{value:,}"
    return Term("error.compose.digits", digits=int(value.bit_length() * math.log10(2)) + 1)


def _too_large(value: Any) -> int | None:
    """The first whole number in a literal (or nested tuple/list) beyond MAX_INT_ARGUMENT, else None."""
    if isinstance(value, (tuple, list)):
        return next((bad for v in value if (bad := _too_large(v)) is not None), None)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT_ARGUMENT:
        return value
    return None


class _NotLiteral(Exception):
    """Raised inside `_evaluate`: the node is not a literal or literal arithmetic."""


def _evaluate(node: ast.expr, line: int, where: str, depth: int = 0) -> LiteralValue:
    """A literal, a tuple/list of them, or arithmetic on numbers, computed with every whole number bounded."""
    if depth > _MAX_DEPTH:
        raise _NotLiteral
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_evaluate(e, line, where, depth + 1) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand, line, where, depth)
        return -value if isinstance(node.op, ast.USub) else +value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _number(node.left, line, where, depth), _number(node.right, line, where, depth)
        try:
            result = _OPERATORS[type(node.op)](left, right)
        except ZeroDivisionError:
            raise LabError("error.compose.zero_division", line=line, code=snippet(node), where=where) from None
        except OverflowError:  # a float beyond 1.8e308
            result = math.inf
        _bounded(result, line, where)
        return result
    raise _NotLiteral


def _number(node: ast.expr, line: int, where: str, depth: int) -> int | float:
    value = _evaluate(node, line, where, depth + 1)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _NotLiteral  # arithmetic on strings, tuples or True: not what a layer argument means
    _bounded(value, line, where)
    return value


def _bounded(value: Any, line: int, where: str) -> None:
    if isinstance(value, int) and abs(value) > _ARITHMETIC_BOUND:
        raise LabError("error.compose.out_of_range", line=line, where=where, number=_number_text(value),
                       low=-MAX_INT_ARGUMENT, high=MAX_INT_ARGUMENT)  # fmt: skip


def literal(node: ast.expr, line: int, where: str) -> LiteralValue:
    """A literal argument value: numbers (and arithmetic on them), strings, True/False/None, tuples/lists of those."""
    try:
        value = _evaluate(node, line, where)
    except (_NotLiteral, RecursionError, MemoryError):
        raise LabError("error.compose.not_literal", line=line, code=snippet(node), where=where) from None

    def ok(v: Any) -> bool:
        if isinstance(v, (tuple, list)):
            return len(v) <= 8 and all(ok(x) for x in v)
        if isinstance(v, str):
            return len(v) <= 40
        if isinstance(v, float):
            return math.isfinite(v)
        return v is None or isinstance(v, (bool, int))

    if not ok(value):
        raise LabError("error.compose.not_accepted", line=line, code=snippet(node), where=where)
    if (big := _too_large(value)) is not None:  # beyond int64 torch answers in C++ ("Overflow when unpacking long")
        raise LabError("error.compose.out_of_range", line=line, where=where, number=_number_text(big),
                       low=-MAX_INT_ARGUMENT, high=MAX_INT_ARGUMENT)  # fmt: skip
    return value


# ---------------------------------------------------------------------------------------------------------------
# each value against the constructor's type hints


@functools.cache
def _init_hints(cls: type[nn.Module]) -> tuple[pyinspect.Signature, dict[str, Any]] | None:
    """The constructor's signature and type hints (torch.nn annotates them), or None where they cannot be read."""
    try:
        return pyinspect.signature(cls.__init__), typing.get_type_hints(cls.__init__)
    except (TypeError, ValueError, NameError):
        return None


def _element_hint(hint: Any, args: tuple) -> Any:
    """The annotation of a sequence annotation's elements: torch.Size -> int, tuple[int, ...] -> int."""
    if hint is torch.Size:
        return int
    elements = tuple(a for a in args if a is not Ellipsis)
    return typing.Union[elements] if elements else Any  # noqa: UP007 - built at run time from a tuple


def _hint_accepts(hint: Any, value: Any) -> bool:
    """Whether a literal fits a constructor's annotation; lenient where PyTorch is (an int for a float or a bool,
    a list for a tuple, None for a bool), and True for any annotation it does not read (PyTorch decides)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_hint_accepts(h, value) for h in args)
    if origin is typing.Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return value is None or isinstance(value, int)
    if hint is int:
        return isinstance(value, int)
    if hint is float:
        return isinstance(value, (int, float))
    if hint is str:
        return isinstance(value, str)
    if hint is torch.Size or origin in (tuple, list):
        element = _element_hint(hint, args)
        return isinstance(value, (tuple, list)) and all(_hint_accepts(element, v) for v in value)
    if isinstance(hint, type) and hint is not object:
        return isinstance(value, hint)  # torch.Tensor (Embedding's _weight): no literal is one
    return True


_HINT_WORDS = {type(None): "none", bool: "bool", int: "int", float: "float", str: "str"}


def _describe_hint(hint: Any, plural: bool = False) -> Term:
    """An annotation in words, as catalogue terms: `int | tuple[int, int]` -> "a whole number or a tuple of whole
    numbers" (`error.compose.hint.*`)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    number = "many" if plural else "one"
    if origin in (typing.Union, types.UnionType):
        parts = list(dict.fromkeys(_describe_hint(h, plural) for h in args))
        described = parts[-1]
        for part in reversed(parts[:-1]):
            described = Term("error.compose.hint.or", first=part, rest=described)
        return described
    if origin is typing.Literal:
        return Term("error.compose.hint.literal", options=", ".join(repr(a) for a in args))
    if hint is torch.Size or origin in (tuple, list):
        return Term(f"error.compose.hint.tuple.{number}", of=_describe_hint(_element_hint(hint, args), plural=True))
    if hint in _HINT_WORDS:
        return Term(f"error.compose.hint.{_HINT_WORDS[hint]}.{number}")
    return Term(f"error.compose.hint.value.{number}", name=getattr(hint, "__name__", "value"))


# string arguments whose annotation says only `str`: the values the layer knows (others fail later, in C++ words)
_CHOICES: dict[tuple[type[nn.Module], str], tuple[str, ...]] = {
    (nn.Upsample, "mode"): ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area"),
    (nn.GELU, "approximate"): ("none", "tanh"),
}


def check_arguments(cls: type[nn.Module], args: tuple, kwargs: dict[str, Any], line: int) -> None:
    """Each argument against the constructor's annotation, so `nn.Linear(1e308, 3)` is refused in words instead
    of in PyTorch's C++ argument parser ("empty(): argument 'size' failed to unpack the object at pos 2")."""
    hints = _init_hints(cls)
    if hints is None:
        return
    signature, annotations = hints
    try:
        bound = signature.bind(None, *args, **kwargs)  # None stands for self
    except TypeError:
        return  # a missing or unknown argument: the constructor's own TypeError says which
    for name, value in list(bound.arguments.items())[1:]:
        hint = annotations.get(name, Any)
        if signature.parameters[name].kind in (pyinspect.Parameter.VAR_POSITIONAL, pyinspect.Parameter.VAR_KEYWORD):
            continue
        if not _hint_accepts(hint, value):
            raise LabError("error.compose.hint", line=line, name=name, value=shown(value), cls=cls.__name__,
                           accepted=_describe_hint(hint))  # fmt: skip
        choices = _CHOICES.get((cls, name))
        if choices is not None and value not in choices:
            raise LabError("error.compose.hint", line=line, name=name, value=shown(value), cls=cls.__name__,
                           accepted=Term("error.compose.hint.literal", options=", ".join(map(repr, choices))))
