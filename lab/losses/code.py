"""The Losses tab's code panel: standalone PyTorch computing the chosen loss on the prediction the tab shows.

Assembled from the source of what the lab runs (`lab.source`): the binary loss classes of `lab.losses.binary`, the
degradation and `as_logits` of `lab.losses.demo`, plus the few lines that call them. No `lab` import, no server
path: the panel reads the sample's mask (and, for the U-Net's prediction, its probability map) by base name, files
the page offers for download beside the panel (`Panel.files`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np

from lab.errors import LabError, Term, choice, number, shown
from lab.losses import binary, demo
from lab.losses.core import BUILTINS, PARAMS, canonical, params_for, validate_params
from lab.source import source

__all__ = ["Panel", "class_code", "to_code", "mask_setup", "panel"]

# the classes each custom loss needs, in the order a module defines them
_CLASSES: dict[str, tuple[type, ...]] = {
    "dice": (binary.DiceLoss,),
    "iou": (binary.IoULoss,),
    "dice_bce": (binary.DiceLoss, binary.DiceBCELoss),
    "focal": (binary.FocalLoss,),
}
_IMPORTS = ["import torch", "import torch.nn.functional as F", "from torch import nn"]
_RANDOM_SETUP = """\
torch.manual_seed(0)
logits = torch.randn(1, 1, 8, 8) * 3  # (N, 1, H, W) raw model outputs
targets = (torch.rand(1, 1, 8, 8) > 0.5).float()  # the true mask"""


@dataclass(frozen=True)
class Panel:
    """A code panel and the files it reads: (base name, contents) pairs the page offers for download."""

    code: str
    files: tuple[tuple[str, bytes], ...] = ()


def class_code(name: str) -> str:
    """The source of the binary class(es) of a custom loss, as the lab runs them; LabError for a built-in."""
    key = canonical(name)
    if key not in _CLASSES:
        raise LabError("error.value", field="losses.loss", value=shown(name),
                       accepted=Term("accept.one_of", options=", ".join(_CLASSES)))  # fmt: skip
    return source(*_CLASSES[key])


def _criterion(key: str, params: dict[str, Any]) -> tuple[str, str, str]:
    """(construction, call, printed name) of loss `key` in the panel."""
    if key in _CLASSES:
        cls = _CLASSES[key][-1].__name__
        args = ", ".join(f"{field}={value!r}" for field, value in params.items())
        return f"{cls}({args})", "criterion(logits, targets)", cls
    cls, sigmoid = BUILTINS[key]
    args = ", ".join(f"{field}={value!r}" for field, value in params.items())
    call = ("criterion(torch.sigmoid(logits), targets)  # probabilities, not logits, against the mask" if sigmoid
            else "criterion(logits, targets)")  # fmt: skip
    return f"nn.{cls.__name__}({args})", call, cls.__name__


def _assemble(key: str, params: dict[str, Any], setup: str, *, imports: list[str], functions: tuple = ()) -> str:
    """imports, the functions and classes (two blank lines apart, as a module lays them out), the setup, the call."""
    construct, call, printed = _criterion(key, params)
    definitions = ["\n".join(imports)]
    if functions:
        definitions.append(source(*functions).rstrip("\n"))
    if key in _CLASSES:
        definitions.append(class_code(key).rstrip("\n"))
    run = f"criterion = {construct}\nloss = {call}\n" + 'print(f"' + printed + ': {loss.item():.6f}")'
    return "\n\n\n".join(definitions) + "\n\n\n" + setup.strip("\n") + "\n\n" + run + "\n"


def _params(key: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of loss `key` but `mode`: the defaults, then `params` checked."""
    checked = {f: spec.default for f, spec in PARAMS[key].items() if f != "mode"}
    given = validate_params(**params_for(key, **(params or {})))
    if given.pop("mode", "binary") != "binary":
        raise LabError("error.losses.code_binary")
    return {**checked, **given}


def to_code(name: str, params: dict[str, Any] | None = None, *, setup: str | None = None) -> str:
    """Runnable code: loss `name` (its binary class as the lab runs it, or the torch built-in) on the tensors of
    `setup`, code defining `logits` and `targets` (by default a seeded random 1 x 1 x 8 x 8 example); it prints
    "<class>: <value>"."""
    key = canonical(name)
    return _assemble(key, _params(key, params), setup or _RANDOM_SETUP, imports=_IMPORTS)


def mask_setup(sample: str, source_: str, amount: float) -> tuple[str, tuple, tuple[tuple[str, bytes], ...]]:
    """(setup code, the lab functions it calls, the files it reads) for the tab's prediction on a sample."""
    from lab.segment import SAMPLES

    name = demo.check_sample(sample)
    source_ = choice("losses.source", source_, demo.SOURCES)
    amount = number("losses.amount", amount, 0.0, 1.0)
    mask_file = f"{name}_mask.png"
    files = [(mask_file, (SAMPLES / mask_file).read_bytes())]
    lines = [
        f'mask = np.array(Image.open("{mask_file}").convert("L")) > 127  # the true mask (H, W), as the lab reads it',
        "targets = torch.from_numpy(mask).float()[None, None]  # (1, 1, H, W)",
    ]
    functions: tuple = (demo.as_logits,)
    if source_ == "unet":
        prob_file = f"{name}_unet_prob.npy"
        buffer = io.BytesIO()
        np.save(buffer, demo.unet_prob(name))
        files.append((prob_file, buffer.getvalue()))
        lines.append(f'probs = torch.from_numpy(np.load("{prob_file}"))[None, None]  # the shipped U-Net\'s prediction')
    elif source_ == "noise":
        functions = (demo.noise, demo.as_logits)
        lines.append(f"probs = noise(targets, {float(amount)!r}, seed=0)  # the prediction")
    else:
        degrade = demo.GEOMETRIC[source_]
        functions = (degrade, demo.as_logits)
        lines.append(f"probs = {degrade.__name__}(targets, {demo.radius(amount)})  # the prediction")
    lines.append("logits = as_logits(probs)  # what a model would output")
    return "\n".join(lines), functions, tuple(files)


def panel(chosen: str, sample: str, source_: str, amount: float, smooth: Any = 1.0, alpha: Any = 0.25,
          gamma: Any = 2.0) -> Panel:  # fmt: skip
    """The tab's code panel: the chosen loss on the tab's prediction of `sample`, and the files it reads."""
    key = canonical(chosen)
    # every tab parameter checked, also those the chosen loss does not take: the tab's other views refuse them too
    params = _params(key, validate_params(smooth=smooth, alpha=alpha, gamma=gamma))
    setup, functions, files = mask_setup(sample, source_, amount)
    imports = ["import numpy as np", "import torch", "import torch.nn.functional as F", "from PIL import Image",
               "from torch import nn"]  # fmt: skip
    return Panel(_assemble(key, params, setup, imports=imports, functions=functions), files)
