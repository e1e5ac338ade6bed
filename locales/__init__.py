"""Every sentence a visitor reads, in Simplified Chinese and in English: one catalogue per language.

`locales/en/` and `locales/zh/` are the two catalogues. Each is a package with one module per part of the page
(`common` for the header and the shared words, `errors` for input errors, one per tab), and each module holds
one dict, `TEXT`, of dotted keys (`"compose.intro"`) to text. Text is Markdown where a component shows Markdown,
and may hold `str.format` fields (`"{steps:,} steps"`) that the caller fills.

Readers: `ui/` (component text through Gradio's `gr.I18n`, and the sentences the server writes, per request) and
`lab.errors` (the English sentence of a `LabError`, for API users and logs). Nothing here imports torch or gradio.
"""

from __future__ import annotations

import importlib
import pkgutil
import string
from functools import cache
from typing import Any

__all__ = ["LANGS", "DEFAULT", "catalogue", "text", "has", "fields_of", "check_catalogues"]

LANGS = ("en", "zh")  # page languages: English, Simplified Chinese
DEFAULT = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """All keys of one language, merged from the modules of `locales/<lang>/` (a key defined twice is an error)."""
    if lang not in LANGS:
        raise KeyError(f"no catalogue for language {lang!r}; languages: {', '.join(LANGS)}")
    package = importlib.import_module(f"{__name__}.{lang}")
    merged: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for key, value in getattr(module, "TEXT", {}).items():
            if key in merged:
                raise KeyError(f"key {key!r} is defined twice in the {lang} catalogue (again in {info.name}.py)")
            merged[key] = value
    return merged


def has(key: str, lang: str = DEFAULT) -> bool:
    return key in catalogue(lang)


def text(lang: str, key: str, /, **params: Any) -> str:
    """The text of `key` in `lang` with its fields filled; English when the language lacks the key, and the key
    itself (never an exception) when no catalogue has it, so a missing entry shows up instead of breaking a page."""
    template = catalogue(lang).get(key)
    if template is None:
        template = catalogue(DEFAULT).get(key)
    if template is None:
        return key if not params else f"{key} {params}"
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError, AttributeError):
        return template


def fields_of(template: str) -> set[str]:
    """The `str.format` field names a template uses: `"{n:,} of {total}"` -> {"n", "total"}."""
    names = {name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name}
    return {name for name in names if name.isidentifier()}  # `{"total_iters": 5}` in static text is no field


def check_catalogues() -> list[str]:
    """Problems between the catalogues: keys in one language only, and templates whose fields differ."""
    problems = []
    en, zh = catalogue("en"), catalogue("zh")
    problems += [f"{key!r} is in en but not in zh" for key in sorted(en.keys() - zh.keys())]
    problems += [f"{key!r} is in zh but not in en" for key in sorted(zh.keys() - en.keys())]
    for key in sorted(en.keys() & zh.keys()):
        try:
            a, b = fields_of(en[key]), fields_of(zh[key])
        except ValueError as exc:
            problems.append(f"{key!r} is not a valid template: {exc}")
            continue
        if a != b:
            problems.append(f"{key!r} has fields {sorted(a)} in en but {sorted(b)} in zh")
    return problems
