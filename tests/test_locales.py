"""The two catalogues (locales/en, locales/zh): the same keys with the same fields, and every key the code uses."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import locales
from lab.errors import LabError, Term, choice, number, render

ROOT = Path(__file__).resolve().parents[1]


def test_both_languages_have_every_key_with_the_same_fields():
    assert locales.check_catalogues() == []


@pytest.mark.parametrize("lang", locales.LANGS)
def test_every_template_formats_with_its_own_fields(lang):
    for key, template in locales.catalogue(lang).items():
        fields = locales.fields_of(template)
        if not fields:
            continue  # static text: shown as it is, literal braces included
        try:
            template.format(**{name: 1 for name in fields})
        except (KeyError, IndexError, ValueError) as exc:  # a field template that cannot be filled
            raise AssertionError(f"{lang} {key!r}: {exc!r}") from exc


def _literal_calls(paths, names):
    """(file, line, first literal argument) of every call to one of `names` (a function or a method name)."""
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            first = node.args[0]
            if name in names and isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield path.relative_to(ROOT), node.lineno, first.value


def test_every_key_the_page_uses_is_in_the_catalogue():
    paths = [ROOT / "app.py", *sorted((ROOT / "ui").glob("*.py"))]
    english = locales.catalogue("en")
    missing = [f"{p}:{line} {key!r}" for p, line, key in _literal_calls(paths, {"i18n", "t"}) if key not in english]
    assert missing == []


def test_every_error_key_of_the_lab_is_in_the_catalogue():
    paths = sorted((ROOT / "lab").rglob("*.py"))
    english = locales.catalogue("en")
    keys = [(p, line, key) for p, line, key in _literal_calls(paths, {"LabError", "Term"}) if " " not in key]
    missing = [f"{p}:{line} {key!r}" for p, line, key in keys if key not in english]
    assert missing == []


def test_a_refusal_reads_the_same_in_both_languages():
    with pytest.raises(LabError) as info:
        number("steps", 0, 1, 5000, integer=True)
    assert str(info.value) == "steps is 0; a whole number from 1 to 5,000 is accepted."
    assert "1 到 5,000 之间的整数" in render(info.value, "zh")
    with pytest.raises(LabError) as info:
        choice("optimizer", "SGD", ["adamw", "sgd"])
    assert "'adamw', 'sgd'" in str(info.value) and "'SGD'" in render(info.value, "zh")


@pytest.mark.parametrize(
    "value, kwargs, ok",
    [(3, {"integer": True}, 3), ("3", {"integer": True}, 3), (3.0, {"integer": True}, 3), (0.5, {}, 0.5),
     (3.5, {"integer": True}, None), (True, {}, None), (float("nan"), {}, None), (float("inf"), {}, None),
     ("1e400", {}, None), ("x" * 1000, {}, None), (None, {}, None), ([1], {}, None), (0, {"low_open": True}, None),
     (10, {}, 10.0), (10.5, {}, None), (10**400, {}, None), (-(10**400), {"integer": True}, None)],
)
def test_number_check(value, kwargs, ok):
    if ok is None:
        with pytest.raises(LabError):
            number("f", value, 0, 10, **kwargs)
    else:
        assert number("f", value, 0, 10, **kwargs) == ok


def test_terms_nest_and_unknown_keys_never_raise():
    assert render(Term("accept.one_of", options="'a', 'b'"), "en") == "one of 'a', 'b'"
    assert locales.text("zh", "no.such.key") == "no.such.key"
    assert str(LabError("no.such.key", value="1")).startswith("no.such.key")


def _visible_texts(config: dict):
    """(component type, elem_id, prop, text) of every plain string the page shows as it is built: labels, info lines,
    placeholders, Markdown/button/tab/accordion text, the labels of choices (not their values, which the page does
    not show) and the labels of examples. Text given through `i18n(key)` is a translation marker (`__i18n__{...}`)
    that the browser turns into the visitor's language."""
    shown_values = {"markdown", "button", "html", "tabitem", "accordion", "downloadbutton", "uploadbutton"}
    for comp in config["components"]:
        kind, props = comp.get("type"), comp.get("props", {})
        for prop in ("label", "info", "placeholder", "value", "choices", "example_labels"):
            value = props.get(prop)
            if prop == "value" and kind not in shown_values:
                continue
            if prop == "choices" and isinstance(value, list):
                value = [c[0] if isinstance(c, (list, tuple)) else c for c in value]  # (label, value) pairs
            for text in value if isinstance(value, list) else [value]:
                if isinstance(text, str) and not text.startswith("__i18n__"):
                    yield kind, props.get("elem_id"), prop, text


def test_no_visible_sentence_of_the_page_lacks_a_key():
    """Every English sentence a visitor reads comes from the catalogues: a plain string in the built page may hold
    code, names and numbers, or both languages (the page title), but no English words alone."""
    import app

    english_words = re.compile(r"[A-Za-z]{3,}[ ,.;:]+[A-Za-z]{3,}")
    chinese = re.compile(r"[\u4e00-\u9fff]")

    def plain(config: dict) -> list:
        return [(kind, elem, prop, text[:80]) for kind, elem, prop, text in _visible_texts(config)
                if english_words.search(text) and not chinese.search(text)]

    assert plain(app.demo.get_config_file()) == []
    # what the check catches: a label typed in English, a choice's English label (its value is not shown)
    typed = {"components": [{"type": "textbox", "props": {"label": "Input shape, batch first"}},
                            {"type": "radio", "props": {"choices": [["Sample images", "samples"]]}},
                            {"type": "radio", "props": {"choices": [["样本", "Sample images"]]}}]}  # fmt: skip
    assert [prop for _, _, prop, _ in plain(typed)] == ["label", "choices"]
