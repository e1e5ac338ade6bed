"""The mistakes of tutorial 6.2 (docs/tutorial-notes.md), as real code run live beside the fix.

The tutorial's own code is here as it wrote it: the usage example of 6.2.1 as text (only ever compiled, never run)
and 6.2.2's `adjust_learning_rate`, global `args` and all, as a function. Each pitfall runs the wrong way and the
right way with real torch objects and returns a `lab.pitfall.Pitfall`; `run_all` gives every one in the order of
the tutorial. The code shown on each side is the source of what ran (`lab.source`).
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Callable
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from lab.pitfall import Outcome, Pitfall, attempt
from lab.schedules import core
from lab.schedules.figures import PLAIN, FigureText, curve_figure
from lab.schedules.params import check_base_lr
from lab.source import source

__all__ = ["TUTORIAL_USAGE", "adjust_learning_rate", "PITFALLS", "run_all"]

# 6.2.1's usage example exactly as the tutorial prints it, tabs and trailing spaces included. Its `....` lines are
# placeholders for a scheduler of the reader's choice; the two tab-indented lines sit in a loop indented with spaces.
TUTORIAL_USAGE = (
    "# 选择一种优化器\n"
    "optimizer = torch.optim.Adam(...) \n"
    "# 选择上面提到的一种或多种动态调整学习率的方法\n"
    "scheduler1 = torch.optim.lr_scheduler.... \n"
    "scheduler2 = torch.optim.lr_scheduler....\n"
    "...\n"
    "schedulern = torch.optim.lr_scheduler....\n"
    "# 进行训练\n"
    "for epoch in range(100):\n"
    "    train(...)\n"
    "    validate(...)\n"
    "    optimizer.step()\n"
    "    # 需要在优化器参数更新之后再动态调整学习率\n"
    "\tscheduler1.step() \n"
    "\t...\n"
    "    schedulern.step()"
)
PLACEHOLDER = "torch.optim.lr_scheduler...."
FILLED = "torch.optim.lr_scheduler.StepLR(optimizer, 30)"


# 6.2.2 as the tutorial writes it. `args` is its script's argparse Namespace, a global this module never defines.
def adjust_learning_rate(optimizer, epoch):
    lr = args.lr * (0.1 ** (epoch // 30))  # noqa: F821
    for param_group in optimizer.param_groups:
        param_group['lr'] = lr


def with_args(function: Callable[..., Any], **args: Any) -> Callable[..., Any]:
    """The tutorial's function with its global `args` set as its script's argparse would set it: a copy of the
    function over its own globals, so nothing global changes (two sessions never see each other's `args`)."""
    scope = {**function.__globals__, "args": argparse.Namespace(**args)}
    return types.FunctionType(function.__code__, scope, function.__name__, function.__defaults__)


# ---------------------------------------------------------------------------------------------------------------
# A small real training setup: a linear model, fixed batches, one epoch of training, a validation loss.


def make_model() -> nn.Module:
    model = nn.Linear(4, 1)
    nn.init.zeros_(model.weight)  # the same start every run: the pitfalls compare loops, not initialisations
    nn.init.zeros_(model.bias)
    return model


def make_batches(n_batches: int = 4, batch_size: int = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    w = torch.tensor([[1.0], [-2.0], [0.5], [3.0]])
    xs = [torch.randn(batch_size, 4, generator=g) for _ in range(n_batches)]
    return [(x, x @ w + 0.1 * torch.randn(batch_size, 1, generator=g)) for x in xs]


def train(model, optimizer, batches):
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()  # after every batch


def validate(model, batches):
    with torch.no_grad():
        return sum(F.mse_loss(model(x), y).item() for x, y in batches) / len(batches)


def _frame(lrs: list[float], per_epoch: int = 1, **columns: list[float]) -> pd.DataFrame:
    steps = range(len(lrs))
    df = pd.DataFrame({"step": steps, "epoch": [s / per_epoch for s in steps], "lr": lrs, **columns})
    df.attrs["steps_per_epoch"] = per_epoch
    return df


# ---------------------------------------------------------------------------------------------------------------
# 6.2.1 The usage example: a TabError as printed


def usage_fixed(epochs=100):
    model, batches = make_model(), make_batches()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    scheduler1 = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    scheduler2 = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.98)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        train(model, optimizer, batches)  # optimizer.step() after every batch
        validate(model, batches)
        # after the optimizer's updates, once per epoch, inside the loop
        scheduler1.step()
        scheduler2.step()
    return lrs


def _compiled(text: str) -> Outcome:
    try:
        compile(text, "<tutorial 6.2.1>", "exec")  # compiled only: the tutorial's text never runs
    except SyntaxError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:300])  # str(exc) names the line
    return Outcome(value="compile() ok")


