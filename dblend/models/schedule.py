"""The VP (DDPM) noise schedule shared by training and every sampler.

Linear betas from 1e-4 to 0.02 over T = 1000 steps, as in the paper; the cumulative products come
from diffusers' DDPMScheduler so there is one maintained definition of the schedule.
"""

from __future__ import annotations

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

    def alpha_bar(self, t: int) -> float:
        """abar_t, with abar_{-1} = 1 (the clean image) for the last sampling step."""
        return 1.0 if t < 0 else float(self.alphas_cumprod[t])

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, t of shape [batch]."""
        abar = self.alphas_cumprod.to(x0.device)[t].float().view(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def sampling_timesteps(self, steps: int) -> list[int]:
        """``steps`` timesteps evenly spaced from T-1 down to 0 (DDIM-style sub-sequence)."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be in [1, {self.timesteps}], got {steps}")
        grid = torch.linspace(self.timesteps - 1, 0, steps).round().long()
        return [int(t) for t in grid]
