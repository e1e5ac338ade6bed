"""Compose tab (tutorial 5.1): type layers, pick Sequential / OrderedDict / ModuleList / ModuleDict, see the model.

Thin adapter over `lab.compose`: layout first, events last; every callback goes through `ui.common.guarded`.
"""

from __future__ import annotations

import inspect

import gradio as gr
import pandas as pd

from lab import compose
from ui.common import code_box, guarded

__all__ = ["build", "run_compose", "run_pitfall"]

LABEL = "Compose"  # key of the built model in shared.models

INTRO = """### 5.1 · One network, four ways to write it
Type one layer per line (`fc1 = nn.Linear(784, 256)` or just `nn.ReLU()`), pick a style and run. The lab prints
the model, traces one forward pass layer by layer, writes the PyTorch code, and proves that all four styles compute
the same function once they hold the same weights. Names are keys in the OrderedDict/ModuleDict styles; an unnamed
layer is named after its type there (`relu1`, `linear2`). The text is parsed, never run: only the layers below,
only literal arguments."""

ALLOWED = (
    "Allowed layers: "
    + ", ".join(f"`{name}`" for name in sorted(compose.LAYERS))
    + (f". At most {compose.MAX_LAYERS} layers and {compose.MAX_PARAMS:,} parameters; `nn.`, `torch.nn.` or no prefix.")
)

PITFALL_TEXT = """**5.1.3: a ModuleList stores layers; it is not a network.** The tutorial's class is pseudo-code
(`def __init__(self, ...)` does not run). Calling the list itself fails, because `nn.ModuleList` has no `forward`;
a module that owns the list and loops over it in `forward` is the working version (the lab's `ListNet`).

**5.1.4: ModuleDict keeps insertion order.** Current PyTorch iterates and prints a ModuleDict in the order the
layers were added. PyTorch 1.6 and older sorted the keys of a plain dict (pytorch/pytorch#40905 removed that), which
is the order some printouts of 5.1.4 show. A for loop over `.values()` runs the layers in the order you wrote them."""

BARE_CODE = """layers = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
layers.append(nn.Linear(256, 10))
layers(x)  # the list itself has no forward"""

LOOP_CODE = inspect.getsource(compose.ListNet) + "\n\nListNet(layers)(x)"  # the class the lab itself runs

DICT_CODE = """net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
net["output"] = nn.Linear(256, 10)
print(net)"""


def _flops_text(flops: int) -> str:
    for unit, scale in (("GFLOPs", 1e9), ("MFLOPs", 1e6), ("kFLOPs", 1e3)):
        if flops >= scale:
            return f"**{flops / scale:.2f}** {unit}"
    return f"**{flops}** FLOPs"


def _totals_markdown(result: compose.Composition) -> str:
    values = ", ".join(f"{v:.4f}" for v in result.first_values)
    more = " …" if result.first_values and len(result.first_values) == 8 else ""
    shown = f": `{values}{more}`" if values else ""
    warning = f" · ⚠ {result.nonfinite:,} NaN/inf values in the output" if result.nonfinite else ""
    return (
        f"**{result.total:,}** parameters, **{result.trainable:,}** trainable · "
        f"{_flops_text(result.flops)} per forward · output **{result.output_shape}**{shown}{warning}"
    )


def run_compose(text: str, style: str, input_shape: str, models: dict | None = None):
    """Build and inspect the typed network; returns (printed, table, totals, code, equivalence, models)."""
    result = compose.explore(text, style, input_shape)
    models = {**(models or {}), LABEL: result.model}  # a new dict: this session's state only
    equivalence = result.equivalence.copy()
    for column in ("max |diff| own weights", "max |diff| copied weights"):
        equivalence[column] = equivalence[column].map(lambda v: f"{v:.3g}")
    return result.printed, result.table, _totals_markdown(result), result.code, equivalence, models


