"""Saving and loading models, tutorial 5.4: formats, what to store, single vs multi-GPU, done safely.

Where things are:
- `io`: `save` (weights, a whole pickled model, or 5.4.5's training checkpoint in .pt/.pth/.pkl/.safetensors,
  written atomically, at most `UPLOAD_MAX_BYTES`) and `load` (untrusted files through weights_only or safetensors:
  a file that needs code to unpickle is refused and none of its code runs).
- `scan` and `bounds`: the bounded work on untrusted files (issue 12): a pickle's instructions counted and its
  globals listed before anything is unpickled; every walk over a loaded object counted (`walk`, `WalkLimit`).
- `state`: the weights inside a file (`find_state_dict`), leading wrapper prefixes (`strip_prefix`, `add_prefix`),
  `compare` / `load_into` and their `LoadReport`.
- `parallel`: `parallel_wrap` (DataParallel, or DDP in a one-process gloo group on a CPU) and `unwrap`.
- `config`: `save_with_config` / `load_with_config` (weights + a JSON of constructor arguments), `file_info`,
  `contents`.
- `models`: the default CNN, the training objects of a checkpoint, inputs and bit-exact output comparison.
- `cases`: 5.4.4's four single/multi-GPU cases, run for real (`play_case`).
- `rebuild` and `code`: the code panels, standalone, saving THE model the tab saved (rebuilt with the code of the
  tab that built it); `views`: what the tab shows, one call per view.
- `pitfalls`, `pitfalls_env`, `tutorial`: every 5.4 point of docs/tutorial-notes.md run live beside the fix; the
  tutorial's own listings are only compiled, never run.
"""

from lab.checkpoints.bounds import MAX_DEPTH, MAX_VISITS, WalkLimit, walk  # noqa: I001 - bottom-up
from lab.checkpoints.scan import LEGACY_MAX_BYTES, MAX_PICKLE_BYTES, MAX_PICKLE_OPS, MAX_ZIP_ENTRIES
from lab.checkpoints.parallel import (
    WRAPPER_NAMES, WRAPPERS, init_single_process_group, parallel_wrap, shutdown_process_group, unwrap,
)
from lab.checkpoints.io import (
    FORMATS, KEY_ORDER, MAX_LOAD_BYTES, UPLOAD_MAX_BYTES, WHATS, checkpoint_dict, file_bytes, load, model_order,
    safetensors_ready, save,
)
from lab.checkpoints.state import (
    WEIGHT_KEYS, WRAPPER_PREFIXES, LoadReport, add_prefix, compare, find_state_dict, find_weights, load_into,
    strip_prefix,
)
from lab.checkpoints.config import config_path, contents, file_info, load_with_config, save_with_config, sha256
from lab.checkpoints.models import (
    default_model, example_inputs, outputs_equal, randomized_copy, reinitialized, training_objects,
)
from lab.checkpoints.cases import CASES, CaseResult, play_case
from lab.checkpoints.rebuild import Recipe, recipe
from lab.checkpoints.code import case_code, load_code, save_code
from lab.checkpoints.pitfalls import (
    pitfall_assign_state_dict, pitfall_double_wrap, pitfall_prefixed_into_plain, pitfall_replace_everywhere,
    pitfall_slice_seven, pitfall_state_dict_no_parens, pitfall_weights_only,
)
from lab.checkpoints.pitfalls_env import (
    pitfall_cuda_visible_devices, pitfall_map_location, pitfall_whole_dataparallel,
)
from lab.checkpoints.views import (
    CASE_NAMES, CasesView, LoadView, ModelInfo, OpeningView, SaveView, case_view, cases_view, load_view, model_info,
    opening_view, pitfalls, save_view,
)  # fmt: skip
from lab.errors import LabError  # what every refusal here raises: `ck.LabError` for callers importing only this

__all__ = [
    "LabError", "FORMATS", "WHATS", "WRAPPERS", "WRAPPER_NAMES", "WRAPPER_PREFIXES", "WEIGHT_KEYS", "KEY_ORDER",
    "MAX_LOAD_BYTES", "UPLOAD_MAX_BYTES", "LEGACY_MAX_BYTES", "MAX_PICKLE_BYTES", "MAX_PICKLE_OPS", "MAX_ZIP_ENTRIES",
    "MAX_VISITS", "MAX_DEPTH", "WalkLimit", "walk", "file_bytes", "LoadReport", "CaseResult", "CASES", "save", "load",
    "load_into", "compare", "find_state_dict", "find_weights", "strip_prefix", "add_prefix", "parallel_wrap",
    "unwrap", "shutdown_process_group", "init_single_process_group", "save_with_config", "load_with_config",
    "config_path", "file_info", "contents", "sha256", "default_model", "training_objects", "reinitialized",
    "checkpoint_dict", "safetensors_ready", "model_order", "example_inputs", "outputs_equal", "randomized_copy",
    "play_case", "Recipe", "recipe", "save_code", "load_code", "case_code",
    "pitfall_state_dict_no_parens", "pitfall_weights_only", "pitfall_assign_state_dict", "pitfall_prefixed_into_plain",
    "pitfall_slice_seven", "pitfall_replace_everywhere", "pitfall_double_wrap", "pitfall_map_location",
    "pitfall_whole_dataparallel", "pitfall_cuda_visible_devices",
    "ModelInfo", "model_info", "SaveView", "save_view", "CasesView", "cases_view", "case_view", "LoadView",
    "load_view", "OpeningView", "opening_view", "pitfalls", "CASE_NAMES",
]
