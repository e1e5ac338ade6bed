"""5.4.4's four cases, run for real: saved on one GPU or several (DataParallel/DDP), loaded on one or several.

"Several GPUs" means a wrapper that keeps the model as `.module`, so every key of its state_dict gains a leading
`module.`. Each case saves the model (wrapped or not), builds a fresh model with other random weights, loads the
file into it the way the tutorial's case says (the four loaders below, plain torch: the code panel prints them),
and proves the outputs bit-identical on the same input.
"""

from __future__ import annotations

import copy
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from lab.checkpoints.io import load, save
from lab.checkpoints.models import example_inputs, forward, randomized_copy, same_outputs
from lab.checkpoints.parallel import WRAPPERS, parallel_wrap, unwrap
from lab.checkpoints.state import LoadReport, compare
from lab.errors import Term, choice

__all__ = ["CASES", "CaseResult", "play_case", "single_to_single", "single_to_multi", "multi_to_single",
           "multi_to_multi", "LOADERS"]  # fmt: skip

CASES = (("single", "single"), ("single", "multi"), ("multi", "single"), ("multi", "multi"))
SIDES = ("single", "multi")


def single_to_single(path, fresh, wrap):
    """Case 1: saved on one GPU, loaded on one: the keys match."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    fresh.load_state_dict(state)
    return fresh


def single_to_multi(path, fresh, wrap):
    """Case 2: load into the plain model first, then wrap it: the wrapper adds 'module.' itself."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    fresh.load_state_dict(state)
    return wrap(fresh)


def multi_to_single(path, fresh, wrap):
    """Case 3: strip the leading 'module.' (better still: save model.module.state_dict() in the first place)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    consume_prefix_in_state_dict_if_present(state, "module.")  # a leading 'module.' only, and only where present
    fresh.load_state_dict(state)
    return fresh


def multi_to_multi(path, fresh, wrap):
    """Case 4: wrap first, then load: both sides have 'module.'."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    fresh = wrap(fresh)
    fresh.load_state_dict(state)
    return fresh


LOADERS = dict(zip(CASES, (single_to_single, single_to_multi, multi_to_single, multi_to_multi), strict=True))


@dataclass
class CaseResult:
    """One cell of the 2 x 2 grid: how it was saved and loaded, keys on both sides, the fix, the proof."""

    saved: str
    loaded: str
    file_keys: list[str]
    model_keys: list[str]
    fix: Term  # what the case needs, in words (`checkpoints.case.fix.<saved>_<loaded>`)
    equal: bool
    max_diff: float
    diff_before: float
    report: LoadReport  # what `load_into` says of the file against the model it is loaded into
    path: Path


def play_case(
    model: nn.Module,
    saved: str,
    loaded: str,
    directory: str | os.PathLike,
    *,
    wrapper: str = "dataparallel",
    fmt: str = ".pt",
) -> CaseResult:
    """Save `model` single or wrapped, load into a fresh model single or wrapped, prove the outputs equal.

    Works on copies: `model` itself is never wrapped, saved from or loaded into.
    """
    choice("checkpoints.saved", saved, SIDES)
    choice("checkpoints.loaded", loaded, SIDES)
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    choice("checkpoints.case_format", fmt, (".pt", ".pth", ".pkl"))
    wrap = functools.partial(parallel_wrap, kind=wrapper)
    original = copy.deepcopy(unwrap(model)).eval()
    source = wrap(copy.deepcopy(original)) if saved == "multi" else original
    path = save(source, Path(directory) / f"case_{saved}_{loaded}{fmt}")
    fresh = randomized_copy(original)
    inputs = example_inputs(original, batch=1, size=8)  # small: the proof is bit equality, not a benchmark
    reference = forward(original, inputs)  # the saved model's outputs, computed once
    diff_before = same_outputs(reference, forward(fresh, inputs))[1]
    state = load(path)  # the lab's own file: read as any upload would be
    target = LOADERS[(saved, loaded)](path, fresh, wrap)
    # what `load_into` says of the file against the model it went into (case 2: the plain model, before wrapping)
    report = compare(target if (saved, loaded) == ("multi", "multi") else unwrap(target), state)
    equal, diff = same_outputs(reference, forward(target, inputs))
    return CaseResult(saved=saved, loaded=loaded, file_keys=list(state), model_keys=list(target.state_dict()),
                      fix=Term(f"checkpoints.case.fix.{saved}_{loaded}"), equal=equal, max_diff=diff,
                      diff_before=diff_before, report=report, path=path)  # fmt: skip
