"""The tutorial's mistakes in 5.3 (and its `pretrained=True` of 5.4.2), run live beside the fix.

First the tutorial's own code, kept as it wrote it (a comment says what is wrong), then one function per pitfall
returning `lab.pitfall.Pitfall`: the code of both sides from the source of what ran, what each produced, and the
numbers the explanation quotes in `facts`. Every pitfall is seeded and takes plain hashable arguments.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
import torchvision.models as models

from lab.pitfall import Outcome, Pitfall, attempt
from lab.source import body
from lab.surgery.code import printed
from lab.surgery.core import (
    FEATURES,
    WithExtraInput,
    WithExtraOutput,
    check_arch,
    eval_frozen_batchnorm,
    feature_dim,
    freeze,
    make_head,
    replace_head,
    resnet,
)
from lab.surgery.figures import CurveWords, softmax_figure
from lab.surgery.offline import DownloadRefused, offline, refused_url

__all__ = [
    "tutorial_head", "TutorialExtraInput", "TutorialExtraOutput", "tutorial_cuda", "tutorial_pretrained",
    "train_step", "softmax_loss_floor", "softmax_head", "extra_input", "unused_input", "device", "pretrained",
    "frozen_batchnorm", "DownloadRefused", "PITFALLS",
]


# ---------------------------------------------------------------------------------------------------------------
# The tutorial's code, as printed (sizes as arguments where the lab varies them)


def tutorial_head(in_features: int = 2048, num_classes: int = 10) -> nn.Sequential:
    # 5.3.1. Wrong: the head ends in Softmax, and training then uses CrossEntropyLoss, which applies log-softmax
    # itself: the loss sees probabilities as if they were logits.
    classifier = nn.Sequential(OrderedDict([('fc1', nn.Linear(in_features, 128)),
                              ('relu1', nn.ReLU()),
                              ('dropout1', nn.Dropout(0.5)),
                              ('fc2', nn.Linear(128, num_classes)),
                              ('output', nn.Softmax(dim=1))
                              ]))
    return classifier


class TutorialExtraInput(nn.Module):
    # 5.3.2's `Model`. Wrong: with the ImageNet fc still in place, self.net(x) is the 1000 class scores, not the
    # penultimate features; the extra value is joined to them after a ReLU, and a Softmax ends it again.
    def __init__(self, net):
        super(TutorialExtraInput, self).__init__()  # noqa: UP008 - as the tutorial writes it
        self.net = net
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc_add = nn.Linear(1001, 10, bias=True)
        self.output = nn.Softmax(dim=1)

    def forward(self, x, add_variable):
        x = self.net(x)
        x = torch.cat((self.dropout(self.relu(x)), add_variable.unsqueeze(1)),1)
        x = self.fc_add(x)
        x = self.output(x)
        return x


class TutorialExtraOutput(nn.Module):
    # 5.3.3's `Model`. Wrong: forward requires an add_variable it never uses, and "x1000" is again the ImageNet
    # logits, not the penultimate layer.
    def __init__(self, net):
        super(TutorialExtraOutput, self).__init__()  # noqa: UP008 - as the tutorial writes it
        self.net = net
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)
        self.fc1 = nn.Linear(1000, 10, bias=True)
        self.output = nn.Softmax(dim=1)

    def forward(self, x, add_variable):
        x1000 = self.net(x)
        x10 = self.dropout(self.relu(x1000))
        x10 = self.fc1(x10)
        x10 = self.output(x10)
        return x10, x1000


def tutorial_cuda(add_var):
    # 5.3.2, In [24]: `.cuda()` hard-coded (fails on a machine without CUDA), and add_var goes in as it comes:
    # a float64 array from numpy or a tensor left on the CPU.
    net = models.resnet50()
    model = TutorialExtraInput(net).cuda()
    inputs = torch.randn(2, 3, 64, 64).cuda()
    outputs = model(inputs, add_var)
    return outputs


def tutorial_pretrained():
    # 5.4.2: `pretrained` is deprecated since torchvision 0.13, and True means "download the ImageNet weights".
    model = models.resnet152(pretrained=True)
    return model


# ---------------------------------------------------------------------------------------------------------------
# The right way, where it is not a block of lab.surgery.core


def train_step(head, x, y, optimizer, criterion):
    optimizer.zero_grad()
    loss = criterion(head(x), y)  # criterion = nn.CrossEntropyLoss(): log-softmax is inside
    loss.backward()
    optimizer.step()
    return loss


def to_device(add_var):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = WithExtraInput(models.resnet50(), 1, 10).to(device)
    inputs = torch.randn(2, 3, 64, 64, device=device)
    outputs = model(inputs, add_var)  # forward makes add_var float, on the features' device
    return outputs


def with_weights(path=None):
    model = models.resnet152(weights=None)  # random init: no warning, nothing downloaded
    if path is not None:  # ImageNet weights you already have as a file
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def frozen_in_train_mode(model, x):
    freeze(model)  # requires_grad=False outside fc
    model.train()
    model(x)  # every BatchNorm still updates its running_mean and running_var
    return model


def frozen_batchnorm_kept(model, x):
    freeze(model)
    model.train()
    eval_frozen_batchnorm(model)  # frozen BatchNorm layers normalise with, and keep, their statistics
    model(x)
    return model


# ---------------------------------------------------------------------------------------------------------------
# 5.3.1: a Softmax head trained with CrossEntropyLoss


def softmax_loss_floor(num_classes: int) -> float:
    """The least CrossEntropyLoss of probabilities p: logsumexp(p) - p_y, smallest when p is one-hot on y, where it is
    log(e + C - 1) - 1 = log(1 + (C - 1) / e)."""
    return math.log(1 + (num_classes - 1) / math.e)


def _grad_norm(module: nn.Module) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()])).item()


def softmax_head(steps: int = 60, *, words: CurveWords | None = None, num_classes: int = 10,
                 features: int = 2048, samples: int = 100, lr: float = 1e-3, seed: int = 0) -> Pitfall:
    """Train the tutorial's head (Softmax) and the lab's head (logits), the same initial weights and dropout masks,
    with CrossEntropyLoss and Adam on synthetic penultimate features of resnet50 (non-negative, 2048-d)."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, features, generator=gen)
    y = torch.arange(samples) % num_classes
    x = torch.relu(centres[y] + 3.0 * torch.randn(samples, features, generator=gen))  # (N, F)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        logits_head = make_head(features, (128,), num_classes, 0.5)
        softmax = tutorial_head(features, num_classes)
        softmax.load_state_dict(logits_head.state_dict())  # the same weights: only the Softmax differs

        def train(head: nn.Module) -> dict[str, list[float]]:
            torch.manual_seed(seed + 1)  # the same dropout masks for both heads
            optimizer = torch.optim.Adam(head.parameters(), lr=lr)
            record: dict[str, list[float]] = {"loss": [], "grad": []}
            for _ in range(steps):
                loss = train_step(head, x, y, optimizer, nn.CrossEntropyLoss())
                record["loss"].append(loss.item())
                record["grad"].append(_grad_norm(head))  # after backward, as the step used it
            with torch.no_grad():
                record["accuracy"] = [(head.eval()(x).argmax(1) == y).float().mean().item()]
            return record

        runs: dict[str, dict[str, list[float]]] = {}

        def trained(name: str, head: nn.Module) -> dict[str, list[float]]:
            runs[name] = train(head)
            return runs[name]

        def show(r: dict[str, list[float]]) -> str:  # as a print() in the training loop would show it
            return (f"loss: {r['loss'][0]:.3f} -> {r['loss'][-1]:.4f}\naccuracy: {r['accuracy'][0]:.2f}\n"
                    f"grad norm: {r['grad'][0]:.3f} -> {r['grad'][-1]:.2e}")

        wrong = attempt(lambda: trained("softmax", softmax), show)
        right = attempt(lambda: trained("logits", logits_head), show)
    floor = softmax_loss_floor(num_classes)
    floor_check = F.cross_entropy(F.one_hot(y, num_classes).float(), y).item()  # the loss at one-hot p
    curves = {f"{name} {k}": runs[name][k] for name in ("logits", "softmax") for k in ("loss", "grad")}
    history = pd.DataFrame({"step": range(1, steps + 1), **curves})
    tail = max(1, steps // 6)
    s, lg = runs["softmax"], runs["logits"]
    facts = {
        "steps": steps, "samples": samples, "classes": num_classes, "features": features, "floor": floor,
        "floor_check": floor_check, "max_prob": math.e / (math.e + num_classes - 1),
        "softmax_loss": s["loss"][-1], "logits_loss": lg["loss"][-1],
        "softmax_accuracy": s["accuracy"][0], "logits_accuracy": lg["accuracy"][0],
        "softmax_grad0": s["grad"][0], "logits_grad0": lg["grad"][0], "grad_ratio0": lg["grad"][0] / s["grad"][0],
        "tail": tail, "softmax_grad_end": float(np.mean(s["grad"][-tail:])),
        "logits_grad_end": float(np.mean(lg["grad"][-tail:])),
        "softmax_above_floor": s["loss"][-1] - floor,
    }
    table = pd.DataFrame([
        {"head": "softmax", "final_loss": round(s["loss"][-1], 4), "floor": round(floor, 4),
         "accuracy": s["accuracy"][0], "grad_first": round(s["grad"][0], 4),
         "grad_last": float(f"{facts['softmax_grad_end']:.3g}")},
        {"head": "logits", "final_loss": round(lg["loss"][-1], 4), "floor": 0.0, "accuracy": lg["accuracy"][0],
         "grad_first": round(lg["grad"][0], 4), "grad_last": float(f"{facts['logits_grad_end']:.3g}")},
    ])
    return Pitfall("surgery.softmax", "5.3.1", printed(tutorial_head, train_step), printed(make_head), wrong, right,
                   facts=facts, table=table, figure=softmax_figure(history, floor, words or CurveWords()))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.3.2: the extra input joined to the ImageNet logits


def _joined(model: nn.Module, layer: nn.Module, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(what `layer` receives, the model's output) for one call in inference mode."""
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, a: captured.append(a[0]))
    try:
        with torch.inference_mode():
            out = model(*args)
    finally:
        hook.remove()
    return captured[0], out


def extra_input(arch: str = "resnet50", *, batch: int = 4, size: int = 64, seed: int = 0) -> Pitfall:
    """5.3.2 as printed against WithExtraInput on one seeded dummy batch (eval mode): what the extra value is joined
    to, how many of those values a ReLU zeroed, whether the extra value reaches the output, what comes out."""
    arch = check_arch(arch)
    rows, facts = [], {"arch": arch, "features": FEATURES[arch], "batch": batch, "size": size}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = resnet(arch).eval()
        x = torch.randn(batch, 3, size, size)
        a, b = torch.zeros(batch), torch.full((batch,), 10.0)
        tutorial = TutorialExtraInput(net).eval()

        def run(model: nn.Module, layer: nn.Module, name: str) -> str:
            joined, out = _joined(model, layer, x, a)
            _, other = _joined(model, layer, x, b)
            params = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in model.net.parameters())
            if name == "tutorial":
                params += sum(p.numel() for p in model.net.fc.parameters())  # the ImageNet fc is part of its head
            row = {"version": name, "joined": str(tuple(joined.shape)), "zeroed": (joined == 0).float().mean().item(),
                   "head_params": params, "output": str(tuple(out.shape)),
                   "sums_to_one": bool(torch.allclose(out.sum(1), torch.ones(batch), atol=1e-4)),
                   "extra_matters": not torch.allclose(out, other)}
            rows.append(row)
            facts.update({f"{name}_{k}": v for k, v in row.items() if k != "version"})
            return f"torch.cat(...) -> {row['joined']}; output {row['output']}"

        wrong = attempt(lambda: run(tutorial, tutorial.fc_add, "tutorial"))
        ours = WithExtraInput(net, 1, 10).eval()  # net.fc becomes nn.Identity() here
        right = attempt(lambda: run(ours, ours.fc, "lab"))
    return Pitfall("surgery.extra_input", "5.3.2", printed(TutorialExtraInput), printed(WithExtraInput), wrong,
                   right, facts=facts, table=pd.DataFrame(rows))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.3.3: an add_variable that forward never uses


def unused_input(arch: str = "resnet50", *, batch: int = 2, size: int = 64, seed: int = 0) -> Pitfall:
    """5.3.3 as printed, called with its one real input (TypeError) and with two very different add_variables
    (identical outputs); WithExtraOutput takes one input and returns (logits, the true features)."""
    arch = check_arch(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = resnet(arch).eval()
        x = torch.randn(batch, 3, size, size)
        tutorial = TutorialExtraOutput(net).eval()
        with torch.inference_mode():
            wrong = attempt(lambda: tutorial(x))
            first, second = tutorial(x, torch.zeros(batch)), tutorial(x, torch.full((batch,), 1e6))
            identical = all(torch.equal(p, q) for p, q in zip(first, second, strict=True))
            ours = WithExtraOutput(net, 10).eval()
            right = attempt(lambda: ours(x), lambda out: f"(logits {tuple(out[0].shape)}, features "
                                                         f"{tuple(out[1].shape)})")  # fmt: skip
    shapes = f"({tuple(first[0].shape)}, {tuple(first[1].shape)})"
    table = pd.DataFrame([
        {"call": "model(x)", "result": wrong.error or wrong.value},
        {"call": f"model(x, torch.zeros({batch}))", "result": shapes},
        {"call": f"model(x, torch.full(({batch},), 1e6))", "result": f"{shapes}, torch.equal: {identical}"},
        {"call": "WithExtraOutput(net)(x)", "result": right.error or right.value},
    ])
    facts = {"arch": arch, "identical": identical, "features": FEATURES[arch], "x1000": tuple(first[1].shape)[1]}
    return Pitfall("surgery.unused_input", "5.3.3", printed(TutorialExtraOutput), printed(WithExtraOutput), wrong,
                   right, facts=facts, table=table)  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.3.2: `.cuda()`, and an extra input of another dtype or device

EXTRAS = {  # the add_var a learner may pass: what 5.3.2's text suggests, a numpy array, a float32 tensor
    "torch.tensor([1, 2])": lambda: torch.tensor([1, 2]),
    "torch.from_numpy(np.array([0.5, 1.5]))": lambda: torch.from_numpy(np.array([0.5, 1.5])),
    "torch.tensor([0.5, 1.5])": lambda: torch.tensor([0.5, 1.5]),
}


def device(*, seed: int = 0) -> Pitfall:
    """5.3.2's `.cuda()` code against `.to(device)`, run on this machine, then each kind of add_var through the
    tutorial's forward (its model moved with `.to(device)`) and through WithExtraInput's."""
    here = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    numpy_var = EXTRAS["torch.from_numpy(np.array([0.5, 1.5]))"]()
    shape = lambda out: f"{tuple(out.shape)} {out.dtype} on {out.device}"  # noqa: E731

    def said(fn) -> str:  # what one call gave: its result, or the exception it raised
        outcome = attempt(fn, shape)
        return outcome.error or outcome.value

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        wrong = attempt(lambda: tutorial_cuda(numpy_var), shape)
        right = attempt(lambda: to_device(numpy_var), shape)
        net = models.resnet50().eval()
        tutorial = TutorialExtraInput(net).to(here).eval()
        x = torch.randn(2, 3, 32, 32, device=here)
        rows = [{"add_var": code, "tutorial": said(lambda make=make: tutorial(x, make()))}
                for code, make in EXTRAS.items()]
        ours = WithExtraInput(net, 1, 10).to(here).eval()
        for row, make in zip(rows, EXTRAS.values(), strict=True):
            row["lab"] = said(lambda make=make: ours(x, make()))
    facts = {"device": here.type, "cuda": torch.cuda.is_available(),
             "failures": sum(r["tutorial"].startswith(("RuntimeError", "AssertionError")) for r in rows)}
    return Pitfall("surgery.device", "5.3.2", body(tutorial_cuda), body(to_device), wrong, right, facts=facts,
                   table=pd.DataFrame(rows))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.4.2: `pretrained=True`


CALLS = {  # the builder calls the pitfall's table tries
    "models.resnet152(pretrained=True)": lambda: models.resnet152(pretrained=True),
    "models.resnet152(pretrained=False)": lambda: models.resnet152(pretrained=False),
    "models.resnet152()": lambda: models.resnet152(),
    "models.resnet152(weights=None)": lambda: models.resnet152(weights=None),
    'models.resnet152(weights="DEFAULT")': lambda: models.resnet152(weights="DEFAULT"),
    "models.resnet152(weights=ResNet152_Weights.IMAGENET1K_V1)":
        lambda: models.resnet152(weights=models.ResNet152_Weights.IMAGENET1K_V1),
}


def pretrained() -> Pitfall:
    """What torchvision does today with 5.4.2's `models.resnet152(pretrained=True)` and the other ways to ask, each
    run offline (`lab.surgery.offline`): its warnings, word for word, and the URL it would fetch."""
    rows = []
    for call, make in CALLS.items():
        with offline() as caught:
            outcome = attempt(make, lambda m: f"{type(m).__name__}: {sum(p.numel() for p in m.parameters()):,} "
                                              "parameters")  # fmt: skip
        said = [str(w.message) for w in caught if issubclass(w.category, (UserWarning, DeprecationWarning))]
        rows.append({"call": call, "warnings": len(said), "said": "\n".join(said), "download": refused_url(outcome),
                     "result": outcome.value or ("" if refused_url(outcome) else outcome.error)})  # fmt: skip
    with offline() as caught:
        wrong = attempt(tutorial_pretrained)
        wrong_said = [str(w.message) for w in caught]
    with offline() as caught:
        right = attempt(with_weights, lambda m: f"{type(m).__name__}: {sum(p.numel() for p in m.parameters()):,} "
                                                f"parameters, {len(caught)} warnings")  # fmt: skip
    if refused_url(wrong):  # the module path of our refusal is noise: keep "DownloadRefused: <url>"
        wrong = Outcome(error=f"DownloadRefused: {refused_url(wrong)}")
    default, v1 = models.ResNet152_Weights.DEFAULT, models.ResNet152_Weights.IMAGENET1K_V1
    facts = {
        "torchvision": torchvision.__version__.split("+")[0], "warnings": len(wrong_said),
        "warning_1": wrong_said[0] if wrong_said else "", "warning_2": wrong_said[1] if len(wrong_said) > 1 else "",
        "url": v1.url, "megabytes": v1.meta["_file_size"], "v1": str(v1), "default": str(default),
        "v1_acc": v1.meta["_metrics"]["ImageNet-1K"]["acc@1"], "default_acc": default.meta["_metrics"]["ImageNet-1K"]
        ["acc@1"],
    }
    return Pitfall("surgery.pretrained", "5.4.2", body(tutorial_pretrained), body(with_weights), wrong, right,
                   facts=facts, table=pd.DataFrame(rows))  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# "Freeze the backbone": BatchNorm statistics still move


def _statistics(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.endswith(("running_mean", "running_var"))}


def frozen_batchnorm(arch: str = "resnet50", *, batch: int = 4, size: int = 64, seed: int = 0) -> Pitfall:
    """Freeze the backbone (requires_grad=False), put the model in train mode and run one batch: every BatchNorm
    still updates its running statistics. With `eval_frozen_batchnorm` after `train()` they stay as they were."""
    arch = check_arch(arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = replace_head(resnet(arch), (128,), 10, 0.5)
        x = 2.0 * torch.randn(batch, 3, size, size) + 1.0  # new data: another mean and spread than the last batch
        start, params = _statistics(model), {k: v.clone() for k, v in model.named_parameters()}
        norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
        results = {}

        def run(name: str, fn) -> str:
            trial = copy.deepcopy(model)
            with torch.no_grad():
                fn(trial, x)
            now = _statistics(trial)
            moved = [k for k in start if not torch.equal(start[k], now[k])]
            drift = max((start[k] - now[k]).abs().max().item() for k in start)
            changed = sum(not torch.equal(params[k], v) for k, v in trial.named_parameters())
            layers = len({k.rsplit(".", 1)[0] for k in moved})
            results[name] = {"layers": layers, "drift": drift, "params_changed": changed,
                             "trainable": sum(p.numel() for p in trial.parameters() if p.requires_grad)}
            return f"BatchNorm layers updated: {layers}/{norms}\nmax |running stat change|: {drift:.4g}\n" \
                   f"parameters changed: {changed}"

        wrong = attempt(lambda: run("wrong", frozen_in_train_mode))
        right = attempt(lambda: run("right", frozen_batchnorm_kept))
    facts = {"arch": arch, "norms": norms, "features": feature_dim(model), **{f"{side}_{k}": v for side, r in
             results.items() for k, v in r.items()}}  # fmt: skip
    table = pd.DataFrame([{"side": side, **r} for side, r in results.items()])
    return Pitfall("surgery.frozen_bn", "5.3", body(frozen_in_train_mode), body(frozen_batchnorm_kept), wrong, right,
                   facts=facts, table=table)  # fmt: skip


# The tab's pitfalls by name (their api names are surgery_pitfall_<name>); the ones taking the architecture first.
PITFALLS = {"softmax": softmax_head, "extra_input": extra_input, "unused_input": unused_input, "device": device,
            "pretrained": pretrained, "frozen_bn": frozen_batchnorm}
