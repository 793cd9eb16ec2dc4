"""Acquisition geometries described by config and recorded in every sinogram file.

A task in config (``kind: sparse_view`` with ``views``, or ``kind: limited_angle`` with ``arc`` and
``step`` in degrees) together with the image size fixes the geometry; its dict form travels in the
sinogram's metadata so a reconstruction rebuilds exactly the operator that simulated the data.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dblend.errors import ConfigError


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

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParallelGeometry:
        fields = {key: value for key, value in data.items() if key != "kind"}
        fields["angles"] = tuple(float(a) for a in fields["angles"])
        return cls(**fields)


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
    raise ConfigError(f"tasks: unknown kind {kind!r}; expected sparse_view or limited_angle")


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
