"""Synthetic DICOM series written with pydicom, for the DICOM, download and fault tests.

The files are real DICOM (preamble, file meta, CT Image Storage, signed 16-bit pixels), so the
tests exercise pydicom exactly as it reads scanner or TCIA files; the same slices can be tagged
as another modality (MR, PET), and an RT structure set stands for the non-image files that
exports put beside a series.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    RTStructureSetStorage,
    generate_uid,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def slice_hu(index: int, rows: int, cols: int) -> np.ndarray:
    """A slice whose values say which slice it is (100 * index) plus an in-plane ramp."""
    y, x = np.mgrid[:rows, :cols]
    return (-1000.0 + 100.0 * index + 4.0 * y + 2.0 * x).astype(np.float64)


def write_ct_file(
    path: Path,
    hu: np.ndarray,
    *,
    position: Sequence[float],
    orientation: Sequence[float] = AXIAL,
    spacing: Sequence[float] = (0.7, 0.7),
    series_uid: str,
    patient_id: str = "P001",
    instance: int = 1,
    slope: float = 1.0,
    intercept: float = -1024.0,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    description: str = "synthetic",
) -> None:
    """Write one slice storing ``hu`` through RescaleSlope/Intercept (a CT slice by default)."""
    stored = np.round((hu - intercept) / slope).astype(np.int16)
    ds = _dataset(sop_class, modality, patient_id, series_uid, description)
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelData = stored.tobytes()
    ds.save_as(path, enforce_file_format=True)


def write_rtstruct(path: Path, *, patient_id: str = "P001") -> None:
    """Write an RT structure set (no pixels, a series of its own), as RT exports leave one."""
    ds = _dataset(RTStructureSetStorage, "RTSTRUCT", patient_id, generate_uid())
    ds.StructureSetLabel = "contours"
    ds.save_as(path, enforce_file_format=True)


def _dataset(
    sop_class: str, modality: str, patient_id: str, series_uid: str, description: str = "synthetic"
) -> Dataset:
    """A dataset with its file meta and the identifying attributes every test file carries."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.PatientID = patient_id
    ds.SeriesInstanceUID = series_uid
    ds.SeriesDescription = description
    return ds


def write_series(
    folder: Path,
    count: int,
    *,
    rows: int = 8,
    cols: int = 8,
    orientation: Sequence[float] = AXIAL,
    step: float = 2.5,
    origin: Sequence[float] = (-5.0, -5.0, -100.0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    series_uid: str | None = None,
    patient_id: str = "P001",
    names: Sequence[str] | None = None,
    modality: str = "CT",
    sop_class: str = CTImageStorage,
    spacing: Sequence[float] = (0.7, 0.7),
    description: str = "synthetic",
    hu: Callable[[int, int, int], np.ndarray] | None = None,
) -> list[Path]:
    """Write ``count`` slices, slice k at ``origin + k * step * normal``, holding slice_hu(k).

    Returns the paths in slice order (k = 0, 1, ...); ``names`` sets the file names in that
    order, so a test can make file names disagree with the geometry. ``hu(k, rows, cols)``
    replaces slice_hu as the image of slice k.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = series_uid or generate_uid()
    normal = np.cross(orientation[:3], orientation[3:])
    names = names or [f"{k:03d}.dcm" for k in range(count)]
    paths = []
    for k in range(count):
        path = folder / names[k]
        write_ct_file(
            path,
            (hu or slice_hu)(k, rows, cols),
            position=np.asarray(origin) + k * step * normal,
            orientation=orientation,
            spacing=spacing,
            description=description,
            series_uid=series_uid,
            patient_id=patient_id,
            instance=count - k,
            slope=slope,
            intercept=intercept,
            modality=modality,
            sop_class=sop_class,
        )
        paths.append(path)
    return paths
