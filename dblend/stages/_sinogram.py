"""A simulated sinogram read with the geometry and task that made it (stages share this)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dblend.errors import DataFileError
from dblend.io import read_array
from dblend.physics.geometry import Geometry, geometry_from_dict


@dataclass(frozen=True)
class Sinogram:
    """Projections on a device, the geometry that made them and the task's config, if recorded."""

    path: Path
    data: torch.Tensor
    geometry: Geometry
    task: dict[str, Any] | None

    @property
    def noise(self) -> dict[str, Any]:
        """The noise model of the task that made it (what FBP-UNet is specific to)."""
        if self.task is None or "noise" not in self.task:
            raise DataFileError(f"{self.path}: no task recorded; its noise model is unknown")
        return self.task["noise"]


def read_sinogram(path: str | os.PathLike, device: torch.device) -> Sinogram:
    """Read a sinogram written by the simulate stage; refuse a file that does not say its
    geometry."""
    projections, attrs = read_array(path)
    if "geometry" not in attrs:
        raise DataFileError(f"{path}: no geometry recorded; not a dblend sinogram")
    return Sinogram(
        Path(path),
        torch.from_numpy(projections).to(device),
        geometry_from_dict(attrs["geometry"]),
        attrs.get("task"),
    )
