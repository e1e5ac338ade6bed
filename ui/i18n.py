"""The page's language: chosen per request, never per process, and the words for it from `locales/`.

Who chooses: `?lang=zh|en` in the address, else the choice saved by the header's switch (cookie `lab_lang`), else
the browser's preference (`Accept-Language`: a first supported language starting with "zh" gives Chinese,
anything else English). The same rule runs in two places:

- `LanguageMiddleware` serves the page: it tells Gradio's front end the chosen locale (so the component text,
  given as `i18n("key")` and translated in the browser by Gradio's `gr.I18n`, and Gradio's own widgets speak it).
- `LabBlocks.process_api` (ui.common) sets `LANG` for every event, from the same request facts, so the text the
  server writes (`t("key")`: status lines, tables, figures, errors) is in the same language.
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr

import locales
from lab.errors import LabError, Term, render

__all__ = ["LANG", "LOCALES", "COOKIE", "I18N", "i18n", "t", "lang", "pick", "words", "LanguageMiddleware",
           "SWITCH_JS"]

COOKIE = "lab_lang"
LOCALES = {"en": "en", "zh": "zh-CN"}  # page language -> the locale Gradio's front end is told to use
LANG: contextvars.ContextVar[str] = contextvars.ContextVar("lab_lang", default=locales.DEFAULT)


def pick(query: str | None = None, cookie: str | None = None, accept_language: str | None = None) -> str:
    """The page language from the request's facts, in the order the module docstring gives."""
    for value in (query, cookie):
        value = (value or "").strip().lower()
        if value.startswith("zh"):
            return "zh"
        if value.startswith("en"):
            return "en"
    for part in _preferences(accept_language or ""):
        if part.startswith("zh"):
            return "zh"
        if part.startswith("en"):
            return "en"
    return locales.DEFAULT


def _preferences(header: str) -> list[str]:
    """Accept-Language tags, most preferred first (`"en-US,zh;q=0.9"` -> ["en-us", "zh"])."""
    tags = []
    for i, item in enumerate(header[:500].split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                q = float(match.group(1))
            except ValueError:
                q = 0.0
        if tag and q > 0:
            tags.append((-q, i, tag.lower()))
    return [tag for _, _, tag in sorted(tags)]


def lang(request: gr.Request | None = None) -> str:
    """The language of the current event (set by LabBlocks), or of `request` when one is given."""
    if request is None:
        return LANG.get()
    return pick(
        request.query_params.get("lang") if request.query_params else None,
        (getattr(request, "cookies", None) or {}).get(COOKIE),
        (request.headers or {}).get("accept-language"),
    )


def t(key: str, /, **params: Any) -> str:
    """The text of `key` in the current event's language (a LabError or Term is worded too)."""
    return locales.text(LANG.get(), key, **params)


def words(message: LabError | Term | str) -> str:
    """A LabError or Term in the current language."""
    return render(message, LANG.get())


# ---------------------------------------------------------------------------------------------------------------
# Component text: Gradio's own i18n, translated in the browser


# Component text has no values to fill, and Gradio's front end shows such a message as it is (no ICU parsing),
# so braces and apostrophes need no escaping.
I18N = gr.I18n(**{LOCALES[code]: dict(locales.catalogue(code)) for code in locales.LANGS})


def i18n(key: str) -> Any:
    """Component text for `key`: `gr.Button(i18n("compose.run"))`, worded by the browser in the page's language."""
    if not locales.has(key):
        raise KeyError(f"{key!r} is not in the English catalogue (locales/en/)")
    return I18N(key)


# ---------------------------------------------------------------------------------------------------------------
# The page: tell Gradio's front end which locale to use, before it starts


def _locale_script(code: str) -> bytes:
    locale = json.dumps(LOCALES[code])
    return (
        "<script>/* lab: the page language chosen by the server (ui/i18n.py) */(() => {"
        f"const l = {locale};"
        "try { Object.defineProperty(Navigator.prototype, 'language', {get: () => l, configurable: true});"
        " Object.defineProperty(Navigator.prototype, 'languages', {get: () => [l], configurable: true}); } catch (e) {}"
        "document.documentElement.lang = l; window.__lab_lang__ = " + json.dumps(code) + ";})();</script>"
    ).encode()


class LanguageMiddleware:
    """ASGI middleware: on the page itself (GET /), put a first script in <head> that sets the chosen locale.

    Gradio's front end reads `navigator.language` once, when it starts, to pick the locale of `gr.I18n`; that
    script runs before it (module scripts are deferred), so the whole page, Gradio's widgets included, starts in
    the language `pick` chose for this request. Every other path passes through untouched.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("path") != "/":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")[:2000]))
        cookies = dict(c.strip().split("=", 1) for c in headers.get("cookie", "")[:4000].split(";") if "=" in c)
        script = _locale_script(pick(query.get("lang"), cookies.get(COOKIE), headers.get("accept-language")))
        start: dict[str, Any] = {}
        body: list[bytes] = []

        async def capture(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            content = b"".join(body)
            response_headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            content_type = dict(start.get("headers", [])).get(b"content-type", b"")
            if content_type.startswith(b"text/html") and b"<head>" in content:
                content = content.replace(b"<head>", b"<head>" + script, 1)
            response_headers.append((b"content-length", str(len(content)).encode()))
            await send({**start, "headers": response_headers})
            await send({"type": "http.response.body", "body": content})

        await self.app(scope, receive, capture)


# The header's switch: remember the choice and reload the page in that language, keeping the rest of the address.
SWITCH_JS = """(code) => {
  document.cookie = `lab_lang=${code}; path=/; max-age=31536000; SameSite=Lax`;
  const url = new URL(window.location.href);
  url.searchParams.set("lang", code);
  window.location.replace(url.toString());
}"""
