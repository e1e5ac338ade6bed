"""What every tab shares: the Blocks that words Gradio's own refusals, errors that stay beside their inputs, a tab's
first view, links that share a view, the concurrency groups, and the per-session stores that link the tabs.

A tab module imports what it needs from here and builds its part; none of this does tensor math.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd
from gradio.exceptions import ComponentProcessingError, InvalidPathError

import locales
from lab.errors import LabError, fmt, shown
from ui.cache import heavy
from ui.i18n import LANG, i18n, lang, t, words

__all__ = [
    "LabBlocks", "guarded", "Shared", "INTERNAL_ERROR", "code_box", "download_dir", "limit_concurrency", "WORK",
    "TRAINING", "VIEW", "error_box", "run", "Link", "first_view", "empty_like", "session_of", "light", "link_value",
]

log = logging.getLogger("lab.ui")

INTERNAL_ERROR = locales.text("en", "error.internal")  # the English sentence; `t("error.internal")` per visitor

# The session of the event being processed (set by LabBlocks.process_api, like the language).
SESSION: contextvars.ContextVar[str] = contextvars.ContextVar("lab_session", default="")


def session_of(request: gr.Request | None = None) -> str:
    """The Gradio session hash of the current event (or of `request`)."""
    if request is not None and getattr(request, "session_hash", None):
        return str(request.session_hash)
    return SESSION.get()


# ---------------------------------------------------------------------------------------------------------------
# Errors: one sentence, in the visitor's language, kept until the next run


class _LastErrors:
    """The last refusal of each (session, event), for the `.failure` handler that shows it beside the inputs.

    Bounded (an LRU of `size` entries): a session that never reads its error back cannot grow the server.
    """

    def __init__(self, size: int = 2000) -> None:
        self.items: OrderedDict[tuple[str, str], str] = OrderedDict()
        self.size = size
        self.lock = threading.Lock()

    def put(self, key: tuple[str, str], message: str) -> None:
        with self.lock:
            self.items[key] = message
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def pop(self, key: tuple[str, str]) -> str | None:
        with self.lock:
            return self.items.pop(key, None)


LAST_ERRORS = _LastErrors()


def _translate(exc: Exception, key: str | None) -> gr.Error:
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, LabError):
        message, title = words(exc), t("error.title.input")
    else:
        log.error("callback failed", exc_info=exc)  # the traceback stays on the server
        message, title = t("error.internal"), t("error.title.internal")
    if key is None:
        return gr.Error(message, title=title)
    # shown beside the inputs by the event's .failure handler (see `run`), so no toast on top of it
    LAST_ERRORS.put((SESSION.get(), key), message)
    return gr.Error(message, title=title, visible=False)


def guarded(fn: Callable[..., Any] | None = None, *, key: str | None = None) -> Callable[..., Any]:
    """Wrap a callback so LabError becomes `gr.Error(sentence)` in the visitor's language and any other exception a
    logged internal error. With `key` (what `run` passes) the sentence is kept for the page instead of a toast.

    Keeps the callback's kind (plain, generator, async) and signature, so gr.Progress and streaming still work.
    """
    if fn is None:
        return functools.partial(guarded, key=key)

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - translated for the page, logged when unexpected
                raise _translate(exc, key) from exc

        return gen_wrapper

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001
                raise _translate(exc, key) from exc

        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _translate(exc, key) from exc

    return wrapper


def error_box(elem_id: str) -> gr.Markdown:
    """Where a refused input's sentence stays, beside the inputs, until the next run (empty: hidden by CSS)."""
    return gr.Markdown("", elem_id=elem_id, elem_classes=["lab-error"], container=False)


def empty_like(component: Any) -> Any:
    """What a component shows when the run that fills it failed: nothing (never the previous run's result)."""
    if isinstance(component, gr.State):
        return gr.skip()
    if isinstance(component, gr.Dataframe):
        headers = getattr(component, "headers", None) or []
        return pd.DataFrame(columns=list(headers))
    if isinstance(component, (gr.Textbox, gr.Code, gr.Markdown, gr.HTML)):
        return ""
    return None


