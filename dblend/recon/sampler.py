"""The diffusion samplers: one DDIM-type loop with data consistency, and DiffusionMBIR's PC loop.

Methods differ only in how a step partitions the volume (``Partitioner``), in their
data-consistency step and in which of these loops they run (TPDM runs the DDIM-type loop with
some steps taken by its auxiliary prior, unconditionally); the update math of both loops is
in ``dblend.recon.updates`` (its notation block names every symbol). Volumes are [Z, H, W];
the network works in its prior's units (``value_range``: [-1, 1] unless a published prior says
otherwise), data consistency in the [0, 1] intensity units of the sinogram.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm import tqdm

from dblend.models.prior import to_network, to_unit
from dblend.models.schedule import VPSchedule
from dblend.recon.denoise import Denoiser, InputCounts
from dblend.recon.partitions import Partitioner
from dblend.recon.tpdm import PerpendicularDenoiser, primary_steps
from dblend.recon.updates import ancestral_step, dds_renoise, langevin_step, tweedie

log = logging.getLogger(__name__)

DataConsistency = Callable[[torch.Tensor], torch.Tensor]
"""A volume estimate in [0, 1] units -> a data-consistent one (may keep state across steps)."""


@dataclass
class SamplerStats:
    """What one reconstruction did, each count under its own name, and the data-consistency
    weights it used, in this project's normalised units."""

    steps: int = 0
    """Sampling steps (timesteps visited)."""
    nfe: int = 0
    """Network evaluations of the whole volume: one per step, two for a predictor-corrector
    step. The paper's NFE (its PSNR-against-NFE figure and runtime table) counts these."""
    network_inputs: int = 0
    """Patches (or slices, for a 1-slice prior) fed to the network, over all steps."""
    input_slices: int = 0
    """Slices in those inputs (network inputs x slices per patch)."""
    network_calls: int = 0
    """Batched forward passes of the network (inputs go through in batches of batch_size)."""

    weights: dict[str, float] = field(default_factory=dict)

    def record(self, denoisers: Sequence[InputCounts], steps: int) -> SamplerStats:
        """The step count and the denoisers' input counts (both priors', for TPDM), after a
        loop."""
        self.steps = steps
        self.network_inputs = sum(d.network_inputs for d in denoisers)
        self.input_slices = sum(d.input_slices for d in denoisers)
        self.network_calls = sum(d.network_calls for d in denoisers)
        return self


