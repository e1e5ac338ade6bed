"""The Checkpoints tab's code panels: save (5.4.2, 5.4.5), the four cases (5.4.4), load an uploaded file.

Each panel is standalone (torch, safetensors; no `lab` import, no server path) and built from what the lab runs:
the model's own code (`rebuild.recipe`: THE model the tab saved, rebuilt with the code of the tab that built it),
then the source of the lab's plain-torch helpers (`checkpoint_dict`, `safetensors_ready`, `model_order`,
`training_objects`, `reinitialized`, `init_single_process_group`, the four case loaders) and the lines that call
them. Every panel prints what the tab shows (file size, keys), so tests run it and compare.
"""

from __future__ import annotations

from torch import nn

from lab.checkpoints import cases
from lab.checkpoints.io import FORMATS, KEY_ORDER, WHATS, checkpoint_dict, model_order, safetensors_ready
from lab.checkpoints.models import default_model, reinitialized, training_objects
from lab.checkpoints.parallel import WRAPPERS, init_single_process_group
from lab.checkpoints.rebuild import Recipe, recipe
from lab.checkpoints.state import WEIGHT_KEYS, LoadReport
from lab.errors import choice, flag
from lab.source import source

__all__ = ["save_code", "load_code", "case_code", "assemble"]

_DEVICE = 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")'


def assemble(*parts: str) -> str:
    """Join code parts with two blank lines. The imports each part starts with go to the top, once each (a
    `from __future__` import first: Python wants it there)."""
    imports: list[str] = []
    bodies: list[str] = []
    for part in parts:
        lines = part.strip("\n").splitlines() if part else []
        while lines and (lines[0].startswith(("import ", "from ")) or not lines[0].strip()):
            if lines[0].strip():
                imports.append(lines[0])
            lines.pop(0)
        if lines:
            bodies.append("\n".join(lines))
    unique = list(dict.fromkeys(imports))
    future = [line for line in unique if line.startswith("from __future__")]
    plain = sorted(line for line in unique if line.startswith("import "))
    froms = sorted(line for line in unique if line.startswith("from ") and line not in future)
    head = "\n".join(future + plain + froms)
    return "\n\n\n".join(part for part in (head, *bodies) if part) + "\n"


def _model_part(model: nn.Module | None, name: str, found: Recipe | None = None) -> tuple[Recipe, str]:
    """The code that leaves THE model in `model` on `device`, or a plain statement that none does. `found`: the
    model's recipe, when the caller has it already."""
    found = found or recipe(default_model() if model is None else model)
    if found.code is None:
        return found, (f"# No code in the lab rebuilds this {found.model_type}: none of the tabs that build models\n"
                       f"# built it. The lines below work from the file you saved, {name!r}.")  # fmt: skip
    return found, f"{found.code.rstrip()}\n\n{_DEVICE}\nmodel = model.to(device)"


def _wrapper(wrapper: str) -> tuple[str, str]:
    """(setup code, the wrapper's name in code): DDP needs a process group (one process of gloo on one CPU)."""
    if wrapper == "ddp":
        return (f"import torch.distributed as dist\nfrom torch.nn.parallel import DistributedDataParallel as DDP\n\n\n"
                f"{source(init_single_process_group).rstrip()}\n\n\nif not dist.is_initialized():\n"
                f"    init_single_process_group()"), "DDP"  # fmt: skip
    return "", "nn.DataParallel"


def _wrap_part(wrapper: str) -> str:
    """Wrap `model` as multi-GPU training does."""
    if wrapper == "none":
        return ""
    setup, name = _wrapper(wrapper)
    return assemble(setup, f"model = {name}(model)  # keys gain a leading 'module.'")


def save_code(what: str, fmt: str, *, wrapper: str = "none", unwrap_first: bool = False, name: str = "model",
              model: nn.Module | None = None, found: Recipe | None = None) -> str:  # fmt: skip
    """Code that saves `model` (the default CNN when None) as the tab did, reads the file back and prints its size
    and keys: `<file>: <bytes> bytes, <n> keys; first: [...]`."""
    choice("checkpoints.what", what, WHATS)
    choice("checkpoints.format", fmt, FORMATS)
    choice("checkpoints.save_wrapper", wrapper, ("none", *WRAPPERS))
    unwrap_first = flag("checkpoints.unwrap", unwrap_first)
    path = f"{name}{fmt}"
    found, model_part = _model_part(model, path, found)
    rebuilt = found.code is not None
    target = "model.module" if unwrap_first and wrapper != "none" else "model"
    helpers, saving, reading = [], [], []
    if fmt == ".safetensors":
        helpers = ["from safetensors import safe_open\nfrom safetensors.torch import save_file",
                   source(safetensors_ready, model_order)]  # fmt: skip
        saving = [f"state = safetensors_ready({target}.state_dict())",
                  f"metadata = {{'format': 'pt', {KEY_ORDER!r}: json.dumps(list(state))}}  # the model's key order",
                  "save_file(state, path, metadata=metadata)  # the file itself sorts the keys"]  # fmt: skip
        reading = ["with safe_open(path, framework='pt') as f:",
                   f"    keys = model_order(list(f.keys()), f.metadata(), {KEY_ORDER!r})"]  # fmt: skip
    elif what == "checkpoint":
        helpers = [source(training_objects, checkpoint_dict)]
        saving = ["optimizer, scheduler, args = training_objects(model)",
                  f"torch.save(checkpoint_dict({target}, optimizer, scheduler, 0, args), path)"]  # fmt: skip
        reading = ["checkpoint = torch.load(path, map_location='cpu', weights_only=True)  # args: a plain dict",
                   "keys = list(checkpoint['model'])"]  # fmt: skip
    elif what == "model":
        if not rebuilt:
            return assemble(model_part, "# A whole pickled model needs its class to load, and no code here has it.")
        saving = [f"torch.save({target}, path)  # pickles the class too: loading needs its code"]
        reading = ["whole = torch.load(path, map_location='cpu', weights_only=False)  # only for a file you made",
                   "keys = list(whole.state_dict())"]  # fmt: skip
    else:
        saving = [f"torch.save({target}.state_dict(), path)  # note the parentheses"]
        reading = ["state = torch.load(path, map_location='cpu', weights_only=True)", "keys = list(state)"]
    steps = [f"path = {path!r}", *(saving if rebuilt else []), *reading,
             'print(f"{path}: {os.path.getsize(path):,} bytes, {len(keys)} keys; first: {keys[:5]}")']  # fmt: skip
    return assemble("import json\nimport os\n\nimport torch\nfrom torch import nn", model_part,
                    _wrap_part(wrapper) if rebuilt else "", *helpers, "\n".join(steps))  # fmt: skip


