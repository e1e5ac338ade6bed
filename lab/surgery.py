"""ResNet surgery (tutorial 5.3): replace the head, add an input, add an output, freeze the backbone.

Built on torchvision's ResNets with random weights (or a local state_dict file, loaded through
`lab.checkpoints`); nothing is ever downloaded. What the lab does differently from the tutorial's code,
and why (seed/NOTES.md, 5.3):

- The new head returns logits: the tutorial ends it in `nn.Softmax` and then trains with
  CrossEntropyLoss, which applies log-softmax again, so the loss cannot fall below log(1 + (C-1)/e).
- The extra input is joined to the true penultimate features (what `net.fc` receives: 512-d for
  resnet18/34, 2048-d for resnet50/101/152, `net.fc = nn.Identity()`), not to the 1000 ImageNet logits.
- 5.3.3's `forward(x, add_variable)` never uses `add_variable`; `WithExtraOutput.forward(x)` takes one input.
- `.to(device)`, never `.cuda()`; the extra input is cast to the features' dtype and device.

The tutorial's literal versions (`TutorialExtraInput`, `TutorialExtraOutput`, `tutorial_head`) are kept,
made to run with their mistakes, for the pitfall panel.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import torch
import torch.nn as nn
from torchvision import models

from lab.errors import LabError, shown
from lab.figures import color, figure
from lab.inspect import count_params

__all__ = [
    "ARCHS", "FEATURES", "MAX_CLASSES", "MAX_HIDDEN", "MAX_HIDDEN_LAYERS", "MAX_EXTRA", "MAX_BATCH",
    "MIN_SIZE", "MAX_SIZE", "resnet", "feature_dim", "parse_hidden", "make_head", "replace_head",
    "WithExtraInput", "WithExtraOutput", "freeze",
    "tutorial_head", "TutorialExtraInput", "TutorialExtraOutput",
    "Surgery", "Built", "apply", "build", "dummy_batch", "children_table", "mark_changes", "changed_parts",
    "forward_check", "to_code",
    "softmax_head_pitfall", "softmax_loss_floor", "loss_figure", "extra_input_pitfall", "unused_input_pitfall",
    "device_pitfall",
]

ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
# Width of the penultimate features (what `fc` receives): BasicBlock nets end in 512 channels,
# Bottleneck nets in 512 * expansion 4 = 2048.
FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}
MAX_CLASSES = 10_000
MAX_HIDDEN = 4096  # width of one hidden layer of the head
MAX_HIDDEN_LAYERS = 4
MAX_EXTRA = 1024  # width of the extra input
MAX_BATCH = 8  # dummy batch of the forward check
MIN_SIZE, MAX_SIZE = 32, 384  # its height = width; 32 is the smallest that still leaves layer4 a 1x1 map


def _int(field_name: str, value: object, low: int, high: int) -> int:
    """`value` as an int in [low, high], else a LabError naming the field."""
    try:
        number = float(value)  # gradio Numbers arrive as floats
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number != int(number) or not low <= number <= high:
        raise LabError(f"{field_name} must be a whole number from {low:,} to {high:,}; got {shown(value)}.")
    return int(number)


def _dropout(value: object) -> float:
    try:
        p = float(value)
    except (TypeError, ValueError):
        p = float("nan")
    if not 0.0 <= p < 1.0:
        raise LabError(f"Dropout must be a probability from 0 up to (not including) 1; got {shown(value)}.")
    return p


def _check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise LabError(f"Architecture {shown(arch)} is not supported; choose one of {', '.join(ARCHS)}.")
    return arch


# ----------------------------------------------------------------------------------------------------------
# Building blocks


def resnet(arch: str, weights_path: str | None = None) -> nn.Module:
    """A torchvision ResNet: random weights, or a local state_dict file (never a download).

    The file is read by `lab.checkpoints.load` (untrusted: weights only, no code runs) and loaded strictly
    by `lab.checkpoints.load_into`, so a file for another architecture raises LabError listing the keys
    that are missing, unexpected or of another shape.
    """
    net = models.get_model(_check_arch(arch), weights=None)
    if weights_path:
        from lab import checkpoints  # imported here: only an upload needs it

        state = checkpoints.load(weights_path)
        report = checkpoints.compare(net, state)
        if not report.ok:
            raise LabError(f"Weights file {shown(Path(weights_path).name)} does not fit {arch}: {report.problems()}.")
        checkpoints.load_into(net, state, strict=True)
    return net


def feature_dim(net: nn.Module) -> int:
    """Width of a ResNet's penultimate features: the channels of layer4's last BatchNorm (512 or 2048)."""
    layer4 = getattr(net, "layer4", None)
    norms = [m for m in layer4.modules() if isinstance(m, nn.BatchNorm2d)] if isinstance(layer4, nn.Module) else []
    if not norms or not hasattr(net, "fc"):
        raise LabError(f"Expected a torchvision ResNet (with layer4 and fc); got {type(net).__name__}.")
    return norms[-1].num_features


def parse_hidden(text: str | Sequence[int] | None) -> tuple[int, ...]:
    """Hidden sizes of the new head from text like "128" or "512, 128" (empty: no hidden layer).

    None (a Textbox sent JSON null through the API; the page always sends a string) is refused with a
    LabError rather than read as "no hidden layer": a missing field is more likely a client mistake than a
    choice, and the sentence says how to ask for no hidden layer (an empty string or an empty list).
    """
    if text is None:
        raise LabError("Hidden sizes is missing (null); write sizes like 128 or 512, 128, or leave the field "
                       "empty for no hidden layer.")
    if isinstance(text, str):
        parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    else:
        try:
            parts = list(text)
        except TypeError:  # a number or an object: not a sequence of sizes
            raise LabError(f"Hidden sizes {shown(text)} is not a list of sizes; write them like 128 or 512, 128.") \
                from None
    if len(parts) > MAX_HIDDEN_LAYERS:
        raise LabError(f"Hidden sizes: at most {MAX_HIDDEN_LAYERS} layers are accepted; "
                       f"got {len(parts)} ({shown(text)}).")
    sizes = []
    for part in parts:
        try:
            sizes.append(_int("Each hidden size", part, 1, MAX_HIDDEN))
        except LabError as exc:
            raise LabError(f"Hidden sizes {shown(text)}: each must be a whole number from 1 to {MAX_HIDDEN:,}; "
                           f"{shown(part)} is not.") from exc
    return tuple(sizes)


def make_head(in_features: int, hidden: Sequence[int] = (128,), num_classes: int = 10,
              dropout: float = 0.5) -> nn.Sequential:
    """The OrderedDict head of 5.3.1: (fc1 => relu1 => dropout1) per hidden size, then fc{k+1} -> logits.

    Names follow the tutorial (fc1, relu1, dropout1, fc2), so its `fc.*` state_dict keys load; the
    tutorial's trailing `output` Softmax is left out on purpose (CrossEntropyLoss wants logits).
    """
    hidden = parse_hidden(hidden)
    num_classes = _int("Classes", num_classes, 2, MAX_CLASSES)
    p = _dropout(dropout)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = in_features
    for i, size in enumerate(hidden, start=1):
        layers[f"fc{i}"] = nn.Linear(width, size)
        layers[f"relu{i}"] = nn.ReLU()
        layers[f"dropout{i}"] = nn.Dropout(p)
        width = size
    layers[f"fc{len(hidden) + 1}"] = nn.Linear(width, num_classes)  # logits, no Softmax
    return nn.Sequential(layers)


def replace_head(net: nn.Module, hidden: Sequence[int] = (128,), num_classes: int = 10,
                 dropout: float = 0.5) -> nn.Module:
    """5.3.1: `net.fc` becomes the OrderedDict head returning logits (N, num_classes). Changes `net` in place."""
    net.fc = make_head(feature_dim(net), hidden, num_classes, dropout)
    return net


def _columns(extra: torch.Tensor, batch: int, num_extra: int, like: torch.Tensor) -> torch.Tensor:
    """The extra input as (N, num_extra) in the features' dtype and device; (N,) is taken as one column."""
    extra = torch.as_tensor(extra)
    if extra.dim() == 1 and num_extra == 1:
        extra = extra.unsqueeze(1)  # (N,) -> (N, 1), the tutorial's unsqueeze
    if tuple(extra.shape) != (batch, num_extra):
        accepted = f"({batch}, {num_extra})" + (f" or ({batch},)" if num_extra == 1 else "")
        raise LabError(f"The extra input has shape {tuple(extra.shape)}; this model accepts {accepted}.")
    return extra.to(device=like.device, dtype=like.dtype)


