"""The operator interface shared by the slice-wise and cone-beam projectors."""

from __future__ import annotations

import math
from typing import Protocol

import torch


class Operator(Protocol):
    """What data consistency and the samplers need of any projection operator."""

    device: torch.device

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
