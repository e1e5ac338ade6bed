"""The LR tab's code panel: standalone PyTorch that prints the curve the tab drew, step by step.

No `lab` import: the scheduler is torch's own class called with the tab's values; a LambdaLR/MultiplicativeLR
formula (checked by `lab.safe_expr`) is written as the Python lambda it stands for; the tutorial's custom schedule
and the built-in plateauing metric are the source of the functions the lab runs (`lab.source`).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

import torch

from lab.safe_expr import CONSTANTS, FUNCTIONS, check_expression, compile_expression
from lab.schedules.core import adjust_learning_rate, build_scheduler, plateau_metric
from lab.schedules.params import COMPOSITE, CUSTOM, param_specs
from lab.schedules.spec import Curve
from lab.source import source

__all__ = ["to_code", "curve_code"]


def _kwargs_code(name: str, params: dict[str, Any]) -> list[str]:
    defaults = {s.name: (s.default, s.required) for s in param_specs(name)}
    parts = []
    for key, value in params.items():
        default, required = defaults[key]
        if not required and value == default and key != "total_steps":
            continue
        parts.append(f"{key}=lambda epoch: {check_expression(value)}" if key == "lr_lambda" else f"{key}={value!r}")
    return parts


def _formulas(params: dict[str, Any]) -> list[str]:
    return [t for t in [params.get("lr_lambda")] + [m["params"].get("lr_lambda") for m in params.get("schedulers", [])]
            if t]  # fmt: skip


def _math_names(params: dict[str, Any]) -> list[str]:
    used: set[str] = set()
    for text in _formulas(params):
        used |= {n.id for n in ast.walk(ast.parse(text, mode="eval")) if isinstance(n, ast.Name)}
    return sorted(used & ((set(FUNCTIONS) | set(CONSTANTS)) - {"min", "max", "abs"}))


def curve_code(curve: Curve) -> str:
    """The code for a validated curve (see `to_code`)."""
    name, steps, spe, base_lr, epochs = curve.name, curve.steps, curve.steps_per_epoch, curve.base_lr, curve.epochs
    probe = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr, momentum=0.9)
    built = build_scheduler(name, curve.schedule.kwargs(), probe, steps, spe)  # fills OneCycleLR's total_steps
    norm = built.params
    for text in _formulas(norm):  # the float evaluator proves every epoch's value is small before Python ints see it
        fn = compile_expression(text)
        for e in range(epochs + 2):
            fn(e)

    classes = sorted(({name} | {m["name"] for m in norm.get("schedulers", [])}) - {CUSTOM})
    lines = ['"""The lr schedule from the lab, stepped as a training loop steps it (tutorial 6.2)."""']
    math_names = _math_names(norm)
    lines += [f"from math import {', '.join(math_names)}" if math_names else "", "import torch"]
    if classes:
        lines.append(f"from torch.optim.lr_scheduler import {', '.join(classes)}")
    lines.append("")
    if name == CUSTOM:
        lines += [source(adjust_learning_rate).rstrip(), ""]
    if built.needs_metric:
        if curve.metrics is None:
            lines += [source(plateau_metric).rstrip(), "", f"metrics = plateau_metric({epochs})"]
        else:
            lines.append(f"metrics = {list(curve.metrics)!r}  # one per epoch")
        lines.append("")
    lines += [
        "param = torch.nn.Parameter(torch.zeros(1))  # stands in for model.parameters()",
        f"optimizer = torch.optim.SGD([param], lr={base_lr!r}, momentum=0.9)",
    ]
    if name in COMPOSITE:
        names = []
        for i, m in enumerate(norm["schedulers"]):
            names.append(f"s{i + 1}")
            lines.append(f"s{i + 1} = {m['name']}({', '.join(['optimizer'] + _kwargs_code(m['name'], m['params']))})")
        rest = {k: v for k, v in norm.items() if k != "schedulers"}
        if name == "SequentialLR":
            args = ["optimizer", f"schedulers=[{', '.join(names)}]"] + _kwargs_code(name, rest)
        else:
            args = [f"[{', '.join(names)}]", "optimizer=optimizer"]
        lines.append(f"scheduler = {name}({', '.join(args)})")
    elif name != CUSTOM:
        lines.append(f"scheduler = {name}({', '.join(['optimizer'] + _kwargs_code(name, norm))})")
    if name == CUSTOM:
        every, factor = norm.get("every", 30), norm.get("factor", 0.1)
        call = f"adjust_learning_rate(optimizer, epoch, base_lr={base_lr!r}, every={every}, factor={factor})"
        epoch_start, batch_end, epoch_end = [f"    {call}  # at the start of the epoch, not after it"], [], []
    else:
        step = "scheduler.step(metrics[epoch])" if built.needs_metric else "scheduler.step()"
        epoch_start = []
        batch_end = [f"        {step}  # per batch: {name} is a per-batch schedule"] if built.per_batch else []
        epoch_end = [] if built.per_batch else [f"    {step}  # once per epoch, inside the epoch loop"]
    lines += [
        "",
        f"EPOCHS, STEPS_PER_EPOCH = {epochs}, {spe}",
        "lrs = []  # the lr in effect during each batch",
        "for epoch in range(EPOCHS):",
        *epoch_start,
        "    for batch in range(STEPS_PER_EPOCH):",
        '        lrs.append(optimizer.param_groups[0]["lr"])',
        "        # forward, loss.backward() ... then:",
        "        optimizer.step()",
        *batch_end,
        *epoch_end,
        "",
        "for step, lr in enumerate(lrs):",
        "    print(step, lr)",
    ]
    return "\n".join(line for i, line in enumerate(lines) if line or (i and lines[i - 1])) + "\n"


def to_code(name: str, params: dict[str, Any] | None = None, *, steps: int = 100, base_lr: float = 0.1,
            metrics: Sequence[float] | None = None, steps_per_epoch: int = 1) -> str:  # fmt: skip
    """Runnable PyTorch that prints the curve `lr_curve` returns for the same arguments (as `lrs`): one line per
    step, `<step> <lr>`, the lr as Python prints a float (every digit)."""
    return curve_code(Curve.of(name, params, steps=steps, steps_per_epoch=steps_per_epoch, base_lr=base_lr,
                               metrics=metrics))  # fmt: skip