def usage_tab_error(base_lr: float, text: FigureText) -> Pitfall:
    as_printed = _compiled(TUTORIAL_USAGE)
    filled = TUTORIAL_USAGE.replace(PLACEHOLDER, FILLED)
    wrong = _compiled(filled)
    line = next(i for i, row in enumerate(filled.splitlines(), start=1) if row.startswith("\t"))
    lrs = usage_fixed()
    right = Outcome(value="  ".join(f"lrs[{e}] = {lrs[e]:.6g}" for e in (0, 29, 30, 60, 99)))
    return Pitfall(id="schedules.usage_tab_error", section="6.2.1", wrong_code=TUTORIAL_USAGE,
                   right_code=source(usage_fixed), wrong=wrong, right=right,
                   facts={"line": line, "placeholder_line": 4, "placeholder": PLACEHOLDER, "filled": FILLED,
                          "as_printed": as_printed.error})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# Stepping the scheduler outside the epoch loop (a common mistake; not what the tutorial prints)


def step_after_loop(base_lr, epochs=60):
    model, batches = make_model(), make_batches()
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=20, gamma=0.1)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        train(model, optimizer, batches)
    scheduler.step()  # after the loop: runs once, when training is over
    return lrs


def step_in_loop(base_lr, epochs=60):
    model, batches = make_model(), make_batches()
    optimizer = torch.optim.SGD(model.parameters(), lr=base_lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=20, gamma=0.1)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        train(model, optimizer, batches)
        scheduler.step()  # inside the loop: once per epoch
    return lrs


def step_outside_loop(base_lr: float, text: FigureText) -> Pitfall:
    wrong, right = step_after_loop(base_lr), step_in_loop(base_lr)
    figure = curve_figure([("step_in_loop", _frame(right)), ("step_after_loop", _frame(wrong))], in_epochs=True,
                          text=text, log_y=True)  # fmt: skip
    return Pitfall(id="schedules.step_outside_loop", section="6.2.1", wrong_code=source(step_after_loop),
                   right_code=source(step_in_loop), wrong=Outcome(value=f"set(lrs) = {sorted(set(wrong))}"),
                   right=Outcome(value=f"set(lrs) = {sorted(set(right), reverse=True)}"),
                   facts={"wrong": len(set(wrong)), "right": len(set(right)), "epochs": len(wrong)},
                   figure=figure)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# optimizer.step() once per epoch (the tutorial's loop) instead of after every batch


def train_step_per_epoch(model, optimizer, batches):
    for x, y in batches:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
    optimizer.step()  # once per epoch, as the tutorial's loop: one update, from the last batch's gradient


def fit(train_epoch, epochs=20, lr=0.05):
    model, batches = make_model(), make_batches(8)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        train_epoch(model, optimizer, batches)
        losses.append(validate(model, batches))
    return losses


def optimizer_per_epoch(base_lr: float, text: FigureText) -> Pitfall:
    wrong, right = fit(train_step_per_epoch), fit(train)
    epochs, batches = len(wrong), len(make_batches(8))
    table = pd.DataFrame({"epoch": range(1, epochs + 1), "train_step_per_epoch": wrong, "train": right})
    figure = curve_figure([("train", _frame([0.0] * epochs, loss=right)),
                           ("train_step_per_epoch", _frame([0.0] * epochs, loss=wrong))], in_epochs=True, text=text,
                          ycol="loss", log_y=True)  # fmt: skip
    return Pitfall(id="schedules.optimizer_per_epoch", section="6.2.1", wrong_code=source(train_step_per_epoch),
                   right_code=source(train, fit), wrong=Outcome(value=f"validate(model, batches) = {wrong[-1]:.4g}"),
                   right=Outcome(value=f"validate(model, batches) = {right[-1]:.4g}"),
                   facts={"epochs": epochs, "updates_wrong": epochs, "updates_right": epochs * batches,
                          "loss_wrong": f"{wrong[-1]:.4g}", "loss_right": f"{right[-1]:.4g}"},
                   table=table, figure=figure)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# OneCycleLR and CyclicLR count batches: stepped once per epoch they never finish their cycle


def step_per_epoch(optimizer, scheduler, epochs, batches):
    lrs = []
    for _ in range(epochs):
        for _ in range(batches):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
        scheduler.step()  # once per epoch
    return lrs


def step_per_batch(optimizer, scheduler, epochs, batches):
    lrs = []
    for _ in range(epochs):
        for _ in range(batches):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()  # after every batch
    return lrs


