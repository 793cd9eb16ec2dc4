"""Cone-beam CT (beyond the paper): ASTRA's CUDA 3D projectors on torch GPU tensors.

Volumes [slices, size, size] and projections [detector rows, views, detector columns] stay on
the GPU: ASTRA reads and writes the torch tensors' memory through DLPack, without copies through
the host. FDK is the analytic baseline. ASTRA's 3D code kills the process on a machine without
CUDA, so :func:`require_cuda` refuses before any of it is touched. ASTRA's cone-beam
backprojector is voxel-driven, so A^T is matched to A only approximately; CG tolerates that.
"""

from __future__ import annotations

import astra
import astra.experimental
import torch

from dblend.errors import DeviceError
from dblend.physics.base import spectral_norm
from dblend.physics.geometry import ConeGeometry


def require_cuda(device: torch.device) -> None:
    """Refuse cone beam unless torch and ASTRA both have a CUDA GPU to run on."""
    if device.type != "cuda" or not torch.cuda.is_available():
        raise DeviceError(
            f"cone-beam tasks need ASTRA's CUDA projectors and a CUDA GPU, but the device is "
            f"{device} (torch.cuda.is_available() = {torch.cuda.is_available()}); run them on a "
            "GPU node (device: cuda or auto) or choose a slice-wise task"
        )
    if not astra.use_cuda():
        raise DeviceError("cone-beam tasks need an ASTRA build with CUDA; this one has none")


def astra_geometries(geometry: ConeGeometry) -> tuple[dict, dict]:
    """ASTRA's volume and cone_vec projection geometries, centred, in in-plane voxel widths."""
    half_height = geometry.slices * geometry.voxel_height / 2
    half = geometry.size / 2
    volume = astra.create_vol_geom(
        geometry.size, geometry.size, geometry.slices,
        -half, half, -half, half, -half_height, half_height,
    )  # fmt: skip
    projections = astra.create_proj_geom(
        "cone_vec", geometry.detector_rows, geometry.detector_cols, geometry.vectors()
    )
    return volume, projections


class ConeBeamOperator:
    """A x for volumes [Z, N, N] -> projections [rows, views, cols] on one CUDA device."""

    slicewise = False

    def __init__(self, geometry: ConeGeometry, device: str | torch.device = "cuda") -> None:
        self.device = torch.device(device)
        require_cuda(self.device)
        astra.set_gpu_index(self.device.index or 0)
        self.geometry = geometry
        self._vol_geom, self._proj_geom = astra_geometries(geometry)
        self._projector = astra.create_projector("cuda3d", self._proj_geom, self._vol_geom)
        self._norm: float | None = None

    def __del__(self) -> None:
        projector = getattr(self, "_projector", None)
        if projector is not None:
            astra.projector3d.delete(projector)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        g = self.geometry
        return (g.slices, g.size, g.size)

    @property
    def data_shape(self) -> tuple[int, int, int]:
        g = self.geometry
        return (g.detector_rows, g.n_views, g.detector_cols)

    def volume_shape(self, data: torch.Tensor) -> tuple[int, int, int]:
        return self.image_shape

    def _buffer(self, shape: tuple[int, int, int]) -> torch.Tensor:
        return torch.zeros(shape, device=self.device, dtype=torch.float32)

    def _input(self, x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
        if tuple(x.shape) != shape:
            raise ValueError(f"expected shape {shape}, got {tuple(x.shape)}")
        return x.to(self.device, torch.float32).contiguous()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projections = self._buffer(self.data_shape)
        astra.experimental.direct_FP3D(
            self._projector, self._input(x, self.image_shape), projections
        )
        return projections

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        volume = self._buffer(self.image_shape)
        astra.experimental.direct_BP3D(self._projector, volume, self._input(y, self.data_shape))
        return volume

    def fbp(self, y: torch.Tensor, window: str = "ramp") -> torch.Tensor:
        """FDK (ASTRA's FDK_CUDA, Ram-Lak filter; Parker weights for a short scan)."""
        if window != "ramp":
            raise DeviceError(f"ASTRA's FDK filters with Ram-Lak only; filter {window!r} asked")
        volume = self._buffer(self.image_shape)
        # FDK_CUDA filters the linked projections in place: give it a copy, not the caller's data
        projections = self._input(y, self.data_shape).clone()
        volume_id = astra.data3d.link("-vol", self._vol_geom, volume)
        projections_id = astra.data3d.link("-sino", self._proj_geom, projections)
        config = astra.astra_dict("FDK_CUDA")
        config["ReconstructionDataId"] = volume_id
        config["ProjectionDataId"] = projections_id
        config["option"] = {"ShortScan": not self.geometry.full_scan}
        algorithm = astra.algorithm.create(config)
        try:
            astra.algorithm.run(algorithm)
        finally:
            astra.algorithm.delete(algorithm)
            astra.data3d.delete([volume_id, projections_id])
        return volume

    @property
    def norm(self) -> float:
        if self._norm is None:
            self._norm = spectral_norm(self, self.image_shape, iterations=30)
        return self._norm