def run(
    triggers: Any,
    fn: Callable[..., Any],
    inputs: Any,
    outputs: Sequence[Any],
    *,
    api_name: str,
    error: gr.Markdown,
    clear: Sequence[Any] | None = None,
    light: bool = False,
    **kwargs: Any,
) -> Any:
    """`gr.on(triggers, fn, inputs, outputs)` whose refusal is one sentence in `error`, kept until the next run.

    The sentence is cleared in the browser as the next run starts; on a refusal the `.failure` handler writes it
    into `error` and empties `clear` (default: every output that is not a State), so no stale result sits under
    it. API clients still get the sentence as an AppError. `light=True` puts the event in the VIEW group
    (`limit_concurrency`): only for callbacks whose heavy work goes through `ui.cache.cached` or `ui.cache.heavy`.
    Returns the event, for `.then` chains.
    """
    triggers = triggers if isinstance(triggers, (list, tuple)) else [triggers]
    outputs = list(outputs)
    stale = [c for c in (outputs if clear is None else clear) if not isinstance(c, gr.State)]
    gr.on(triggers, None, None, error, js="() => ''", queue=False, api_visibility="private")
    callback = guarded(fn, key=api_name)
    callback.lab_light = light  # see limit_concurrency
    event = gr.on(triggers, callback, inputs, outputs, api_name=api_name, **kwargs)

    def failed(request: gr.Request):
        message = LAST_ERRORS.pop((session_of(request), api_name)) or t("error.internal")
        return [f"⚠️ {message}", *(empty_like(c) for c in stale)]

    event.failure(failed, None, [error, *stale], queue=False, api_visibility="private",
                  show_progress="hidden")  # fmt: skip
    return event


# ---------------------------------------------------------------------------------------------------------------
# Gradio's own refusals, worded; the language and session of every event


def _label(block: Any) -> str:
    label = getattr(block, "label", None)
    if label is not None and hasattr(label, "key"):  # an i18n("key") label: word it in the event's language
        label = t(label.key)
    return str(label) if label else block.get_block_name()


def _out_of_range(block: Any, value: Any) -> str | None:
    """The sentence for a value a Number/Slider/Dropdown/Radio/CheckboxGroup refuses, else None."""
    if isinstance(block, (gr.Number, gr.Slider)) and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = getattr(block, "minimum", None), getattr(block, "maximum", None)
        if (low is not None and value < low) or (high is not None and value > high):
            accepted = t("accept.number_range", low=fmt(low), high=fmt(high)) if low is not None and high is not None \
                else t("accept.number")
            return t("error.value", field=_label(block), value=shown(value), accepted=accepted)
        return None
    if isinstance(block, (gr.Dropdown, gr.Radio, gr.CheckboxGroup)) and value is not None:
        choices = [c[1] if isinstance(c, (tuple, list)) else c for c in (block.choices or [])]
        wanted = value if isinstance(value, list) else [value]
        try:
            bad = [v for v in wanted if v not in choices]
        except TypeError:
            bad = [value]
        if bad and not getattr(block, "allow_custom_value", False):
            listed = ", ".join(repr(c) for c in choices[:12]) + (", …" if len(choices) > 12 else "")
            accepted = t("accept.one_of", options=listed)
            return t("error.value", field=_label(block), value=shown(bad[0]), accepted=accepted)
    return None


