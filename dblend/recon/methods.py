"""Every reconstruction method as a config entry, put together from the registry of kinds.

``dblend.recon.kinds`` says what each kind is: the prior it needs, its per-step partition, its
sampler loop, its data-consistency step and its config keys. This module resolves those named
parts and runs one reconstruction; it holds no per-kind logic.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dblend.errors import ConfigError
from dblend.models.fbpunet import FbpUNet
from dblend.models.prior import ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.physics.base import Operator
from dblend.recon.consistency import CONSISTENCY_STEPS
from dblend.recon.denoise import Denoiser, VolumeDenoiser
from dblend.recon.kinds import kind_of
from dblend.recon.kinds.base import AnalyticKind, DiffusionKind, LearnedKind, Settings
from dblend.recon.partitions import PARTITION_RULES
from dblend.recon.sampler import SAMPLERS, DataConsistency, SamplerStats, SamplingRun
from dblend.recon.tpdm import PerpendicularDenoiser

Analytic = Callable[[Settings, Operator, torch.Tensor], torch.Tensor]

ANALYTIC: dict[str, Analytic] = {
    "fbp": lambda settings, operator, sinogram: operator.fbp(sinogram, settings["filter"]),
}
"""The algorithms of the kinds without a prior (``AnalyticKind.algorithm``)."""

Learned = Callable[[Settings, Operator, torch.Tensor, FbpUNet], torch.Tensor]

LEARNED: dict[str, Learned] = {
    "fbpunet": lambda settings, operator, sinogram, model: model.reconstruct(
        operator.fbp(sinogram, settings["filter"]), settings["batch_size"], settings["precision"]
    ),
}
"""The algorithms of the kinds with a model trained per task (``LearnedKind.algorithm``)."""


def check_prior(method_name: str, method: Settings, prior: ScorePrior, key: str = "prior") -> None:
    """Refuse a prior whose slice count, spacings or plane cannot serve ``method`` as the prior
    its key ``key`` names."""
    spec = prior.spec
    problems = kind_of(method).problems(method, spec.slices, spec.spacings, spec.plane, key)
    if problems:
        raise ConfigError(f"methods.{method_name}: {method['kind']} {problems[0]}")


def _auxiliary(
    method_name: str,
    method: Settings,
    kind: DiffusionKind,
    prior: ScorePrior,
    auxiliary: ScorePrior | None,
) -> PerpendicularDenoiser | None:
    """The auxiliary prior's denoiser, for the kinds that alternate with one (TPDM); it must
    work in the network units of the main ``prior``, whose volume the two share."""
    if kind.auxiliary_prior is None:
        return None
    if auxiliary is None:
        raise ConfigError(f"methods.{method_name}: {kind.name} needs an auxiliary prior")
    check_prior(method_name, method, auxiliary, "auxiliary_prior")
    if auxiliary.spec.value_range != prior.spec.value_range:
        raise ConfigError(
            f"methods.{method_name}: its auxiliary prior works in values "
            f"{list(auxiliary.spec.value_range)}, its prior in {list(prior.spec.value_range)}"
        )
    denoiser = VolumeDenoiser(auxiliary, method["batch_size"], method["precision"])
    return PerpendicularDenoiser(denoiser, auxiliary.spec, VPSchedule.linear())


def sampling_run(
    kind: DiffusionKind,
    method: Settings,
    denoiser: Denoiser,
    consistency: DataConsistency,
    shape: tuple[int, int, int],
    slices: int,
    seed: int,
    device: torch.device,
    value_range: tuple[float, float] = (-1.0, 1.0),
    auxiliary: PerpendicularDenoiser | None = None,
) -> SamplingRun:
    """One diffusion reconstruction's parts: noise seeded by ``seed``, partition choices by
    ``seed + 1``, the kind's partition rule for a prior of ``slices`` slices, whose network
    works in ``value_range`` units."""
    return SamplingRun(
        denoiser=denoiser,
        partitioner=PARTITION_RULES[kind.partition](method, slices),
        consistency=consistency,
        schedule=VPSchedule.linear(),
        steps=method["steps"],
        shape=shape,
        noise=torch.Generator(device=device).manual_seed(seed),
        choices=torch.Generator().manual_seed(seed + 1),
        device=device,
        value_range=value_range,
        auxiliary=auxiliary,
    )


def sample(
    kind: DiffusionKind, method: Settings, run: SamplingRun
) -> tuple[torch.Tensor, SamplerStats]:
    """Run the kind's sampler loop: (volume in [0, 1], SamplerStats)."""
    return SAMPLERS[kind.sampler](run, method)


def reconstruct(
    method_name: str,
    method: Settings,
    sinogram: torch.Tensor,
    operator: Operator,
    prior: ScorePrior | None,
    seed: int,
    device: torch.device,
    *,
    auxiliary_prior: ScorePrior | None = None,
    model: FbpUNet | None = None,
) -> tuple[torch.Tensor, SamplerStats]:
    """Reconstruct a volume [Z, N, N] in intensity units from the task's projections, with the
    method's prior (and auxiliary prior), or its trained ``model``, as its kind needs."""
    kind = kind_of(method)
    if isinstance(kind, AnalyticKind):
        return ANALYTIC[kind.algorithm](method, operator, sinogram), SamplerStats()
    if isinstance(kind, LearnedKind):
        if model is None:
            raise ConfigError(f"methods.{method_name}: {kind.name} needs its trained model")
        volume = LEARNED[kind.algorithm](method, operator, sinogram, model)
        slices, calls = volume.shape[0], -(-volume.shape[0] // method["batch_size"])
        return volume, SamplerStats(
            nfe=1, network_inputs=slices, input_slices=slices, network_calls=calls
        )
    if not isinstance(kind, DiffusionKind):
        raise ConfigError(f"methods.{method_name}: kind {kind.name} has no reconstruction here")
    if prior is None:
        raise ConfigError(f"methods.{method_name}: {kind.name} needs a prior")
    check_prior(method_name, method, prior)
    consistency, weights = CONSISTENCY_STEPS[kind.consistency](method, operator, sinogram)
    denoiser = VolumeDenoiser(prior, method["batch_size"], method["precision"])
    auxiliary = _auxiliary(method_name, method, kind, prior, auxiliary_prior)
    shape = operator.volume_shape(sinogram)
    spec = prior.spec
    run = sampling_run(
        kind,
        method,
        denoiser,
        consistency,
        shape,
        spec.slices,
        seed,
        device,
        spec.value_range,
        auxiliary,
    )
    volume, stats = sample(kind, method, run)
    stats.weights = weights
    return volume, stats
