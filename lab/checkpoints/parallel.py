"""Multi-GPU wrappers (5.4.3): DataParallel and DistributedDataParallel, also on a CPU-only machine.

Both keep the model as `.module`, so every state_dict key gains a leading `module.`. DDP needs a process group;
on one machine without GPUs the lab makes a one-process gloo group (gloo: PyTorch's CPU backend for collective
communication) on 127.0.0.1, created once and reused. `init_single_process_group` is plain torch: the code
panels print its source.
"""

from __future__ import annotations

import atexit
import threading

import torch.distributed as dist
from torch import nn

from lab.errors import LabError, choice

__all__ = ["WRAPPERS", "WRAPPER_NAMES", "parallel_wrap", "unwrap", "shutdown_process_group",
           "init_single_process_group"]  # fmt: skip

WRAPPERS = ("dataparallel", "ddp")
WRAPPER_NAMES = {"dataparallel": "nn.DataParallel", "ddp": "DistributedDataParallel"}  # as the code names them
_GROUP_LOCK = threading.Lock()
_OWN_GROUP = False
_DDP_LOCK = threading.Lock()


def unwrap(model: nn.Module) -> nn.Module:
    """The plain model inside any DataParallel / DDP / torch.compile wrappers (the tutorial's `model.module`)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def init_single_process_group():
    """A process group of one (rank 0 of world size 1) over gloo on a free local port: what DDP needs on one CPU."""
    import datetime
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    timeout = datetime.timedelta(seconds=60)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1, timeout=timeout)


def _ensure_process_group() -> None:
    """The one gloo group of this process, created on first use."""
    global _OWN_GROUP
    with _GROUP_LOCK:
        if dist.is_initialized():
            return
        init_single_process_group()
        _OWN_GROUP = True
        atexit.register(shutdown_process_group)  # destroy it cleanly when the app exits


def shutdown_process_group() -> None:
    """Destroy the gloo group `parallel_wrap` created (a later "ddp" wrap creates a new one)."""
    global _OWN_GROUP
    with _GROUP_LOCK:
        if _OWN_GROUP and dist.is_initialized():
            dist.destroy_process_group()
        _OWN_GROUP = False


def parallel_wrap(model: nn.Module, kind: str = "dataparallel") -> nn.Module:
    """Wrap `model` (not a copy) as multi-GPU training does: keys gain a leading `module.`.

    "dataparallel": nn.DataParallel (on a machine without GPUs it only wraps; with GPUs it moves the model
    to cuda:0, as DataParallel always does). "ddp": DistributedDataParallel in a single-process gloo group
    on 127.0.0.1, so it works on a CPU; a CUDA model gets `device_ids=[its GPU]`.
    """
    choice("checkpoints.wrapper", kind, WRAPPERS)
    if kind == "dataparallel":
        return nn.DataParallel(model)
    if not any(p.requires_grad for p in model.parameters()):
        raise LabError("error.checkpoints.ddp_frozen")
    _ensure_process_group()
    device = next(model.parameters()).device
    device_ids = [device.index or 0] if device.type == "cuda" else None
    with _DDP_LOCK:  # DDP's constructor broadcasts over the one shared group: one wrap at a time
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
