"""5.4's mistakes about devices, run live: no `map_location`, a pickled whole DataParallel model (it remembers its
GPUs), and `CUDA_VISIBLE_DEVICES` set after CUDA started (5.4.3), run in fresh Python processes.

On a machine without a GPU each shows what can run here, and says so through its facts: a file written with the
"cuda:0" storage labels a GPU save writes, a DataParallel that found no GPU (`device_ids == []`), and both orders
of the environment variable reporting 0 devices with CUDA never initialised.
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from lab.checkpoints.io import atomic_write
from lab.checkpoints.parallel import unwrap
from lab.checkpoints.pitfalls import code_of
from lab.pitfall import Pitfall, attempt
from lab.source import source

__all__ = ["pitfall_map_location", "pitfall_whole_dataparallel", "pitfall_cuda_visible_devices",
           "visible_devices_after_init", "visible_devices_before_init", "CHILD_TIMEOUT_S"]  # fmt: skip

CHILD_TIMEOUT_S = 60  # a fresh Python importing torch: ~2 s alone, more on a busy 2-core machine


class _CudaTag:
    """Makes `torch.save` label CPU storages "cuda:0", as a file written on a GPU is labelled.

    Registered once with torch's public `register_package`; it tags nothing unless switched on, and its
    deserializer declines (returns None) so loading goes through torch's own CUDA path.
    """

    def __init__(self) -> None:
        self.local = threading.local()
        self.registered = False
        self.lock = threading.Lock()

    def tag(self, obj: Any) -> str | None:
        if getattr(self.local, "on", False) and getattr(obj, "device", torch.device("meta")).type == "cpu":
            return "cuda:0"
        return None

    @staticmethod
    def decline(obj: Any, location: str) -> None:
        return None

    def save_as_cuda(self, obj: Any, path: Path) -> None:
        with self.lock:
            if not self.registered:
                torch.serialization.register_package(1, self.tag, self.decline)  # before the CPU tagger (10)
                self.registered = True
        self.local.on = True
        try:
            atomic_write(path, lambda tmp: torch.save(obj, tmp))
        finally:
            self.local.on = False


_CUDA_TAG = _CudaTag()


def _storage_locations(path: Path) -> list[str]:
    """The device labels a torch.save file gives its storages ("cpu", "cuda:0", ...): the lab's own files only."""
    seen: list[str] = []

    def record(storage, location):
        seen.append(location)
        return storage

    torch.load(path, map_location=record, weights_only=False)  # a file the lab just wrote: trusted
    return sorted(set(seen))


# ---------------------------------------------------------------------------------------------------------------
# 5.4.4: torch.load without map_location


def load_as_printed(save_dir):
    return torch.load(save_dir)  # 5.4.4 as printed: each tensor goes back to the device it was saved from


def load_on_cpu(save_dir):
    return torch.load(save_dir, map_location="cpu", weights_only=True)  # then model.to(device)


def pitfall_map_location(model: nn.Module, directory: str | os.PathLike) -> Pitfall:
    """A GPU-saved file loaded without `map_location`: fails on a machine without CUDA; "cpu" always works.

    On a CUDA machine the file is really saved from the GPU; elsewhere it is written with the same
    "cuda:0" storage labels a GPU save writes, so the real torch error shows.
    """
    state = {k: v.detach() for k, v in unwrap(model).state_dict().items()}
    path = Path(directory) / "saved_on_gpu.pt"
    if torch.cuda.is_available():
        atomic_write(path, lambda tmp: torch.save({k: v.to("cuda") for k, v in state.items()}, tmp))
    else:
        _CUDA_TAG.save_as_cuda(state, path)
    device = lambda loaded: f"{len(loaded)} tensors on {next(iter(loaded.values())).device}"  # noqa: E731
    return Pitfall(id="checkpoints.map_location", section="5.4.4", wrong_code=code_of(load_as_printed),
                   right_code=code_of(load_on_cpu), wrong=attempt(lambda: load_as_printed(path), device),
                   right=attempt(lambda: load_on_cpu(path), device),
                   facts={"gpu": torch.cuda.is_available(), "locations": ", ".join(_storage_locations(path))})


# ---------------------------------------------------------------------------------------------------------------
# 5.4.4: a pickled whole DataParallel model, then `.module`


def load_whole_as_printed(save_dir):
    loaded_model = torch.load(save_dir).module  # 5.4.4 as printed
    return loaded_model


def load_whole_trusted(save_dir):
    whole = torch.load(save_dir, map_location="cpu", weights_only=False)  # only a file you made: this runs its pickle
    loaded_model = whole.module
    # the GPU ids it was saved on come back with it (without GPUs DataParallel keeps none, and no output_device)
    return loaded_model, whole.device_ids, getattr(whole, "output_device", None)


