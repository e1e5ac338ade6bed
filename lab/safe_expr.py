"""Safe parsing of what a visitor types: `lr_lambda` expressions (tutorial 6.2) and JSON parameter fields.

A person types a Python expression in `epoch`, e.g. `0.95 ** epoch` or `min(1, (epoch + 1) / 5)`. It is parsed
with `ast`, checked against an allow-list, and turned into a plain Python function built from closures: the text
is never handed to `eval`/`exec`, no name outside the allow-list can be reached, and nothing runs while checking.

Allowed: numbers, `epoch`, `+ - * / // % **`, unary `+ -`, comparisons (chains too), `and`/`or`/`not`,
`x if c else y`, `min`, `max`, `abs` and math's `cos sin tan exp log sqrt floor ceil pi e`.
Everything is computed in floats, so no integer can grow without bound (`9**9**9` overflows at once and is
refused); input length and node count are bounded too. Any other syntax raises LabError before anything runs.

JSON fields (a loss's or a scheduler's parameters, SequentialLR's members) go through `parse_json`, which bounds
the text's length and bracket depth *before* `json.loads` (whose recursion a `[[[...]]]` of 20,000 levels would
overflow) and the digits of every integer (Python's own refusal would advise `sys.set_int_max_str_digits`).
`check_plain` bounds a value that arrives already parsed (from the API or a caller): depth, number of values and
size of integers, walked without recursion, so validation, `repr` and error messages never meet an unbounded value.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from lab.errors import LabError, Term, shown

__all__ = [
    "MAX_LENGTH", "MAX_NODES", "FUNCTIONS", "CONSTANTS", "compile_expression", "check_expression",
    "MAX_JSON_CHARS", "MAX_JSON_DEPTH", "MAX_JSON_VALUES", "MAX_DIGITS", "parse_json", "check_plain",
]  # fmt: skip

MAX_LENGTH = 500  # characters; a schedule formula is one line
MAX_NODES = 200  # AST nodes after parsing

# name -> (function, allowed argument counts)
FUNCTIONS: dict[str, tuple[Callable[..., float], tuple[int, ...]]] = {
    "min": (min, (2, 3, 4, 5, 6, 7, 8)),
    "max": (max, (2, 3, 4, 5, 6, 7, 8)),
    "abs": (abs, (1,)),
    "cos": (math.cos, (1,)),
    "sin": (math.sin, (1,)),
    "tan": (math.tan, (1,)),
    "exp": (math.exp, (1,)),
    "log": (math.log, (1, 2)),
    "sqrt": (math.sqrt, (1,)),
    # math.floor/ceil return ints; floats keep every value bounded (see module docstring)
    "floor": (lambda x: float(math.floor(x)), (1,)),
    "ceil": (lambda x: float(math.ceil(x)), (1,)),
}
CONSTANTS = {"pi": math.pi, "e": math.e}
VARIABLE = "epoch"

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg, ast.Not: lambda v: float(not v)}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}

Node = Callable[[float], float]  # a compiled sub-expression: epoch -> value


class _EvalError(ArithmeticError):
    """Raised inside a compiled expression (`what` went wrong, as a catalogue Term); turned into LabError with the
    epoch by the caller."""

    def __init__(self, what: Term) -> None:
        super().__init__(what.key)
        self.what = what


def _refuse(text: str, what: Term) -> LabError:
    functions = ", ".join(name for name in FUNCTIONS if name not in ("min", "max", "abs"))
    return LabError("error.expr.not_allowed", text=shown(text), what=what,
                    allowed=Term("expr.allowed", functions=functions))  # fmt: skip


def _parse(text: str) -> ast.expr:
    if not isinstance(text, str):
        raise LabError("error.expr.type", text=shown(text))
    if len(text) > MAX_LENGTH:
        raise LabError("error.expr.too_long", length=str(len(text)), max=str(MAX_LENGTH))
    if not text.strip():
        raise LabError("error.expr.empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise LabError("error.expr.invalid", text=shown(text), reason=str(reason)[:200]) from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise LabError("error.expr.nodes", text=shown(text), count=str(count), max=str(MAX_NODES))
    return tree.body


def _float(value: object) -> float:
    # results of comparisons and boolean operators become 0.0/1.0, everything stays a float
    return float(value)  # type: ignore[arg-type]


def _binary(op: ast.operator, left: Node, right: Node) -> Node:
    fn = _BINARY[type(op)]
    symbol = _SYMBOL[type(op)]

    def run(epoch: float) -> float:
        a, b = left(epoch), right(epoch)
        try:
            value = fn(a, b)
        except ZeroDivisionError:
            raise _EvalError(Term("expr.eval.zero_division", symbol=symbol)) from None
        except OverflowError:
            raise _EvalError(Term("expr.eval.overflow", symbol=symbol)) from None
        if isinstance(value, complex):  # (-8.0) ** 0.5 is complex in Python
            raise _EvalError(Term("expr.eval.complex", symbol=symbol))
        return value

    return run


def _call(name: str, args: list[Node]) -> Node:
    fn = FUNCTIONS[name][0]

    def run(epoch: float) -> float:
        values = [arg(epoch) for arg in args]
        try:
            return _float(fn(*values))
        except (ValueError, OverflowError) as exc:
            raise _EvalError(Term("expr.eval.domain", name=name, reason=str(exc)[:100])) from None

    return run


def _compare(ops: list[ast.cmpop], operands: list[Node]) -> Node:
    fns = [_COMPARE[type(op)] for op in ops]

    def run(epoch: float) -> float:
        left = operands[0](epoch)
        for fn, operand in zip(fns, operands[1:], strict=True):
            right = operand(epoch)
            if not fn(left, right):
                return 0.0
            left = right
        return 1.0

    return run


def _compile(node: ast.AST, text: str) -> Node:
    """Turn one allowed AST node into a closure; refuse everything else."""
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):  # no bool, str, bytes, complex, None, Ellipsis
            raise _refuse(text, Term("expr.what.constant", value=shown(node.value)))
        try:
            value = float(node.value)
        except OverflowError:
            raise LabError("error.expr.too_large", text=shown(text)) from None
        return lambda epoch: value
    if isinstance(node, ast.Name):
        if node.id == VARIABLE:
            return lambda epoch: epoch
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return lambda epoch: value
        raise _refuse(text, Term("expr.what.name", name=shown(node.id)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _binary(node.op, _compile(node.left, text), _compile(node.right, text))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        fn, operand = _UNARY[type(node.op)], _compile(node.operand, text)
        return lambda epoch: fn(operand(epoch))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        return _compare(node.ops, [_compile(node.left, text)] + [_compile(c, text) for c in node.comparators])
    if isinstance(node, ast.BoolOp):
        # Python's semantics: `a and b` gives a when a is false, else b (not a bool), as the exported lambda does
        values = [_compile(v, text) for v in node.values]
        stop_when = not isinstance(node.op, ast.And)  # `and` stops at the first false value, `or` at the first true

        def boolop(epoch: float) -> float:
            for v in values:
                value = v(epoch)
                if bool(value) == stop_when:
                    return value
            return value

        return boolop
    if isinstance(node, ast.IfExp):
        test, body, orelse = (_compile(n, text) for n in (node.test, node.body, node.orelse))
        return lambda epoch: body(epoch) if test(epoch) else orelse(epoch)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            callee = ast.unparse(node.func)
            what = Term("expr.what.call", name=repr(callee)) if len(callee) < 40 else Term("expr.what.a_call")
            raise _refuse(text, what)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(text, Term("expr.what.starred"))
        name = node.func.id
        counts = FUNCTIONS[name][1]
        if len(node.args) not in counts:
            takes = str(counts[0]) if len(counts) == 1 else Term("expr.takes_range", low=counts[0], high=counts[-1])
            raise LabError("error.expr.arity", text=shown(text), name=name, count=str(len(node.args)), takes=takes)
        return _call(name, [_compile(a, text) for a in node.args])
    kinds = {
        ast.Attribute: "attribute",
        ast.Subscript: "indexing",
        ast.Lambda: "lambda",
        ast.ListComp: "comprehension",
        ast.GeneratorExp: "comprehension",
        ast.SetComp: "comprehension",
        ast.DictComp: "comprehension",
        ast.NamedExpr: "assignment",
        ast.JoinedStr: "string",
    }
    kind = kinds.get(type(node))
    raise _refuse(text, Term(f"expr.what.{kind}") if kind else Term("expr.what.syntax", kind=type(node).__name__))


def check_expression(text: str) -> str:
    """Validate `text` and return it normalised (what `to_code` prints); raises LabError when refused."""
    tree = _parse(text)
    _compile(tree, text)
    return ast.unparse(tree)


def compile_expression(text: str) -> Callable[[int], float]:
    """A plain function `lr_lambda(epoch) -> float` for LambdaLR/MultiplicativeLR; raises LabError when refused.

    It raises LabError (naming the epoch) when an epoch's value is not a finite real number, e.g. division by
    zero at epoch 0 or an overflow. Being a plain function, LambdaLR's state_dict stores None for it, as for any
    lambda.
    """
    root = _compile(_parse(text), text)
    quoted = shown(text)

    def lr_lambda(epoch: int) -> float:
        try:
            value = root(float(epoch))
        except _EvalError as exc:
            raise LabError("error.expr.eval", text=quoted, what=exc.what, epoch=str(epoch)) from None
        if not math.isfinite(value):
            raise LabError("error.expr.not_finite", text=quoted, value=str(value), epoch=str(epoch))
        return value

    lr_lambda.__qualname__ = lr_lambda.__name__ = "lr_lambda"
    lr_lambda.__doc__ = f"lambda epoch: {text}"
    return lr_lambda


# ---------------------------------------------------------------------------------------------------------------
# JSON parameter fields: bounded before they are parsed or walked.

MAX_JSON_CHARS = 20_000  # a scheduler with 6 members and 100 milestones is under 2,000 characters
MAX_JSON_DEPTH = 8  # {"schedulers": [{"params": {"milestones": [...]}}]} is 5 levels deep
MAX_JSON_VALUES = 1_000  # values and keys together, containers included
MAX_DIGITS = 300  # an integer with more digits is no parameter (and float() would overflow past 308)
_BIG = 10**MAX_DIGITS


def _digits(value: int) -> int:
    # str(value) itself is refused past 4,300 digits: count them from the bit length instead
    return int(abs(value).bit_length() * math.log10(2)) + 1


def check_plain(value: Any, field: str) -> Any:
    """`value` unchanged when it is a plain value of bounded size; LabError naming `field` otherwise.

    Bounds: containers (dicts, lists, tuples, sets) nested at most MAX_JSON_DEPTH deep, at most MAX_JSON_VALUES
    values in all (a list that contains itself is counted, not followed forever), integers of at most MAX_DIGITS
    digits. Walked with an explicit stack: a value nested 100,000 deep is refused, not a RecursionError.
    """
    too_many = LabError("error.json.too_many", field=field, max=str(MAX_JSON_VALUES))
    stack = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_JSON_VALUES:
            raise too_many
        if isinstance(item, (Mapping, list, tuple, set, frozenset)) and len(item) > MAX_JSON_VALUES:
            raise too_many  # without copying a million of them first
        if isinstance(item, Mapping):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = list(item)
        else:
            if isinstance(item, int) and not isinstance(item, bool) and not -_BIG < item < _BIG:
                raise LabError("error.json.digits", field=field, digits=str(_digits(item)), max=str(MAX_DIGITS))
            continue
        if depth >= MAX_JSON_DEPTH:
            raise LabError("error.json.nested", field=field, max=str(MAX_JSON_DEPTH))
        stack.extend((child, depth + 1) for child in children)
    return value


def _json_depth(text: str) -> int:
    """How deep brackets nest in JSON text, strings left out (a bracket inside a string is no nesting)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:  # one pass, no backtracking: 20,000 characters take about a millisecond
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def parse_json(text: Any, field: str, *, example: str = '{"step_size": 30}') -> Any:
    """The value of JSON `text` typed in field `field`; LabError naming the field when it is not accepted.

    Refused before parsing: anything but a string, more than MAX_JSON_CHARS characters, brackets nested deeper
    than MAX_JSON_DEPTH, integers of more than MAX_DIGITS digits; then the parsed value goes through `check_plain`.
    An empty text is None. NaN and Infinity parse as floats: the field's own check refuses them by name.
    """
    if not isinstance(text, str):
        raise LabError("error.json.type", field=field, kind=type(text).__name__, example=example)
    if len(text) > MAX_JSON_CHARS:
        raise LabError("error.json.too_long", field=field, length=str(len(text)), max=str(MAX_JSON_CHARS))
    if not text.strip():
        return None
    depth = _json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise LabError("error.json.depth", field=field, depth=str(depth), max=str(MAX_JSON_DEPTH))

    def whole(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise LabError("error.json.digits", field=field, digits=str(len(digits.lstrip("-"))), max=str(MAX_DIGITS))
        return int(digits)

    try:
        value = json.loads(text, parse_int=whole)
    except LabError:
        raise
    except json.JSONDecodeError as exc:
        raise LabError("error.json.invalid", field=field, reason=exc.msg, position=str(exc.pos),
                       example=example) from None  # fmt: skip
    except (ValueError, RecursionError, MemoryError):  # bounded above; kept so no parser message reaches a visitor
        raise LabError("error.json.invalid_plain", field=field, example=example) from None
    return check_plain(value, field)
