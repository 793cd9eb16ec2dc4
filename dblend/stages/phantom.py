"""Write one embedded thorax phantom volume, with its voxel spacing for figures and exports."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.data.phantoms import HU_WINDOW, phantom_spacing, thorax_phantom
from dblend.io import write_array


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, required=True, help="in-plane size N of N x N slices")
    parser.add_argument("--slices", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)


def phantom(*, size: int, slices: int, seed: int, out: Path) -> None:
    """Write one embedded thorax phantom volume."""
    volume = thorax_phantom(size=size, slices=slices, seed=seed)
    attrs = {
        "source": "embedded thorax phantom",
        "seed": seed,
        "hu_window": list(HU_WINDOW),
        "spacing_mm": list(phantom_spacing(size)),
    }
    write_array(out, volume, attrs)
