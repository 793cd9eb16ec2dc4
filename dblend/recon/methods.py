"""Every reconstruction method as a config entry: FBP and the diffusion samplers.

The diffusion methods share one loop and differ in the partition of each step and in the
data-consistency weights (config/README.md, `methods.<name>`):
- dds, dds2d, diffusionmbir: every slice alone through a 1-slice prior;
- diffusionblend: fixed overlapping adjacent windows, estimates averaged per slice;
- diffusionblend_pp: adjacent patches tiled from a random offset redrawn each step (or offset 0
  with ``adjacent_shift`` off) and, every ``jump_every``-th step, strided "jump" patches.
"""

from __future__ import annotations

from typing import Any

import torch

from dblend.errors import ConfigError
from dblend.models.prior import ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.physics.base import Operator
from dblend.recon.consistency import AdmmTvZ
from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.partitions import (
    adjacent_tiling,
    jump_tiling,
    single_slices,
    sliding_windows,
)
from dblend.recon.sampler import (
    Partitioner,
    SamplerStats,
    ddim_with_consistency,
    predictor_corrector,
)

SLICE_PRIOR_METHODS = ("dds", "dds2d", "diffusionmbir")
PATCH_PRIOR_METHODS = ("diffusionblend", "diffusionblend_pp")
DIFFUSION_METHODS = SLICE_PRIOR_METHODS + PATCH_PRIOR_METHODS


def partitioner(method: dict[str, Any], slices: int) -> Partitioner:
    """The per-step partition rule of a diffusion method for a prior of ``slices`` slices."""
    kind = method["kind"]
    if kind in SLICE_PRIOR_METHODS:
        return lambda index, depth, generator: single_slices(depth)
    if kind == "diffusionblend":
        stride = method["window_stride"]
        return lambda index, depth, generator: sliding_windows(depth, slices, stride)
    every, spacing, shift = method["jump_every"], method["jump_spacing"], method["adjacent_shift"]

    def blend_pp(index: int, depth: int, generator: torch.Generator) -> list:
        if every and index % every == every - 1:
            return jump_tiling(depth, slices, spacing)
        offset = int(torch.randint(slices, (1,), generator=generator)) if shift else 0
        return adjacent_tiling(depth, slices, offset)

    return blend_pp


def check_prior(method_name: str, method: dict[str, Any], prior: ScorePrior) -> None:
    """Refuse a prior whose slice count or spacings cannot serve ``method``."""
    spec = prior.spec
    if method["kind"] in SLICE_PRIOR_METHODS and spec.slices != 1:
        raise ConfigError(f"methods.{method_name}: {method['kind']} needs a 1-slice prior")
    if method["kind"] in PATCH_PRIOR_METHODS and spec.slices < 2:
        raise ConfigError(f"methods.{method_name}: {method['kind']} needs a multi-slice prior")
    needed = {1} | ({method["jump_spacing"]} if method["kind"] == "diffusionblend_pp" else set())
    if method["kind"] in PATCH_PRIOR_METHODS and not needed <= set(spec.spacings):
        raise ConfigError(
            f"methods.{method_name}: needs spacings {sorted(needed)}, "
            f"prior knows {list(spec.spacings)}"
        )


def reconstruct(
    method_name: str,
    method: dict[str, Any],
    sinogram: torch.Tensor,
    operator: Operator,
    prior: ScorePrior | None,
    seed: int,
    device: torch.device,
) -> tuple[torch.Tensor, SamplerStats]:
    """Reconstruct a volume [Z, N, N] in intensity units from the task's projections."""
    if method["kind"] == "fbp":
        return operator.fbp(sinogram, method["filter"]), SamplerStats()
    if prior is None:
        raise ConfigError(f"methods.{method_name}: {method['kind']} needs a prior")
    check_prior(method_name, method, prior)
    shape = operator.volume_shape(sinogram)
    rho = 0.0 if method["kind"] == "dds2d" else method["rho"]
    lam = 0.0 if method["kind"] == "dds2d" else method["lam"]
    consistency = AdmmTvZ(operator, sinogram, rho, lam, method["cg_iters"])
    denoiser = VolumeDenoiser(prior, method["batch_size"], autocast=device.type == "cuda")
    noise = torch.Generator(device=device).manual_seed(seed)
    choices = torch.Generator().manual_seed(seed + 1)
    common = {
        "denoiser": denoiser,
        "partitioner": partitioner(method, prior.spec.slices),
        "consistency": consistency,
        "schedule": VPSchedule.linear(),
        "steps": method["steps"],
        "shape": shape,
        "noise": noise,
        "choices": choices,
        "device": device,
    }
    if method["kind"] == "diffusionmbir":
        return predictor_corrector(snr=method["snr"], **common)
    return ddim_with_consistency(eta=method["eta"], **common)
