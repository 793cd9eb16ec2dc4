"""Volumes and reconstructions as NIfTI, in HU, at their true size and place in the patient.

The HDF5 files stay the pipeline's own format; NIfTI is for standard tools (3D Slicer,
ITK-SNAP, nibabel, SimpleITK). A preprocessed volume records its voxel grid (spacing,
orientation, origin; ``dblend.data.grid``) and HU window; a reconstruction records neither,
but names the sinogram it came from, which names the volume: the export follows that chain,
or takes a ``reference`` volume when the chain is broken (files moved). Array index
[slice, row, column] becomes NIfTI voxel (column, row, slice); the affine maps it to RAS mm.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from dblend import __version__
from dblend.data.grid import VoxelGrid
from dblend.errors import DataFileError
from dblend.io import atomic_path, read_array, read_attrs

LINKS = ("sinogram", "volume")
"""Attributes naming the file a result was made from: reconstruction -> sinogram -> volume."""
SCANNER = 1
"""NIfTI qform/sform code: coordinates of the scanner (DICOM patient coordinates)."""


def geometry_source(path: Path, attrs: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """The file recording the voxel grid and HU window of ``path``: itself, or the volume its
    chain of ``LINKS`` leads to."""
    source = path
    for _ in range(len(LINKS) + 1):
        if "spacing_mm" in attrs:
            return source, attrs
        link = next((attrs[key] for key in LINKS if attrs.get(key)), None)
        if link is None:
            break
        source = Path(link)
        attrs = read_attrs(source)
    raise DataFileError(
        f"{path}: no voxel spacing recorded in it or in the files it names; "
        "pass the volume it came from as the reference"
    )


def nifti_image(path: Path, reference: Path | None = None) -> nib.Nifti1Image:
    """The volume or reconstruction in ``path`` as a NIfTI image in HU."""
    array, attrs = read_array(path)
    if array.ndim != 3:
        raise DataFileError(f"{path}: expected a volume [Z, H, W], got shape {array.shape}")
    if reference is None:
        source, source_attrs = geometry_source(path, attrs)
    else:
        source, source_attrs = reference, read_attrs(reference)
    grid = VoxelGrid.from_attrs(source_attrs, str(source))
    if "hu_window" not in source_attrs:
        raise DataFileError(f"{source}: records no HU window (attribute hu_window)")
    low, high = source_attrs["hu_window"]
    hu = (low + array.astype(np.float64) * (high - low)).astype(np.float32)
    affine = grid.ras_affine()
    image = nib.Nifti1Image(np.ascontiguousarray(hu.transpose(2, 1, 0)), affine)
    image.header.set_qform(affine, code=SCANNER)
    image.header.set_sform(affine, code=SCANNER)
    image.header.set_xyzt_units(xyz="mm")
    what = attrs.get("method") or attrs.get("source") or "volume"
    image.header["descrip"] = f"dblend {__version__} {what} HU"[:79].encode()
    return image


def export_nifti(
    path: str | os.PathLike, out: str | os.PathLike, reference: str | os.PathLike | None = None
) -> None:
    """Write ``path`` as NIfTI to ``out`` (gzipped when it ends in .gz), atomically."""
    image = nifti_image(Path(path), Path(reference) if reference else None)
    data = image.to_bytes()
    if str(out).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
