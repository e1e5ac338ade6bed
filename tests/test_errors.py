"""lab.errors.shown: how a LabError message quotes user input (issue 9, finding F6)."""

import pytest

from lab.errors import LabError, shown


@pytest.mark.parametrize("value", ["abc", 3, 2.5, None, [1, 2], {"a": 1}, "x" * 58, ""])
def test_short_values_are_their_repr(value):
    assert shown(value) == repr(value)


def test_a_huge_string_is_cut_with_its_length():
    text = shown("x" * 100_000)
    assert text == "'" + "x" * 57 + "…' (100000 characters)"
    assert text.index(" (") == 60  # the quoted part is exactly `limit` characters


@pytest.mark.parametrize("limit", [10, 60, 200])
def test_the_quoted_part_fits_the_limit(limit):
    for value in ("y" * 1000, list(range(1000)), b"z" * 1000, 'say "hi" ' * 200):
        head, _, tail = shown(value, limit).rpartition(" (")
        assert len(head) == limit and head.count("…") == 1
        assert tail.endswith(" characters)") and int(tail.split()[0]) >= 1000


def test_a_string_keeps_its_closing_quote():
    assert shown("a" * 100, 20).startswith("'a") and shown("a" * 100, 20).split(" (")[0].endswith("…'")
    assert shown("it's" * 50, 20).split(" (")[0].endswith('…"')  # repr chose double quotes


def test_non_string_length_is_that_of_the_repr():
    value = list(range(1000))
    assert shown(value).endswith(f"({len(repr(value))} characters)")


def test_lab_error_is_a_value_error():
    assert issubclass(LabError, ValueError)
