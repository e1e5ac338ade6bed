"""Safe `lr_lambda` expressions for the LR schedules tab (tutorial 6.2, LambdaLR and MultiplicativeLR).

A person types a Python expression in `epoch`, e.g. `0.95 ** epoch` or `min(1, (epoch + 1) / 5)`. It is parsed
with `ast`, checked against an allow-list, and turned into a plain Python function built from closures: the text
is never handed to `eval`/`exec`, no name outside the allow-list can be reached, and nothing runs while checking.

Allowed: numbers, `epoch`, `+ - * / // % **`, unary `+ -`, comparisons (chains too), `and`/`or`/`not`,
`x if c else y`, `min`, `max`, `abs` and math's `cos sin tan exp log sqrt floor ceil pi e`.
Everything is computed in floats, so no integer can grow without bound (`9**9**9` overflows at once and is
refused); input length and node count are bounded too. Any other syntax raises LabError before anything runs.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from lab.errors import LabError, shown

__all__ = ["MAX_LENGTH", "MAX_NODES", "FUNCTIONS", "CONSTANTS", "compile_expression", "check_expression"]

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
    """Raised inside a compiled expression; turned into LabError with the epoch by the caller."""


def _refuse(text: str, what: str) -> LabError:
    allowed = "numbers, epoch, + - * / // % **, comparisons, x if c else y, min, max, abs, " + ", ".join(
        name for name in FUNCTIONS if name not in ("min", "max", "abs")
    ) + ", pi, e"
    return LabError(f"lr_lambda {shown(text)} uses {what}, which is not allowed; use only {allowed}.")


def _parse(text: str) -> ast.expr:
    if not isinstance(text, str):
        raise LabError(f"lr_lambda must be an expression string in epoch such as '0.95 ** epoch', not {shown(text)}.")
    if len(text) > MAX_LENGTH:
        raise LabError(f"lr_lambda is {len(text)} characters long; at most {MAX_LENGTH} are accepted.")
    if not text.strip():
        raise LabError("lr_lambda is empty; type an expression in epoch such as '0.95 ** epoch'.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        reason = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        raise LabError(f"lr_lambda {shown(text)} is not a valid expression ({reason}).") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise LabError(f"lr_lambda {shown(text)} has {count} syntax nodes; at most {MAX_NODES} are accepted.")
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
            raise _EvalError(f"divides by zero in '{symbol}'") from None
        except OverflowError:
            raise _EvalError(f"overflows in '{symbol}'") from None
        if isinstance(value, complex):  # (-8.0) ** 0.5 is complex in Python
            raise _EvalError(f"gives a complex number in '{symbol}'")
        return value

    return run


def _call(name: str, args: list[Node]) -> Node:
    fn = FUNCTIONS[name][0]

    def run(epoch: float) -> float:
        values = [arg(epoch) for arg in args]
        try:
            return _float(fn(*values))
        except (ValueError, OverflowError) as exc:
            raise _EvalError(f"gets a value outside the domain of {name}() ({exc})") from None

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
            raise _refuse(text, f"the constant {shown(node.value)}")
        try:
            value = float(node.value)
        except OverflowError:
            raise LabError(f"lr_lambda {shown(text)} has a number too large for a float.") from None
        return lambda epoch: value
    if isinstance(node, ast.Name):
        if node.id == VARIABLE:
            return lambda epoch: epoch
        if node.id in CONSTANTS:
            value = CONSTANTS[node.id]
            return lambda epoch: value
        raise _refuse(text, f"the name {shown(node.id)}")
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
            what = f"a call to {ast.unparse(node.func)!r}" if len(ast.unparse(node.func)) < 40 else "a call"
            raise _refuse(text, what)
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise _refuse(text, "keyword or starred arguments")
        name = node.func.id
        counts = FUNCTIONS[name][1]
        if len(node.args) not in counts:
            raise LabError(
                f"lr_lambda {shown(text)} calls {name}() with {len(node.args)} arguments; "
                f"it takes {counts[0]}{'' if len(counts) == 1 else f' to {counts[-1]}'}."
            )
        return _call(name, [_compile(a, text) for a in node.args])
    kinds = {
        ast.Attribute: "an attribute",
        ast.Subscript: "indexing",
        ast.Lambda: "a lambda",
        ast.ListComp: "a comprehension",
        ast.GeneratorExp: "a comprehension",
        ast.SetComp: "a comprehension",
        ast.DictComp: "a comprehension",
        ast.NamedExpr: "an assignment",
        ast.JoinedStr: "a string",
        ast.MatMult: "@",
    }
    raise _refuse(text, kinds.get(type(node), f"{type(node).__name__} syntax"))


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
            raise LabError(f"lr_lambda {quoted} {exc} at epoch {epoch}.") from None
        if not math.isfinite(value):
            raise LabError(f"lr_lambda {quoted} gives {value} at epoch {epoch}; it must be a finite number.")
        return value

    lr_lambda.__qualname__ = lr_lambda.__name__ = "lr_lambda"
    lr_lambda.__doc__ = f"lambda epoch: {text}"
    return lr_lambda
