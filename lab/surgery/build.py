"""One surgery as the tab describes it: which operations (validated once), applied to a fresh ResNet, and the whole
view of it (before | after, the forward check, the code) from one call, `view(...)`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn as nn

from lab.device import pick_device
from lab.errors import LabError, flag, number, shown
from lab.inspect import count_params
from lab.surgery import core
from lab.surgery.compare import Changes, changed_parts, children_table, output_names

__all__ = ["Surgery", "apply", "Built", "build", "dummy_batch", "forward_check", "LoadNote", "SurgeryView", "view",
           "check_batch", "check_size"]  # fmt: skip

SEED = 0  # the random initialisation of every view (the code panel seeds the same)


def check_batch(value: object) -> int:
    return number("surgery.batch", value, 1, core.MAX_BATCH, integer=True)


def check_size(value: object) -> int:
    return number("surgery.size", value, core.MIN_SIZE, core.MAX_SIZE, integer=True)


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
        core.check_arch(self.arch)
        object.__setattr__(self, "new_head", flag("surgery.new_head", self.new_head))
        object.__setattr__(self, "hidden", core.parse_hidden(self.hidden) if self.new_head else ())
        object.__setattr__(self, "num_classes", core.check_classes(self.num_classes))
        object.__setattr__(self, "dropout", core.check_dropout(self.dropout) if self.new_head else 0.5)
        object.__setattr__(self, "num_extra", core.check_extra_size(self.num_extra, low=0))
        object.__setattr__(self, "extra_output", flag("surgery.extra_output", self.extra_output))
        object.__setattr__(self, "freeze", flag("surgery.freeze", self.freeze))

    @classmethod
    def from_choices(cls, arch: str, *, new_head: bool, hidden: str | Sequence[int], num_classes: object,
                     dropout: object, extra_input: bool, extra_size: object, extra_output: bool,
                     freeze: bool) -> Surgery:
        """From the tab's controls: an extra-input size is only read (and must be >= 1) when it is ticked."""
        num_extra = core.check_extra_size(extra_size) if flag("surgery.extra_input", extra_input) else 0
        return cls(arch=arch, new_head=new_head, hidden=hidden, num_classes=num_classes, dropout=dropout,
                   num_extra=num_extra, extra_output=extra_output, freeze=freeze)

    @property
    def changes_output(self) -> bool:
        """Whether `fc` is replaced at all (else the net keeps its 1000-class ImageNet layer)."""
        return self.new_head or self.num_extra > 0 or self.extra_output


def apply(net: nn.Module, surgery: Surgery) -> nn.Module:
    """Apply `surgery` to a torchvision ResNet (in place where the tutorial does) and return the model."""
    if surgery.num_extra:
        model = core.WithExtraInput(net, surgery.num_extra, surgery.num_classes, hidden=surgery.hidden,
                               dropout=surgery.dropout, return_features=surgery.extra_output)
    elif surgery.extra_output:
        model = core.WithExtraOutput(net, surgery.num_classes, hidden=surgery.hidden, dropout=surgery.dropout)
    elif surgery.changes_output:
        model = core.replace_head(net, surgery.hidden, surgery.num_classes, surgery.dropout)
    else:
        model = net
    if surgery.freeze:
        core.freeze(model, surgery.keep_trainable)
    return model


@dataclass
class Built:
    """A surgery's result: the model, and what the untouched ResNet looked like."""

    model: nn.Module  # after the surgery
    original_fc: nn.Module  # the ResNet's own 1000-class fc: the before model is backbone + this
    before: pd.DataFrame  # children_table of the ResNet before the surgery (trainable counts included)
    before_children: dict[str, nn.Module]  # its top-level children, the replaced fc among them
    load_report: Any = None  # lab.checkpoints.LoadReport when a weights file was loaded
    loaded_into: str = ""  # "resnet" (the plain ResNet) or "model" (the model after the surgery)


def build(surgery: Surgery, weights_path: str | None = None, *, seed: int | None = SEED) -> Built:
    """Build the ResNet, note how it looks, then apply `surgery`.

    `seed` fixes the random initialisation (without touching the caller's RNG state), so the code panel's
    `torch.manual_seed(seed)` rebuilds exactly the same weights. A weights file is loaded into the plain ResNet
    when it fits it (a torchvision state_dict), else into the model after the surgery (a file this tab's model was
    saved to, through the Checkpoints tab); fitting neither raises LabError naming the keys.
    """
    state, report, target = None, None, ""
    if weights_path:
        from lab import checkpoints  # imported here: only an upload needs it

        state = checkpoints.load(weights_path)
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = core.resnet(surgery.arch)
        if state is not None:
            report = checkpoints.compare(net, state)
            if report.ok:
                report, target = checkpoints.load_into(net, state, strict=True), "resnet"
        before, children, original_fc = children_table(net), dict(net.named_children()), net.fc
        model = apply(net, surgery)
    if state is not None and not target:
        if not checkpoints.compare(model, state).ok:
            raise LabError("error.surgery.weights_misfit", name=shown(Path(weights_path).name), arch=surgery.arch,
                           problems=report.problems())  # fmt: skip
        report, target = checkpoints.load_into(model, state, strict=True), "model"
    return Built(model, original_fc, before, children, report, target)


