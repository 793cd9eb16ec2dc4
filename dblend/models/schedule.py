"""The VP (DDPM) noise schedule shared by training and every sampler.

Linear betas from 1e-4 to 0.02 over T = 1000 steps, as in the paper; the cumulative products come
from diffusers' DDPMScheduler so there is one maintained definition of the schedule. Between two
integer timesteps abar_t is interpolated log-linearly (beta held constant over the unit interval),
which makes the schedule continuous: a sampler may take more than T steps (DiffusionMBIR's 2000),
and the U-Net's sinusoidal time input takes the fractional t as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from diffusers import DDPMScheduler


@dataclass(frozen=True)
class VPSchedule:
    """abar_t for t = 0..T-1 and the helpers built on it."""

    alphas_cumprod: torch.Tensor

    @classmethod
    def linear(
        cls, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> VPSchedule:
        scheduler = DDPMScheduler(
            num_train_timesteps=timesteps,
            beta_start=beta_start,
            beta_end=beta_end,
            beta_schedule="linear",
        )
        return cls(scheduler.alphas_cumprod.double())

    @property
    def timesteps(self) -> int:
        return len(self.alphas_cumprod)

    def alpha_bar(self, t: float) -> float:
        """abar_t, with abar_{-1} = 1 (the clean image) for the last sampling step; t may be
        fractional (log-linear between the neighbouring integer timesteps)."""
        if t < 0:
            return 1.0
        low = math.floor(t)
        if low == t:
            return float(self.alphas_cumprod[low])
        below, above = self.alphas_cumprod[low], self.alphas_cumprod[low + 1]
        weight = t - low
        return math.exp((1.0 - weight) * math.log(below) + weight * math.log(above))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t of shape [batch]."""
        abar = self.alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def sampling_timesteps(self, steps: int) -> list[float]:
        """``steps`` timesteps evenly spaced from T-1 down to 0.

        Up to T steps they are rounded to integers (a DDIM-style sub-sequence of the training
        timesteps); beyond T they stay fractional, on the continuous schedule.
        """
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        if steps <= self.timesteps:
            return [int(t) for t in torch.linspace(self.timesteps - 1, 0, steps).round().long()]
        return [float(t) for t in torch.linspace(self.timesteps - 1, 0, steps, dtype=torch.float64)]
