"""The Train tab's code panel: the whole run as one standalone script, assembled from the source of what ran.

The U-Net (lab.unet), the chosen loss class (lab.losses), the data and loop pieces (lab.train.data, .loop) come
from `lab.train.standalone.bundle` (their source, the lab's input checks left out); the scheduler is built from the
chosen spec the way `lab.schedules.make_scheduler` builds it; a few lines of settings call them. No lab import, no
server path: the data is a folder of `<name>.png` + `<name>_mask.png` pairs (the tab's sample download, or your
own pairs). The same seed and settings print the same history as the tab's run on the same machine.

`script(...)` is shared with `lab.train.ddp`, which builds the torchrun script from the same pieces.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

import torch.nn as nn

from lab import losses, schedules
from lab.errors import LabError
from lab.safe_expr import check_expression
from lab.train.data import SAMPLES_FOLDER, Split, pair_tensors, read_pairs, smallest_crop, split_indices
from lab.train.loop import LoopSettings, Pace, make_optimizer, train_steps, validate
from lab.train.settings import FINAL_GRACE_S, schedule_spec
from lab.train.standalone import bundle, sorted_imports
from lab.unet import UNet

__all__ = ["to_code", "script", "settings_source", "loss_source", "scheduler_source", "per_batch_of", "UPLOAD_FOLDER"]

UPLOAD_FOLDER = "pairs"  # where the panel of a run on uploaded pairs expects them
# the order a script reads in: the U-Net, the loss, the data, the loop, the schedule, the script's own main
_ORDER = ("lab.unet", "lab.losses", "lab.segment", "lab.train.settings", "lab.train.data", "lab.train.loop",
          "lab.schedules", "lab.train.ddp")
_MATH = {"cos", "sin", "tan", "exp", "log", "sqrt", "floor", "ceil", "pi", "e"}
_LOOP_PIECES = (read_pairs, pair_tensors, split_indices, smallest_crop, Split, LoopSettings, Pace, make_optimizer,
                validate, train_steps)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# The loss and the schedule, as code


def _kwargs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def loss_source(loss: Mapping[str, Any]) -> tuple[list[Any], str]:
    """(classes to print, the expression building the loss) for a run's `config["loss"]`."""
    if loss["name"] not in losses.NAMES:
        raise LabError("error.train.no_code", loss=loss["name"])
    spec = losses.LossSpec.of(loss["name"], **loss["params"])
    module = spec.build()
    inner = getattr(module, "loss", None)
    if isinstance(inner, nn.Module) and type(inner).__module__.startswith("torch.nn"):  # a torch built-in, wrapped
        expression = f"{type(module).__name__}(nn.{type(inner).__name__}({_kwargs(spec.kwargs())}), " \
                     f"sigmoid={module.sigmoid!r})"  # fmt: skip
    else:
        expression = f"{type(module).__name__}({_kwargs(spec.kwargs())})"
    return [type(module)], expression


def _lambda(text: str, imports: set[str]) -> str:
    checked = check_expression(text)
    used = {n.id for n in ast.walk(ast.parse(checked, mode="eval")) if isinstance(n, ast.Name)} & _MATH
    if used:
        imports.add(f"from math import {', '.join(sorted(used))}")
    return f"lambda epoch: {checked}"