def dummy_batch(surgery: Surgery, batch: int = 2, size: int = 224) -> tuple[torch.Tensor, ...]:
    """The forward check's inputs, seeded: x (N, 3, size, size) and, with an extra input, extra (N, k)."""
    batch, size = check_batch(batch), check_size(size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen)
    if surgery.num_extra:
        return x, torch.randn(batch, surgery.num_extra, generator=gen)
    return (x,)


def forward_check(built: Built, inputs: Sequence[torch.Tensor],
                  device: torch.device | None = None) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Run the after model on `inputs` in eval + inference mode and list every input's and output's shape.

    The before model shares the backbone, so its output is its own `fc` applied to the pooled features that the
    after model's forward computes (captured by a hook on `avgpool`): one backbone pass serves both, and that is
    exactly `ResNet.forward` (avgpool -> flatten -> fc). Returns (table, outputs); the table's `model` column is
    "before" or "after", its `kind` "input" or "output".
    """
    device = device or torch.device("cpu")
    after = built.model.to(device).eval()
    before_fc = built.original_fc.to(device).eval()
    backbone = after.net if isinstance(after, (core.WithExtraInput, core.WithExtraOutput)) else after
    pooled: list[torch.Tensor] = []
    hook = backbone.avgpool.register_forward_hook(lambda _m, _i, out: pooled.append(out))
    moved = [t.to(device) for t in inputs]
    try:
        with torch.inference_mode():
            result = after(*moved)
            before_logits = before_fc(torch.flatten(pooled[-1], 1))  # (N, 1000)
    except RuntimeError as exc:  # e.g. out of memory on a big batch
        raise LabError("error.surgery.forward_failed", shapes=str([tuple(t.shape) for t in moved]),
                       message=str(exc).splitlines()[0][:300]) from exc  # fmt: skip
    finally:
        hook.remove()
    outputs = result if isinstance(result, tuple) else (result,)
    names = output_names(after)
    assert len(names) == len(outputs), (names, len(outputs))  # our own wrappers' contract
    rows = [("before", "input", "x", moved[0]), ("before", "output", "logits", before_logits)]
    rows += [("after", "input", n, t) for n, t in zip(("x", "extra"), moved, strict=False)]  # extra only when given
    rows += [("after", "output", n, t) for n, t in zip(names, outputs, strict=True)]
    table = pd.DataFrame([{"model": m, "kind": k, "name": n, "shape": str(tuple(t.shape)), "dtype": str(t.dtype)}
                          for m, k, n, t in rows])
    return table, {"before": before_logits, **dict(zip(names, outputs, strict=True))}


# ---------------------------------------------------------------------------------------------------------------
# The tab's whole view, from one call


@dataclass(frozen=True)
class LoadNote:
    """What a weights file did: how many tensors loaded into which model ("resnet" or "model"), the fixes."""

    count: int
    name: str  # the file's base name
    target: str
    fixes: tuple[str, ...] = ()  # lab.checkpoints' notes: prefixes stripped, extras skipped


@dataclass
class SurgeryView:
    """Everything the tab shows for one surgery (data only; the tab words it)."""

    surgery: Surgery
    batch: int
    size: int
    model: nn.Module  # the model after the surgery (eval mode, on `device`): this view's own, never shared
    changes: Changes
    before_counts: tuple[int, int]  # (total, trainable) of the untouched ResNet
    after_counts: tuple[int, int]
    forward: pd.DataFrame  # forward_check's table
    code: str  # the standalone code panel (lab.surgery.code.to_code)
    load: LoadNote | None = None
    device: str = "cpu"


def view(arch: str = "resnet50", *, new_head: bool = True, hidden: str | Sequence[int] = "128",
         num_classes: object = 10, dropout: object = 0.5, extra_input: bool = False, extra_size: object = 1,
         extra_output: bool = False, freeze: bool = False, batch: object = 2, size: object = 224,
         weights_path: str | None = None) -> SurgeryView:
    """The tab's view of one surgery from the values of its controls: build (seeded), compare, forward, code.

    Plain hashable arguments and a result that is data, so a caller may cache the weights-free views (the result
    holds the model: hand each session its own copy). Every value is checked before anything is built.
    """
    from lab.surgery.code import to_code  # code.py prints the source of this package's blocks

    surgery = Surgery.from_choices(arch, new_head=new_head, hidden=hidden, num_classes=num_classes, dropout=dropout,
                                   extra_input=extra_input, extra_size=extra_size, extra_output=extra_output,
                                   freeze=freeze)  # fmt: skip
    inputs = dummy_batch(surgery, batch, size)  # checked before the (slow) build
    batch, size = inputs[0].shape[0], inputs[0].shape[-1]
    built = build(surgery, weights_path or None)
    changes = changed_parts(built.before, built.before_children, built.model)
    device = pick_device()
    forward, _ = forward_check(built, inputs, device)
    load = None
    if built.load_report is not None:
        report = built.load_report
        load = LoadNote(len(report.loaded), Path(weights_path).name, built.loaded_into,
                        tuple([*report.renamed, *report.notes]))  # fmt: skip
    before_counts = (int(built.before["params"].sum()), int(built.before["trainable"].sum()))
    code = to_code(surgery, batch, size, weights_name=load.name if load else None,
                   weights_target=load.target if load else "resnet")
    return SurgeryView(surgery, batch, size, built.model, changes, before_counts, count_params(built.model),
                       forward, code, load, device.type)  # fmt: skip
