"""The one place that picks the compute device: cuda, then mps, then cpu."""

from __future__ import annotations

import os

import torch

FORCE_CPU_ENV = "TLDASH_FORCE_CPU"


def pick_device(force_cpu: bool = False) -> torch.device:
    """Best available device; CPU when forced by argument or by TLDASH_FORCE_CPU=1."""
    if force_cpu or os.environ.get(FORCE_CPU_ENV, "") not in ("", "0"):
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device) -> str:
    """Human-readable name, e.g. 'cuda: NVIDIA H100 (79.1 GiB)' or 'cpu: 2 threads'."""
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps: Apple GPU"
    return f"cpu: {torch.get_num_threads()} threads"


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels so that wall-clock timings measure the work itself."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