class LabBlocks(gr.Blocks):
    """gr.Blocks that sets each event's language and session, and words Gradio's own refusals for a person.

    Our callbacks already speak through `guarded`. What is left is what Gradio does before and after them: a
    client sending a string for a number, a made-up file path (Gradio's own message would name the server's
    working and temp folders), a malformed payload. Those become one `gr.Error` naming the field and the value.
    """

    async def process_api(self, block_fn, inputs, state=None, request=None, *args, **kwargs):
        first = request[0] if isinstance(request, list) and request else request
        language = LANG.set(lang(first) if first is not None else locales.DEFAULT)
        session = SESSION.set(str(getattr(first, "session_hash", "") or kwargs.get("session_hash") or ""))
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        finally:
            LANG.reset(language)
            SESSION.reset(session)

    @staticmethod
    def _format_processing_error(block_fn, index, block, value, is_input, original_error) -> str:
        if not is_input:  # our own output did not fit its component: a bug, logged with its traceback
            log.error("postprocess of %s failed: %r", block_fn.name, original_error)
            return t("error.internal")
        return t("error.request.field", field=_label(block), value=shown(value))

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as exc:
            # a component's own refusal ("Value 10.5 is greater than maximum value 10.0.", "... (type: <class
            # 'str'>) is not in the list of choices"): say which field, in the visitor's words
            for block, value in zip(block_fn.inputs, inputs, strict=False):
                sentence = _out_of_range(block, value)
                if sentence:
                    raise gr.Error(sentence, title=t("error.title.input")) from None
            raise exc
        except InvalidPathError as exc:
            log.info("refused a file path in %s: %s", block_fn.name, exc)
            raise gr.Error(t("error.request.not_uploaded"), title=t("error.title.input")) from None
        except Exception as exc:  # noqa: BLE001 - wrong types, malformed payloads: the client's input
            message = str(exc) if isinstance(exc, ComponentProcessingError) else ""
            if not message or message == t("error.internal"):
                log.info("refused the inputs of %s: %r", block_fn.name, exc)
                message = t("error.request.inputs", count=len(block_fn.inputs),
                            endpoint=repr(block_fn.api_name or block_fn.name))  # fmt: skip
            raise gr.Error(message, title=t("error.title.input")) from None

    async def postprocess_data(self, block_fn, predictions, state):
        try:
            return await super().postprocess_data(block_fn, predictions, state)
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001 - our own outputs: a bug, logged, never shown
            log.exception("postprocess of %s failed", block_fn.name)
            raise gr.Error(t("error.internal"), title=t("error.title.internal")) from None


# ---------------------------------------------------------------------------------------------------------------
# Concurrency: one server-wide limit per group

# Gradio's limits are per `concurrency_id`; by default each event function has its own, so per-event limits of 2
# would let five heavy requests of five different events run at once.
WORK = "lab-work"  # everything that computes: builds, forwards, curves, loads, saves
VIEW = "lab-view"  # views served from ui.cache (a miss computes under a heavy-work slot)
TRAINING = "train"  # the Train tab's run (a long generator)


def light(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark `fn` as a light event's callback (the VIEW group of `limit_concurrency`): it moves values around or
    serves from `ui.cache`, and any heavy work in it holds a heavy-work slot itself."""
    fn.lab_light = True
    return fn


def limit_concurrency(demo: gr.Blocks, *, work: int = 2, view: int = 8, training: int = 1) -> None:
    """Put every queued event of `demo` into one of three server-wide groups: TRAINING (limit `training`) for the
    events declared with `concurrency_id=TRAINING`; VIEW (limit `view`) for the light events (`run(..., light=True)`
    and first views: their work goes through `ui.cache.cached`, so a hit is cheap and a miss holds a heavy-work
    slot); WORK (limit `work`) for all others, each run holding a heavy-work slot (`ui.cache.HEAVY`), so misses and
    heavy events together never compute more than two at once, while hits never queue behind them.

    Call it once after every tab is built. Events with `queue=False` (Stop, arming a run, showing a kept error)
    compute nothing and stay outside the queue; with the queue's REST routes closed (Gradio's default
    `api_open=False`), no client can send a queued event around it.
    """
    for fn in demo.fns.values():
        if not fn.queue or fn.fn is None:
            continue
        if fn.concurrency_id == TRAINING:
            fn.concurrency_limit = training
        elif getattr(fn.fn, "lab_light", False):
            fn.concurrency_id, fn.concurrency_limit = VIEW, view
        else:
            fn.concurrency_id, fn.concurrency_limit = WORK, work
            if not inspect.iscoroutinefunction(fn.fn) and not getattr(fn.fn, "lab_heavy", False):
                fn.fn = heavy(fn.fn)
                fn.fn.lab_heavy = True


# ---------------------------------------------------------------------------------------------------------------
# A tab's first view, and links that share a view


class _Claims:
    """(session, tab) pairs whose first view has been computed: a bounded LRU (old sessions fall out)."""

    def __init__(self, size: int = 50_000) -> None:
        self.items: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.size = size
        self.lock = threading.Lock()

    def claim(self, key: tuple[str, str]) -> bool:
        """True for the first caller with `key`, False for every later one."""
        with self.lock:
            if key in self.items:
                return False
            self.items[key] = None
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return True


_OPENED = _Claims()


def link_value(raw: str, limit: int = 40) -> str:
    """A link's value as the address holds it, short, and safe inside a Markdown code span."""
    text = raw if len(raw) <= limit else raw[: limit - 1] + "…"
    return "".join(c if c.isprintable() and c != "`" else "?" for c in text)


