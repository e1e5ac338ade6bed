"""What the Checkpoints tab shows, one call per view: the model's facts, a save, the four cases, a load, the
pitfalls, and the first view (the default model saved and the four cases played).

Each takes the model the visitor chose (None: the default CNN on the lab's device) and plain values, returns data,
and never changes the model it is given: wrapping, saving and loading work on copies.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from torch import nn

from lab.checkpoints import pitfalls as pf
from lab.checkpoints import pitfalls_env as pe
from lab.checkpoints.cases import CASES, CaseResult, play_case
from lab.checkpoints.code import case_code, load_code, save_code
from lab.checkpoints.config import contents, file_info
from lab.checkpoints.io import FORMATS, WHATS, load, save
from lab.checkpoints.models import default_model, training_objects
from lab.checkpoints.parallel import WRAPPERS, parallel_wrap, unwrap
from lab.checkpoints.rebuild import Recipe, recipe
from lab.checkpoints.state import LoadReport, compare, load_into
from lab.device import pick_device
from lab.errors import choice, flag
from lab.pitfall import Pitfall

__all__ = ["ModelInfo", "model_info", "SaveView", "save_view", "CasesView", "cases_view", "case_view", "parse_case",
           "LoadView", "load_view", "OpeningView", "opening_view", "pitfalls", "CASE_NAMES"]  # fmt: skip

CASE_NAMES = tuple(f"{saved}-{loaded}" for saved, loaded in CASES)  # how the tab names a case: "multi-single"
_STATUS_ORDER = {"mismatched": 0, "missing": 1, "unexpected": 2, "loaded": 3}


def _model(model: nn.Module | None) -> nn.Module:
    return default_model().to(pick_device()) if model is None else model


@dataclass
class ModelInfo:
    model_type: str
    params: int
    trainable: int
    keys: list[str]


def model_info(model: nn.Module | None) -> ModelInfo:
    """The chosen model's class, parameter counts and state_dict keys (the plain model inside any wrapper)."""
    base = unwrap(_model(model))
    params = list(base.parameters())
    return ModelInfo(type(base).__name__, sum(p.numel() for p in params),
                     sum(p.numel() for p in params if p.requires_grad), list(base.state_dict()))  # fmt: skip


@dataclass
class SaveView:
    """A saved file and its facts; the code that saves the same model the same way; whose code rebuilds it."""

    path: Path
    info: dict
    code: str
    origin: str  # the tab whose code rebuilds the model in `code` ("default" for the default CNN), "" for none
    model_type: str


def save_view(model: nn.Module | None, *, what: str, fmt: str, wrapper: str, unwrap_first: bool,
              directory: str | os.PathLike, name: str, found: Recipe | None = None) -> SaveView:  # fmt: skip
    """Save a copy of the model (wrapped first when asked) as `<name>_<what><fmt>` in `directory`."""
    choice("checkpoints.what", what, WHATS)
    choice("checkpoints.format", fmt, FORMATS)
    choice("checkpoints.save_wrapper", wrapper, ("none", *WRAPPERS))
    unwrap_first = flag("checkpoints.unwrap", unwrap_first)
    model = _model(model)
    own = copy.deepcopy(unwrap(model)).eval()
    if wrapper != "none":
        own = parallel_wrap(own, wrapper)
    path = Path(directory) / f"{name}_{what}{fmt}"
    if what == "checkpoint":
        optimizer, scheduler, args = training_objects(own)
        save(own, path, what=what, optimizer=optimizer, scheduler=scheduler, epoch=0, args=args,
             unwrap_first=unwrap_first)  # fmt: skip
    else:
        save(own, path, what=what, unwrap_first=unwrap_first)
    info = file_info(path, trusted=True)  # the lab just wrote it
    found = found or recipe(model)
    code = save_code(what, fmt, wrapper=wrapper, unwrap_first=unwrap_first, name=f"{name}_{what}", model=model,
                     found=found)  # fmt: skip
    return SaveView(path=path, info=info, code=code, origin=found.origin, model_type=found.model_type)


@dataclass
class CasesView:
    results: list[CaseResult]  # in CASES order
    code: str  # the code of the case the tab shows


