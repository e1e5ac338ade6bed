"""5.4's mistakes (docs/tutorial-notes.md), each run live on the chosen model beside the right way:
`lab.pitfall.Pitfall`s.

The tutorial's code lives here as real functions (the `..._as_printed` ones, kept as printed but for `.cuda()` and
the variable names they need), the fixes beside them; each pitfall shows both bodies and what each produced
(a value, or the exception PyTorch raised). `lab.checkpoints.pitfalls_env` holds the two that are about devices.
Every pitfall works on copies and temporary files: the chosen model is only read.
"""

from __future__ import annotations

import argparse
import copy
import functools
import os
from collections import OrderedDict
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from lab.checkpoints import tutorial
from lab.checkpoints.models import largest_gap, randomized_copy
from lab.checkpoints.parallel import WRAPPER_NAMES, WRAPPERS, parallel_wrap, unwrap
from lab.errors import choice
from lab.pitfall import Pitfall, attempt
from lab.source import body

__all__ = ["code_of", "pitfall_state_dict_no_parens", "pitfall_weights_only", "pitfall_assign_state_dict",
           "pitfall_prefixed_into_plain", "pitfall_slice_seven", "pitfall_replace_everywhere", "pitfall_double_wrap",
           "WRAP_LINES"]  # fmt: skip

# The line that names the wrapper in a pitfall's code (`wrap(model)` below is that wrapper)
WRAP_LINES = {"dataparallel": "wrap = nn.DataParallel\n",
              "ddp": "wrap = DDP  # DistributedDataParallel (in a process group)\n"}  # fmt: skip


def code_of(fn) -> str:
    """A function's statements as a pitfall shows them: its final `return x` as the bare `x`, as in a notebook."""
    return body(fn, keep_return=False)


def _keys(state) -> str:
    """What a loaded state_dict shows: its first keys and how many (code-like, the same in every language)."""
    keys = list(state)
    return f"{keys[:2]} … ({len(keys)} keys)" if len(keys) > 2 else f"{keys} ({len(keys)} keys)"


def _wrapper(wrapper: str):
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    return functools.partial(parallel_wrap, kind=wrapper)


# ---------------------------------------------------------------------------------------------------------------
# 5.4.2: torch.save(model.state_dict, path)


def save_weights_as_printed(model, save_dir):
    torch.save(model.state_dict, save_dir)  # 5.4.2 as printed: no parentheses, so the bound method is pickled
    return torch.load(save_dir)  # torch >= 2.6 loads with weights_only=True by default


def save_weights(model, save_dir):
    torch.save(model.state_dict(), save_dir)  # the weights: a dict of tensors
    return torch.load(save_dir, map_location="cpu", weights_only=True)


def pitfall_state_dict_no_parens(model: nn.Module, directory: str | os.PathLike) -> Pitfall:
    """Without parentheses `torch.save` pickles a bound method, dragging in the whole model: refused on load."""
    base = unwrap(model)
    wrong_path, right_path = Path(directory) / "no_parens.pt", Path(directory) / "with_parens.pt"
    wrong = attempt(lambda: save_weights_as_printed(base, wrong_path), _keys)
    right = attempt(lambda: save_weights(base, right_path), _keys)
    unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(wrong_path)))
    return Pitfall(id="checkpoints.no_parens", section="5.4.2", wrong_code=code_of(save_weights_as_printed),
                   right_code=code_of(save_weights), wrong=wrong, right=right,
                   facts={"wrong_bytes": f"{wrong_path.stat().st_size:,}",
                          "right_bytes": f"{right_path.stat().st_size:,}",
                          "globals": ", ".join(f"`{name}`" for name in unsafe[:4])})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.4.5: a checkpoint holding an argparse Namespace, loaded with torch.load's default


def checkpoint_as_printed(model, path):
    args = argparse.Namespace(lr=0.01, momentum=0.9, epochs=90)  # 5.4.5 keeps the parsed command line
    torch.save({"model": model.state_dict(), "epoch": 0, "args": args}, path)
    return torch.load(path)  # the default since torch 2.6: weights_only=True


def checkpoint_with_plain_args(model, path):
    args = argparse.Namespace(lr=0.01, momentum=0.9, epochs=90)
    torch.save({"model": model.state_dict(), "epoch": 0, "args": vars(args)}, path)  # a plain dict of values
    return torch.load(path, map_location="cpu", weights_only=True)