@dataclass
class Link:
    """One setting of a tab kept in the address bar: `?<name>=<value>`, read back with `parse` (which raises
    LabError or ValueError for a value it refuses; the link's value is then ignored with a note)."""

    name: str
    component: Any
    parse: Callable[[str], Any] = str


@dataclass
class Shared:
    """Per-session `gr.State`s that tabs read and write to hand work to each other, and the page's common parts.

    - `models`: dict label -> nn.Module, the models this session built ("compose", "unet", "surgery", "train");
      the Checkpoints tab saves any of them.
    - `loss`: the loss chosen in the Losses tab (a `lab.losses.LossSpec`), for the Train tab.
    - `schedule`: the schedule chosen in the LR schedules tab (a `lab.schedules.ScheduleSpec`), for the Train tab.
    - `demo`: the enclosing Blocks; `tabs`: the gr.Tabs; `note`: the header's note (a link's ignored values).
    """

    demo: gr.Blocks
    models: gr.State
    loss: gr.State
    schedule: gr.State
    tabs: Any = None
    note: Any = None
    tab_ids: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, demo: gr.Blocks) -> Shared:
        return cls(
            demo=demo,
            models=gr.State({}),
            loss=gr.State(None),
            schedule=gr.State(None),
        )


def _url_js(tab_id: str, names: Sequence[str], *, selecting: bool = False) -> str:
    """A browser function writing `?tab=<tab_id>&<name>=<value>...` (and keeping ?lang=) with history.replaceState.

    `selecting`: the tab's select event (it records the tab on screen). Otherwise a change of a setting, which writes
    only while its tab is on screen: a hidden tab's settings may follow another tab (Train follows the LR tab's
    schedule) and must not take the address over.
    """
    guard = (f"window.__labTab = {json.dumps(tab_id)};" if selecting else
             f" const shown = window.__labTab || new URL(window.location.href).searchParams.get('tab');"
             f" if (shown && shown !== {json.dumps(tab_id)}) return values;")  # fmt: skip
    return (
        f"(...values) => {{ {guard} const u = new URL(window.location.href); const keep = u.searchParams.get('lang');"
        " u.search = ''; if (keep) u.searchParams.set('lang', keep);"
        f" u.searchParams.set('tab', {json.dumps(tab_id)}); const names = {json.dumps(list(names))};"
        " names.forEach((n, i) => { let v = values[i]; if (v === null || v === undefined) return;"
        " if (typeof v === 'object') v = JSON.stringify(v); u.searchParams.set(n, String(v)); });"
        " window.history.replaceState(window.history.state, '', u.toString()); return values; }"
    )


