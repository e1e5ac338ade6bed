"""ResNet surgery tab (tutorial 5.3): new head, extra input, extra output, freeze; before and after side by side.

Thin adapter over `lab.surgery`: layout first, events last; every callback goes through `ui.common.guarded`.
Nothing is built at import or in build(): a ResNet is built only when the button is clicked.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pandas as pd

from lab import surgery as S
from lab.device import pick_device
from lab.inspect import count_params
from ui.common import code_box, guarded

__all__ = ["build", "run_surgery", "run_softmax_pitfall", "run_extra_input_pitfall", "run_unused_input_pitfall",
           "run_device_pitfall"]

LABEL = "ResNet surgery"  # key of the built model in shared.models
DEFAULT = S.Surgery()  # the tutorial's 5.3.1: resnet50, fc1 2048 -> 128, dropout 0.5, 10 classes
DEFAULT_BATCH, DEFAULT_SIZE = 2, 224
CHANGED_BG = "background-color: rgba(249, 115, 22, 0.16)"  # the pitfall orange, light

INTRO = f"""### 5.3 · Change a ResNet: its head, an extra input, an extra output, what trains
Pick a torchvision ResNet (random weights, or your own state_dict file; nothing is downloaded) and the operations,
then **Apply**. Left: the network as torchvision builds it; right: after the surgery, changed rows marked; below:
a forward pass on a dummy batch with every output's shape, and the PyTorch code that does the same.
The head returns **logits** (no Softmax: CrossEntropyLoss applies it), and an extra input joins the **true
penultimate features** (512-d for resnet18/34, 2048-d otherwise), not the 1000 ImageNet logits. Bounds: classes
2 to {S.MAX_CLASSES:,}; up to {S.MAX_HIDDEN_LAYERS} hidden sizes of 1 to {S.MAX_HIDDEN:,}; extra input 1 to
{S.MAX_EXTRA:,} values; batch 1 to {S.MAX_BATCH}; image {S.MIN_SIZE} to {S.MAX_SIZE} px."""

SOFTMAX_TEXT = f"""**5.3.1 ends the head in `nn.Softmax(dim=1)` and then trains with `nn.CrossEntropyLoss`**,
which applies log-softmax itself. The loss then sees probabilities in [0, 1] as if they were logits: it can never
fall below log(1 + (C-1)/e) = **{S.softmax_loss_floor(3):.3f}** for C = 3 classes, and its gradients fade long
before. Below, the same head with the same initial weights, trained for 50 Adam steps on a synthetic 3-class
problem (96 samples of 512-d non-negative features, like resnet18's pooled features): once with logits, once with
the tutorial's Softmax. Fix: return logits; apply `softmax` only to show probabilities."""

SOFTMAX_TUTORIAL = """classifier = nn.Sequential(OrderedDict([
    ('fc1', nn.Linear(2048, 128)),
    ('relu1', nn.ReLU()),
    ('dropout1', nn.Dropout(0.5)),
    ('fc2', nn.Linear(128, 10)),
    ('output', nn.Softmax(dim=1)),  # probabilities
]))
loss = nn.CrossEntropyLoss()(net(x), y)  # softmax twice"""

SOFTMAX_FIX = """net.fc = nn.Sequential(OrderedDict([
    ('fc1', nn.Linear(2048, 128)),
    ('relu1', nn.ReLU()),
    ('dropout1', nn.Dropout(0.5)),
    ('fc2', nn.Linear(128, 10)),  # logits
]))
loss = nn.CrossEntropyLoss()(net(x), y)
probs = net(x).softmax(dim=1)  # only to show them"""

EXTRA_INPUT_TEXT = """**5.3.2 joins the extra input to the network's output**: with the ImageNet `fc` still in place,
`self.net(x)` returns 1000 class scores, which the tutorial calls the penultimate layer. They pass a ReLU (about
half of them become 0), the extra value is appended (1001 values), `fc_add` maps to 10, and a Softmax ends it
again. The true penultimate features are what `fc` receives; `net.fc = nn.Identity()` exposes them. The table is
measured live on a (4, 3, 64, 64) dummy batch with the architecture picked above."""

EXTRA_INPUT_TUTORIAL = """def forward(self, x, add_variable):
    x = self.net(x)  # (N, 1000): ImageNet logits
    x = torch.cat((self.dropout(self.relu(x)),
                   add_variable.unsqueeze(1)), 1)
    x = self.fc_add(x)  # Linear(1001, 10)
    x = self.output(x)  # Softmax
    return x"""

EXTRA_INPUT_FIX = """# __init__: net.fc = nn.Identity(); self.fc = Linear(2048 + k, 10)
def forward(self, x, extra):
    features = self.net(x)  # (N, 2048) for resnet50
    extra = extra.reshape(len(x), k).to(features)  # float, same device
    return self.fc(torch.cat((features, extra), 1))  # logits"""

UNUSED_TEXT = """**5.3.3's `forward(self, x, add_variable)` never uses `add_variable`**: the model cannot be called
with its one real input, and any value passed changes nothing. Its "x1000" output is again the ImageNet logits,
not the features. `WithExtraOutput.forward(x)` takes one input and returns `(logits, features)`."""

DEVICE_TEXT = """**The tutorial moves models with `.cuda()`**, which fails on any machine without CUDA (and on
Apple's MPS). `.to(device)` with `device = torch.device("cuda" if torch.cuda.is_available() else "cpu")` runs
everywhere. The extra input must follow: on a GPU, a CPU tensor (and an int64 one, as `torch.tensor([1, 2])` is)
joined to the features fails or gets promoted; the lab casts it with `.to(features)`. Run live on this machine:"""


def _totals(title: str, model, before: tuple[int, int] | None = None) -> str:
    total, trainable = count_params(model)
    text = f"**{title}** · {total:,} parameters · {trainable:,} trainable"
    if before is not None:
        text += f" (parameters {total - before[0]:+,}, trainable {trainable - before[1]:+,})"
    return text


def _styled(table: pd.DataFrame):
    """Changed rows tinted; numbers with thousands separators."""
    return (table.style.apply(lambda row: [CHANGED_BG if row["change"] else ""] * len(row), axis=1)
            .format({"params": "{:,}", "trainable": "{:,}"}))


def _load_note(built: S.Built, weights: str | None) -> str:
    if built.load_report is None:
        return "Random weights (seed 0); nothing downloaded."
    report = built.load_report
    extras = "; ".join([*report.renamed, *report.notes])
    return (f"Loaded {len(report.loaded)} tensors from `{Path(weights).name}` into {built.loaded_into}"
            + (f" ({extras})" if extras else "") + ".")


def run_surgery(arch: str, weights: str | None, new_head: bool, hidden: str, dropout: float, classes: float,
                extra_input: bool, extra_size: float, extra_output: bool, freeze: bool, batch: float, size: float,
                models: dict | None = None):
    """Build, operate, compare and forward-check; returns the 9 views and the session's models dict."""
    surgery = S.Surgery.from_choices(arch, new_head=new_head, hidden=hidden, num_classes=classes, dropout=dropout,
                                     extra_input=extra_input, extra_size=extra_size, extra_output=extra_output,
                                     freeze=freeze)
    inputs = S.dummy_batch(surgery, batch, size)  # validated before the (slow) build
    built = S.build(surgery, weights or None)
    before_t, after_t, before_print, after_print = S.changed_parts(built)
    before_counts = (int(built.before["params"].sum()), int(built.before["trainable"].sum()))
    forward, _ = S.forward_check(built, inputs, pick_device())
    before_md = (f"**Before** · torchvision `{arch}` · {before_counts[0]:,} parameters · {before_counts[1]:,} "
                 f"trainable\n\n{_load_note(built, weights)}")
    after_md = _totals(f"After · `{type(built.model).__name__}`", built.model, before_counts)
    code = S.to_code(surgery, batch, size, weights_name=Path(weights).name if weights else None)
    models = {**(models or {}), LABEL: built.model}  # a new dict: this session's state only
    return before_md, _styled(before_t), before_print, after_md, _styled(after_t), after_print, forward, code, models


def run_softmax_pitfall():
    """Train the logits head and the Softmax head for 50 steps; returns (figure, final values)."""
    history = S.softmax_head_pitfall(50)
    last = history.iloc[-1]
    final = pd.DataFrame({
        "head": ["logits (the lab)", "Softmax (tutorial 5.3.1)"],
        "final loss": [round(last["logits head loss"], 4), round(last["softmax head loss"], 4)],
        "train accuracy": [last["logits head accuracy"], last["softmax head accuracy"]],
        "loss floor": [0.0, round(S.softmax_loss_floor(3), 4)],
    })
    return S.loss_figure(history), final


def run_extra_input_pitfall(arch: str):
    """5.3.2 as printed against WithExtraInput on `arch`, measured on a (4, 3, 64, 64) dummy batch."""
    return S.extra_input_pitfall(arch).style.format({"params after the backbone": "{:,}"})


def run_unused_input_pitfall(arch: str):
    """5.3.3 as printed, called with one input and with two different add_variables."""
    return S.unused_input_pitfall(arch)


def run_device_pitfall():
    """`.cuda()` against `.to(device)` on this machine."""
    return S.device_pitfall(pick_device())


def build(shared) -> None:
    """The surgery tab: controls and forward check on top, before | after, the code, the four pitfalls."""
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                arch = gr.Dropdown(list(S.ARCHS), value=DEFAULT.arch, label="Architecture", elem_id="surgery-arch")
                weights = gr.File(label="Weights (optional state_dict: .pt .pth .pkl .safetensors)",
                                  file_types=[".pt", ".pth", ".pkl", ".safetensors"], type="filepath", height=110,
                                  elem_id="surgery-weights")
            with gr.Group():
                new_head = gr.Checkbox(value=True, label="New head: fc1 => relu1 => dropout1 ... => logits",
                                       elem_id="surgery-new-head")
                with gr.Row():
                    hidden = gr.Textbox(value="128", label="Hidden sizes (e.g. 512, 128; empty: none)",
                                        elem_id="surgery-hidden")
                    dropout = gr.Slider(0.0, 0.9, value=DEFAULT.dropout, step=0.05, label="Dropout",
                                        elem_id="surgery-dropout")
                    classes = gr.Number(value=DEFAULT.num_classes, precision=0, label="Classes",
                                        elem_id="surgery-classes")
            with gr.Group():
                with gr.Row():
                    extra_input = gr.Checkbox(value=False, label="Extra input (joined to the features)",
                                              elem_id="surgery-extra-input")
                    extra_size = gr.Number(value=1, precision=0, label="Extra-input size",
                                           elem_id="surgery-extra-size")
                with gr.Row():
                    extra_output = gr.Checkbox(value=False, label="Extra output: (logits, features)",
                                               elem_id="surgery-extra-output")
                    freeze = gr.Checkbox(value=False, label="Freeze the backbone (only the head trains)",
                                         elem_id="surgery-freeze")
            with gr.Row():
                batch = gr.Number(value=DEFAULT_BATCH, precision=0, label=f"Dummy batch N (1-{S.MAX_BATCH})",
                                  elem_id="surgery-batch")
                size = gr.Number(value=DEFAULT_SIZE, precision=0, label=f"Image size ({S.MIN_SIZE}-{S.MAX_SIZE})",
                                 elem_id="surgery-size")
            run = gr.Button("Apply surgery", variant="primary", elem_id="surgery-run")
        with gr.Column(scale=3):
            forward = gr.Dataframe(
                value=pd.DataFrame(columns=["model", "kind", "name", "shape", "dtype"]),
                label="Forward check (eval, inference mode): every input and output", interactive=False,
                elem_id="surgery-forward")
    with gr.Row(equal_height=False):
        with gr.Column():
            before_md = gr.Markdown("**Before** · press *Apply surgery*", elem_id="surgery-before-totals")
            before_table = gr.Dataframe(label="Top-level children before", interactive=False,
                                        elem_id="surgery-before-table")
            before_print = gr.Code(label="print() of the parts that change", language=None, lines=4,
                                   elem_id="surgery-before-print")
        with gr.Column():
            after_md = gr.Markdown("**After**", elem_id="surgery-after-totals")
            after_table = gr.Dataframe(label="Top-level children after (changed rows tinted)", interactive=False,
                                       elem_id="surgery-after-table")
            after_print = gr.Code(label="print() of the new parts", language=None, lines=4,
                                  elem_id="surgery-after-print")
    code = code_box(value=S.to_code(DEFAULT, DEFAULT_BATCH, DEFAULT_SIZE), elem_id="surgery-code")

    with gr.Accordion("Pitfall: a Softmax head trained with CrossEntropyLoss (5.3.1)", open=False,
                      elem_classes="pitfall", elem_id="surgery-pitfall-softmax") as softmax_acc:
        gr.Markdown(SOFTMAX_TEXT)
        with gr.Row():
            gr.Code(SOFTMAX_TUTORIAL, language="python", label="Tutorial 5.3.1")
            gr.Code(SOFTMAX_FIX, language="python", label="The lab")
        with gr.Row():
            softmax_plot = gr.Plot(label="Training loss", elem_id="surgery-softmax-plot")
            softmax_table = gr.Dataframe(label="After 50 steps", interactive=False, wrap=True,
                                         elem_id="surgery-softmax-table")
        softmax_run = gr.Button("Train both again", size="sm", elem_id="surgery-softmax-run")
    with gr.Accordion("Pitfall: the extra input joined to the ImageNet logits, not the features (5.3.2)",
                      open=False, elem_classes="pitfall", elem_id="surgery-pitfall-extra") as extra_acc:
        gr.Markdown(EXTRA_INPUT_TEXT)
        with gr.Row():
            gr.Code(EXTRA_INPUT_TUTORIAL, language="python", label="Tutorial 5.3.2")
            gr.Code(EXTRA_INPUT_FIX, language="python", label="The lab (WithExtraInput)")
        extra_table = gr.Dataframe(label="Measured", interactive=False, wrap=True, elem_id="surgery-extra-table")
        extra_run = gr.Button("Measure again (architecture above)", size="sm", elem_id="surgery-extra-run")
    with gr.Accordion("Pitfall: 5.3.3's forward takes an add_variable it never uses", open=False,
                      elem_classes="pitfall", elem_id="surgery-pitfall-unused") as unused_acc:
        gr.Markdown(UNUSED_TEXT)
        unused_table = gr.Dataframe(label="Called live", interactive=False, wrap=True, elem_id="surgery-unused-table")
        unused_run = gr.Button("Call again (architecture above)", size="sm", elem_id="surgery-unused-run")
    with gr.Accordion("Pitfall: .cuda() instead of .to(device)", open=False, elem_classes="pitfall",
                      elem_id="surgery-pitfall-device") as device_acc:
        gr.Markdown(DEVICE_TEXT)
        device_table = gr.Dataframe(label="On this machine", interactive=False, wrap=True,
                                    elem_id="surgery-device-table")
        device_run = gr.Button("Run again", size="sm", elem_id="surgery-device-run")

    # events last
    inputs = [arch, weights, new_head, hidden, dropout, classes, extra_input, extra_size, extra_output, freeze,
              batch, size, shared.models]
    outputs = [before_md, before_table, before_print, after_md, after_table, after_print, forward, code,
               shared.models]
    run.click(guarded(run_surgery), inputs, outputs, api_name="surgery_apply")
    for accordion, button, fn, ins, outs, name in (
        (softmax_acc, softmax_run, run_softmax_pitfall, None, [softmax_plot, softmax_table], "softmax"),
        (extra_acc, extra_run, run_extra_input_pitfall, [arch], [extra_table], "extra_input"),
        (unused_acc, unused_run, run_unused_input_pitfall, [arch], [unused_table], "unused_input"),
        (device_acc, device_run, run_device_pitfall, None, [device_table], "device"),
    ):
        accordion.expand(guarded(fn), ins, outs, api_name=f"surgery_pitfall_{name}_open")
        button.click(guarded(fn), ins, outs, api_name=f"surgery_pitfall_{name}")