def pitfall_whole_dataparallel(model: nn.Module, directory: str | os.PathLike) -> Pitfall:
    """5.4.4's whole pickled DataParallel model and `.module`: refused by weights_only; loaded (trusted), it brings
    the GPU ids it was saved on, which another machine may not have. Weights (state_dict) carry no devices."""
    path = Path(directory) / "whole_dataparallel.pt"
    wrapped = nn.DataParallel(copy.deepcopy(unwrap(model)))  # on GPUs: moved to cuda:0, device_ids = every GPU
    atomic_write(path, lambda tmp: torch.save(wrapped, tmp))
    shown = lambda r: f"{type(r[0]).__name__}; device_ids={r[1]}, output_device={r[2]}"  # noqa: E731
    return Pitfall(id="checkpoints.whole_dataparallel", section="5.4.4", wrong_code=code_of(load_whole_as_printed),
                   right_code=code_of(load_whole_trusted), wrong=attempt(lambda: load_whole_as_printed(path)),
                   right=attempt(lambda: load_whole_trusted(path), shown),
                   facts={"gpus": torch.cuda.device_count(), "device_ids": str(wrapped.device_ids),
                          "output_device": str(getattr(wrapped, "output_device", None)),
                          "locations": ", ".join(_storage_locations(path))})  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------
# 5.4.3: CUDA_VISIBLE_DEVICES set after CUDA is initialised (each order in a fresh Python)


def visible_devices_after_init(value):
    import os

    import torch

    before = torch.cuda.is_initialized()
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")  # any first CUDA call starts CUDA, which reads the variable once, now
    os.environ["CUDA_VISIBLE_DEVICES"] = value  # 5.4.3's line, after CUDA started: too late
    return {"initialized_before": before, "initialized_after": torch.cuda.is_initialized(),
            "device_count": torch.cuda.device_count()}  # fmt: skip


def visible_devices_before_init(value):
    import os

    os.environ["CUDA_VISIBLE_DEVICES"] = value  # first, before anything touches CUDA
    import torch

    before = torch.cuda.is_initialized()
    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")
    return {"initialized_before": before, "initialized_after": torch.cuda.is_initialized(),
            "device_count": torch.cuda.device_count()}  # fmt: skip


def _in_fresh_python(fn, value: str, timeout: float) -> dict:
    """`fn(value)` in a new `python -I` process (the lab's own function, by its source) without the server's
    CUDA_VISIBLE_DEVICES; its result back as JSON. A failure raises with the child's last line."""
    code = f"{source(fn)}\nimport json\nprint(json.dumps({fn.__name__}({value!r})))\n"
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    command = [sys.executable, "-I", "-c", code]  # our own function's source, this very interpreter
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError((done.stderr.strip().splitlines() or ["the child process failed"])[-1][:200])
    return json.loads(done.stdout.strip().splitlines()[-1])


def pitfall_cuda_visible_devices(timeout: float = CHILD_TIMEOUT_S) -> Pitfall:
    """Both orders of 5.4.3's `os.environ['CUDA_VISIBLE_DEVICES'] = ...`, each in a fresh Python: set after CUDA
    started it changes nothing. With 2+ GPUs the value keeps one ("0"); with one, hides it (""); with none, both
    orders see 0 devices and the lesson is `torch.cuda.is_initialized()`: the variable is read only at that moment.
    """
    gpus = torch.cuda.device_count()  # NVML: counts without initialising CUDA in the server
    value = "0" if gpus >= 2 or gpus == 0 else ""
    results: dict[str, dict] = {}

    def run(order: str, fn) -> dict:
        results[order] = _in_fresh_python(fn, value, timeout)
        return results[order]

    def shown(r: dict) -> str:
        return f"device_count() = {r['device_count']}, is_initialized() = {r['initialized_after']}"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # the two processes at once: half the wait
        late = pool.submit(attempt, lambda: run("after", visible_devices_after_init), shown)
        early = pool.submit(attempt, lambda: run("before", visible_devices_before_init), shown)
        wrong, right = late.result(), early.result()
    table = pd.DataFrame([(order, repr(value), *(results[order][k] if order in results else "" for k in
                                                  ("initialized_before", "initialized_after", "device_count")))
                          for order in ("after", "before")],
                         columns=["order", "CUDA_VISIBLE_DEVICES", "initialized before", "initialized after",
                                  "device_count()"])  # fmt: skip
    facts = {"gpus": gpus, "value": repr(value), "after": results.get("after", {}).get("device_count", "?"),
             "before": results.get("before", {}).get("device_count", "?")}  # fmt: skip
    return Pitfall(id="checkpoints.cuda_visible_devices", section="5.4.3",
                   wrong_code=code_of(visible_devices_after_init), right_code=code_of(visible_devices_before_init),
                   wrong=wrong, right=right, table=table, facts=facts)
