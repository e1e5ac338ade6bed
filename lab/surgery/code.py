"""The surgery's code panel: standalone PyTorch (torch + torchvision only) that builds the same model with the same
seed and prints the same shapes and counts the tab showed, assembled from the source of what the lab runs."""

from __future__ import annotations

from lab.source import source
from lab.surgery.build import SEED, Surgery, check_batch, check_size
from lab.surgery.core import (
    WithExtraInput,
    WithExtraOutput,
    eval_frozen_batchnorm,
    feature_dim,
    freeze,
    make_head,
    replace_head,
)

__all__ = ["CHECK_MARK", "printed", "to_code"]

CHECK_MARK = "# input check"  # a line of the lab's source ending so refuses a wrong value: not part of the panel


def printed(*objects: object) -> str:
    """The source of `objects` as a panel prints it: exactly what runs, minus the lines that check the lab's inputs
    (each ends in CHECK_MARK and only raises a LabError), so the printed code needs nothing but torch."""
    lines = source(*objects).splitlines()
    return "\n".join(line for line in lines if not line.rstrip().endswith(CHECK_MARK)) + "\n"


def _blocks(s: Surgery) -> list[object]:
    """The lab's functions and classes the model needs, bottom-up."""
    blocks: list[object] = []
    if s.changes_output:
        blocks += [feature_dim, make_head]
        blocks.append(WithExtraInput if s.num_extra else WithExtraOutput if s.extra_output else replace_head)
    if s.freeze:
        blocks += [freeze, eval_frozen_batchnorm]
    return blocks


def _operation(s: Surgery) -> str:
    """The line that turns `net` into `model`, with the surgery's own values."""
    head = f"hidden={s.hidden!r}, dropout={s.dropout!r}"
    if s.num_extra:
        features = ", return_features=True" if s.extra_output else ""
        return f"model = WithExtraInput(net, {s.num_extra}, {s.num_classes}, {head}{features})"
    if s.extra_output:
        return f"model = WithExtraOutput(net, {s.num_classes}, {head})"
    if s.changes_output:
        return f"model = replace_head(net, {s.hidden!r}, {s.num_classes}, {s.dropout!r})"
    return "model = net  # no operation: the ImageNet fc stays"


def to_code(surgery: Surgery, batch: int = 2, size: int = 224, *, seed: int = SEED, weights_name: str | None = None,
            weights_target: str = "resnet") -> str:
    """Runnable PyTorch that builds the same model, with the same weights for the same `seed`, runs the same forward
    check and prints what the tab shows: the counts before and after, every input's and output's shape. It leaves
    `model`, `x`, `outputs` (and `extra`) in its namespace.

    `weights_name`: the base name of a weights file the visitor uploaded; the code loads it (commented out, so the
    panel also runs without the file) into the plain ResNet (`weights_target="resnet"`) or the model after the
    surgery ("model"), as the lab did.
    """
    s = surgery
    batch, size = check_batch(batch), check_size(size)
    blocks = _blocks(s)
    lines = ["from collections import OrderedDict"] if s.changes_output else []
    lines += ["from collections.abc import Sequence", ""] if blocks else []
    lines += ["import torch", "import torch.nn as nn", "import torchvision.models as models"]
    if blocks:
        lines += ["", "", printed(*blocks).rstrip()]
    load = ""
    if weights_name:  # how the file is read: safetensors, or torch.load of weights only
        reader = f"load_file({weights_name!r})" if weights_name.endswith(".safetensors") else \
            f"torch.load({weights_name!r}, map_location=\"cpu\", weights_only=True)"
        load = f"# {'model' if weights_target == 'model' else 'net'}.load_state_dict({reader})"
        if weights_name.endswith(".safetensors"):
            load = f"# from safetensors.torch import load_file\n{load}"
    lines += ["", "", f"torch.manual_seed({seed})  # the lab's seed: the same random weights",
              f"net = models.{s.arch}(weights=None)  # random weights; nothing is downloaded"]
    if load and weights_target != "model":
        lines += [f"# The lab loaded {weights_name!r} into the ResNet; with that file beside this script:", load]
    lines += ["total = sum(p.numel() for p in net.parameters())",
              "trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)",
              'print(f"before: {total:,} parameters, {trainable:,} trainable")', "", _operation(s)]
    if s.freeze:
        lines += [f"freeze(model, {s.keep_trainable!r})  # requires_grad=False everywhere else",
                  "# to train: model.train(); eval_frozen_batchnorm(model)  # frozen BatchNorm keeps its statistics"]
    if load and weights_target == "model":
        lines += [f"# The lab loaded {weights_name!r} into the model after the surgery; with that file here:", load]
    lines += ["", 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")',
              "model = model.to(device).eval()  # .to(device), never .cuda()",
              "generator = torch.Generator().manual_seed(0)",
              f"x = torch.randn({batch}, 3, {size}, {size}, generator=generator).to(device)"]
    names = "x"
    call = "model(x)"
    if s.num_extra:
        lines.append(f"extra = torch.randn({batch}, {s.num_extra}, generator=generator).to(device)")
        names, call = "x, extra", "model(x, extra)"
    outputs = '("logits", "features")' if s.extra_output else '("logits",)'
    lines += ["with torch.inference_mode():", f"    outputs = {call}",
              "outputs = outputs if isinstance(outputs, tuple) else (outputs,)",
              f"for name, tensor in zip({_names(names)}, ({names},)):",
              '    print(f"input {name} {tuple(tensor.shape)}")',
              f"for name, tensor in zip({outputs}, outputs):",
              '    print(f"output {name} {tuple(tensor.shape)}")',
              "total = sum(p.numel() for p in model.parameters())",
              "trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)",
              'print(f"after: {total:,} parameters, {trainable:,} trainable")']
    return "\n".join(lines) + "\n"


def _names(names: str) -> str:
    """`x, extra` -> `("x", "extra")` (a tuple literal of the input names)."""
    parts = [f'"{n.strip()}"' for n in names.split(",")]
    return f"({', '.join(parts)},)" if len(parts) == 1 else f"({', '.join(parts)})"