@dataclass(frozen=True)
class SamplingRun:
    """Everything a sampler loop needs besides its own hyperparameter (eta or snr)."""

    denoiser: Denoiser
    partitioner: Partitioner
    consistency: DataConsistency
    schedule: VPSchedule
    steps: int
    shape: tuple[int, int, int]
    noise: torch.Generator
    choices: torch.Generator
    device: torch.device
    value_range: tuple[float, float] = (-1.0, 1.0)
    """The network's values of the intensities 0 and 1 (``PriorSpec.value_range``)."""
    auxiliary: PerpendicularDenoiser | None = None
    """A second prior some loops alternate with (TPDM's, on coronal slices)."""

    @property
    def denoisers(self) -> tuple[InputCounts, ...]:
        """Every prior's denoiser, to count their network inputs."""
        return (self.denoiser,) if self.auxiliary is None else (self.denoiser, self.auxiliary)

    def to_unit(self, x: torch.Tensor) -> torch.Tensor:
        return to_unit(x, self.value_range)

    def to_network(self, x: torch.Tensor) -> torch.Tensor:
        return to_network(x, self.value_range)

    def epsilon(self, x: torch.Tensor, t: float, index: int) -> torch.Tensor:
        """The prior's epsilon for every slice under the partition of step ``index``."""
        return self.denoiser.epsilon(x, t, self.partitioner(index, self.shape[0], self.choices))

    def auxiliary_epsilon(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The auxiliary prior's epsilon for every slice (TPDM's perpendicular prior)."""
        if self.auxiliary is None:
            raise ValueError("this sampler needs an auxiliary prior")
        return self.auxiliary.epsilon(x, t)

    def randn(self) -> torch.Tensor:
        return torch.randn(self.shape, generator=self.noise, device=self.device)


def _steps(timesteps: list[float], desc: str) -> tqdm:
    return tqdm(list(enumerate(timesteps)), desc=desc, unit="step", disable=None)


def _log_progress(index: int, total: int) -> None:
    if (index + 1) % max(1, total // 10) == 0 or index + 1 == total:
        log.info("sampling step %d/%d", index + 1, total)


def _previous(timesteps: list[float], index: int) -> float:
    """The timestep after ``index`` on the grid; -1 (the clean image) after the last."""
    return timesteps[index + 1] if index + 1 < len(timesteps) else -1


def ddim_with_consistency(
    run: SamplingRun, eta: float, primary: Sequence[bool] | None = None
) -> tuple[torch.Tensor, SamplerStats]:
    """DDS / DiffusionBlend(++) / TPDM: Tweedie estimate, data consistency on it, DDS re-noising.

    With ``primary`` (TPDM), the steps it marks False are taken by the auxiliary prior instead,
    without data consistency.
    """
    timesteps = run.schedule.sampling_timesteps(run.steps)
    x = run.randn()
    stats = SamplerStats()
    x0 = x
    for index, t in _steps(timesteps, "sample"):
        abar = run.schedule.alpha_bar(t)
        if primary is None or primary[index]:
            eps = run.epsilon(x, t, index)
            x0_hat = tweedie(x, eps, abar, run.value_range)
            x0 = run.to_network(run.consistency(run.to_unit(x0_hat)))
        else:
            eps = run.auxiliary_epsilon(x, t)
            x0 = tweedie(x, eps, abar, run.value_range)
        stats.nfe += 1
        t_prev = _previous(timesteps, index)
        if t_prev >= 0:
            x = dds_renoise(x0, eps, run.schedule.alpha_bar(t_prev), eta, run.randn())
        _log_progress(index, len(timesteps))
    return run.to_unit(x0), stats.record(run.denoisers, len(timesteps))


def predictor_corrector(run: SamplingRun, snr: float) -> tuple[torch.Tensor, SamplerStats]:
    """DiffusionMBIR on the VP prior: per step an ancestral predictor, a Langevin corrector and
    then one ADMM-TV-z update, as its public code does; the last step returns the data-consistent
    Tweedie estimate (2 steps - 1 network evaluations in all).

    DiffusionMBIR enforces consistency on the noisy sample itself (its VE-SDE sample is x0 plus
    noise); on the VP prior the equivalent is x_t / sqrt(abar_t), rescaled after the update.
    """
    timesteps = run.schedule.sampling_timesteps(run.steps)
    x = run.randn()
    stats = SamplerStats()

    def enforce(sample: torch.Tensor, abar: float) -> torch.Tensor:
        scaled = run.to_unit(sample / math.sqrt(abar))
        return run.to_network(run.consistency(scaled)) * math.sqrt(abar)

    for index, t in _steps(timesteps, "sample"):
        t_prev = _previous(timesteps, index)
        abar, abar_prev = run.schedule.alpha_bar(t), run.schedule.alpha_bar(t_prev)
        eps = run.epsilon(x, t, index)
        stats.nfe += 1
        x0 = tweedie(x, eps, abar, run.value_range)
        if t_prev < 0:
            x = run.to_network(run.consistency(run.to_unit(x0)))
            break
        x = ancestral_step(x, x0, abar, abar_prev, run.randn())
        eps = run.epsilon(x, t_prev, index)
        stats.nfe += 1
        x = langevin_step(x, eps, abar_prev, abar / abar_prev, snr, run.randn())
        x = enforce(x, abar_prev)
        _log_progress(index, len(timesteps))
    return run.to_unit(x), stats.record(run.denoisers, len(timesteps))


Sampler = Callable[[SamplingRun, Mapping[str, Any]], tuple[torch.Tensor, SamplerStats]]
"""(the run's parts, the method's settings) -> volume in [0, 1] and what it took."""

SAMPLERS: dict[str, Sampler] = {
    "ddim": lambda run, settings: ddim_with_consistency(run, settings["eta"]),
    "predictor_corrector": lambda run, settings: predictor_corrector(run, settings["snr"]),
    "tpdm": lambda run, settings: ddim_with_consistency(
        run, settings["eta"], primary_steps(run.steps, settings["K"], run.choices)
    ),
}
