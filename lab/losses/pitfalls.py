"""Tutorial 6.1's mistakes, each run live beside the fix (`lab.pitfall.Pitfall`; words under `pitfall.losses.<name>`).

6.1.2 DiceLoss as printed does not compile (`dice_indentation`); `F.sigmoid` then `F.binary_cross_entropy` loses
the gradient at large logits (`sigmoid_bce`) and is refused by CUDA autocast, though CPU autocast runs it
(`autocast`); FocalLoss is a rescaled BCE (`focal`); `.view(-1)` fails on a channels_last prediction (`view`);
`weight` and `size_average` are taken and ignored (`unused_args`); the base class is `_Loss`, not `_loss`
(`loss_base`). And what the tutorial teaches but the lab did not show: 6.1.1 a loss as a function (`function`),
and 6.1.2's note that a loss must use torch operations: a numpy step cuts the gradient (`numpy`).
The tutorial's own code is in `lab.losses.tutorial`.
"""

from __future__ import annotations

import inspect

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lab.device import pick_device
from lab.losses import binary, tutorial
from lab.losses.binary import DiceLoss
from lab.losses.core import FocalLoss, binary_pair, validate_params
from lab.losses.demo import as_logits, prediction
from lab.losses.figures import Text, share_figure
from lab.pitfall import Pitfall, attempt
from lab.source import body, source

__all__ = ["SATURATION_LOGITS", "AUTOCAST_LOGITS", "saturation_table", "numpy_mse", "fit", "dice_indentation",
           "sigmoid_bce", "autocast", "focal", "view", "unused_args", "loss_base", "function", "numpy_loss", "PITFALLS"]

SATURATION_LOGITS = (-200.0, -104.0, -30.0, -17.0, -5.0, 0.0, 5.0, 17.0, 30.0, 104.0)
AUTOCAST_LOGITS = (2.0, 4.0, 6.0, 8.0, 12.0)  # a confidently wrong background pixel (target 0) at each


