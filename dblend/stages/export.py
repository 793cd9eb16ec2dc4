"""Write a volume or reconstruction as NIfTI (HU, true spacing and orientation) for viewers."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.export import export_nifti


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="a dblend volume or reconstruction (.h5)")
    parser.add_argument(
        "--reference",
        type=Path,
        help="the volume whose spacing, orientation and HU window apply (default: the file's "
        "own, or for a reconstruction the volume its sinogram was simulated from)",
    )
    parser.add_argument("--out", type=Path, required=True, help=".nii, or .nii.gz to compress")


def export(*, path: Path, reference: Path | None, out: Path) -> None:
    """Write ``path`` as NIfTI to ``out``; 3D Slicer and ITK-SNAP open it at its true size."""
    export_nifti(path, out, reference)
