"""Sinogram simulation: noise-free line integrals, or Poisson counts of a transmission scan.

Volumes hold intensities in [0, 1]; ``attenuation`` converts a line integral of intensity (in
pixel units) into an attenuation exponent, and ``incident_counts`` is I0 photons per ray. The
noisy sinogram is the log-transform of the counts, back in line-integral units, so every
reconstruction method sees the same kind of data with or without noise.
"""

from __future__ import annotations

from typing import Any

import torch

from dblend.physics.base import Operator


def line_integrals(volume: torch.Tensor, operator: Operator) -> torch.Tensor:
    """Noise-free projections of a volume [Z, N, N] (layout set by the operator)."""
    return operator.forward(volume)


def add_poisson_noise(
    sinogram: torch.Tensor, incident_counts: float, attenuation: float, generator: torch.Generator
) -> torch.Tensor:
    """Draw transmitted counts ~ Poisson(I0 exp(-mu p)) and return -log(counts / I0) / mu."""
    expected = incident_counts * torch.exp(-attenuation * sinogram.double())
    counts = torch.poisson(expected, generator=generator).clamp_min(1.0)
    return (-torch.log(counts / incident_counts) / attenuation).float()


def simulate(
    volume: torch.Tensor, operator: Operator, noise: dict[str, Any], seed: int
) -> torch.Tensor:
    """Sinograms of ``volume`` under the task's noise model (``model``: none or poisson)."""
    sinogram = line_integrals(volume, operator)
    if noise["model"] == "none":
        return sinogram
    generator = torch.Generator(device=sinogram.device).manual_seed(seed)
    return add_poisson_noise(sinogram, noise["incident_counts"], noise["attenuation"], generator)
