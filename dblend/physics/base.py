"""The operator interface shared by the slice-wise and cone-beam projectors."""

from __future__ import annotations

import math
from typing import Protocol

import torch


class Operator(Protocol):
    """What data consistency and the samplers need of any projection operator."""

    device: torch.device
    slicewise: bool
    """Whether A acts on each axial slice alone (so slices are independent data problems)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def adjoint(self, y: torch.Tensor) -> torch.Tensor: ...

    def fbp(self, y: torch.Tensor, window: str = "ramp") -> torch.Tensor: ...

    def volume_shape(self, data: torch.Tensor) -> tuple[int, int, int]: ...

    @property
    def norm(self) -> float: ...


def spectral_norm(operator: Operator, shape: tuple[int, ...], iterations: int = 50) -> float:
    """||A||_2 by power iteration on A^T A from a positive start (A has nonnegative entries)."""
    x = torch.ones(shape, device=operator.device)
    for _ in range(iterations):
        x = operator.adjoint(operator.forward(x))
        x = x / torch.linalg.vector_norm(x)
    return math.sqrt(float(torch.linalg.vector_norm(operator.adjoint(operator.forward(x)))))


def adjointness_test(
    operator: Operator, x_shape: tuple[int, ...], y_shape: tuple[int, ...], seed: int = 0
) -> float:
    """|<A x, y> - <x, A^T y>| / |<A x, y>| for random nonnegative x and y (in float64 sums).

    0 up to rounding for an exact adjoint; ASTRA's voxel-driven cone-beam backprojector is only
    nearly one. Random x and y test every entry of A in expectation, unlike a structured input.
    """
    generator = torch.Generator(device=operator.device).manual_seed(seed)
    x = torch.rand(x_shape, device=operator.device, generator=generator)
    y = torch.rand(y_shape, device=operator.device, generator=generator)
    forward = torch.vdot(operator.forward(x).flatten().double(), y.flatten().double())
    backward = torch.vdot(x.flatten().double(), operator.adjoint(y).flatten().double())
    return float((forward - backward).abs() / forward.abs())
