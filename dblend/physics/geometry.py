"""Acquisition geometries described by config and recorded in every sinogram file.

A task in config together with the volume's shape fixes the geometry:
- ``sparse_view`` (``views`` uniform over [0, 180)) and ``limited_angle`` (``arc`` and ``step`` in
  degrees) are 2D parallel beam applied slice by slice, as in the paper;
- ``cone_beam`` (beyond the paper) is a circular 3D cone-beam scan with a flat detector.
The dict form travels in the sinogram's metadata, so a reconstruction rebuilds exactly the
operator that simulated its data. Lengths are in units of the in-plane voxel width.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dblend.errors import ConfigError

SLICEWISE_KINDS = ("sparse_view", "limited_angle")


@dataclass(frozen=True)
class ParallelGeometry:
    """2D parallel beam applied slice by slice to ``size`` x ``size`` slices (unit pixels)."""

    size: int
    angles: tuple[float, ...]
    detector_bins: int
    angle_step: float
    projector: str = "linear"

    kind = "parallel"

    @property
    def n_views(self) -> int:
        return len(self.angles)

    def summary(self) -> str:
        """The geometry in a few words, for messages."""
        return (
            f"parallel beam, {self.n_views} views from {math.degrees(self.angles[0]):g} to "
            f"{math.degrees(self.angles[-1]):g} degrees, {self.size} x {self.size} slices, "
            f"{self.detector_bins} bins"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class ConeGeometry:
    """A circular cone-beam scan of a [slices, size, size] volume onto a flat detector."""

    size: int
    slices: int
    voxel_height: float
    angles: tuple[float, ...]
    source_origin: float
    origin_detector: float
    detector_rows: int
    detector_cols: int
    detector_spacing: float

    kind = "cone"

    @property
    def n_views(self) -> int:
        return len(self.angles)

    @property
    def full_scan(self) -> bool:
        """Whether the views cover the whole circle (else FDK needs Parker weights)."""
        angles = np.sort(np.mod(self.angles, 2 * math.pi))
        gaps = np.diff(np.concatenate([angles, angles[:1] + 2 * math.pi]))
        return len(angles) > 1 and gaps.max() <= 2.0 * (2 * math.pi / len(angles)) + 1e-9

    def summary(self) -> str:
        """The geometry in a few words, for messages."""
        return (
            f"cone beam, {self.n_views} views, {self.slices} x {self.size} x {self.size} volume, "
            f"{self.detector_rows} x {self.detector_cols} detector"
        )

    def vectors(self) -> np.ndarray:
        """ASTRA ``cone_vec`` rows: source, detector centre, detector u and v pixel vectors."""
        theta = np.asarray(self.angles)
        sin, cos, zero = np.sin(theta), np.cos(theta), np.zeros_like(theta)
        spacing = self.detector_spacing
        return np.stack(
            [
                sin * self.source_origin, -cos * self.source_origin, zero,
                -sin * self.origin_detector, cos * self.origin_detector, zero,
                cos * spacing, sin * spacing, zero,
                zero, zero, zero + spacing,
            ],
            axis=1,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


Geometry = ParallelGeometry | ConeGeometry


def geometry_from_dict(data: dict[str, Any]) -> Geometry:
    """Rebuild the geometry recorded in a sinogram file."""
    classes = {"parallel": ParallelGeometry, "cone": ConeGeometry}
    if data.get("kind") not in classes:
        raise ConfigError(f"unknown geometry kind {data.get('kind')!r}; expected {list(classes)}")
    fields = {key: value for key, value in data.items() if key != "kind"}
    fields["angles"] = tuple(float(a) for a in fields["angles"])
    return classes[data["kind"]](**fields)


def default_detector_bins(size: int) -> int:
    """Enough unit-width bins to see the whole square slice at every angle: ceil(sqrt(2) N)."""
    return math.ceil(math.sqrt(2.0) * size)


def task_angles(task: dict[str, Any]) -> tuple[np.ndarray, float]:
    """Projection angles (radians) of a task and the angular step each view stands for."""
    kind = task["kind"]
    if kind == "sparse_view":
        views = int(task["views"])
        if views < 1:
            raise ConfigError(f"tasks: sparse_view needs views >= 1, got {views}")
        return np.arange(views) * (math.pi / views), math.pi / views
    if kind == "limited_angle":
        arc, step = float(task["arc"]), float(task["step"])
        if not 0 < step <= arc <= 180:
            raise ConfigError(
                "tasks: limited_angle needs 0 < step <= arc <= 180 degrees, "
                f"got arc={arc}, step={step}"
            )
        degrees = np.arange(0.0, arc - 1e-9, step)
        return np.deg2rad(degrees), math.radians(step)
    if kind == "cone_beam":
        views, arc = int(task["views"]), math.radians(float(task["arc"]))
        return np.arange(views) * (arc / views), arc / views
    raise ConfigError(
        f"tasks: unknown kind {kind!r}; expected sparse_view, limited_angle or cone_beam"
    )


def parallel_geometry(task: dict[str, Any], size: int) -> ParallelGeometry:
    """The slice-wise parallel-beam geometry of ``task`` for ``size`` x ``size`` slices."""
    angles, step = task_angles(task)
    bins = task.get("detector_bins") or default_detector_bins(size)
    return ParallelGeometry(
        size=int(size),
        angles=tuple(float(a) for a in angles),
        detector_bins=int(bins),
        angle_step=float(step),
        projector=task.get("projector", "linear"),
    )


def cone_geometry(task: dict[str, Any], slices: int, size: int) -> ConeGeometry:
    """The cone-beam geometry of ``task``; the detector defaults to covering the whole volume.

    Default detector pixels are one voxel wide at the rotation axis (spacing = magnification);
    rows and columns cover the volume at the largest magnification, that of the corner nearest
    the source.
    """
    source, detector = float(task["source_origin"]), float(task["origin_detector"])
    radius = size / math.sqrt(2.0)
    if source <= radius:
        raise ConfigError(
            f"tasks: cone_beam source_origin {source} must exceed the volume's half-diagonal "
            f"{radius:.1f} (voxel units), or the source sits inside the volume"
        )
    spacing = float(task.get("detector_spacing") or (source + detector) / source)
    largest = (source + detector) / (source - radius)
    height = slices * float(task["voxel_height"])
    angles, _ = task_angles(task)
    return ConeGeometry(
        size=int(size),
        slices=int(slices),
        voxel_height=float(task["voxel_height"]),
        angles=tuple(float(a) for a in angles),
        source_origin=source,
        origin_detector=detector,
        detector_rows=int(task.get("detector_rows") or math.ceil(height * largest / spacing) + 2),
        detector_cols=int(task.get("detector_cols") or math.ceil(2 * radius * largest / spacing)),
        detector_spacing=spacing,
    )


def task_geometry(task: dict[str, Any], volume_shape: tuple[int, int, int]) -> Geometry:
    """The geometry of ``task`` for a volume of shape [slices, size, size]."""
    slices, rows, cols = volume_shape
    if rows != cols:
        raise ConfigError(f"volumes must have square slices, got {rows} x {cols}")
    if task["kind"] == "cone_beam":
        return cone_geometry(task, slices, rows)
    return parallel_geometry(task, rows)