def first_view(
    shared: Shared,
    tab: gr.Tab,
    tab_id: str,
    view: Callable[..., Any],
    inputs: Sequence[Any],
    outputs: Sequence[Any],
    *,
    links: Sequence[Link] = (),
    error: gr.Markdown | None = None,
    api_name: str,
    light: bool = False,
) -> None:
    """Show the tab's view, computed, the first time a session opens the tab, and keep its settings in the URL.

    - A page opened with `?tab=<tab_id>` (or without ?tab= for the first tab) restores the `links` settings from
      the address and computes `view(*inputs)` on load; a bad value is ignored with a note in the header.
    - Otherwise the first click on the tab computes it (once per session: later clicks keep what is there; an
      API client gets the view on every call to `<api_name>` only once per session, too).
    - Opening the tab, and changing any `links` setting, writes `?tab=` and the settings into the address bar
      (`history.replaceState`), so the address always shares what is on screen.
    - `light=True`: the view's heavy work goes through `ui.cache` (see `run`).
    """
    inputs, outputs = list(inputs), list(outputs)
    link_components = [link.component for link in links]
    skip_all = [gr.skip()] * (len(link_components) + len(outputs) + 1)

    def targeted(params: Any) -> bool:
        """Whether the address asks for this tab (no ?tab=, or an unknown one, means the first tab)."""
        wanted = params.get("tab") or ""
        if wanted not in shared.tab_ids:
            wanted = shared.tab_ids[0] if shared.tab_ids else tab_id
        return wanted == tab_id

    def from_link(params: Any, values: list[Any]) -> tuple[list[Any], list[Any], list[str]]:
        restored, ignored = [], []
        for link in links:
            raw = params.get(link.name)
            if raw is None:
                restored.append(gr.skip())
                continue
            try:
                value = link.parse(raw)
            except (LabError, ValueError, TypeError):
                ignored.append(f"`{link.name}={link_value(raw)}`")
                restored.append(gr.skip())
                continue
            values[inputs.index(link.component)] = value
            restored.append(value)
        return values, restored, ignored

    def open_view(on_load: bool, request: gr.Request, *values: Any):
        params = request.query_params if request is not None else {}
        if on_load and not targeted(params):
            return skip_all
        if not _OPENED.claim((session_of(request), tab_id)):
            return skip_all  # this session's first view of the tab is already there (or on its way)
        values, restored, ignored = list(values), [gr.skip()] * len(links), []
        if targeted(params):  # the address holds this tab's settings: show what it asks for
            values, restored, ignored = from_link(params, values)
        note = t("common.link.ignored", values=", ".join(ignored)) if ignored else gr.skip()
        result = view(*values)
        result = list(result) if isinstance(result, (list, tuple)) else [result]
        return [*restored, *result, note]

    def on_load(request: gr.Request, *values: Any):
        return open_view(True, request, *values)

    def on_select(request: gr.Request, *values: Any):
        return open_view(False, request, *values)

    view_outputs = [*link_components, *outputs, shared.note]
    # Opening a link fires both the page's load and (as the header selects the tab) the tab's select; whichever
    # comes first claims the session's first view, with the link's settings, and the other returns nothing.
    if error is not None:
        run(shared.demo.load, on_load, inputs, view_outputs, api_name=f"{api_name}_link", error=error, clear=outputs,
            light=light)  # fmt: skip
        run(tab.select, on_select, inputs, view_outputs, api_name=api_name, error=error, clear=outputs, light=light)
    else:
        for trigger, fn, name in ((shared.demo.load, on_load, f"{api_name}_link"), (tab.select, on_select, api_name)):
            callback = guarded(fn)
            callback.lab_light = light  # see limit_concurrency
            trigger(callback, inputs, view_outputs, api_name=name)
    names = [link.name for link in links]
    tab.select(None, link_components, None, js=_url_js(tab_id, names, selecting=True), queue=False,
               api_visibility="private")  # fmt: skip
    if link_components:
        gr.on([c.change for c in link_components], None, link_components, None, js=_url_js(tab_id, names),
              queue=False, api_visibility="private")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Small shared widgets and files


def code_box(label: Any = None, **kwargs: Any) -> gr.Code:
    """The code panel every tab has: Python, copy button, read-only."""
    return gr.Code(label=label if label is not None else i18n("common.code"), language="python",
                   interactive=False, buttons=["copy"], **kwargs)  # fmt: skip


def download_dir(tab: str, keep_s: float = 900.0) -> Path:
    """A fresh folder for one file a tab hands out, under `<tmp>/lab-<tab>/`; folders older than `keep_s` go.

    Gradio copies a returned file into its own cache (cleaned by `Blocks(delete_cache=...)`), so our copy is only
    needed for the moment of returning it; pruning on each call keeps the temp dir bounded however many runs.
    """
    root = Path(tempfile.gettempdir()) / f"lab-{tab}"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in root.iterdir():
        try:
            if now - old.stat().st_mtime > keep_s:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink()
        except OSError:
            pass  # another session pruned it first
    return Path(tempfile.mkdtemp(dir=root))