def run_pitfall():
    """Run 5.1's pitfalls live on a (1, 784) input: the bare ModuleList call, its for-loop fix, ModuleDict's order."""
    bare = compose.bare_modulelist_demo(compose.DEFAULT_INPUT_SHAPE)
    order = compose.moduledict_order_demo()
    order_text = "\n".join(
        [
            order["printed"],
            "",
            f"# keys in insertion order: {order['keys']}",
            f"# sorted, as older printouts show: {order['sorted']}",
        ]
    )
    return bare["bare"], bare["loop"], order_text


def build(shared) -> None:
    """The Compose tab: inputs left, printed model and totals right, table, code and proof below, pitfall last."""
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=2):
            layers = gr.Code(  # an editor with line numbers: error messages name the line
                value=compose.DEFAULT_LAYERS,
                language="python",
                interactive=True,
                lines=8,
                max_lines=30,
                label="Layers, one per line",
                elem_id="compose-layers",
            )
            style = gr.Radio(
                choices=[(compose.STYLE_LABELS[s], s) for s in compose.STYLES],
                value="sequential",
                label="Style",
                elem_id="compose-style",
            )
            shape = gr.Textbox(
                value=compose.DEFAULT_INPUT_SHAPE,
                label="Input shape, batch first (1x784, or 2, 3, 32, 32)",
                elem_id="compose-shape",
            )
            run = gr.Button("Build and run", variant="primary", elem_id="compose-run")
            gr.Examples(
                examples=[list(pair) for pair in compose.EXAMPLES.values()],
                example_labels=list(compose.EXAMPLES),
                inputs=[layers, shape],
                cache_examples=False,  # fills the inputs only; nothing runs at start-up
                label="Examples (click, then Build and run)",
                api_name="compose_example",
                elem_id="compose-examples",
            )
            gr.Markdown(ALLOWED, elem_id="compose-allowed")
        with gr.Column(scale=3):
            printed = gr.Code(label="print(model)", language=None, lines=8, elem_id="compose-printed")
            totals = gr.Markdown(elem_id="compose-totals")
    table = gr.Dataframe(
        value=pd.DataFrame(columns=["name", "type", "depth", "input_shape", "output_shape", "params", "trainable"]),
        label="Per layer, in forward order (lab.inspect.summary)",
        interactive=False,
        elem_id="compose-table",
    )
    equivalence = gr.Dataframe(
        label="Same function in all four styles: max |difference| to nn.Sequential's output, "
        "with each style's own random weights, then with nn.Sequential's weights copied in (lab.compose.copy_weights)",
        interactive=False,
        elem_id="compose-equivalence",
    )
    code = code_box(elem_id="compose-code")
    with gr.Accordion("Pitfall: a ModuleList is not a network; ModuleDict keeps insertion order", open=False,
                      elem_classes="pitfall", elem_id="compose-pitfall") as pitfall:  # fmt: skip
        gr.Markdown(PITFALL_TEXT)
        with gr.Row():
            with gr.Column():
                gr.Code(BARE_CODE, language="python", label="Calling the ModuleList (the tutorial's shortcut)")
                bare_out = gr.Textbox(label="What PyTorch says", elem_id="compose-pitfall-bare")
            with gr.Column():
                gr.Code(LOOP_CODE, language="python", label="A module whose forward loops over it (the fix)")
                loop_out = gr.Textbox(label="What it returns", elem_id="compose-pitfall-loop")
        with gr.Row():
            gr.Code(DICT_CODE, language="python", label="ModuleDict order (5.1.4)")
            dict_out = gr.Code(language=None, label="Printed, live", elem_id="compose-pitfall-dict")
        rerun = gr.Button("Run again", size="sm", elem_id="compose-pitfall-run")

    # events last
    inputs = [layers, style, shape, shared.models]
    outputs = [printed, table, totals, code, equivalence, shared.models]
    compose_fn = guarded(run_compose)
    run.click(compose_fn, inputs, outputs, api_name="compose_build")
    style.change(compose_fn, inputs, outputs, api_name="compose_style")
    pitfall_fn = guarded(run_pitfall)
    pitfall.expand(pitfall_fn, None, [bare_out, loop_out, dict_out], api_name="compose_pitfall_open")
    rerun.click(pitfall_fn, None, [bare_out, loop_out, dict_out], api_name="compose_pitfall")
