"""Tutorial 5.1's mistakes, run live beside the fix, and its listings walked through step by step.

Pitfalls (`PITFALLS`, each returning `lab.pitfall.Pitfall`):
- `mysequential` (5.1.2): `MySequential` imports OrderedDict inside its class body: given an OrderedDict it raises
  NameError (the tutorial's class runs, from `lab.compose.tutorial`); the fix imports it at the top of the module.
- `pseudo_code` (5.1.3): the ModuleList model class is pseudo-code (`def __init__(self, ...)`): compiled only, it is
  a SyntaxError; `ListNet` is the class written out.
- `modulelist_forward` (5.1.3): "nn.ModuleList does not define a network": calling one raises NotImplementedError;
  a module whose forward loops over it works.
- `moduledict_order` (5.1.4): keys print in insertion order (PyTorch 1.6 and older sorted a plain dict's keys).

Walk-throughs (`WALKS`, each returning `Walk`): the tutorial's listings of 5.1.2-5.1.4 run, with what each printed.
"""

from __future__ import annotations

import contextlib
import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from lab.compose.nets import ListNet
from lab.compose.tutorial import MySequential
from lab.pitfall import Outcome, Pitfall, attempt
from lab.source import body, source

__all__ = ["MySequentialFixed", "PITFALLS", "Step", "Walk", "WALKS", "walk"]

TUTORIAL_5_1_3 = Path(__file__).with_name("tutorial_5_1_3.txt")  # the tutorial's pseudo-code, as printed