def _per_batch_schedulers(base_lr: float, epochs: int, batches: int) -> dict[str, Callable[[Any], Any]]:
    return {
        "OneCycleLR": lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=base_lr,
                                                                     total_steps=epochs * batches),
        "CyclicLR": lambda opt: torch.optim.lr_scheduler.CyclicLR(opt, base_lr=base_lr / 10, max_lr=base_lr,
                                                                 step_size_up=2 * batches),
    }  # fmt: skip


def per_batch(base_lr: float, text: FigureText) -> Pitfall:
    epochs, batches = 10, 20
    rows, curves = [], []
    for name, make in _per_batch_schedulers(base_lr, epochs, batches).items():
        for loop in (step_per_batch, step_per_epoch):
            optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr, momentum=0.9)
            lrs = loop(optimizer, make(optimizer), epochs, batches)
            rows.append({"scheduler": name, "loop": loop.__name__, "peak_lr": max(lrs), "final_lr": lrs[-1]})
            curves.append((f"{name} · {loop.__name__}", _frame(lrs, batches)))
    table = pd.DataFrame(rows)
    one_cycle = table[table["scheduler"] == "OneCycleLR"].set_index("loop")

    def shown(loop: str) -> Outcome:
        return Outcome(value=f"OneCycleLR: max(lrs) = {one_cycle.loc[loop, 'peak_lr']:.4g}, "
                             f"lrs[-1] = {one_cycle.loc[loop, 'final_lr']:.4g}")  # fmt: skip

    return Pitfall(id="schedules.per_batch", section="6.2.1", wrong_code=source(step_per_epoch),
                   right_code=source(step_per_batch), wrong=shown("step_per_epoch"), right=shown("step_per_batch"),
                   facts={"epochs": epochs, "batches": batches, "max_lr": f"{base_lr:g}",
                          "peak_wrong": f"{one_cycle.loc['step_per_epoch', 'peak_lr']:.4g}"},
                   table=table, figure=curve_figure(curves, in_epochs=True, text=text))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# ReduceLROnPlateau reacts to a metric: step() needs it


def plateau_without_metric(optimizer):
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=3)
    scheduler.step()  # no metric: what would it compare?


def plateau_with_metric(optimizer, val_losses):
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=3)
    lrs = []
    for val_loss in val_losses:
        lrs.append(optimizer.param_groups[0]["lr"])
        # ... train one epoch, then validate: val_loss
        scheduler.step(val_loss)
    return lrs


def plateau_metric(base_lr: float, text: FigureText) -> Pitfall:
    def optimizer() -> torch.optim.Optimizer:
        return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr, momentum=0.9)

    metrics = core.plateau_metric(60)
    lrs = plateau_with_metric(optimizer(), metrics)
    drops = sum(1 for a, b in zip(lrs, lrs[1:], strict=False) if b < a)
    return Pitfall(id="schedules.plateau_metric", section="6.2.1", wrong_code=source(plateau_without_metric),
                   right_code=source(plateau_with_metric), wrong=attempt(lambda: plateau_without_metric(optimizer())),
                   right=Outcome(value=f"lrs[-1] = {lrs[-1]:.4g}"), facts={"drops": drops, "final": f"{lrs[-1]:.4g}"},
                   figure=curve_figure([("ReduceLROnPlateau", _frame(lrs, metric=metrics))], in_epochs=True,
                                       text=text, log_y=True))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 6.2.2 adjust_learning_rate: a global `args`, every param group overwritten, called one epoch late


def _sgd(base_lr: float) -> torch.optim.Optimizer:
    return torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base_lr, momentum=0.9)


def adjust_global_args(base_lr: float, text: FigureText) -> Pitfall:
    def explicit() -> float:
        optimizer = _sgd(base_lr)
        core.adjust_learning_rate(optimizer, 30, base_lr=base_lr)
        return optimizer.param_groups[0]["lr"]

    return Pitfall(id="schedules.adjust_global_args", section="6.2.2", wrong_code=source(adjust_learning_rate),
                   right_code=source(core.adjust_learning_rate),
                   wrong=attempt(lambda: adjust_learning_rate(_sgd(base_lr), 30)),
                   right=attempt(explicit, lambda lr: f"optimizer.param_groups[0]['lr'] = {lr:.4g}"),
                   facts={"base_lr": f"{base_lr:g}"})  # fmt: skip


def two_groups(base_lr):
    backbone, head = nn.Linear(4, 4), nn.Linear(4, 1)
    return torch.optim.SGD([{"params": backbone.parameters(), "lr": base_lr / 10},  # fine-tuning: a gentler backbone
                            {"params": head.parameters()}], lr=base_lr, momentum=0.9)  # fmt: skip


