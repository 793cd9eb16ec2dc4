"""TPDM's two parts beside the shared loop: its alternation schedule and its perpendicular prior.

TPDM (Lee, Chung, Park, Park, Ryu, Ye, ICCV 2023) samples a volume with two 2D priors: the
primary (axial) prior, whose steps carry the data step, and an auxiliary prior trained on
perpendicular (coronal) slices, whose steps are unconditional and run on the permuted volume.
Its hyperparameter K chooses between them at each step.
"""

from __future__ import annotations

import torch

from dblend.errors import ConfigError
from dblend.models.prior import PriorSpec
from dblend.models.schedule import VPSchedule
from dblend.models.shape import downsampling
from dblend.perpendicular import pad_rows, resample_rows, sampling_rows, swap_axial_coronal
from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.partitions import single_slices
from dblend.recon.updates import implied_epsilon, tweedie


def primary_steps(steps: int, k: int | float, generator: torch.Generator) -> list[bool]:
    """Which of ``steps`` sampling steps are primary (axial prior and data step); the others are
    auxiliary (perpendicular prior, no data step).

    An integer K gives TPDM's deterministic schedule: K - 1 primary steps, then one auxiliary,
    repeated. A float K gives its stochastic one: each step is primary with probability
    1 - 1/K, drawn from ``generator``. Unlike TPDM's code, the last step is always primary, so
    the returned volume has passed a data step.
    """
    if isinstance(k, bool) or not isinstance(k, int | float):
        raise ConfigError(f"TPDM's K must be an integer or a float, got {k!r}")
    if isinstance(k, int):
        if k < 2:
            raise ConfigError(f"TPDM's integer K must be at least 2, got {k}")
        roles = [index % k != k - 1 for index in range(steps)]
    else:
        if k <= 1.0:
            raise ConfigError(f"TPDM's float K must exceed 1, got {k}")
        roles = (torch.rand(steps, generator=generator) >= 1.0 / k).tolist()
    roles[-1] = True
    return roles


class PerpendicularDenoiser:
    """Epsilon of a volume x_t [Z, H, W] from a coronal-slice prior.

    The volume is seen as H coronal slices of Z x W, fitted to the prior's size as its
    ``depth`` says (``dblend.perpendicular``), run through the prior in batches, and the
    estimates are put back in axial order.
    """

    def __init__(self, denoiser: VolumeDenoiser, spec: PriorSpec, schedule: VPSchedule) -> None:
        if spec.plane != "coronal" or spec.slices != 1:
            raise ConfigError(
                f"TPDM's auxiliary prior must be a 1-slice coronal prior, got a "
                f"{spec.slices}-slice {spec.plane} prior"
            )
        self.denoiser, self.spec, self.schedule = denoiser, spec, schedule
        self.multiple = 1 << downsampling(spec.network)

    @property
    def network_inputs(self) -> int:
        return self.denoiser.network_inputs

    @property
    def input_slices(self) -> int:
        return self.denoiser.input_slices

    @property
    def network_calls(self) -> int:
        return self.denoiser.network_calls

    def epsilon(self, x_t: torch.Tensor, t: float) -> torch.Tensor:
        stack = swap_axial_coronal(x_t)
        depth, everyone = stack.shape[1], single_slices(stack.shape[0])
        size = self.spec.image_size
        if self.spec.depth == "pad":
            padded, top = pad_rows(stack, sampling_rows(depth, size, self.multiple))
            eps = self.denoiser.epsilon(padded, t, everyone)[:, top : top + depth]
            return swap_axial_coronal(eps)
        # resample: the clean estimate, not epsilon, is taken back to the volume's depth
        abar = self.schedule.alpha_bar(t)
        fitted = resample_rows(stack, size)
        eps = self.denoiser.epsilon(fitted, t, everyone)
        x0 = tweedie(fitted, eps, abar, self.spec.value_range)
        return swap_axial_coronal(implied_epsilon(stack, resample_rows(x0, depth), abar))
