"""One device rule for every tab: CUDA when present, then MPS, else the CPU; env `LAB_DEVICE` overrides."""

from __future__ import annotations

import os

import torch

from lab.errors import LabError

__all__ = ["pick_device", "describe", "facts", "supports_bf16"]


def pick_device() -> torch.device:
    """The device every tab computes on (`LAB_DEVICE=cpu|cuda|cuda:1|mps` overrides the automatic choice)."""
    wanted = os.environ.get("LAB_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError as exc:
            raise LabError(f"LAB_DEVICE={wanted!r} is not a torch device; use cpu, cuda, cuda:N or mps.") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise LabError(f"LAB_DEVICE={wanted!r} asks for CUDA, but this machine has no CUDA device.")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def supports_bf16(device: torch.device) -> bool:
    """Whether bf16 autocast is worth using on `device` (CUDA with bf16 support, or a CPU with AVX512-BF16/AMX)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # bf16 matmuls are only fast with native instructions; elsewhere autocast emulates them slowly
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def facts() -> dict[str, str | int]:
    """Where the lab runs, as data: `device` (its name), `torch` (version), `threads` (CPU threads torch uses)."""
    device = pick_device()
    if device.type == "cuda":
        name = f"CUDA · {torch.cuda.get_device_name(device)}"
    elif device.type == "mps":
        name = "Apple MPS"
    else:
        name = f"CPU ({torch.backends.cpu.get_cpu_capability()})"
    return {"device": name, "torch": torch.__version__, "threads": torch.get_num_threads()}


def describe() -> str:
    """One line for the page header: device name, torch version, CPU threads."""
    f = facts()
    return f"{f['device']} · torch {f['torch']} · {f['threads']} CPU threads"