class WithExtraInput(nn.Module):
    """5.3.2 done right: cat(features (N, F), extra (N, k)) => head => logits (N, num_classes).

    `net.fc` becomes `nn.Identity()`, so `self.net(x)` returns the penultimate features (F = 512 or 2048),
    and the new head is called `fc` (so `freeze(model)` keeps it trainable). With `return_features=True`
    forward returns `(logits, features)` as WithExtraOutput does.
    """

    def __init__(self, net: nn.Module, num_extra: int = 1, num_classes: int = 10, *, hidden: Sequence[int] = (),
                 dropout: float = 0.5, return_features: bool = False) -> None:
        super().__init__()
        self.num_extra = _int("Extra-input size", num_extra, 1, MAX_EXTRA)
        width = feature_dim(net)
        net.fc = nn.Identity()
        self.net = net
        self.fc = make_head(width + self.num_extra, hidden, num_classes, dropout)
        self.return_features = return_features

    def forward(self, x: torch.Tensor, extra: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.net(x)  # (N, F)
        joined = torch.cat((features, _columns(extra, x.shape[0], self.num_extra, features)), dim=1)  # (N, F + k)
        logits = self.fc(joined)
        return (logits, features) if self.return_features else logits


class WithExtraOutput(nn.Module):
    """5.3.3 done right: forward(x) -> (logits (N, num_classes), features (N, F)), one input only."""

    def __init__(self, net: nn.Module, num_classes: int = 10, *, hidden: Sequence[int] = (),
                 dropout: float = 0.5) -> None:
        super().__init__()
        width = feature_dim(net)
        net.fc = nn.Identity()
        self.net = net
        self.fc = make_head(width, hidden, num_classes, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net(x)  # (N, F): the true penultimate layer
        return self.fc(features), features


def freeze(net: nn.Module, keep_trainable: Sequence[str] = ("fc",)) -> nn.Module:
    """`requires_grad=False` for every parameter outside the named submodules (dotted prefixes like "fc").

    BatchNorm running statistics still update in train mode; call `.eval()` on frozen parts for that.
    """
    keep = tuple(keep_trainable)
    names = [name for name, _ in net.named_parameters()]
    for key in keep:
        if not any(name == key or name.startswith(key + ".") for name in names):
            roots = sorted({name.split(".")[0] for name in names})
            raise LabError(f"keep_trainable {shown(key)} names no parameter of this model; top-level names: "
                           f"{', '.join(roots)}.")
    for name, param in net.named_parameters():
        param.requires_grad_(any(name == key or name.startswith(key + ".") for key in keep))
    return net


# ----------------------------------------------------------------------------------------------------------
# The tutorial's literal code (5.3.1-5.3.3), made to run, mistakes kept: for the pitfall panel only.


def tutorial_head(in_features: int = 2048, num_classes: int = 10) -> nn.Sequential:
    """5.3.1 as printed: the head ends in `nn.Softmax(dim=1)`, returning probabilities."""
    return nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(in_features, 128)),
        ("relu1", nn.ReLU()),
        ("dropout1", nn.Dropout(0.5)),
        ("fc2", nn.Linear(128, num_classes)),
        ("output", nn.Softmax(dim=1)),
    ]))