def _scheduler_call(name: str, params: Mapping[str, Any], imports: set[str], objects: list[Any]) -> str:
    """`Name(optimizer, k=v, ...)` for one scheduler, its defaults left out, as make_scheduler builds it."""
    if name == schedules.CUSTOM:  # the tutorial's adjust_learning_rate, as a class the loop can step
        objects.append(schedules.AdjustLearningRate)
        return f"AdjustLearningRate(optimizer, {_kwargs(params)})" if params else "AdjustLearningRate(optimizer)"
    imports.add(f"from torch.optim.lr_scheduler import {name}")
    specs = {s.name: s for s in schedules.param_specs(name)}
    args = ["optimizer"]
    for key, value in params.items():
        spec = specs.get(key)
        if key == "schedulers":
            members = [_scheduler_call(m["name"], m["params"], imports, objects) for m in value]
            args.append(f"schedulers=[{', '.join(members)}]")
        elif key == "lr_lambda":
            args.append(f"lr_lambda={_lambda(value, imports)}")
        elif value is not None and (spec is None or spec.required or value != spec.default):
            args.append(f"{key}={value!r}")
    if name == "OneCycleLR" and params.get("total_steps") is None and None in (params.get("epochs"),
                                                                                 params.get("steps_per_epoch")):
        args.append("total_steps=n_steps")  # make_scheduler's default: as many steps as it will be stepped
    if name == "ChainedScheduler":  # takes the list first and the optimizer as a keyword
        return f"ChainedScheduler({args[1].removeprefix('schedulers=')}, optimizer=optimizer)"
    return f"{name}({', '.join(args)})"


def scheduler_source(scheduler: Mapping[str, Any] | None) -> tuple[list[Any], set[str], str]:
    """(classes to print, imports, the `build_scheduler(optimizer, n_steps)` function) for `config["scheduler"]`."""
    imports: set[str] = set()
    objects: list[Any] = []
    if scheduler is None:
        body = '    """No schedule: the lr stays where the optimizer put it."""\n    return None'
    else:
        spec = schedule_spec((scheduler["name"], scheduler["params"]))
        call = _scheduler_call(spec.name, spec.kwargs(), imports, objects)
        body = f'    """{spec.name} (6.2); the loop steps it n_steps times."""\n    return {call}'
    return objects, imports, f"def build_scheduler(optimizer, n_steps):\n{body}\n"


# ---------------------------------------------------------------------------------------------------------------
# A script


def script(doc: str, objects: Sequence[Any], imports: set[str], tail: str) -> str:
    """`doc`, the imports, the standalone source of `objects` (and what they use), then `tail`."""
    pieces = bundle(*objects, order=_ORDER)
    lines = sorted_imports(set(pieces.imports) | imports)
    head = f'"""{doc}"""\n\n' + "\n".join(lines) + "\n"
    if pieces.constants:
        head += "\n" + "\n".join(pieces.constants) + "\n"
    return head + "\n\n" + "\n\n\n".join([*pieces.definitions, tail.strip("\n")]) + "\n"


def settings_source(config: Mapping[str, Any]) -> tuple[list[Any], set[str], str]:
    """The pieces both scripts share: the U-Net, the loss and the schedule, as (objects, imports, functions)."""
    loss_objects, loss_expression = loss_source(config["loss"])
    sched_objects, imports, build_scheduler = scheduler_source(config.get("scheduler"))
    build_loss = f'def build_loss():\n    """The loss (6.1)."""\n    return {loss_expression}\n'
    objects = [UNet, *loss_objects, *sched_objects]
    return objects, {"import torch.nn as nn", *imports}, f"{build_loss}\n\n{build_scheduler}"


def per_batch_of(config: Mapping[str, Any]) -> bool:
    if "per_batch" in config:
        return bool(config["per_batch"])
    from lab.train.settings import is_per_batch

    spec = schedule_spec(config.get("scheduler") and (config["scheduler"]["name"], config["scheduler"]["params"]))
    return spec is not None and is_per_batch(spec, config["steps"])


