"""Data consistency: conjugate gradient on the normal equations and ADMM with TV along z.

The operator is normalised by its spectral norm (A / ||A||, y / ||A||), so the weights rho and
lambda mean the same for every geometry, view count and image size; ``dblend.recon.units``
converts the paper's values, given for the public code's differently scaled operator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from dblend.physics.base import Operator
from dblend.recon.units import normalised_weights

Linear = Callable[[torch.Tensor], torch.Tensor]
Inner = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def volume_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> over the whole volume: one CG for one coupled 3D problem."""
    return torch.sum(a * b)


def slice_inner(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """<a, b> of each slice of [Z, H, W], as [Z, 1, 1]: one CG per independent 2D problem."""
    return torch.sum(a * b, dim=(-2, -1), keepdim=True)


def _ratio(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (a problem already solved)."""
    return torch.where(denominator > 0, numerator / denominator, torch.zeros_like(numerator))


def conjugate_gradient(
    apply: Linear, rhs: torch.Tensor, x: torch.Tensor, iters: int, inner: Inner = volume_inner
) -> torch.Tensor:
    """``iters`` CG iterations for the SPD system apply(x) = rhs, started at ``x``.

    ``inner`` decides what one problem is: the whole volume, or (``slice_inner``) each slice,
    whose step sizes are then its own, as if each slice were solved alone.
    """
    residual = rhs - apply(x)
    direction = residual.clone()
    energy = inner(residual, residual)
    for _ in range(iters):
        if not bool(torch.any(energy > 0)):
            break
        mapped = apply(direction)
        step = _ratio(energy, inner(direction, mapped))
        x = x + step * direction
        residual = residual - step * mapped
        new_energy = inner(residual, residual)
        direction = residual + _ratio(new_energy, energy) * direction
        energy = new_energy
    return x


def diff_z(x: torch.Tensor) -> torch.Tensor:
    """Forward differences along the slice axis: [Z, H, W] -> [Z-1, H, W]."""
    return x[1:] - x[:-1]


def diff_z_adjoint(d: torch.Tensor) -> torch.Tensor:
    """The exact adjoint of :func:`diff_z`: [Z-1, H, W] -> [Z, H, W]."""
    zero = torch.zeros_like(d[:1])
    return torch.cat([zero, d]) - torch.cat([d, zero])


def shrink(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """Soft thresholding, the proximal map of threshold * |.|_1."""
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0.0)


class AdmmTvZ:
    """One ADMM iteration per call for min 1/2 ||A x - y||^2 + lambda ||Dz x||_1 (normalised A).

    The split variable z and scaled dual u persist across calls, i.e. across sampling steps.
    With rho = 0 it is plain CG on the data term (DDS 2D); under a slice-by-slice operator the
    slices are then independent problems, and each gets its own CG (inner products per slice,
    as the reference solves each 2D problem on its own).
    """

    def __init__(
        self,
        operator: Operator,
        sinogram: torch.Tensor,
        rho: float,
        lam: float,
        cg_iters: int,
    ) -> None:
        self.operator = operator
        self.scale = operator.norm**2
        self.rhs_data = operator.adjoint(sinogram) / self.scale
        self.rho, self.lam, self.cg_iters = rho, lam, cg_iters
        self.z: torch.Tensor | None = None
        self.u: torch.Tensor | None = None

    def normal(self, x: torch.Tensor) -> torch.Tensor:
        """(A_n^T A_n + rho Dz^T Dz) x, the system matrix of every CG solve here."""
        data = self.operator.adjoint(self.operator.forward(x)) / self.scale
        if self.rho == 0.0:
            return data
        return data + self.rho * diff_z_adjoint(diff_z(x))

    def __call__(self, x0: torch.Tensor) -> torch.Tensor:
        """Data-consistent volume [Z, H, W] (intensity units) started from the estimate ``x0``."""
        if self.rho == 0.0 or x0.shape[0] < 2:
            inner = slice_inner if self.operator.slicewise else volume_inner
            return conjugate_gradient(self.normal, self.rhs_data, x0, self.cg_iters, inner)
        if self.z is None or self.u is None:
            self.z = torch.zeros_like(diff_z(x0))
            self.u = torch.zeros_like(self.z)
        rhs = self.rhs_data + self.rho * diff_z_adjoint(self.z - self.u)
        x = conjugate_gradient(self.normal, rhs, x0, self.cg_iters)
        dx = diff_z(x)
        self.z = shrink(dx + self.u, self.lam / self.rho)
        self.u = self.u + dx - self.z
        return x


ConsistencyStep = Callable[
    [Mapping[str, Any], Operator, torch.Tensor], tuple[AdmmTvZ, dict[str, float]]
]
"""(method settings, operator, sinogram) -> the step and the weights it uses (normalised)."""


def _admm_tv_z(
    settings: Mapping[str, Any], operator: Operator, sinogram: torch.Tensor
) -> tuple[AdmmTvZ, dict[str, float]]:
    weights = normalised_weights(settings, operator)
    step = AdmmTvZ(operator, sinogram, weights["rho"], weights["lam"], settings["cg_iters"])
    return step, weights


def _data_cg(
    settings: Mapping[str, Any], operator: Operator, sinogram: torch.Tensor
) -> tuple[AdmmTvZ, dict[str, float]]:
    return AdmmTvZ(operator, sinogram, 0.0, 0.0, settings["cg_iters"]), {}


CONSISTENCY_STEPS: dict[str, ConsistencyStep] = {"admm_tv_z": _admm_tv_z, "data_cg": _data_cg}