def step_lr_per_group(base_lr):
    optimizer = two_groups(base_lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    lrs = {0: [group["lr"] for group in optimizer.param_groups]}
    for _ in range(1, 31):
        optimizer.step()  # train(...), validate(...)
        scheduler.step()
    lrs[30] = [group["lr"] for group in optimizer.param_groups]  # each group scaled from its own lr
    return lrs


def adjust_all_groups(base_lr: float, text: FigureText) -> Pitfall:
    tutorial = with_args(adjust_learning_rate, lr=base_lr)
    optimizer = two_groups(base_lr)
    columns: dict[str, list[float]] = {"param_group": [0, 1], "initial_lr": [g["lr"] for g in optimizer.param_groups]}
    for epoch in (0, 30):
        tutorial(optimizer, epoch)
        columns[f"adjust_learning_rate(optimizer, {epoch})"] = [g["lr"] for g in optimizer.param_groups]
    for epoch, lrs in step_lr_per_group(base_lr).items():
        columns[f"StepLR, epoch {epoch}"] = lrs
    wrong, right = columns["adjust_learning_rate(optimizer, 0)"], columns["StepLR, epoch 0"]
    shown = "[group['lr'] for group in optimizer.param_groups] = {}"
    return Pitfall(id="schedules.adjust_all_groups", section="6.2.2", wrong_code=source(adjust_learning_rate),
                   right_code=source(two_groups, step_lr_per_group), wrong=Outcome(value=shown.format(wrong)),
                   right=Outcome(value=shown.format(right)),
                   facts={"backbone": f"{base_lr / 10:g}", "head": f"{base_lr:g}", "raised": f"{wrong[0]:g}"},
                   table=pd.DataFrame(columns))  # fmt: skip


def train_then_adjust(optimizer, adjust_learning_rate, epochs=70):
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])  # the lr this epoch trains at
        optimizer.step()  # train(...), validate(...)
        adjust_learning_rate(optimizer, epoch)  # after the epoch, as the tutorial calls it
    return lrs


def with_scheduler(optimizer, scheduler, epochs=70):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # train(...), validate(...)
        scheduler.step()
    return lrs


def builtin_equivalents(base_lr, epochs=70):
    opt1, opt2 = _sgd(base_lr), _sgd(base_lr)
    step_lr = torch.optim.lr_scheduler.StepLR(opt1, step_size=30, gamma=0.1)
    lambda_lr = torch.optim.lr_scheduler.LambdaLR(opt2, lambda epoch: 0.1 ** (epoch // 30))
    return {"StepLR": with_scheduler(opt1, step_lr, epochs), "LambdaLR": with_scheduler(opt2, lambda_lr, epochs)}


def adjust_late(base_lr: float, text: FigureText) -> Pitfall:
    late = train_then_adjust(_sgd(base_lr), with_args(adjust_learning_rate, lr=base_lr))
    builtin = builtin_equivalents(base_lr)
    curves = [("StepLR", _frame(builtin["StepLR"])), ("LambdaLR", _frame(builtin["LambdaLR"])),
              ("adjust_learning_rate (tutorial)", _frame(late))]  # fmt: skip
    same = max(abs(a - b) for a, b in zip(builtin["StepLR"], builtin["LambdaLR"], strict=True))
    return Pitfall(id="schedules.adjust_late", section="6.2.2", wrong_code=source(train_then_adjust),
                   right_code=source(with_scheduler, builtin_equivalents),
                   wrong=Outcome(value=f"lrs[29:32] = {[round(v, 6) for v in late[29:32]]}"),
                   right=Outcome(value=f"lrs[29:32] = {[round(v, 6) for v in builtin['StepLR'][29:32]]}"),
                   facts={"wrong_30": f"{late[30]:g}", "right_30": f"{builtin['StepLR'][30]:g}", "difference": same},
                   figure=curve_figure(curves, in_epochs=True, text=text, log_y=True))  # fmt: skip


# In the order of the tutorial: 6.2.1's usage example and loop, then 6.2.2's function.
PITFALLS: dict[str, Callable[[float, FigureText], Pitfall]] = {
    "usage_tab_error": usage_tab_error,
    "step_outside_loop": step_outside_loop,
    "optimizer_per_epoch": optimizer_per_epoch,
    "per_batch": per_batch,
    "plateau_metric": plateau_metric,
    "adjust_global_args": adjust_global_args,
    "adjust_all_groups": adjust_all_groups,
    "adjust_late": adjust_late,
}


def run_all(base_lr: float = 0.1, text: FigureText = PLAIN) -> tuple[Pitfall, ...]:
    """Every pitfall of 6.2, run live with the optimizer's lr `base_lr` (the tutorial's `args.lr`)."""
    base_lr = check_base_lr(base_lr)
    return tuple(run(base_lr, text) for run in PITFALLS.values())