def load_code(path_name: str, report: LoadReport, *, model: nn.Module | None = None, default: bool = True,
              found: Recipe | None = None) -> str:  # fmt: skip
    """Code that loads `path_name` safely into the model the way `load_into` just did, and prints what is missing
    and unexpected. `model`: the model the file was loaded into (the default CNN when None); `default` is kept for
    older callers and no longer used (the model says what it is)."""
    found, model_part = _model_part(model, path_name, found)
    if found.code is None:
        model_part += "\n# model = ...  # build the model you chose in the tab here"
    if path_name.lower().endswith(".safetensors"):
        read = f"from safetensors.torch import load_file\n\nstate = load_file({path_name!r})  # tensors only"
    else:
        read = f"state = torch.load({path_name!r}, map_location='cpu', weights_only=True)  # no code runs"
    lines = [read,
             f"for key in {WEIGHT_KEYS!r}:  # training checkpoints keep the weights inside",
             "    if isinstance(state.get(key), dict):",
             "        state = state[key]",
             "        break",
             "state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}  # drops extras like mask_values"]
    if report.stripped:
        lines += ["from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present",
                  f"consume_prefix_in_state_dict_if_present(state, {report.stripped!r})  # a leading prefix only"]
    if report.added:
        lines.append(f"state = {{{report.added!r} + k: v for k, v in state.items()}}")
    if report.mismatched:
        lines += ["shapes = {k: v.shape for k, v in model.state_dict().items()}",
                  "state = {k: v for k, v in state.items() if k not in shapes or v.shape == shapes[k]}"
                  "  # skip mismatched"]
    lines += [f"result = model.load_state_dict(state, strict={report.ok})",
              "print('missing:', result.missing_keys, 'unexpected:', result.unexpected_keys)"]
    return assemble("import torch\nfrom torch import nn", model_part, "\n".join(lines))


def case_code(saved: str, loaded: str, wrapper: str = "dataparallel", *, model: nn.Module | None = None,
              found: Recipe | None = None) -> str:  # fmt: skip
    """Code for one 5.4.4 case on `model` (the default CNN when None): save it single or wrapped, print the file's
    keys, load them into a fresh model with the case's loader, print the loaded model's keys and whether the
    weights are now equal."""
    choice("checkpoints.saved", saved, cases.SIDES)
    choice("checkpoints.loaded", loaded, cases.SIDES)
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    loader = cases.LOADERS[(saved, loaded)]
    found, model_part = _model_part(model, "case.pt", found)
    if found.code is None:
        return assemble(model_part)
    setup, name = _wrapper(wrapper)
    saving = "saved_model = wrap(copy.deepcopy(model))" if saved == "multi" else "saved_model = model"
    consume = "from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present\n" \
        if loader is cases.multi_to_single else ""  # fmt: skip
    return assemble(
        "import copy\n\nimport torch\nfrom torch import nn", model_part, setup,
        f"wrap = {name}  # the multi-GPU wrapper",
        f"model = model.eval()\n{saving}\ntorch.save(saved_model.state_dict(), 'case.pt')\n"
        "print('keys in the file:', list(torch.load('case.pt', map_location='cpu', weights_only=True))[:2])",
        f"{consume}\n\n{source(reinitialized, loader).rstrip()}",
        f"fresh = reinitialized(model)  # the same architecture, other random weights\n"
        f"loaded = {loader.__name__}('case.pt', fresh, wrap)\n"
        "print('keys of the model loaded into:', list(loaded.state_dict())[:2])\n"
        "plain = getattr(loaded, 'module', loaded)\n"
        "same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), plain.state_dict().values()))\n"
        "print('weights equal:', same)",
    )  # fmt: skip