def _example(seed: int = 0) -> tuple[Tensor, Tensor]:
    """Seeded logits (2, 1, 8, 8) and a 0/1 mask: the small batch the pitfalls run on."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 1, 8, 8, generator=g) * 3, (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()


def _number(x: Tensor | float) -> str:
    return f"{float(x):.6g}"


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2 DiceLoss as printed: a tab among spaces


def dice_indentation() -> Pitfall:
    """The printed DiceLoss compiled (Python refuses it), beside the same class with the tab made spaces, run."""
    try:
        compile(tutorial.DICE_AS_PRINTED, "<tutorial 6.1.2>", "exec")
        refused = {"error": "", "line": 0, "text": ""}
    except SyntaxError as exc:  # TabError is an IndentationError is a SyntaxError
        refused = {"error": type(exc).__name__, "line": exc.lineno or 0, "text": (exc.text or "").strip()}
    logits, targets = _example()
    return Pitfall(
        id="losses.dice_indentation", section="6.1.2",
        wrong_code=tutorial.DICE_AS_PRINTED, right_code=source(tutorial.DiceLoss),
        wrong=attempt(lambda: compile(tutorial.DICE_AS_PRINTED, "<tutorial 6.1.2>", "exec")),
        right=attempt(lambda: tutorial.DiceLoss()(logits, targets), _number),
        facts={**refused, "lab": DiceLoss()(logits, targets).item()},
    )


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2 sigmoid, then binary_cross_entropy


def bce_after_sigmoid(logits: Tensor, targets: Tensor) -> Tensor:
    return F.binary_cross_entropy(torch.sigmoid(logits), targets, reduction="none")  # the tutorial's two steps


def bce_with_logits(logits: Tensor, targets: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none")  # one step, log-sum-exp inside


def _loss_and_grad(loss_fn, z: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
    x = z.clone().requires_grad_()
    loss = loss_fn(x, t)
    (grad,) = torch.autograd.grad(loss.sum(), x)
    return loss.detach(), grad


def saturation_table(dtype: torch.dtype = torch.float32) -> pd.DataFrame:
    """sigmoid + binary_cross_entropy (the tutorial's) against binary_cross_entropy_with_logits at large logits.

    One row per (logit, target): both losses and their gradients d loss / d logit in `dtype`, and the exact loss
    softplus(-z) (target 1) or softplus(z) (target 0); the exact gradient is sigmoid(z) - target.
    Columns: logit, target, sigmoid_bce_loss, with_logits_loss, exact_loss, sigmoid_bce_grad, with_logits_grad.
    """
    z = torch.tensor(SATURATION_LOGITS, dtype=dtype)
    frames = []
    for target in (1.0, 0.0):
        t = torch.full_like(z, target)
        wrong_loss, wrong_grad = _loss_and_grad(bce_after_sigmoid, z, t)
        right_loss, right_grad = _loss_and_grad(bce_with_logits, z, t)
        frames.append(pd.DataFrame({
            "logit": SATURATION_LOGITS, "target": int(target),
            "sigmoid_bce_loss": wrong_loss.numpy(), "with_logits_loss": right_loss.numpy(),
            "exact_loss": F.softplus(-z if target else z).numpy(),
            "sigmoid_bce_grad": wrong_grad.numpy(), "with_logits_grad": right_grad.numpy(),
        }))
    return pd.concat(frames, ignore_index=True).astype({"target": int})


def sigmoid_bce() -> Pitfall:
    """At logit 17 with target 0 (confidently wrong), in float32: the tutorial's loss is stuck at 100, gradient 0."""
    z, t = torch.tensor([17.0]), torch.tensor([0.0])

    def printed(pair: tuple[Tensor, Tensor]) -> str:
        return f"loss = {pair[0].item():.6g}, d loss / d logit = {pair[1].item():.6g}"

    table = saturation_table()
    row = table[(table["logit"] == 17.0) & (table["target"] == 0)].iloc[0]
    return Pitfall(
        id="losses.sigmoid_bce", section="6.1.2",
        wrong_code=body(bce_after_sigmoid, keep_return=False), right_code=body(bce_with_logits, keep_return=False),
        wrong=attempt(lambda: _loss_and_grad(bce_after_sigmoid, z, t), printed),
        right=attempt(lambda: _loss_and_grad(bce_with_logits, z, t), printed),
        facts={"p": torch.sigmoid(z).item(), "wrong_loss": float(row["sigmoid_bce_loss"]),
               "wrong_grad": float(row["sigmoid_bce_grad"]), "right_loss": float(row["with_logits_loss"]),
               "right_grad": float(row["with_logits_grad"])},  # fmt: skip
        table=table,
    )


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2 under autocast: CUDA refuses binary_cross_entropy, CPU runs it


def low_precision(device: torch.device) -> torch.dtype:
    """What autocast computes in: float16 on CUDA, bfloat16 on the CPU."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def bce_after_sigmoid_autocast(logits: Tensor, targets: Tensor) -> Tensor:
    with torch.autocast(logits.device.type, dtype=low_precision(logits.device)):
        low = logits.to(low_precision(logits.device))  # a model's output under autocast is fp16/bf16
        return F.binary_cross_entropy(torch.sigmoid(low), targets, reduction="none")


def bce_with_logits_autocast(logits: Tensor, targets: Tensor) -> Tensor:
    with torch.autocast(logits.device.type, dtype=low_precision(logits.device)):
        low = logits.to(low_precision(logits.device))
        return F.binary_cross_entropy_with_logits(low, targets, reduction="none")


def autocast() -> Pitfall:
    """Both under autocast on the lab's device (CUDA: float16, refused; CPU: bfloat16, runs) and, always, on the CPU."""
    z = torch.tensor(AUTOCAST_LOGITS)
    t = torch.zeros_like(z)
    device = pick_device()
    if device.type not in ("cuda", "cpu"):
        device = torch.device("cpu")

    def values(x: Tensor) -> str:
        return ", ".join(f"{v:.4g}" for v in x.float().tolist())

    cpu_wrong = bce_after_sigmoid_autocast(z, t)
    cpu_right = bce_with_logits_autocast(z, t)
    table = pd.DataFrame({"logit": AUTOCAST_LOGITS, "target": 0, "exact_loss": F.softplus(z).numpy(),
                          "sigmoid_bce_cpu_autocast": cpu_wrong.float().numpy(),
                          "with_logits_cpu_autocast": cpu_right.float().numpy()})  # fmt: skip
    cuda = attempt(lambda: bce_after_sigmoid_autocast(z.cuda(), t.cuda())) if torch.cuda.is_available() else None
    return Pitfall(
        id="losses.autocast", section="6.1.2",
        wrong_code=source(low_precision, bce_after_sigmoid_autocast), right_code=source(bce_with_logits_autocast),
        wrong=attempt(lambda: bce_after_sigmoid_autocast(z.to(device), t.to(device)), values),
        right=attempt(lambda: bce_with_logits_autocast(z.to(device), t.to(device)), values),
        facts={"device": device.type, "cuda": cuda is not None, "cuda_error": cuda.error if cuda else "",
               "logit": AUTOCAST_LOGITS[3], "cpu_loss": float(cpu_wrong[3]), "exact": float(F.softplus(z[3]))},
        table=table,
    )


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2 FocalLoss: the focal factor on the batch-mean BCE


def focal(sample: str, source_: str, amount: float, alpha: float | None = 0.25, gamma: float = 2.0, *,
          text: Text | None = None, points: int = 400) -> Pitfall:  # fmt: skip
    """The tutorial's FocalLoss against the per-pixel one on the tab's prediction, and where their gradients come
    from: the share of total |d loss / d logit| held by pixels with p_t <= x (BCE's and the tutorial's coincide)."""
    checked = validate_params(alpha=alpha, gamma=gamma)
    alpha, gamma = checked["alpha"], checked["gamma"]
    _, probs, targets = prediction(sample, source_, amount)
    x, t = binary_pair(as_logits(probs), targets)
    x = x.detach().contiguous().requires_grad_()
    tutorial_alpha = 1.0 if alpha is None else alpha  # the tutorial's class has no "no weighting"
    losses = {
        "bce": lambda: F.binary_cross_entropy_with_logits(x, t),
        "tutorial": lambda: tutorial.FocalLoss()(x, t, alpha=tutorial_alpha, gamma=gamma),
        "focal": lambda: FocalLoss(alpha, gamma)(x, t),
    }
    with torch.no_grad():
        p_t = torch.where(t > 0.5, torch.sigmoid(x), torch.sigmoid(-x)).reshape(-1)
    order = torch.argsort(p_t)
    pick = torch.linspace(0, order.numel() - 1, min(points, order.numel()), device=order.device).round().long()
    values, shares = {}, {}
    for name, loss_fn in losses.items():
        loss = loss_fn()
        (grad,) = torch.autograd.grad(loss, x)
        size = grad.abs().reshape(-1)[order].to(torch.float64)  # float64: cumulative sums over 10^5 pixels
        share = size.cumsum(0) / size.sum().clamp_min(torch.finfo(size.dtype).tiny)
        values[name], shares[name] = loss.item(), share[pick].cpu().numpy()
    with torch.no_grad():
        values["gamma0"] = FocalLoss(alpha, 0.0)(x, t).item()  # alpha-weighted BCE, not BCE
        values["gamma0_none"] = FocalLoss(None, 0.0)(x, t).item()  # BCE
    values["ratio"] = values["tutorial"] / values["bce"] if values["bce"] else float("nan")
    order_keys = ("bce", "tutorial", "ratio", "focal", "gamma0", "gamma0_none")
    return Pitfall(
        id="losses.focal", section="6.1.2",
        wrong_code=tutorial.tutorial_code("focal"), right_code=source(binary.FocalLoss),
        wrong=attempt(lambda: values["tutorial"], _number), right=attempt(lambda: values["focal"], _number),
        facts={**values, "alpha": "None" if alpha is None else f"{alpha:g}", "gamma": gamma},
        table=pd.DataFrame({"quantity": order_keys, "value": [values[k] for k in order_keys]}),
        figure=share_figure(p_t[order][pick].cpu().numpy(), shares, text),
    )


# ---------------------------------------------------------------------------------------------------------------
# 6.1.2 .view(-1) on a non-contiguous prediction; weight and size_average; _Loss


def channels_last_logits() -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    # a 3-label model run in channels_last (NHWC in memory: faster convolutions); its sigmoid keeps that layout
    logits = torch.randn(2, 3, 16, 16, generator=g).to(memory_format=torch.channels_last)
    targets = (torch.rand(2, 3, 16, 16, generator=g) > 0.5).float()  # one 0/1 mask per label
    return logits, targets


def view_fails(logits: Tensor, targets: Tensor) -> Tensor:
    return tutorial.DiceLoss()(logits, targets)  # its forward: inputs.view(-1) after F.sigmoid


def reshape_works(logits: Tensor, targets: Tensor) -> Tensor:
    return DiceLoss()(logits, targets)  # the lab's: plain sums; inputs.reshape(-1) would also do (it copies if it must)


def view() -> Pitfall:
    logits, targets = channels_last_logits()
    call = "logits, targets = channels_last_logits()\n"
    return Pitfall(
        id="losses.view", section="6.1.2",
        wrong_code=source(channels_last_logits) + "\n" + call + body(view_fails, keep_return=False),
        right_code=call + body(reshape_works, keep_return=False),
        wrong=attempt(lambda: view_fails(logits, targets), _number),
        right=attempt(lambda: reshape_works(logits, targets), _number),
        facts={"contiguous": logits.is_contiguous(), "stride": str(logits.stride()),
               "copy": view_fails(logits.contiguous(), targets).item()},
    )  # fmt: skip


def weight_ignored(logits: Tensor, targets: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    plain = tutorial.DiceLoss()(logits, targets)
    weighted = tutorial.DiceLoss(weight=weight, size_average=False)(logits, targets)  # taken, never used
    return plain, weighted


def weight_used(logits: Tensor, targets: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
    plain = nn.BCEWithLogitsLoss()(logits, targets)
    weighted = nn.BCEWithLogitsLoss(weight=weight)(logits, targets)  # multiplies each element's loss
    return plain, weighted


def unused_args() -> Pitfall:
    logits, targets = _example()
    weight = torch.tensor([1.0, 0.0]).view(2, 1, 1, 1)  # count the first image only

    def pair(values: tuple[Tensor, Tensor]) -> str:
        return f"{values[0].item():.6g}, {values[1].item():.6g}"

    return Pitfall(
        id="losses.unused_args", section="6.1.2",
        wrong_code=body(weight_ignored, keep_return=False), right_code=body(weight_used, keep_return=False),
        wrong=attempt(lambda: weight_ignored(logits, targets, weight), pair),
        right=attempt(lambda: weight_used(logits, targets, weight), pair),
        facts={"signature": str(inspect.signature(tutorial.DiceLoss.__init__))},
    )


def tutorial_base() -> type:
    return torch.nn.modules.loss._loss  # the tutorial's spelling


def torch_bases() -> str:
    return " -> ".join(c.__name__ for c in nn.BCELoss.__mro__)  # what torch's losses inherit from


def loss_base() -> Pitfall:
    return Pitfall(
        id="losses.loss_base", section="6.1.2",
        wrong_code=body(tutorial_base, keep_return=False), right_code=body(torch_bases, keep_return=False),
        wrong=attempt(tutorial_base), right=attempt(torch_bases),
    )


# ---------------------------------------------------------------------------------------------------------------
# 6.1.1 a loss as a function; 6.1.2's note: only torch operations keep the gradient


def numpy_mse(output: Tensor, target: Tensor) -> Tensor:
    diff = output.detach().numpy() - target.numpy()  # numpy has no autograd: .detach() is needed to get here
    return torch.tensor((diff**2).mean(), requires_grad=True)  # a new leaf: backward() runs, and stops here


def fit(loss_fn, steps: int = 8) -> tuple[list[float], Tensor | None, float]:
    """`steps` SGD steps of a linear model under `loss_fn`: (losses, the weight's last grad, how far it moved)."""
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])  # the line to learn
    model = nn.Linear(4, 1)
    nn.init.zeros_(model.weight)  # the same start every run
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight_0 = model.weight.detach().clone()
    losses = []
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, model.weight.grad, (model.weight.detach() - weight_0).norm().item()


def _fitted(result: tuple[list[float], Tensor | None, float]) -> str:
    """What `fit` gives, printed as Python would show it."""
    losses, grad, moved = result
    grad_text = "None" if grad is None else f"tensor(norm={grad.norm().item():.4g})"
    return (f"losses[0] = {losses[0]:.4f}, losses[-1] = {losses[-1]:.4f}, model.weight.grad = {grad_text}, "
            f"(model.weight - weight_0).norm() = {moved:.4g}")


def loss_as_function(logits: Tensor, targets: Tensor) -> Tensor:
    return tutorial.my_loss(torch.sigmoid(logits), targets)


def loss_as_class(logits: Tensor, targets: Tensor) -> Tensor:
    criterion = nn.MSELoss()
    return criterion(torch.sigmoid(logits), targets)


def function() -> Pitfall:
    """6.1.1's my_loss against nn.MSELoss on the same probabilities: the same value and the same gradient."""
    logits, targets = _example()

    def value_and_grad(loss_fn) -> tuple[float, Tensor]:
        x = logits.clone().requires_grad_()
        loss = loss_fn(x, targets)
        loss.backward()
        return loss.item(), x.grad

    (mine, g_mine), (theirs, g_theirs) = value_and_grad(loss_as_function), value_and_grad(loss_as_class)
    return Pitfall(
        id="losses.function", section="6.1.1",
        wrong_code=source(tutorial.my_loss) + "\n" + body(loss_as_function, keep_return=False),
        right_code=body(loss_as_class, keep_return=False),
        wrong=attempt(lambda: mine, _number), right=attempt(lambda: theirs, _number),
        facts={"grad_diff": (g_mine - g_theirs).abs().max().item()},
    )


def numpy_loss() -> Pitfall:
    """A numpy step inside the loss: training runs without an error, and nothing learns."""
    wrong, right = fit(numpy_mse), fit(tutorial.my_loss)
    return Pitfall(
        id="losses.numpy", section="6.1.2",
        wrong_code=source(numpy_mse) + "\nlosses = fit(numpy_mse)\n",
        right_code=source(tutorial.my_loss, fit) + "\nlosses = fit(my_loss)\n",
        wrong=attempt(lambda: wrong, _fitted), right=attempt(lambda: right, _fitted),
        facts={"wrong_first": wrong[0][0], "wrong_last": wrong[0][-1], "right_first": right[0][0],
               "right_last": right[0][-1]},  # fmt: skip
        table=pd.DataFrame({"step": range(1, len(wrong[0]) + 1), "numpy_loss": wrong[0], "torch_loss": right[0]}),
    )


# name -> the pitfall without inputs (the focal pitfall takes the tab's prediction and parameters)
PITFALLS = {"dice_indentation": dice_indentation, "sigmoid_bce": sigmoid_bce, "autocast": autocast, "view": view,
            "unused_args": unused_args, "loss_base": loss_base, "function": function, "numpy": numpy_loss}