class TutorialExtraInput(nn.Module):
    """5.3.2 as printed: the extra value is joined to the net's 1000 ImageNet logits (after a ReLU)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc_add = nn.Linear(1001, 10, bias=True)
        self.output = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor, add_variable: torch.Tensor) -> torch.Tensor:
        x = self.net(x)
        x = torch.cat((self.dropout(self.relu(x)), add_variable.unsqueeze(1)), 1)
        x = self.fc_add(x)
        x = self.output(x)
        return x


class TutorialExtraOutput(nn.Module):
    """5.3.3 as printed: `add_variable` is required but never used; "x1000" is the logits, not features."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(1000, 10, bias=True)
        self.output = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor, add_variable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1000 = self.net(x)
        x10 = self.dropout(self.relu(x1000))
        x10 = self.fc1(x10)
        x10 = self.output(x10)
        return x10, x1000


# ----------------------------------------------------------------------------------------------------------
# One surgery as the tab describes it: which operations, validated once.


@dataclass(frozen=True)
class Surgery:
    """The operations the tab applies, in order: head / extra input / extra output, then freeze."""

    arch: str = "resnet50"
    new_head: bool = True  # hidden layers + dropout before the output layer (else a single Linear)
    hidden: tuple[int, ...] = (128,)  # text like "512, 128" is parsed too
    num_classes: int = 10
    dropout: float = 0.5
    num_extra: int = 0  # 0: no extra input
    extra_output: bool = False
    freeze: bool = False  # everything but the head (`fc`) stops training
    keep_trainable: tuple[str, ...] = field(default=("fc",), repr=False)

    def __post_init__(self) -> None:
        _check_arch(self.arch)
        object.__setattr__(self, "hidden", parse_hidden(self.hidden) if self.new_head else ())
        object.__setattr__(self, "num_classes", _int("Classes", self.num_classes, 2, MAX_CLASSES))
        object.__setattr__(self, "dropout", _dropout(self.dropout) if self.new_head else 0.5)
        object.__setattr__(self, "num_extra", _int("Extra-input size", self.num_extra, 0, MAX_EXTRA))

    @classmethod
    def from_choices(cls, arch: str, *, new_head: bool, hidden: str | Sequence[int], num_classes: object,
                     dropout: object, extra_input: bool, extra_size: object, extra_output: bool,
                     freeze: bool) -> Surgery:
        """From the tab's controls: an extra-input size is only read (and must be >= 1) when it is ticked."""
        num_extra = _int("Extra-input size", extra_size, 1, MAX_EXTRA) if extra_input else 0
        return cls(arch=arch, new_head=bool(new_head), hidden=hidden, num_classes=num_classes, dropout=dropout,
                   num_extra=num_extra, extra_output=bool(extra_output), freeze=bool(freeze))

    @property
    def changes_output(self) -> bool:
        """Whether `fc` is replaced at all (else the net keeps its 1000-class ImageNet layer)."""
        return self.new_head or self.num_extra > 0 or self.extra_output


