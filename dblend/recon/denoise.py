"""Epsilon for a whole volume from a patch prior: gather patches, run them in batches, blend.

Every patch of a partition goes through the network in batches of ``batch_size`` (never one at a
time); each slice's epsilon is the mean of the estimates its patches keep for it, which is one
estimate for DiffusionBlend++ and the baselines and an average for DiffusionBlend's windows.
The network runs in the method's ``precision`` (fp32, or bf16 autocast; dblend/models/speed.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from dblend.models.prior import ScorePrior
from dblend.models.speed import autocast
from dblend.recon.partitions import Patch


class InputCounts(Protocol):
    """The work a prior's denoiser did: network inputs (patches or slices), the slices in them,
    and batched network calls."""

    @property
    def network_inputs(self) -> int: ...

    @property
    def input_slices(self) -> int: ...

    @property
    def network_calls(self) -> int: ...


class Denoiser(InputCounts, Protocol):
    """What a sampler needs of a prior: epsilon for a volume under a partition, and its work."""

    def epsilon(self, x_t: torch.Tensor, t: float, patches: Sequence[Patch]) -> torch.Tensor: ...


class VolumeDenoiser:
    """Applies a prior to a volume x_t [Z, H, W] under a given partition; counts network inputs,
    the slices in them and the batched calls."""

    def __init__(self, prior: ScorePrior, batch_size: int, precision: str) -> None:
        self.prior = prior
        self.batch_size = batch_size
        self.precision = precision
        self.network_inputs = 0
        self.input_slices = 0
        self.network_calls = 0

    @torch.no_grad()
    def epsilon(self, x_t: torch.Tensor, t: float, patches: Sequence[Patch]) -> torch.Tensor:
        """Each slice's epsilon; ``t`` may be fractional (the U-Net's time input is continuous)."""
        device = x_t.device
        index = torch.tensor([p.slices for p in patches], device=device)
        keep = torch.tensor([p.keep for p in patches], device=device, dtype=x_t.dtype)
        spacing = torch.tensor([p.spacing for p in patches], device=device)
        total = torch.zeros_like(x_t)
        count = torch.zeros(x_t.shape[0], device=device, dtype=x_t.dtype)
        for start in range(0, len(patches), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            inputs = x_t[index[chunk]]
            timesteps = torch.full((inputs.shape[0],), t, device=device, dtype=torch.float32)
            with autocast(self.precision, device):
                estimate = self.prior(inputs, timesteps, spacing[chunk]).float()
            weights = keep[chunk]
            total.index_add_(
                0, index[chunk].flatten(), (estimate * weights[..., None, None]).flatten(0, 1)
            )
            count.index_add_(0, index[chunk].flatten(), weights.flatten())
            self.network_inputs += inputs.shape[0]
            self.input_slices += inputs.shape[0] * inputs.shape[1]
            self.network_calls += 1
        return total / count.view(-1, 1, 1)