def parse_case(shown: str) -> tuple[str, str]:
    """"multi-single" -> ("multi", "single")."""
    saved, _, loaded = choice("checkpoints.case", shown, CASE_NAMES).partition("-")
    return saved, loaded


def cases_view(model: nn.Module | None, *, wrapper: str, shown: str = "multi-single",
               found: Recipe | None = None) -> CasesView:  # fmt: skip
    """Play the four cases of 5.4.4 on copies of the model, and the code of the `shown` one."""
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    saved, loaded = parse_case(shown)
    model = _model(model)
    with tempfile.TemporaryDirectory(prefix="lab-cases-") as tmp:
        results = [play_case(model, saved_on, loaded_on, tmp, wrapper=wrapper) for saved_on, loaded_on in CASES]
    return CasesView(results, case_code(saved, loaded, wrapper, model=model, found=found))


def case_view(model: nn.Module | None, *, wrapper: str, shown: str) -> str:
    """The code of one case, on the model."""
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    return case_code(*parse_case(shown), wrapper, model=_model(model))


@dataclass
class LoadView:
    """An uploaded file read safely: what it holds, the report against the chosen model, the code, and the loaded
    copy of the model (None when the file did not fit it)."""

    name: str
    report: LoadReport
    contents: pd.DataFrame
    keys: pd.DataFrame  # one row per key, problems first
    code: str
    loaded: nn.Module | None


def load_view(path: str | os.PathLike, model: nn.Module | None, *, max_bytes: int, rows: int) -> LoadView:
    """Read `path` as an untrusted upload, list it (at most `rows` rows), compare it with the model, and load it into
    a copy of the model when every key fits."""
    obj = load(path, max_bytes=max_bytes)  # scanned, then weights_only or safetensors: nothing of it runs
    listing = contents(obj, max_rows=rows)
    model = _model(model)
    own = copy.deepcopy(unwrap(model)).eval()
    report = compare(own, obj)
    loaded = None
    if report.ok:
        load_into(own, obj)
        loaded = own
    frame = report.to_frame()
    frame = frame.sort_values("status", key=lambda s: s.map(_STATUS_ORDER), kind="stable").head(rows)
    return LoadView(Path(path).name, report, listing, frame, load_code(Path(path).name, report, model=model), loaded)


@dataclass
class OpeningView:
    """The tab's first view: the model's facts, the model saved with the tab's settings, the four cases played."""

    info: ModelInfo
    save: SaveView
    cases: CasesView


def opening_view(model: nn.Module | None, *, what: str = "state_dict", fmt: str = ".pth", wrapper: str = "none",
                 unwrap_first: bool = False, case_wrapper: str = "dataparallel", case_shown: str = "multi-single",
                 directory: str | os.PathLike, name: str) -> OpeningView:  # fmt: skip
    """The first view of the tab in one call: `model_info`, `save_view` and `cases_view` of the same model, its
    recipe (the code that rebuilds it) worked out once for both code panels."""
    model = _model(model)
    found = recipe(model)  # once for both code panels
    return OpeningView(model_info(model),
                       save_view(model, what=what, fmt=fmt, wrapper=wrapper, unwrap_first=unwrap_first,
                                 directory=directory, name=name, found=found),
                       cases_view(model, wrapper=case_wrapper, shown=case_shown, found=found))  # fmt: skip


def pitfalls(model: nn.Module | None, wrapper: str = "dataparallel") -> list[Pitfall]:
    """The 5.4 pitfalls that run on the chosen model, in the tutorial's order (the CUDA_VISIBLE_DEVICES one, which
    starts two Python processes, is `pitfall_cuda_visible_devices`)."""
    choice("checkpoints.wrapper", wrapper, WRAPPERS)
    model = _model(model)
    with tempfile.TemporaryDirectory(prefix="lab-pitfalls-") as tmp:
        return [
            pf.pitfall_state_dict_no_parens(model, tmp),
            pf.pitfall_double_wrap(model, wrapper),
            pf.pitfall_assign_state_dict(model),
            pf.pitfall_prefixed_into_plain(model, tmp, wrapper),
            pf.pitfall_slice_seven(model),
            pf.pitfall_replace_everywhere(wrapper),
            pe.pitfall_map_location(model, tmp),
            pe.pitfall_whole_dataparallel(model, tmp),
            pf.pitfall_weights_only(model, tmp),
        ]