def apply(net: nn.Module, surgery: Surgery) -> nn.Module:
    """Apply `surgery` to a torchvision ResNet (in place where the tutorial does) and return the model."""
    if surgery.num_extra:
        model = WithExtraInput(net, surgery.num_extra, surgery.num_classes, hidden=surgery.hidden,
                               dropout=surgery.dropout, return_features=surgery.extra_output)
    elif surgery.extra_output:
        model = WithExtraOutput(net, surgery.num_classes, hidden=surgery.hidden, dropout=surgery.dropout)
    elif surgery.changes_output:
        model = replace_head(net, surgery.hidden, surgery.num_classes, surgery.dropout)
    else:
        model = net
    if surgery.freeze:
        freeze(model, surgery.keep_trainable)
    return model


@dataclass
class Built:
    """A surgery's result: the model, and what the untouched ResNet looked like."""

    model: nn.Module  # after the surgery
    original_fc: nn.Module  # the ResNet's own 1000-class fc: the before model is backbone + this
    before: pd.DataFrame  # children_table of the ResNet before the surgery (trainable counts included)
    before_children: dict[str, nn.Module]  # its top-level children, the replaced fc among them
    load_report: Any = None  # lab.checkpoints.LoadReport when a weights file was loaded
    loaded_into: str = ""  # "the resnet" or "the model after the surgery"


def build(surgery: Surgery, weights_path: str | None = None, *, seed: int | None = 0) -> Built:
    """Build the ResNet, note how it looks, then apply `surgery`.

    `seed` fixes the random initialisation (without touching the caller's RNG state), so the code panel's
    `torch.manual_seed(seed)` rebuilds exactly the same weights. A weights file is loaded into the plain
    ResNet when it fits it (a torchvision state_dict), else into the model after the surgery (a file this
    tab's model was saved to, through the Checkpoints tab); fitting neither raises LabError naming the keys.
    """
    state, report, target = None, None, ""
    if weights_path:
        from lab import checkpoints  # imported here: only an upload needs it

        state = checkpoints.load(weights_path)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = resnet(surgery.arch)
        if state is not None:
            report = checkpoints.compare(net, state)
            if report.ok:
                report, target = checkpoints.load_into(net, state, strict=True), "the resnet"
        before, children, original_fc = children_table(net), dict(net.named_children()), net.fc
        model = apply(net, surgery)
    if state is not None and not target:
        if not checkpoints.compare(model, state).ok:
            raise LabError(f"Weights file {shown(Path(weights_path).name)} does not fit {surgery.arch}: "
                           f"{report.problems()}.")
        report, target = checkpoints.load_into(model, state, strict=True), "the model after the surgery"
    return Built(model, original_fc, before, children, report, target)


# ----------------------------------------------------------------------------------------------------------
# Looking at a model: top-level children, what changed, the forward check.


