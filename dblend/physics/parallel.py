"""The projection operator A of slice-wise 2D geometries, applied by torch on any device.

ASTRA's CPU projector yields the sparse system matrix W of one slice; torch applies W and its
transpose to a batch of slices, on CPU or GPU. Because both directions use the same matrix,
the adjoint is exact, which the conjugate-gradient data-consistency step relies on.
"""

from __future__ import annotations

import warnings

import astra
import numpy as np
import scipy.sparse
import torch

from dblend.physics.base import spectral_norm
from dblend.physics.fbp import filter_sinogram
from dblend.physics.geometry import ParallelGeometry


def astra_geometries(geometry: ParallelGeometry) -> tuple[dict, dict]:
    """ASTRA volume and projection geometry dicts of ``geometry``."""
    volume = astra.create_vol_geom(geometry.size, geometry.size)
    projection = astra.create_proj_geom(
        "parallel", 1.0, geometry.detector_bins, np.asarray(geometry.angles, dtype=np.float64)
    )
    return volume, projection


def system_matrix(geometry: ParallelGeometry) -> scipy.sparse.csr_matrix:
    """The sparse matrix of ASTRA's CPU projector: rows are (view, bin), columns are pixels."""
    volume, projection = astra_geometries(geometry)
    projector = astra.create_projector(geometry.projector, projection, volume)
    try:
        matrix_id = astra.projector.matrix(projector)
        try:
            return astra.matrix.get(matrix_id).tocsr().astype(np.float32)
        finally:
            astra.matrix.delete(matrix_id)
    finally:
        astra.projector.delete(projector)


def _to_torch_csr(matrix: scipy.sparse.csr_matrix, device: torch.device) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(
            torch.from_numpy(matrix.indptr.astype(np.int64)),
            torch.from_numpy(matrix.indices.astype(np.int64)),
            torch.from_numpy(matrix.data),
            size=matrix.shape,
            dtype=torch.float32,
            check_invariants=False,
        ).to(device)


class ParallelBeamOperator:
    """A x for x of shape [..., N, N] -> sinograms [..., views, bins]; A^T and FBP back."""

    slicewise = True

    def __init__(self, geometry: ParallelGeometry, device: str | torch.device = "cpu") -> None:
        self.geometry = geometry
        self.device = torch.device(device)
        matrix = system_matrix(geometry)
        self._forward = _to_torch_csr(matrix, self.device)
        self._adjoint = _to_torch_csr(matrix.T.tocsr(), self.device)
        self._norm: float | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.geometry.size, self.geometry.size)

    @property
    def data_shape(self) -> tuple[int, int]:
        return (self.geometry.n_views, self.geometry.detector_bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(self._forward, x, self.image_shape, self.data_shape)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(self._adjoint, y, self.data_shape, self.image_shape)

    def fbp(self, y: torch.Tensor, window: str = "ramp") -> torch.Tensor:
        """Filtered backprojection: each view stands for ``angle_step`` radians of the arc."""
        return self.adjoint(filter_sinogram(y, window)) * self.geometry.angle_step

    def volume_shape(self, data: torch.Tensor) -> tuple[int, int, int]:
        """One slice per sinogram."""
        return (data.shape[0], *self.image_shape)

    @property
    def norm(self) -> float:
        """Spectral norm ||A||_2 of one slice, to normalise data-consistency weights."""
        if self._norm is None:
            self._norm = spectral_norm(self, self.image_shape)
        return self._norm

    @staticmethod
    def _apply(
        matrix: torch.Tensor,
        x: torch.Tensor,
        in_shape: tuple[int, int],
        out_shape: tuple[int, int],
    ) -> torch.Tensor:
        if tuple(x.shape[-2:]) != in_shape:
            raise ValueError(f"expected trailing shape {in_shape}, got {tuple(x.shape)}")
        batch = x.shape[:-2]
        columns = x.reshape(-1, in_shape[0] * in_shape[1]).to(matrix.device, torch.float32).T
        result = (matrix @ columns).T
        return result.reshape(*batch, *out_shape)