def pitfall_weights_only(model: nn.Module, directory: str | os.PathLike) -> Pitfall:
    """torch >= 2.6 loads with weights_only=True: a Namespace in the checkpoint is refused; a dict of args is not."""
    base = unwrap(model)
    wrong_path = Path(directory) / "namespace.pth"
    wrong = attempt(lambda: checkpoint_as_printed(base, wrong_path))
    right = attempt(lambda: checkpoint_with_plain_args(base, Path(directory) / "plain_args.pth"),
                    lambda checkpoint: f"checkpoint['args'] == {checkpoint['args']}")  # fmt: skip
    unsafe = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(str(wrong_path)))
    return Pitfall(id="checkpoints.weights_only", section="5.4.5", wrong_code=code_of(checkpoint_as_printed),
                   right_code=code_of(checkpoint_with_plain_args), wrong=wrong, right=right,
                   facts={"torch": torch.__version__.split("+")[0], "globals": ", ".join(f"`{n}`" for n in unsafe)})


# ---------------------------------------------------------------------------------------------------------------
# 5.4.4: `loaded_model.state_dict = loaded_dict`


def assign_as_printed(loaded_model, loaded_dict):
    loaded_model.state_dict = loaded_dict  # 5.4.4 as printed: replaces the method with the dict, loads nothing
    return largest_gap(nn.Module.state_dict(loaded_model), loaded_dict)  # the weights the model really has


def load_with_load_state_dict(loaded_model, loaded_dict):
    loaded_model.load_state_dict(loaded_dict)  # copies every tensor into the model's own
    return largest_gap(loaded_model.state_dict(), loaded_dict)


def pitfall_assign_state_dict(model: nn.Module) -> Pitfall:
    """Assigning to `state_dict` replaces a method and loads nothing; `load_state_dict` loads."""
    base = unwrap(model)
    state = base.state_dict()
    gap = lambda value: f"max |weight - saved| = {value:.3g}"  # noqa: E731
    wrong = attempt(lambda: assign_as_printed(randomized_copy(base), state), gap)
    right = attempt(lambda: load_with_load_state_dict(randomized_copy(base), state), gap)
    return Pitfall(id="checkpoints.assign_state_dict", section="5.4.4", wrong_code=code_of(assign_as_printed),
                   right_code=code_of(load_with_load_state_dict), wrong=wrong, right=right)


# ---------------------------------------------------------------------------------------------------------------
# 5.4.4: a `module.` file into the plain model; the recipe's undefined name and extra `)`


def load_prefixed_as_printed(save_dir, loaded_model, wrap):
    loaded_model.load_state_dict(torch.load(save_dir))  # 5.4.4 as printed: 'module.' keys into the plain model
    return wrap(loaded_model)


def wrap_then_load(save_dir, loaded_model, wrap):
    loaded_model = wrap(loaded_model)  # the wrapper gives the model's keys the same 'module.'
    return loaded_model.load_state_dict(torch.load(save_dir, map_location="cpu", weights_only=True))


def pitfall_prefixed_into_plain(model: nn.Module, directory: str | os.PathLike, wrapper: str = "dataparallel"
                                ) -> Pitfall:  # fmt: skip
    """A `module.`-prefixed file loaded into an unwrapped model: torch's missing/unexpected keys error; the recipe
    printed for it also reads a name it never defines, and the case-4 recipe does not compile."""
    wrap = _wrapper(wrapper)
    base = unwrap(model)
    path = Path(directory) / "multi_gpu.pt"
    torch.save(wrap(copy.deepcopy(base)).state_dict(), path)
    wrong = attempt(lambda: load_prefixed_as_printed(path, randomized_copy(base), wrap))
    right = attempt(lambda: wrap_then_load(path, randomized_copy(base), wrap))
    result = randomized_copy(base).load_state_dict(torch.load(path, weights_only=True), strict=False)
    table = pd.DataFrame({"missing": pd.Series(result.missing_keys[:6], dtype=object),
                          "unexpected": pd.Series(result.unexpected_keys[:6], dtype=object)}).fillna("")
    undefined = tutorial.unbound(tutorial.RECIPE_ADD_MODULE, before=tutorial.EARLIER)
    later = [name for name in undefined if name in tutorial.bound(tutorial.RECIPE_STRIP_LOOP)]
    message, line, text = tutorial.syntax_error(tutorial.RECIPE_CASE_4) or ("", 0, "")
    prefix = WRAP_LINES[wrapper]
    return Pitfall(id="checkpoints.prefixed_into_plain", section="5.4.4",
                   wrong_code=prefix + code_of(load_prefixed_as_printed),
                   right_code=prefix + code_of(wrap_then_load),
                   wrong=wrong, right=right, table=table,
                   facts={"missing": len(result.missing_keys), "unexpected": len(result.unexpected_keys),
                          "undefined": ", ".join(f"`{n}`" for n in undefined), "later": ", ".join(later),
                          "syntax": message, "line": line, "code": text})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.4.4: `k[7:]` and `k.replace('module.', '')`


def strip_by_slicing(loaded_dict, loaded_model):
    new_state_dict = OrderedDict()
    for k, v in loaded_dict.items():
        name = k[7:]  # 5.4.4 as printed: 7 characters off every key, whether it starts with 'module.' or not
        new_state_dict[name] = v
    return loaded_model.load_state_dict(new_state_dict)


