"""The published data-consistency weights (rho, lambda) in this project's units.

The public code of DDS, DiffusionMBIR and DiffusionBlend (all three use the ``CT`` class of
DiffusionMBIR's ``physics/ct.py``) has a torch Radon transform R: the zero-padded N x N slice
rotated by bilinear interpolation and summed along columns, i.e. line integrals in unit pixels
on ceil(sqrt(2) N) unit bins, as ASTRA's matrix A here. Its "A^T" is not R^T but the
interpolated, unfiltered backprojection B ~ R^T times k = pi / (2 V), V the number of views.
One ADMM-TV-z iteration there solves

    (k R^T R + rho_p Dz^T Dz) x = k R^T y + rho_p Dz^T (z - u),
    z = shrink(Dz x + u, lam_p / rho_p),

while this project normalises the operator, A_n = A / ||A|| and y_n = y / ||A||:

    (A_n^T A_n + rho Dz^T Dz) x = A_n^T y_n + rho Dz^T (z - u),
    z = shrink(Dz x + u, lam / rho).

Dividing the first system by c^2 = k ||A||^2 gives the second with rho = rho_p / c^2; the same x
then solves both only if the shrink thresholds, which are in image units ([0, 1] in both codes:
DiffusionBlend rescales its estimate to [0, 1] before the ADMM), agree: lam / rho = lam_p / rho_p,
so lam = lam_p / c^2. Since ||A_n^T A_n|| = 1,

    c^2 = ||A_pub^T A_pub|| / ||A_n^T A_n|| = pi / (2 V) * ||A||^2.

Each view's normal operator has norm about N (the longest ray) and the views' leading
eigenvectors nearly coincide, so ||A||^2 ~ V N and c^2 ~ pi N / 2 for any view count: at
256 x 256 with 8 views it is 390.0 (pi N / 2 = 402), which maps DDS's rho 10, lambda 0.04 to
0.0256 and 1.03e-4 (close to the 0.025 and 1e-4 to 3e-4 once tuned here on the 64 x 64 demo,
where c^2 = 97.4 makes the paper's DDS weights 0.103 and 4.1e-4), and DiffusionBlend++'s
rho 1e-3, lambda 5e-5 to 2.6e-6 and 1.3e-7. ||A|| is measured on the task's
own geometry (size and angles) with the public code's detector (ceil(sqrt(2) N) unit bins) and
ASTRA's linear (Joseph) kernel standing in for its bilinear interpolation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from dblend.errors import ConfigError
from dblend.physics.base import Operator
from dblend.physics.geometry import ParallelGeometry, default_detector_bins


def public_geometry(geometry: ParallelGeometry) -> ParallelGeometry:
    """The geometry of the public code's operator for the same slices and angles."""
    return dataclasses.replace(
        geometry, detector_bins=default_detector_bins(geometry.size), projector="linear"
    )


def paper_scale(operator: Operator) -> float:
    """c^2 = pi / (2 V) ||A||^2: the public code's weights over this project's, for one geometry."""
    from dblend.physics.parallel import ParallelBeamOperator

    geometry = getattr(operator, "geometry", None)
    if not isinstance(geometry, ParallelGeometry):
        raise ConfigError(
            "weights: paper converts weights given for the public code's 2D parallel-beam "
            "operator; for this geometry give rho and lam with weights: normalised"
        )
    reference = public_geometry(geometry)
    if reference != geometry:
        operator = ParallelBeamOperator(reference, operator.device)
    return math.pi / (2 * geometry.n_views) * operator.norm**2


def normalised_weights(settings: Mapping[str, Any], operator: Operator) -> dict[str, float]:
    """rho and lam for the normalised operator (and c^2, when they were given in paper units)."""
    rho, lam = float(settings["rho"]), float(settings["lam"])
    if settings["weights"] == "normalised":
        return {"rho": rho, "lam": lam}
    scale = paper_scale(operator)
    return {"rho": rho / scale, "lam": lam / scale, "paper_scale": scale}
