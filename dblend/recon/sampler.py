"""The diffusion samplers: one DDIM-type loop with data consistency, and DiffusionMBIR's PC loop.

Methods differ only in how a step partitions the volume (``Partitioner``) and in their
data-consistency weights; the loop is shared. Volumes are [Z, H, W]; the network works in
[-1, 1], data consistency in the [0, 1] intensity units of the sinogram.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from tqdm import tqdm

from dblend.models.schedule import VPSchedule
from dblend.recon.consistency import AdmmTvZ
from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.partitions import Patch

log = logging.getLogger(__name__)

Partitioner = Callable[[int, int, torch.Generator], list[Patch]]
"""(step index, depth, generator) -> the partition used at that step."""


@dataclass
class SamplerStats:
    """Work done by one reconstruction: volume-level network evaluations and patch inputs."""

    nfe: int = 0
    patch_evaluations: int = 0


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    return (x + 1.0) / 2.0


def _to_network(x: torch.Tensor) -> torch.Tensor:
    return x * 2.0 - 1.0


def _steps(timesteps: list[int], desc: str) -> tqdm:
    return tqdm(list(enumerate(timesteps)), desc=desc, unit="step", disable=None)


def _log_progress(index: int, total: int) -> None:
    if (index + 1) % max(1, total // 10) == 0 or index + 1 == total:
        log.info("sampling step %d/%d", index + 1, total)


def ddim_with_consistency(
    denoiser: VolumeDenoiser,
    partitioner: Partitioner,
    consistency: AdmmTvZ,
    schedule: VPSchedule,
    steps: int,
    eta: float,
    shape: tuple[int, int, int],
    noise: torch.Generator,
    choices: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, SamplerStats]:
    """DDS / DiffusionBlend(++): Tweedie estimate, data consistency on it, DDIM re-noising."""
    timesteps = schedule.sampling_timesteps(steps)
    x = torch.randn(shape, generator=noise, device=device)
    stats = SamplerStats()
    x0 = x
    for index, t in _steps(timesteps, "sample"):
        abar = schedule.alpha_bar(t)
        eps = denoiser.epsilon(x, t, partitioner(index, shape[0], choices))
        stats.nfe += 1
        x0 = ((x - math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)).clamp(-1.0, 1.0)
        x0 = _to_network(consistency(_to_unit(x0)))
        t_prev = timesteps[index + 1] if index + 1 < len(timesteps) else -1
        if t_prev >= 0:
            abar_prev = schedule.alpha_bar(t_prev)
            sigma = math.sqrt(1.0 - abar_prev)
            fresh = torch.randn(shape, generator=noise, device=device)
            x = math.sqrt(abar_prev) * x0 + sigma * (eta * fresh + math.sqrt(1.0 - eta**2) * eps)
        _log_progress(index, len(timesteps))
    stats.patch_evaluations = denoiser.patch_evaluations
    return _to_unit(x0), stats


def predictor_corrector(
    denoiser: VolumeDenoiser,
    partitioner: Partitioner,
    consistency: AdmmTvZ,
    schedule: VPSchedule,
    steps: int,
    snr: float,
    shape: tuple[int, int, int],
    noise: torch.Generator,
    choices: torch.Generator,
    device: torch.device,
) -> tuple[torch.Tensor, SamplerStats]:
    """DiffusionMBIR on the VP prior: ancestral predictor, Langevin corrector, ADMM-TV-z.

    DiffusionMBIR enforces consistency on the noisy sample itself (its VE-SDE sample is x0 plus
    noise); on the VP prior the equivalent is x_t / sqrt(abar_t), rescaled after the update.
    """
    timesteps = schedule.sampling_timesteps(steps)
    x = torch.randn(shape, generator=noise, device=device)
    stats = SamplerStats()

    def score_epsilon(sample: torch.Tensor, t: int, index: int) -> torch.Tensor:
        stats.nfe += 1
        return denoiser.epsilon(sample, t, partitioner(index, shape[0], choices))

    def enforce(sample: torch.Tensor, abar: float) -> torch.Tensor:
        scaled = _to_unit(sample / math.sqrt(abar))
        return _to_network(consistency(scaled)) * math.sqrt(abar)

    for index, t in _steps(timesteps, "sample"):
        t_prev = timesteps[index + 1] if index + 1 < len(timesteps) else -1
        abar, abar_prev = schedule.alpha_bar(t), schedule.alpha_bar(t_prev)
        eps = score_epsilon(x, t, index)
        x0 = ((x - math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)).clamp(-1.0, 1.0)
        if t_prev < 0:
            x = _to_network(consistency(_to_unit(x0)))
            break
        # ancestral (DDPM posterior) step from t to t_prev
        beta = 1.0 - abar / abar_prev
        mean = (
            math.sqrt(abar_prev) * beta / (1.0 - abar) * x0
            + math.sqrt(1.0 - beta) * (1.0 - abar_prev) / (1.0 - abar) * x
        )
        variance = beta * (1.0 - abar_prev) / (1.0 - abar)
        x = mean + math.sqrt(variance) * torch.randn(shape, generator=noise, device=device)
        x = enforce(x, abar_prev)
        # Langevin corrector at t_prev with the signal-to-noise step size of Song et al.
        eps = score_epsilon(x, t_prev, index)
        score = -eps / math.sqrt(1.0 - abar_prev)
        fresh = torch.randn(shape, generator=noise, device=device)
        step = 2.0 * (1.0 - beta) * (snr * fresh.norm() / score.norm()) ** 2
        x = x + step * score + torch.sqrt(2.0 * step) * fresh
        x = enforce(x, abar_prev)
        _log_progress(index, len(timesteps))
    stats.patch_evaluations = denoiser.patch_evaluations
    return _to_unit(x), stats