def to_code(config: Mapping[str, Any], *, data: str = "samples") -> str:
    """The standalone script of a run described by `TrainResult.config` (or `Training.config`): the same loop,
    printing the same history (step 0, then every validation). `data="samples"` reads `train_samples/` (the tab's
    sample download, unzipped); "upload" reads `pairs/`, the pairs the visitor uploaded."""
    objects, imports, functions = settings_source(config)
    folder = SAMPLES_FOLDER if data == "samples" else UPLOAD_FOLDER
    where = (f"{SAMPLES_FOLDER}/ (unzip {SAMPLES_FOLDER}.zip, the Train tab's sample download, beside this file)"
             if data == "samples" else f"{UPLOAD_FOLDER}/ (the <name>.png and <name>_mask.png pairs you uploaded)")
    model, opt = config["model"], config["optimizer"]
    limit = config.get("time_limit_s")
    memory_format = "torch.channels_last" if config.get("channels_last", True) else "torch.contiguous_format"
    unit = 2 ** model.get("depth", 0)
    doc = (
        "Train a U-Net as the lab's Train tab did (tutorial 5.2 + 6.1 + 6.2): standalone, torch + numpy + PIL.\n\n"
        f"Data: the folder {where}.\n"
        "The same data, seed and settings print the same history as the tab's run on the same machine and thread\n"
        "count (bf16 autocast included); on another machine the numbers differ a little, the recipe does not.\n"
    )
    tail = f"""{functions}

# ---- the run: the Train tab's settings ----
DATA = Path({folder!r})
device = torch.device({config.get("device", "cpu")!r})  # where the tab ran
seed, steps, batch_size = {config["seed"]!r}, {config["steps"]!r}, {config["batch_size"]!r}
time_limit_s = {limit!r}  # checked before every step and every validation image

names, images, masks = read_pairs(DATA)
xs, ys = pair_tensors(images, masks, device)
train_index, val_index = split_indices(len(xs), {config["val_fraction"]!r}, seed)  # {config["n_val"]} held out
data = Split(xs, ys, train_index, val_index)
loop = LoopSettings(
    steps=steps,
    batch_size=batch_size,
    crop=smallest_crop(xs, train_index, {config["crop_size"]!r}, {unit}),
    steps_per_epoch=math.ceil(len(train_index) / batch_size),
    val_every={config["val_every"]!r},
    per_batch={per_batch_of(config)!r},
    use_bf16={config["precision"] == "bf16"!r},
    memory_format={memory_format},
)

torch.manual_seed(seed)  # the model's initial weights
model = UNet({_kwargs(model)})
model = model.to(device).to(memory_format=loop.memory_format).train()
loss_fn = build_loss().to(device)
optimizer = make_optimizer(model, {opt["name"]!r}, lr={opt["lr"]!r}, weight_decay={opt["weight_decay"]!r})
scheduler = build_scheduler(optimizer, steps if loop.per_batch else math.ceil(steps / loop.steps_per_epoch))
generator = torch.Generator().manual_seed(seed)  # crops, flips and turns

paces = (Pace(), Pace())  # seconds per step, seconds per validated pixel
started = time.perf_counter()
deadline = None if time_limit_s is None else started + time_limit_s
final_deadline = None if deadline is None else deadline + {FINAL_GRACE_S!r}  # the last validation may end later
scores = validate(model, data, loop, paces[1], deadline)  # step 0: the untrained model
print(f"step 0: val Dice {{np.mean(scores):.6f}}")
history = []
for row in train_steps(model, loss_fn, optimizer, scheduler, data, loop, generator, paces=paces, started=started,
                       deadline=deadline, final_deadline=final_deadline):
    if not history or history[-1] is not row:
        history.append(row)
    if row["val_images"]:
        print(f"step {{row['step']}}: loss {{row['loss']:.6f}}  lr {{row['lr']:.6g}}  val Dice {{row['val_dice']:.6f}}")
if history and history[-1]["step"] < steps:
    print(f"stopped by the time limit after step {{history[-1]['step']}}")
model = model.to(memory_format=torch.contiguous_format).eval()  # ready to segment: model(x)[0, 0] > 0
"""
    base = {"import math", "import time", "import numpy as np", "import torch", "from pathlib import Path"}
    return script(doc, [*objects, *_LOOP_PIECES], base | imports, tail)

