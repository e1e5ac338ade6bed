"""The PyTorch lab: chapters 5 and 6 of the tutorial as one Gradio app.

`python app.py` serves it on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override); on a
Hugging Face Space the same file runs unchanged. Tabs live in `ui/`, the backend in `lab/`.
"""

from __future__ import annotations

import os

import gradio as gr
from starlette.middleware import Middleware

from lab.device import facts
from ui import checkpoints, compose, losses, schedules, surgery, train, unet
from ui.common import LabBlocks, Shared, limit_concurrency, link_value
from ui.i18n import I18N, SWITCH_JS, LanguageMiddleware, i18n, lang, t

# Tabs in page order: (id, English label, module with build(shared)); `?tab=<id>` opens one. Labels on the page
# come from the catalogues (`tab.<id>`); the English ones are kept here for scripts that click through the page.
TAB_MODULES = (
    ("compose", "Compose", compose),
    ("unet", "U-Net", unet),
    ("surgery", "ResNet surgery", surgery),
    ("checkpoints", "Checkpoints", checkpoints),
    ("losses", "Losses", losses),
    ("schedules", "LR schedules", schedules),
    ("train", "Train", train),
)
TABS = tuple((tab_id, label) for tab_id, label, _ in TAB_MODULES)
TAB_IDS = tuple(tab_id for tab_id, _, _ in TAB_MODULES)

THEME = gr.themes.Soft(primary_hue="blue", neutral_hue="slate")
CSS = """
#lab-header { margin-bottom: 0.25rem; }
#lab-header p { margin: 0; color: var(--body-text-color-subdued); }
#lab-lang { max-width: 15rem; margin-left: auto; }
.pitfall { border-left: 4px solid #f97316 !important; }
.lab-error:has(.prose:empty), .lab-error:has(.md:empty), #lab-note:has(.md:empty) { display: none; }
.lab-error { color: #b91c1c; background: #fef2f2; border-left: 4px solid #dc2626; padding: 0.4rem 0.75rem;
             border-radius: 0.25rem; }
"""
# show_error=False: no exception text reaches a visitor unless it is a gr.Error we worded. ui.common.guarded words
# our callbacks' errors; ui.common.LabBlocks words what Gradio refuses before them (a string sent for a number, a
# file path that was never uploaded) as one sentence naming the field, instead of Gradio's own message, which
# names Python types and the server's folders (issues 9 F7 and 12). The middleware serves the page in the
# language the request asks for (ui/i18n.py); ssr_mode=False keeps the page served by this process (Spaces too).
LAUNCH_KW = {
    "theme": THEME,
    "css": CSS,
    "max_file_size": checkpoints.UPLOAD_MAX_BYTES,
    "show_error": False,
    "i18n": I18N,
    "ssr_mode": False,
    "app_kwargs": {"middleware": [Middleware(LanguageMiddleware)]},
}


def header(request: gr.Request):
    """The header's per-visitor parts: where the lab runs (in the page language), the switch's position, the tab a
    link asks for (an unknown ?tab= is ignored with a note)."""
    code = lang(request)
    line = t("common.runs_on", **facts(), gradio=gr.__version__)
    wanted = (request.query_params.get("tab") or "").strip() if request is not None else ""
    if wanted in TAB_IDS:
        return line, code, gr.Tabs(selected=wanted), gr.skip()
    note = t("common.link.ignored", values=f"`tab={link_value(wanted)}`") if wanted else gr.skip()
    return line, code, gr.skip(), note


def build_demo() -> gr.Blocks:
    with LabBlocks(title="PyTorch lab · PyTorch 实验室", delete_cache=(1800, 3600)) as demo:
        with gr.Row(equal_height=True):
            with gr.Column(scale=5, min_width=300):
                gr.Markdown(i18n("common.header"), elem_id="lab-header")
                runs_on = gr.Markdown(elem_id="lab-runs-on")
            language = gr.Radio(
                [(t("common.lang.zh"), "zh"), (t("common.lang.en"), "en")],
                label="语言 · Language",
                elem_id="lab-lang",
                scale=1,
                min_width=180,
            )
        note = gr.Markdown("", elem_id="lab-note")
        shared = Shared.create(demo)
        shared.note, shared.tab_ids = note, list(TAB_IDS)
        with gr.Tabs(elem_id="lab-tabs") as tabs:
            shared.tabs = tabs
            for tab_id, _label, module in TAB_MODULES:
                with gr.Tab(i18n(f"tab.{tab_id}"), id=tab_id, elem_id=f"tab-{tab_id}"):
                    module.build(shared)
        demo.load(header, None, [runs_on, language, tabs, note], queue=False, api_name="header")
        language.input(None, language, None, js=SWITCH_JS, queue=False, api_visibility="private")
    # At most 2 computations and 1 training at once for the whole server, all others queued (issue 12): a 2-core
    # CPU Space has nothing to gain from more, and each large request may hold a few hundred MB. Views served from
    # ui.cache (a class opening the same link) run beside them, 8 at once; a cache miss takes a computing slot.
    limit_concurrency(demo, work=2, view=8, training=1)
    demo.queue()
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **LAUNCH_KW,
    )
