"""Where a volume's voxels sit in the patient: spacing, orientation and origin, as in DICOM.

A preprocessed volume records these in its attributes, so that exports (NIfTI) and figures can
show it at its true size and place: ``spacing_mm`` (z, y, x), ``orientation`` (DICOM
ImageOrientationPatient: direction cosines of a row, then of a column, in patient LPS
coordinates) and ``origin_mm`` (the centre of voxel [0, 0, 0] in LPS mm). Slices run along
the normal (row x column), which is how dblend.data.dicom orders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dblend.errors import DataFileError

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
"""Rows run to the patient's left, columns to the back, slices upwards (feet to head)."""


@dataclass(frozen=True)
class VoxelGrid:
    """Spacing, orientation and origin of a volume [Z, H, W]."""

    spacing_mm: tuple[float, float, float]
    """(z, y, x): between slices, between rows, between columns."""
    orientation: tuple[float, ...] = AXIAL
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_attrs(self) -> dict[str, list[float]]:
        return {
            "spacing_mm": list(self.spacing_mm),
            "orientation": list(self.orientation),
            "origin_mm": list(self.origin_mm),
        }

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any], where: str) -> VoxelGrid:
        """The grid a file records; without orientation and origin (embedded phantoms, files
        from before they were recorded) the volume is taken as axial, first voxel at 0."""
        if "spacing_mm" not in attrs:
            raise DataFileError(f"{where}: records no voxel spacing (attribute spacing_mm)")
        return cls(
            spacing_mm=tuple(float(v) for v in attrs["spacing_mm"]),
            orientation=tuple(float(v) for v in attrs.get("orientation", AXIAL)),
            origin_mm=tuple(float(v) for v in attrs.get("origin_mm", (0.0, 0.0, 0.0))),
        )

    def lps_affine(self) -> np.ndarray:
        """4 x 4 matrix from voxel indices (column, row, slice, 1) to LPS mm."""
        row_direction = np.asarray(self.orientation[:3])
        column_direction = np.asarray(self.orientation[3:])
        normal = np.cross(row_direction, column_direction)
        dz, dy, dx = self.spacing_mm
        affine = np.eye(4)
        affine[:3, 0] = row_direction * dx
        affine[:3, 1] = column_direction * dy
        affine[:3, 2] = normal * dz
        affine[:3, 3] = self.origin_mm
        return affine

    def ras_affine(self) -> np.ndarray:
        """The same in RAS mm (x to the right, y to the front), as NIfTI wants it."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.lps_affine()
