"""Choosing where torch runs, and measuring what a job used there."""

from __future__ import annotations

import resource

import torch

from dblend.errors import DeviceError


def resolve_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present; ``cuda`` without CUDA is refused plainly."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was asked for, but torch sees no CUDA GPU on this machine")
    return torch.device(name)


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process and, on CUDA, peak allocated GPU memory (MiB)."""
    usage = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        usage["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return usage