class MySequentialFixed(nn.Module):
    """5.1.2's MySequential with OrderedDict imported at the top of the module, where __init__ sees it."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):  # one OrderedDict: its keys name the layers
            for key, module in args[0].items():
                self.add_module(key, module)  # add_module puts the module into self._modules (an OrderedDict)
        else:  # layers: named 0, 1, 2, ...
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def forward(self, input):
        for module in self._modules.values():  # in the order the layers were added
            input = module(input)
        return input


def _shape(y: torch.Tensor) -> str:
    return f"output {tuple(y.shape)}"


# ---------------------------------------------------------------------------------------------------------------
# 5.1.2 MySequential


def tutorial_mysequential_with_ordereddict():
    net = MySequential(OrderedDict([("fc1", nn.Linear(784, 256)), ("relu1", nn.ReLU()), ("fc2", nn.Linear(256, 10))]))
    return net(torch.randn(1, 784))


def fixed_mysequential_with_ordereddict():
    net = MySequentialFixed(OrderedDict([("fc1", nn.Linear(784, 256)), ("relu1", nn.ReLU()),
                                         ("fc2", nn.Linear(256, 10))]))  # fmt: skip
    return net(torch.randn(1, 784))


def mysequential() -> Pitfall:
    wrong = attempt(tutorial_mysequential_with_ordereddict, _shape)
    right = attempt(fixed_mysequential_with_ordereddict, _shape)
    plain = MySequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))  # the *args path never reaches it
    return Pitfall(id="compose.mysequential", section="5.1.2",
                   wrong_code=source(MySequential) + "\n\n" + body(tutorial_mysequential_with_ordereddict),
                   right_code="from collections import OrderedDict\n\n\n" + source(MySequentialFixed) + "\n\n"
                   + body(fixed_mysequential_with_ordereddict),
                   wrong=wrong, right=right, facts={"plain_keys": ", ".join(plain._modules)})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.1.3 ModuleList


def pseudo_code() -> Pitfall:
    text = TUTORIAL_5_1_3.read_text(encoding="utf-8")
    try:
        compile(text, "<tutorial 5.1.3>", "exec")  # compiled only: the tutorial's text never runs
        wrong = Outcome(value="compile() ok")
    except SyntaxError as exc:
        wrong = Outcome(error=f"{type(exc).__name__}: {exc}"[:300])
    right = attempt(lambda: ListNet([nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)])(torch.randn(1, 784)),
                    _shape)  # fmt: skip
    usage = "net = ListNet([nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)])\nnet(torch.randn(1, 784))"
    return Pitfall(id="compose.pseudo_code", section="5.1.3", wrong_code=text,
                   right_code=f"{source(ListNet)}\n\n{usage}", wrong=wrong, right=right)


def call_the_modulelist():
    layers = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
    layers.append(nn.Linear(256, 10))  # the tutorial's append
    x = torch.randn(1, 784)
    return layers(x)  # a ModuleList stores layers; it has no forward


def loop_over_the_modulelist():
    layers = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
    layers.append(nn.Linear(256, 10))
    x = torch.randn(1, 784)
    return ListNet(layers)(x)  # ListNet.forward: for layer in self.layers: x = layer(x)


def modulelist_forward() -> Pitfall:
    return Pitfall(id="compose.modulelist_forward", section="5.1.3", wrong_code=body(call_the_modulelist),
                   right_code=source(ListNet) + "\n\n" + body(loop_over_the_modulelist),
                   wrong=attempt(call_the_modulelist, _shape), right=attempt(loop_over_the_modulelist, _shape))


# ---------------------------------------------------------------------------------------------------------------
# 5.1.4 ModuleDict


def sorted_keys_as_old_printouts():
    net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
    net["output"] = nn.Linear(256, 10)
    return sorted(net.keys())  # PyTorch <= 1.6 sorted a plain dict's keys (pytorch/pytorch#40905 removed that)


def keys_in_insertion_order():
    net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
    net["output"] = nn.Linear(256, 10)
    return list(net.keys())  # the order a for loop over net.values() runs the layers


def moduledict_order() -> Pitfall:
    wrong, right = sorted_keys_as_old_printouts(), keys_in_insertion_order()
    return Pitfall(id="compose.moduledict_order", section="5.1.4", wrong_code=body(sorted_keys_as_old_printouts),
                   right_code=body(keys_in_insertion_order), wrong=Outcome(value=str(wrong)),
                   right=Outcome(value=str(right)), facts={"sorted": str(wrong), "inserted": str(right)})  # fmt: skip


PITFALLS: dict[str, Callable[[], Pitfall]] = {
    "mysequential": mysequential,
    "pseudo_code": pseudo_code,
    "modulelist_forward": modulelist_forward,
    "moduledict_order": moduledict_order,
}


# ---------------------------------------------------------------------------------------------------------------
# Walk-throughs: the tutorial's listings, run, with what each printed


@dataclass(frozen=True)
class Step:
    code: str
    printed: str


@dataclass(frozen=True)
class Walk:
    id: str  # "compose.<name>"; its title is `compose.walk.<name>` in the catalogues
    section: str
    steps: tuple[Step, ...]


def my_sequential_builds_and_runs():
    net = MySequentialFixed(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    print(net)
    print(list(net._modules.keys()))  # add_module filled self._modules in order
    print(net(torch.randn(1, 784)).shape)


def sequential_indexing():
    net2 = nn.Sequential(OrderedDict([("fc1", nn.Linear(784, 256)), ("relu1", nn.ReLU()),
                                      ("fc2", nn.Linear(256, 10))]))  # fmt: skip
    print(net2[0])
    print(net2[-1])
    print(net2.fc1 is net2[0])


def modulelist_append_extend_index():
    net = nn.ModuleList([nn.Linear(784, 256), nn.ReLU()])
    net.append(nn.Linear(256, 10))
    net.extend([nn.ReLU(), nn.Linear(10, 2)])
    print(net[-1])
    print(len(net), net[2])
    print(net)


def moduledict_access_and_assignment():
    net = nn.ModuleDict({"linear": nn.Linear(784, 256), "act": nn.ReLU()})
    net["output"] = nn.Linear(256, 10)
    print(net["linear"])
    print(net.output)
    print(list(net.keys()))
    print(net)


WALKS: dict[str, tuple[str, tuple[Callable[[], None], ...]]] = {
    "sequential": ("5.1.2", (my_sequential_builds_and_runs, sequential_indexing)),
    "containers": ("5.1.3-5.1.4", (modulelist_append_extend_index, moduledict_access_and_assignment)),
}


def walk(name: str) -> Walk:
    """Run one walk-through: each step's code (from source) and what it printed."""
    section, functions = WALKS[name]
    steps = []
    for fn in functions:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            fn()
        steps.append(Step(code=body(fn), printed=out.getvalue().rstrip()))
    return Walk(id=f"compose.{name}", section=section, steps=tuple(steps))
