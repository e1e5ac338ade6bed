"""The PyTorch lab: chapters 5 and 6 of the tutorial as one Gradio app.

`python app.py` serves it on 127.0.0.1:7860 (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT override); on a
Hugging Face Space the same file runs unchanged. Tabs live in `ui/`, the backend in `lab/`.
"""

from __future__ import annotations

import os

import gradio as gr

from lab.device import describe
from ui import checkpoints, compose, losses, schedules, surgery, train, unet
from ui.common import Shared

# Tabs in page order: (id, label, module with build(shared)).
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

THEME = gr.themes.Soft(primary_hue="blue", neutral_hue="slate")
CSS = """
#lab-header { margin-bottom: 0.25rem; }
#lab-header p { margin: 0; color: var(--body-text-color-subdued); }
.pitfall { border-left: 4px solid #f97316 !important; }
"""
# show_error: Gradio forwards its own preprocess message (naming the component and the value) when an API client
# sends a wrongly typed value (a string for a gr.Number), instead of its generic "has not enabled verbose error
# reporting" text (issue 9, F7). Our callbacks are unaffected: ui.common.guarded already turns every exception
# other than LabError into the one logged INTERNAL_ERROR sentence, so no traceback text reaches the page.
LAUNCH_KW = {"theme": THEME, "css": CSS, "max_file_size": "50mb", "show_error": True}


def header_text() -> str:
    return (
        "## PyTorch lab · models, saving, losses, schedules\n"
        f"Runs on **{describe()}** · gradio {gr.__version__}"
    )


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="PyTorch lab", delete_cache=(1800, 3600)) as demo:
        gr.Markdown(header_text(), elem_id="lab-header")
        shared = Shared.create(demo)
        for tab_id, label, module in TAB_MODULES:
            with gr.Tab(label, id=tab_id, elem_id=f"tab-{tab_id}"):
                module.build(shared)
    demo.queue(default_concurrency_limit=2)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **LAUNCH_KW,
    )
