"""Choosing where torch runs, and measuring what a job (or a benchmark) used there."""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Sequence

import torch

from dblend.errors import DeviceError

DEVICE_NAMES = "auto, cpu, cuda or cuda:N (N a GPU index)"


def resolve_device(name: str) -> torch.device:
    """``auto`` takes CUDA when present; a GPU this machine does not have is refused plainly."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise DeviceError(f"device {name!r} is not one of {DEVICE_NAMES}")
    if not torch.cuda.is_available():
        raise DeviceError(
            f"device {name!r} was asked for, but torch sees no CUDA GPU on this machine"
        )
    count = torch.cuda.device_count()
    index = int(match.group(1) or 0)
    if index >= count:
        raise DeviceError(
            f"device {name!r} was asked for, but torch sees {count} CUDA GPU(s) here "
            f"(cuda:0 to cuda:{count - 1})"
        )
    return torch.device("cuda", index) if match.group(1) else torch.device("cuda")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that the clock reads finished work only."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock(device: torch.device) -> float:
    """time.perf_counter after the device has finished what it was given."""
    synchronize(device)
    return time.perf_counter()


def reset_peak_gpu(device: torch.device) -> None:
    """Start a new peak for :func:`peak_gpu_mib` (nothing to do off CUDA)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gpu_mib(device: torch.device) -> float | None:
    """torch.cuda.max_memory_allocated since the last reset (MiB); None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def missing_cuda(tasks: Sequence[str]) -> str | None:
    """Why ``tasks`` (which need CUDA) cannot run on this machine, or None when they can."""
    if torch.cuda.is_available():
        return None
    return f"tasks {', '.join(tasks)} are cone beam and need CUDA, which torch does not see here"


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process and, on CUDA, peak allocated GPU memory (MiB)."""
    usage = {"peak_rss_mb": peak_rss_mib()}
    gpu = peak_gpu_mib(device)
    if gpu is not None:
        usage["peak_gpu_mb"] = gpu
    return usage