def _rows(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Top-level children; a wrapper's `net` is opened one level (net.conv1, ..., net.fc) for comparison."""
    rows = []
    for name, child in model.named_children():
        if isinstance(model, (WithExtraInput, WithExtraOutput)) and name == "net":
            rows += [(f"net.{sub}", grandchild) for sub, grandchild in child.named_children()]
        else:
            rows.append((name, child))
    return rows


def children_table(model: nn.Module) -> pd.DataFrame:
    """One row per top-level child: name, type, params, trainable."""
    records = []
    for name, child in _rows(model):
        total, trainable = count_params(child)
        records.append({"name": name, "type": type(child).__name__, "params": total, "trainable": trainable})
    return pd.DataFrame(records, columns=["name", "type", "params", "trainable"])


def mark_changes(before: pd.DataFrame, after: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables with a `change` column: the after rows "replaced", "frozen", "new" (or ""), and the
    before rows whose counterpart changed. Rows match by name, a wrapper's `net.` prefix set aside."""
    before, after = before.copy(), after.copy()
    by_name = {row["name"]: row for row in before.to_dict("records")}
    after_changes, before_changes = [], {}
    wrapped = after["name"].str.startswith("net.").any()
    for row in after.to_dict("records"):
        name = row["name"]
        key = name.removeprefix("net.") if wrapped else name
        if wrapped and not name.startswith("net."):
            after_changes.append("new")  # the wrapper's own head
            continue
        old = by_name.get(key)
        if old is None:
            change = "new"
        elif (old["type"], old["params"]) != (row["type"], row["params"]):
            change = "replaced"
        elif old["trainable"] != row["trainable"]:
            change = "frozen" if row["trainable"] < old["trainable"] else "unfrozen"
        else:
            change = ""
        after_changes.append(change)
        if change and old is not None:
            before_changes[key] = change
    after["change"] = after_changes
    before["change"] = [before_changes.get(name, "") for name in before["name"]]
    return before, after


def changed_parts(built: Built) -> tuple[pd.DataFrame, pd.DataFrame, str, str]:
    """(before table, after table, print of the before parts, print of the after parts): the children that
    were replaced or added are printed as `print(model)` shows them; frozen ones are only named."""
    before_t, after_t = mark_changes(built.before, children_table(built.model))
    after_mods = dict(_rows(built.model))

    def text(table: pd.DataFrame, modules: dict[str, nn.Module]) -> str:
        rows = list(zip(table["name"], table["change"], strict=True))
        lines = [f"({n}): {modules[n]!r}" for n, c in rows if c in ("replaced", "new")]
        frozen = [n for n, c in rows if c in ("frozen", "unfrozen")]
        if frozen:
            lines.append(f"# requires_grad changed: {', '.join(frozen)}")
        return "\n".join(lines) or "# nothing changed"

    after_text = text(after_t, after_mods)
    if isinstance(built.model, (WithExtraInput, WithExtraOutput)):
        inputs = "x, extra" if isinstance(built.model, WithExtraInput) else "x"
        after_text = f"# {type(built.model).__name__}: forward({inputs}) -> {', '.join(_output_names(built.model))}" \
                     f"\n{after_text}"
    return before_t, after_t, text(before_t, built.before_children), after_text


def dummy_batch(surgery: Surgery, batch: int = 2, size: int = 224) -> tuple[torch.Tensor, ...]:
    """The forward check's inputs, seeded: x (N, 3, size, size) and, with an extra input, extra (N, k)."""
    batch = _int("Batch size", batch, 1, MAX_BATCH)
    size = _int("Image size", size, MIN_SIZE, MAX_SIZE)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen)
    if surgery.num_extra:
        return x, torch.randn(batch, surgery.num_extra, generator=gen)
    return (x,)


def _output_names(model: nn.Module) -> tuple[str, ...]:
    if isinstance(model, WithExtraOutput) or getattr(model, "return_features", False):
        return ("logits", "features")
    return ("logits",)


def forward_check(built: Built, inputs: Sequence[torch.Tensor],
                  device: torch.device | None = None) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Run the after model on `inputs` in eval + inference mode and list every input's and output's shape.

    The before model shares the backbone, so its output is its own `fc` applied to the pooled features
    that the after model's forward computes (captured by a hook on `avgpool`): one backbone pass serves
    both, and that is exactly `ResNet.forward` (avgpool -> flatten -> fc). Returns (table, outputs).
    """
    device = device or torch.device("cpu")
    after = built.model.to(device).eval()
    before_fc = built.original_fc.to(device).eval()
    backbone = after.net if isinstance(after, (WithExtraInput, WithExtraOutput)) else after
    pooled: list[torch.Tensor] = []
    hook = backbone.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(out))
    moved = [t.to(device) for t in inputs]
    try:
        with torch.inference_mode():
            result = after(*moved)
            before_logits = before_fc(torch.flatten(pooled[-1], 1))  # (N, 1000)
    except RuntimeError as exc:  # e.g. out of memory on a big batch
        raise LabError(f"The forward check failed for input shapes {[tuple(t.shape) for t in moved]}: "
                       f"{str(exc).splitlines()[0]}") from exc
    finally:
        hook.remove()
    outputs = result if isinstance(result, tuple) else (result,)
    names = _output_names(after)
    assert len(names) == len(outputs), (names, len(outputs))  # our own wrappers' contract
    rows = [("before", "input", "x", moved[0]), ("before", "output", "logits", before_logits)]
    rows += [("after", "input", n, t) for n, t in zip(("x", "extra"), moved, strict=False)]  # extra only when given
    rows += [("after", "output", n, t) for n, t in zip(names, outputs, strict=True)]
    table = pd.DataFrame([{"model": m, "kind": k, "name": n, "shape": str(tuple(t.shape)), "dtype": str(t.dtype)}
                          for m, k, n, t in rows])
    return table, {"before": before_logits, **dict(zip(names, outputs, strict=True))}


# ----------------------------------------------------------------------------------------------------------
# The code panel


def to_code(surgery: Surgery, batch: int = 2, size: int = 224, *, seed: int = 0,
            weights_name: str | None = None) -> str:
    """Runnable PyTorch (torch + torchvision only) that builds the same model, with the same weights for the
    same `seed`, and runs the same forward check; it leaves `model`, `outputs` and `x` in its namespace."""
    s = surgery
    batch = _int("Batch size", batch, 1, MAX_BATCH)
    size = _int("Image size", size, MIN_SIZE, MAX_SIZE)
    lines = ["import torch", "import torch.nn as nn", "import torchvision.models as models"]
    if s.changes_output:
        lines += ["from collections import OrderedDict", "", "",
                  "def make_head(in_features, hidden, num_classes, dropout):",
                  '    """(fc1 => relu1 => dropout1) per hidden size, then the output layer: logits, no Softmax."""',
                  "    layers, width = OrderedDict(), in_features",
                  "    for i, size in enumerate(hidden, start=1):",
                  '        layers[f"fc{i}"] = nn.Linear(width, size)',
                  '        layers[f"relu{i}"] = nn.ReLU()',
                  '        layers[f"dropout{i}"] = nn.Dropout(dropout)',
                  "        width = size",
                  '    layers[f"fc{len(hidden) + 1}"] = nn.Linear(width, num_classes)',
                  "    return nn.Sequential(layers)"]
    width = FEATURES[s.arch]
    if s.num_extra:
        ret = "(logits, features)" if s.extra_output else "logits"
        lines += ["", "", "class WithExtraInput(nn.Module):",
                  f'    """cat(features (N, {width}), extra (N, {s.num_extra})) => head => {ret}."""', "",
                  "    def __init__(self, net, num_extra, num_classes, hidden, dropout):",
                  "        super().__init__()",
                  "        self.num_extra = num_extra",
                  "        net.fc = nn.Identity()  # net(x) now returns the penultimate features",
                  "        self.net = net",
                  f"        self.fc = make_head({width} + num_extra, hidden, num_classes, dropout)", "",
                  "    def forward(self, x, extra):",
                  f"        features = self.net(x)  # (N, {width})",
                  "        extra = extra.reshape(x.shape[0], self.num_extra).to(features)  # float, same device",
                  "        logits = self.fc(torch.cat((features, extra), dim=1))",
                  f"        return {'logits, features' if s.extra_output else 'logits'}"]
    elif s.extra_output:
        lines += ["", "", "class WithExtraOutput(nn.Module):",
                  f'    """forward(x) -> (logits, features (N, {width}))."""', "",
                  "    def __init__(self, net, num_classes, hidden, dropout):",
                  "        super().__init__()",
                  "        net.fc = nn.Identity()  # net(x) now returns the penultimate features",
                  "        self.net = net",
                  f"        self.fc = make_head({width}, hidden, num_classes, dropout)", "",
                  "    def forward(self, x):",
                  f"        features = self.net(x)  # (N, {width})",
                  "        return self.fc(features), features"]
    lines += ["", "", f"torch.manual_seed({seed})",
              f"net = models.{s.arch}(weights=None)  # random weights; nothing is downloaded"]
    if weights_name:
        lines += [f"# The lab loaded the weights in {weights_name!r}; with that file beside this script:",
                  f"# net.load_state_dict(torch.load({weights_name!r}, map_location=\"cpu\", weights_only=True))"]
    head_args = f"{s.num_classes}, hidden={s.hidden!r}, dropout={s.dropout!r}"
    if s.num_extra:
        lines.append(f"model = WithExtraInput(net, {s.num_extra}, {head_args})")
    elif s.extra_output:
        lines.append(f"model = WithExtraOutput(net, {head_args})")
    elif s.changes_output:
        lines += [f"net.fc = make_head(net.fc.in_features, {s.hidden!r}, {s.num_classes}, {s.dropout!r})",
                  "model = net"]
    else:
        lines.append("model = net")
    if s.freeze:
        lines += ["", f"keep_trainable = {s.keep_trainable!r}  # everything else is frozen",
                  "for name, param in model.named_parameters():",
                  '    param.requires_grad = any(name == k or name.startswith(k + ".") for k in keep_trainable)']
    lines += ["", 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
              "model = model.to(device).eval()  # .to(device), never .cuda()",
              "generator = torch.Generator().manual_seed(0)",
              f"x = torch.randn({batch}, 3, {size}, {size}, generator=generator).to(device)"]
    call = "model(x)"
    if s.num_extra:
        lines.append(f"extra = torch.randn({batch}, {s.num_extra}, generator=generator).to(device)")
        call = "model(x, extra)"
    lines += ["with torch.inference_mode():", f"    outputs = {call}",
              "outputs = outputs if isinstance(outputs, tuple) else (outputs,)",
              "for out in outputs:", "    print(tuple(out.shape))",
              "total = sum(p.numel() for p in model.parameters())",
              "trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)",
              'print(f"{total:,} parameters, {trainable:,} trainable")']
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------------------
# Pitfalls, live


def softmax_loss_floor(num_classes: int) -> float:
    """The least CrossEntropyLoss of probabilities: log-softmax of p in [0, 1] is at best log(e / (e + C - 1))."""
    return math.log(1 + (num_classes - 1) / math.e)


def softmax_head_pitfall(steps: int = 50, *, num_classes: int = 3, features: int = 512, samples: int = 96,
                         lr: float = 1e-3, seed: int = 0) -> pd.DataFrame:
    """Train the tutorial's Softmax head and the logits head, same init, with CrossEntropyLoss.

    The data are synthetic penultimate features (N, 512) of a 3-class problem: ReLU'd noisy class centres,
    like the non-negative pooled features of resnet18. Returns per step the loss and train accuracy of each.
    """
    steps = _int("Steps", steps, 1, 500)
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, features, generator=gen)
    y = torch.arange(samples) % num_classes
    x = torch.relu(centres[y] + 3.0 * torch.randn(samples, features, generator=gen))  # (N, F)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        logits_head = make_head(features, (128,), num_classes, 0.5)
        softmax_head = copy.deepcopy(logits_head)
        softmax_head.add_module("output", nn.Softmax(dim=1))  # exactly tutorial_head's layers, same weights
        criterion = nn.CrossEntropyLoss()
        records: dict[str, list[float]] = {}
        for name, head in (("logits head", logits_head), ("softmax head", softmax_head)):
            torch.manual_seed(seed + 1)  # the same dropout masks for both
            optimizer = torch.optim.Adam(head.parameters(), lr=lr)
            losses, accs = [], []
            for _ in range(steps):
                optimizer.zero_grad()
                out = head(x)
                loss = criterion(out, y)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                accs.append((out.argmax(1) == y).float().mean().item())
            records[f"{name} loss"], records[f"{name} accuracy"] = losses, accs
    return pd.DataFrame({"step": range(1, steps + 1), **records})


def loss_figure(history: pd.DataFrame, num_classes: int = 3) -> go.Figure:
    """The two loss curves and the floor the Softmax head cannot go below."""
    fig = figure("CrossEntropyLoss: logits head vs the tutorial's Softmax head", x="step", y="loss")
    for i, name in enumerate(("logits head", "softmax head")):
        fig.add_trace(go.Scatter(x=history["step"], y=history[f"{name} loss"], name=name, mode="lines",
                                 line={"color": color(i), "width": 2.5}))
    floor = softmax_loss_floor(num_classes)
    fig.add_hline(y=floor, line={"dash": "dot", "color": color(3)},
                  annotation_text=f"softmax floor log(1 + {num_classes - 1}/e) = {floor:.3f}")
    fig.update_yaxes(rangemode="tozero")
    return fig


def _joined_stats(name: str, joined: torch.Tensor, params: int, out: torch.Tensor, changed: bool) -> dict:
    return {"version": name, "joined width": joined.shape[1],
            "joined values zeroed": f"{(joined == 0).float().mean().item():.0%}",
            "params after the backbone": params, "output": str(tuple(out.shape)),
            "rows sum to 1": bool(torch.allclose(out.sum(1), torch.ones(out.shape[0]), atol=1e-4)),
            "extra input changes output": changed}


def extra_input_pitfall(arch: str = "resnet50", *, batch: int = 4, size: int = 64, seed: int = 0) -> pd.DataFrame:
    """5.3.2 as printed (extra joined to ReLU'd 1000 ImageNet logits, Softmax out) against WithExtraInput
    (joined to the 512/2048-d features, logits out), measured on one dummy batch in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = resnet(arch).eval()
        x = torch.randn(batch, 3, size, size)
        extra_a, extra_b = torch.zeros(batch), torch.full((batch,), 10.0)
        tutorial = TutorialExtraInput(net).eval()
        captured: list[torch.Tensor] = []
        hook = tutorial.fc_add.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        with torch.inference_mode():
            out_a, out_b = tutorial(x, extra_a), tutorial(x, extra_b)
        hook.remove()
        head_params = count_params(net.fc)[0] + count_params(tutorial.fc_add)[0]  # ImageNet fc + fc_add
        rows = [_joined_stats("tutorial 5.3.2: joined to the ImageNet logits", captured[0], head_params, out_a,
                              not torch.allclose(out_a, out_b))]
        ours = WithExtraInput(net, 1, 10, hidden=(), dropout=0.5).eval()  # net.fc becomes Identity here
        captured.clear()
        hook = ours.fc.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        with torch.inference_mode():
            out_a, out_b = ours(x, extra_a), ours(x, extra_b)
        hook.remove()
        rows.append(_joined_stats(f"lab: joined to the {feature_dim(net)}-d features", captured[0],
                                  count_params(ours.fc)[0], out_a, not torch.allclose(out_a, out_b)))
    return pd.DataFrame(rows)


def unused_input_pitfall(arch: str = "resnet50", *, batch: int = 2, size: int = 64, seed: int = 0) -> pd.DataFrame:
    """5.3.3 as printed: call it with one input (TypeError), then with two different add_variables (same
    outputs: it is never used); WithExtraOutput takes one input and returns (logits, true features)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = resnet(arch).eval()
        x = torch.randn(batch, 3, size, size)
        tutorial = TutorialExtraOutput(net).eval()
        rows = []
        with torch.inference_mode():
            try:
                tutorial(x)
                result = "ran"
            except TypeError as exc:
                result = f"TypeError: {exc}"
            rows.append({"call": "tutorial: model(x)", "result": result})
            a = tutorial(x, torch.zeros(batch))
            b = tutorial(x, torch.full((batch,), 1e6))
            same = all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
            rows.append({"call": "tutorial: model(x, 0) vs model(x, 1e6)",
                         "result": f"outputs {tuple(a[0].shape)}, {tuple(a[1].shape)}; identical: {same} "
                                   "(add_variable is never used)"})
            ours = WithExtraOutput(net, 10).eval()
            logits, feats = ours(x)
            rows.append({"call": "lab: WithExtraOutput(net)(x)",
                         "result": f"(logits {tuple(logits.shape)}, features {tuple(feats.shape)}): "
                                   f"the true penultimate layer, not the ImageNet logits"})
    return pd.DataFrame(rows)


def device_pitfall(device: torch.device | None = None) -> pd.DataFrame:
    """`.cuda()` against `.to(device)` on this machine, and an extra input left on the CPU."""
    device = device or torch.device("cpu")
    rows = []
    probe = nn.Linear(4, 2)
    try:
        probe.cuda()
        rows.append({"code": "model.cuda()", "result": f"ran: weights on {probe.weight.device}"})
    except (AssertionError, RuntimeError) as exc:  # torch raises AssertionError without CUDA support
        rows.append({"code": "model.cuda()", "result": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"})
    probe = nn.Linear(4, 2).to(device)
    rows.append({"code": "model.to(device)", "result": f"ran: weights on {probe.weight.device}"})
    features, extra = torch.randn(2, 4, device=device), torch.arange(2)  # extra: int64, on the CPU
    try:
        out = torch.cat((features, extra.unsqueeze(1)), 1)
        rows.append({"code": "torch.cat((features, extra.unsqueeze(1)), 1)  # 5.3.2",
                     "result": f"ran here ({out.dtype}, {out.device}); on CUDA it fails: extra stays on the CPU"})
    except RuntimeError as exc:
        rows.append({"code": "torch.cat((features, extra.unsqueeze(1)), 1)  # 5.3.2",
                     "result": f"RuntimeError: {str(exc).splitlines()[0]}"})
    out = torch.cat((features, extra.unsqueeze(1).to(features)), 1)
    rows.append({"code": "torch.cat((features, extra.unsqueeze(1).to(features)), 1)  # lab",
                 "result": f"ran: {out.dtype} on {out.device}"})
    return pd.DataFrame(rows)
