"""Simulate a task's projections of one volume with ASTRA's projector."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from dblend.arguments import json_section
from dblend.device import resolve_device
from dblend.errors import DataFileError
from dblend.io import read_volume, write_array
from dblend.physics import make_operator
from dblend.physics.geometry import task_geometry
from dblend.physics.simulate import simulate as simulate_projections


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--volume", type=Path, required=True)
    parser.add_argument("--task", type=json_section, required=True, help="the task's config (JSON)")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, required=True)


def simulate(*, volume: Path, task: dict[str, Any], seed: int, device: str, out: Path) -> None:
    """Simulate the task's projections of a volume and record the geometry that made them."""
    array = read_volume(volume)
    if array.shape[1] != array.shape[2]:
        raise DataFileError(f"{volume}: slices must be square, got {array.shape[1:]}")
    where = resolve_device(device)
    geometry = task_geometry(task, array.shape)
    operator = make_operator(geometry, where)
    sinogram = simulate_projections(
        torch.from_numpy(array).to(where), operator, task["noise"], seed
    )
    attrs = {
        "geometry": geometry.to_dict(),
        "task": task,
        "seed": seed,
        "volume": str(volume),
    }
    write_array(out, sinogram.cpu().numpy(), attrs)