def strip_leading_prefix(loaded_dict, loaded_model):
    consume_prefix_in_state_dict_if_present(loaded_dict, "module.")  # a leading 'module.' only, where present
    return loaded_model.load_state_dict(loaded_dict)


def strip_by_replace(loaded_dict, loaded_model):
    # 5.4.4 as printed: every 'module.' goes, also one inside a name
    return loaded_model.load_state_dict({k.replace("module.", ""): v for k, v in loaded_dict.items()})


def pitfall_slice_seven(model: nn.Module) -> Pitfall:
    """`k[7:]` on a file saved from one GPU cuts real names; the leading-prefix fix leaves them alone."""
    base = unwrap(model)
    state = base.state_dict()
    wrong = attempt(lambda: strip_by_slicing(state, randomized_copy(base)))
    right = attempt(lambda: strip_leading_prefix(OrderedDict(state), randomized_copy(base)))
    fixed = OrderedDict(state)
    consume_prefix_in_state_dict_if_present(fixed, "module.")
    table = pd.DataFrame({"key in file": list(state)[:6], "k[7:]": [k[7:] for k in list(state)[:6]],
                          "consume_prefix": list(fixed)[:6]})  # fmt: skip
    sliced = {k[7:] for k in state}
    return Pitfall(id="checkpoints.slice_seven", section="5.4.4", wrong_code=code_of(strip_by_slicing),
                   right_code=code_of(strip_leading_prefix), wrong=wrong, right=right, table=table,
                   facts={"keys": len(state), "collapsed": len(state) - len(sliced)})  # fmt: skip


def _inner_module_model() -> nn.Module:
    # a model whose own layers include one named "module": keys like "backbone.module.weight"
    return nn.Sequential(OrderedDict([
        ("backbone", nn.Sequential(OrderedDict([("module", nn.Linear(4, 8)), ("act", nn.ReLU())]))),
        ("head", nn.Linear(8, 2)),
    ]))  # fmt: skip


def pitfall_replace_everywhere(wrapper: str = "dataparallel") -> Pitfall:
    """`k.replace('module.', '')` also deletes 'module.' inside names; the leading-prefix fix keeps them."""
    model = _inner_module_model()
    state = _wrapper(wrapper)(copy.deepcopy(model)).state_dict()
    wrong = attempt(lambda: strip_by_replace(state, copy.deepcopy(model)))
    right = attempt(lambda: strip_leading_prefix(OrderedDict(state), copy.deepcopy(model)))
    fixed = OrderedDict(state)
    consume_prefix_in_state_dict_if_present(fixed, "module.")
    table = pd.DataFrame({"key in file": list(state), "replace": [k.replace("module.", "") for k in state],
                          "consume_prefix": list(fixed)})  # fmt: skip
    prefix = WRAP_LINES[wrapper]
    return Pitfall(id="checkpoints.replace_everywhere", section="5.4.4", wrong_code=code_of(strip_by_replace),
                   right_code=code_of(strip_leading_prefix), wrong=wrong, right=right, table=table,
                   facts={"wrapper": WRAPPER_NAMES[wrapper], "setup": prefix.strip()})


# ---------------------------------------------------------------------------------------------------------------
# Wrapping a wrapped model


def wrap_twice(model, fresh, wrap):
    model = wrap(model)  # e.g. a helper hands the model back already wrapped...
    model = wrap(model)  # ...and it is wrapped again: every key starts with 'module.module.'
    return wrap(fresh).load_state_dict(model.state_dict())  # a model wrapped once cannot take them


def wrap_once(model, fresh, wrap):
    model = wrap(model)
    model = wrap(getattr(model, "module", model))  # unwrap before wrapping: one 'module.' whatever came before
    return wrap(fresh).load_state_dict(model.state_dict())


def pitfall_double_wrap(model: nn.Module, wrapper: str = "dataparallel") -> Pitfall:
    """Wrapping a wrapped model gives 'module.module.' keys that a model wrapped once refuses; unwrap first."""
    wrap = _wrapper(wrapper)
    base = unwrap(model)
    wrong = attempt(lambda: wrap_twice(copy.deepcopy(base), randomized_copy(base), wrap))
    right = attempt(lambda: wrap_once(copy.deepcopy(base), randomized_copy(base), wrap))
    twice = list(wrap(wrap(copy.deepcopy(base))).state_dict())
    prefix = WRAP_LINES[wrapper]
    return Pitfall(id="checkpoints.double_wrap", section="5.4.3", wrong_code=prefix + code_of(wrap_twice),
                   right_code=prefix + code_of(wrap_once), wrong=wrong, right=right,
                   facts={"wrapper": WRAPPER_NAMES[wrapper], "twice": twice[0] if twice else "",
                          "once": f"module.{list(base.state_dict())[0]}" if twice else ""})  # fmt: skip
