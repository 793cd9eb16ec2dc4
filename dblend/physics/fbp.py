"""Ramp filtering of parallel-beam sinograms along the detector, the F in FBP (and FDK)."""

from __future__ import annotations

import torch

FILTERS = ("ramp", "hann")


def _filter_response(bins: int, window: str, device: torch.device) -> tuple[torch.Tensor, int]:
    """Frequency response of the band-limited Ram-Lak kernel (spatial design, so no DC error)."""
    if window not in FILTERS:
        raise ValueError(f"unknown FBP filter {window!r}; expected one of {FILTERS}")
    padded = 1 << (2 * bins - 1).bit_length()
    offsets = torch.arange(padded, device=device)
    offsets = torch.where(offsets <= padded // 2, offsets, offsets - padded).double()
    kernel = torch.zeros(padded, dtype=torch.float64, device=device)
    kernel[0] = 0.25
    odd = offsets.remainder(2) == 1
    kernel[odd] = -1.0 / (torch.pi * offsets[odd]) ** 2
    response = torch.fft.rfft(kernel).real
    if window == "hann":
        freq = torch.fft.rfftfreq(padded, device=device).double()
        response = response * 0.5 * (1.0 + torch.cos(2.0 * torch.pi * freq))
    return response.float(), padded


def filter_sinogram(sinogram: torch.Tensor, window: str = "ramp") -> torch.Tensor:
    """Filter ``sinogram`` [..., views, bins] along its last axis with a windowed ramp."""
    bins = sinogram.shape[-1]
    response, padded = _filter_response(bins, window, sinogram.device)
    spectrum = torch.fft.rfft(sinogram.float(), n=padded, dim=-1)
    return torch.fft.irfft(spectrum * response, n=padded, dim=-1)[..., :bins]
