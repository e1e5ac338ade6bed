"""lab.safe_expr: lr_lambda expressions are parsed, never executed as Python; hostile text is refused."""

from __future__ import annotations

import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lab.errors import LabError
from lab.safe_expr import MAX_LENGTH, check_expression, compile_expression

# expression -> the Python lambda a person would write (the reference)
ALLOWED = {
    "0.95 ** epoch": lambda epoch: 0.95**epoch,
    "0.1 ** (epoch // 30)": lambda epoch: 0.1 ** (epoch // 30),
    "min(1, (epoch + 1) / 5)": lambda epoch: min(1, (epoch + 1) / 5),
    "max(0.01, 1 - epoch / 50)": lambda epoch: max(0.01, 1 - epoch / 50),
    "0.5 * (1 + cos(pi * epoch / 40))": lambda epoch: 0.5 * (1 + math.cos(math.pi * epoch / 40)),
    "exp(-epoch / 20) + sqrt(epoch) / 100 - abs(sin(epoch)) / 50": lambda epoch: math.exp(-epoch / 20)
    + math.sqrt(epoch) / 100
    - abs(math.sin(epoch)) / 50,
    "1 if epoch < 10 else 0.1": lambda epoch: 1 if epoch < 10 else 0.1,
    "(epoch % 7 + 1) / 7": lambda epoch: (epoch % 7 + 1) / 7,
    "0 < epoch <= 5": lambda epoch: 0 < epoch <= 5,
    "epoch > 5 and 0.5 or 0.1": lambda epoch: epoch > 5 and 0.5 or 0.1,
    "log(epoch + 1, 2) + floor(epoch / 3) - ceil(epoch / 4) + e ** -epoch + tan(0.1)": lambda epoch: math.log(
        epoch + 1, 2
    )
    + math.floor(epoch / 3)
    - math.ceil(epoch / 4)
    + math.e**-epoch
    + math.tan(0.1),
    "-epoch * +2 + 200": lambda epoch: -epoch * +2 + 200,
    "not epoch": lambda epoch: not epoch,
}


@pytest.mark.parametrize("text", list(ALLOWED))
def test_allowed_expressions_match_python(text):
    fn, ref = compile_expression(text), ALLOWED[text]
    for epoch in range(0, 120):
        assert fn(epoch) == pytest.approx(float(ref(epoch)), rel=1e-15, abs=0)


def test_check_expression_normalises():
    assert check_expression("  min(1,(epoch+1)/5) ") == "min(1, (epoch + 1) / 5)"


HOSTILE = [
    "__import__('os').system('touch /tmp/pwned_by_lab')",
    "().__class__.__mro__[1].__subclasses__()",
    "open('/etc/passwd').read()",
    "epoch.__class__",
    "[x for x in range(10**9)]",
    "lambda: 1",
    "'a' * 10",
    "b'x'",
    "(epoch := 3)",
    "globals()",
    "eval('1')",
    "exec('import os')",
    "min(*[1, 2])",
    "max(epoch, key=abs)",
    "1j",
    "True",
    "None",
    "x",
    "epoch[0]",
    "{1: 2}",
    "f'{epoch}'",
    "import os",
    "epoch; 1",
    "1 if",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_refused_before_running(text, tmp_path):
    with pytest.raises(LabError, match="lr_lambda"):
        compile_expression(text)


def test_nothing_ran():
    import os

    for text in HOSTILE:
        with pytest.raises(LabError):
            compile_expression(text)
    assert not os.path.exists("/tmp/pwned_by_lab")


@pytest.mark.parametrize(
    "text, message",
    [
        ("9**9**9", "overflows"),
        ("10.0 ** 400", "overflows"),
        ("exp(epoch * 1000)", "domain of exp"),
        ("1 / epoch", "divides by zero"),
        ("(-8) ** 0.5", "complex"),
        ("log(epoch - 1)", "domain of log"),
        ("1e308 * 10", "finite number"),
    ],
)
def test_huge_or_undefined_results_are_refused_quickly(text, message):
    fn = compile_expression(text)
    start = time.perf_counter()
    with pytest.raises(LabError, match=message):
        for epoch in range(5):
            fn(epoch)
    assert time.perf_counter() - start < 0.1


def test_long_and_deep_inputs_are_refused():
    with pytest.raises(LabError, match=f"at most {MAX_LENGTH}"):
        compile_expression("1+" * 5000 + "1")  # a 10 kB expression
    with pytest.raises(LabError, match="syntax nodes"):
        compile_expression("+".join(["1"] * 120))
    with pytest.raises(LabError):
        compile_expression("(" * 240 + "1" + ")" * 240)
    with pytest.raises(LabError, match="empty"):
        compile_expression("   ")
    with pytest.raises(LabError):
        compile_expression(3)  # type: ignore[arg-type]


def test_function_arity_is_checked():
    with pytest.raises(LabError, match="takes 1"):
        compile_expression("cos(1, 2)")
    with pytest.raises(LabError, match="2 to 8"):
        compile_expression("min(1)")


ALPHABET = "epoch0123456789.+-*/%() <>=!,ifelsnotandrmxbcpqgh_[]{}'\"lambda:"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=ALPHABET, max_size=60))
def test_any_text_gives_a_function_or_lab_error(text):
    """Fuzz: nothing but LabError escapes, and what compiles evaluates quickly to a float or LabError."""
    try:
        fn = compile_expression(text)
    except LabError:
        return
    start = time.perf_counter()
    for epoch in range(4):
        try:
            assert isinstance(fn(epoch), float)
        except LabError:
            pass
    assert time.perf_counter() - start < 0.1
