"""CT physics: acquisition geometries, projection operators, FBP/FDK and sinogram simulation."""

from __future__ import annotations

import torch

from dblend.physics.base import Operator
from dblend.physics.geometry import ConeGeometry, Geometry


def make_operator(geometry: Geometry, device: torch.device) -> Operator:
    """The operator of a geometry: torch-applied ASTRA matrix, or ASTRA CUDA cone beam."""
    if isinstance(geometry, ConeGeometry):
        from dblend.physics.cone import ConeBeamOperator  # CUDA-only; imported when asked for

        return ConeBeamOperator(geometry, device)
    from dblend.physics.parallel import ParallelBeamOperator

    return ParallelBeamOperator(geometry, device)
