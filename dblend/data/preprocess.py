"""Turn a CT series into a pipeline volume: selected, resampled, HU-windowed to [0, 1], float32.

The output is what every later step reads (``results/data/<dataset>/<volume>.h5``), so it
carries everything needed to say where it came from and where it sits: source series UIDs,
patient, spacing, orientation and origin in the patient (``dblend.data.grid``), HU window and
the preprocessing version. All checks run before anything is written, and the
write is atomic, so a failed job leaves no volume behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import interp1d
from scipy.ndimage import gaussian_filter1d
from skimage.transform import resize

from dblend.data.dicom import CtSeries, read_series
from dblend.data.grid import VoxelGrid
from dblend.errors import ConfigError, DataFileError
from dblend.io import write_array

PREPROCESS_VERSION = "dicom-ct/1"
"""Changes whenever the same DICOM files and settings would give a different volume."""


@dataclass(frozen=True)
class PreprocessSpec:
    """How a series becomes a volume; mirrors the data set's ``preprocess`` config section."""

    size: int = 256
    """In-plane output size (size x size), 256 in the paper."""
    hu_window: tuple[float, float] = (-1000.0, 1000.0)
    """HU mapped linearly to [0, 1]; values outside are clipped."""
    slice_spacing: float | None = None
    """Output slice spacing in mm; None keeps the native spacing."""
    z_range: tuple[float, float] | None = None
    """Keep only slices whose position along the slice normal lies in [lo, hi] mm."""
    slices: int | None = None
    """Keep this many contiguous slices from the middle (after z_range and resampling)."""

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or self.size < 8:
            raise ConfigError(f"preprocess.size: expected an integer >= 8, got {self.size!r}")
        _check_range("preprocess.hu_window", self.hu_window)
        if self.z_range is not None:
            _check_range("preprocess.z_range", self.z_range)
        if self.slice_spacing is not None and not (
            isinstance(self.slice_spacing, int | float) and self.slice_spacing > 0
        ):
            raise ConfigError(
                f"preprocess.slice_spacing: expected a positive number of mm or null, "
                f"got {self.slice_spacing!r}"
            )
        if self.slices is not None and not (isinstance(self.slices, int) and self.slices >= 1):
            raise ConfigError(
                f"preprocess.slices: expected a positive integer or null, got {self.slices!r}"
            )

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> PreprocessSpec:
        """Build from a config section, naming any unknown key."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"preprocess.{unknown[0]}: unknown key; expected one of {sorted(known)}"
            )
        values = dict(section)
        for key in ("hu_window", "z_range"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)


def preprocess_series(
    folder: Path, out: Path, spec: PreprocessSpec, *, patient_id: str | None = None
) -> None:
    """Read the series in ``folder`` and write its volume to ``out`` (nothing on failure).

    ``patient_id``, when given, must match the files' PatientID: a guard against a series
    folder that ended up under the wrong patient.
    """
    series = read_series(folder)
    if patient_id is not None and series.patient_id != patient_id:
        raise DataFileError(
            f"{series.files[0]}: PatientID {series.patient_id!r}, expected {patient_id!r}"
        )
    volume, grid = prepare_volume(series, spec)
    write_array(
        out,
        volume,
        {
            "source": "dicom",
            "source_uids": [series.series_uid],
            "patient_id": series.patient_id,
            **grid.to_attrs(),
            "hu_window": list(spec.hu_window),
            "preprocessing_version": PREPROCESS_VERSION,
            "source_files": len(series.files),
        },
    )


def prepare_volume(series: CtSeries, spec: PreprocessSpec) -> tuple[np.ndarray, VoxelGrid]:
    """The windowed float32 [Z, size, size] volume and where its voxels sit in the patient."""
    hu, positions = series.hu, series.positions
    if spec.z_range is not None:
        hu, positions = _select_z_range(series, spec.z_range)
    if spec.slice_spacing is not None:
        hu, positions = _resample_z(hu, positions, spec.slice_spacing)
    z_spacing = spec.slice_spacing or float(np.median(np.diff(positions)))
    if spec.slices is not None:
        hu, positions = _middle_slices(series, hu, positions, spec.slices)
    rows, cols = hu.shape[1:]
    in_plane = np.empty((hu.shape[0], spec.size, spec.size), dtype=np.float32)
    for index, image in enumerate(hu):
        in_plane[index] = resize(
            image,
            (spec.size, spec.size),
            order=1,
            mode="edge",
            anti_aliasing=spec.size < max(rows, cols),
            preserve_range=True,
        )
    low, high = spec.hu_window
    volume = np.clip((in_plane - low) / (high - low), 0.0, 1.0).astype(np.float32)
    dy, dx = series.pixel_spacing
    row_scale, col_scale = rows / spec.size, cols / spec.size
    # resize maps output pixel centre i to input coordinate (i + 0.5) * scale - 0.5; the first
    # output slice lies positions[0] - series.positions[0] mm along the normal from the first.
    row_direction = np.asarray(series.orientation[:3])
    column_direction = np.asarray(series.orientation[3:])
    normal = np.cross(row_direction, column_direction)
    origin = (
        np.asarray(series.origin)
        + (0.5 * col_scale - 0.5) * dx * row_direction
        + (0.5 * row_scale - 0.5) * dy * column_direction
        + (positions[0] - series.positions[0]) * normal
    )
    grid = VoxelGrid(
        spacing_mm=(float(z_spacing), dy * row_scale, dx * col_scale),
        orientation=series.orientation,
        origin_mm=tuple(float(v) for v in origin),
    )
    return volume, grid


def _check_range(key: str, value: Any) -> None:
    if not (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) for v in value)
        and value[0] < value[1]
    ):
        raise ConfigError(f"{key}: expected [low, high] with low < high, got {value!r}")


def _select_z_range(
    series: CtSeries, z_range: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    keep = (series.positions >= z_range[0]) & (series.positions <= z_range[1])
    if keep.sum() < 2:
        raise ConfigError(
            f"preprocess.z_range: {list(z_range)} mm keeps {int(keep.sum())} slice(s) of "
            f"series {series.series_uid} (positions {series.positions[0]:.1f} to "
            f"{series.positions[-1]:.1f} mm); at least 2 are needed"
        )
    return series.hu[keep], series.positions[keep]


def _resample_z(
    hu: np.ndarray, positions: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation at the new spacing, low-passed first when slices get thicker."""
    native = float(np.median(np.diff(positions)))
    if spacing > native:
        hu = gaussian_filter1d(hu, sigma=(spacing / native - 1) / 2, axis=0, mode="nearest")
    count = int(np.floor((positions[-1] - positions[0]) / spacing + 1e-6)) + 1
    targets = positions[0] + spacing * np.arange(count)
    resampled = interp1d(positions, hu, axis=0, assume_sorted=True)(targets)
    return resampled.astype(np.float32), targets


def _middle_slices(
    series: CtSeries, hu: np.ndarray, positions: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    if count > hu.shape[0]:
        raise ConfigError(
            f"preprocess.slices: {count} slices requested, series {series.series_uid} "
            f"(patient {series.patient_id or 'unknown'}) has {hu.shape[0]} after selection"
        )
    start = (hu.shape[0] - count) // 2
    return hu[start : start + count], positions[start : start + count]
