"""Read one CT series folder into an HU volume, refusing anything that is not one whole series.

Slices are ordered by their position along the slice normal (ImagePositionPatient projected on
the cross product of the ImageOrientationPatient row and column directions), never by file
name or InstanceNumber, which exporters renumber freely. Every check names the file at fault:
a mixed series, a missing slice, a truncated file or an MR or PET image would otherwise become
a silently wrong volume. Files that are not images at all (an RT structure set, a report, a
presentation state exported into the same folder) are skipped with a note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    CTImageStorage,
    EnhancedCTImageStorage,
    LegacyConvertedEnhancedCTImageStorage,
)

from dblend.errors import DataFileError

log = logging.getLogger(__name__)

DICOM_SUFFIXES = (".dcm", ".ima")
"""File name endings taken as DICOM; other files are taken only if they carry the DICM magic."""

CT_IMAGE_CLASSES = (CTImageStorage, EnhancedCTImageStorage, LegacyConvertedEnhancedCTImageStorage)
"""SOP classes of CT images; any other image class (MR, PET, secondary capture...) is refused."""

MAX_GAP = 1.5
"""A gap between neighbouring slices above this many median spacings is a missing slice."""

_REQUIRED = (
    "SeriesInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "RescaleSlope",
    "RescaleIntercept",
)


@dataclass(frozen=True)
class CtSeries:
    """One validated series: HU slices in ascending order along the slice normal."""

    hu: np.ndarray
    """float32 [Z, H, W] Hounsfield units."""
    positions: np.ndarray
    """Each slice's position along the slice normal, in mm, ascending."""
    pixel_spacing: tuple[float, float]
    """(y, x) in mm: between rows, between columns."""
    orientation: tuple[float, ...]
    """ImageOrientationPatient: direction cosines of a row, then of a column (patient LPS)."""
    origin: tuple[float, float, float]
    """ImagePositionPatient of the first slice: the centre of its first pixel, mm (LPS)."""
    series_uid: str
    patient_id: str
    files: tuple[Path, ...]
    """The DICOM files in slice order."""


def dicom_files(folder: Path) -> list[Path]:
    """The DICOM files directly inside ``folder``, sorted by name (the order means nothing).

    Hidden files (such as macOS ``._`` companions) are skipped; so are files without a DICOM
    suffix that lack the DICM magic, like the checksum list and marker a download leaves.
    """
    if not folder.is_dir():
        raise DataFileError(f"{folder}: not a folder holding a DICOM series")
    return [
        path
        for path in sorted(folder.iterdir())
        if path.is_file()
        and not path.name.startswith(".")
        and (path.suffix.lower() in DICOM_SUFFIXES or _has_dicm_magic(path))
    ]


def _image_files(folder: Path) -> list[tuple[Path, Dataset]]:
    """The CT image files of ``folder`` with their headers; non-image files skipped with a note.

    An image that is not CT (Modality MR, a PET image class...) is refused by name.
    """
    images = []
    for path in dicom_files(folder):
        header = read_header(path)
        if is_image(header):
            _check_ct(path, header)
            images.append((path, header))
        else:
            log.warning(
                "%s: skipped, not an image slice (%s, Modality %s)",
                path,
                UID(str(header.SOPClassUID)).name,
                header.get("Modality", "not given"),
            )
    return images


def read_series(folder: Path) -> CtSeries:
    """Read, check and order the one CT series in ``folder``."""
    images = _image_files(folder)
    if len(images) < 2:
        raise DataFileError(
            f"{folder}: found {len(images)} CT image file(s); a volume needs at least 2 slices"
        )
    files = [path for path, _ in images]
    headers = [_require(path, header) for path, header in images]
    _check_one_series(files, headers)
    positions = slice_positions(headers)
    order = np.argsort(positions, kind="stable")
    files = [files[i] for i in order]
    headers = [headers[i] for i in order]
    positions = positions[order]
    _check_gaps(files, positions)
    rows, cols = int(headers[0].Rows), int(headers[0].Columns)
    hu = np.empty((len(files), rows, cols), dtype=np.float32)
    for index, (path, header) in enumerate(zip(files, headers, strict=True)):
        hu[index] = _hu_slice(path, header)
    spacing = _floats(headers[0].PixelSpacing)
    return CtSeries(
        hu=hu,
        positions=positions,
        pixel_spacing=(float(spacing[0]), float(spacing[1])),
        orientation=tuple(float(v) for v in _floats(headers[0].ImageOrientationPatient)),
        origin=tuple(float(v) for v in _floats(headers[0].ImagePositionPatient)),
        series_uid=str(headers[0].SeriesInstanceUID),
        patient_id=str(headers[0].get("PatientID", "")),
        files=tuple(files),
    )


def read_header(path: Path) -> Dataset:
    """The header of one DICOM file (no pixel data); unreadable files raise naming the file."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as err:  # pydicom raises many types for damaged files
        raise DataFileError(f"{path}: unreadable DICOM file ({err})") from err


def slice_positions(headers: list[Dataset]) -> np.ndarray:
    """Each slice's ImagePositionPatient along the first slice's normal, in mm (file order)."""
    normal = _normal(headers[0])
    return np.array([np.dot(_floats(h.ImagePositionPatient), normal) for h in headers])


def _has_dicm_magic(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def is_image(header: Dataset) -> bool:
    """False only for a file whose SOP class says it holds no image (RT structures, a report)."""
    if "SOPClassUID" not in header:
        return True
    return "Image Storage" in UID(str(header.SOPClassUID)).name


def _check_ct(path: Path, header: Dataset) -> None:
    modality = str(header.get("Modality", "CT"))
    sop_class = str(header.get("SOPClassUID", CTImageStorage))
    if modality != "CT" or sop_class not in CT_IMAGE_CLASSES:
        raise DataFileError(
            f"{path}: Modality {modality}, SOP class {UID(sop_class).name}; "
            "expected a CT image series"
        )


def _require(path: Path, header: Dataset) -> Dataset:
    missing = [key for key in _REQUIRED if key not in header]
    if missing:
        raise DataFileError(
            f"{path}: missing {', '.join(missing)}; truncated, or not a CT image slice"
        )
    if int(header.get("NumberOfFrames", 1) or 1) != 1:
        raise DataFileError(f"{path}: a multi-frame image; expected one slice per file")
    return header


def _floats(value) -> np.ndarray:
    return np.array([float(v) for v in value])


def _normal(header: Dataset) -> np.ndarray:
    orientation = _floats(header.ImageOrientationPatient)
    normal = np.cross(orientation[:3], orientation[3:])
    return normal / np.linalg.norm(normal)


def _check_one_series(files: list[Path], headers: list[Dataset]) -> None:
    """Every file must share the first file's series, orientation, matrix and pixel size."""
    first, reference = files[0], headers[0]
    checks = (
        ("SeriesInstanceUID", lambda h: str(h.SeriesInstanceUID), lambda a, b: a == b),
        ("ImageOrientationPatient", lambda h: _floats(h.ImageOrientationPatient), _close),
        ("Rows x Columns", lambda h: (int(h.Rows), int(h.Columns)), lambda a, b: a == b),
        ("PixelSpacing", lambda h: _floats(h.PixelSpacing), _close),
    )
    for path, header in zip(files[1:], headers[1:], strict=True):
        for name, value, same in checks:
            if not same(value(header), value(reference)):
                raise DataFileError(
                    f"{path}: {name} {_show(value(header))} differs from "
                    f"{_show(value(reference))} in {first.name}; a folder must hold one series"
                )


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.allclose(a, b, atol=1e-4))


def _show(value) -> str:
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return str(value)


def _check_gaps(files: list[Path], positions: np.ndarray) -> None:
    steps = np.diff(positions)
    for index, step in enumerate(steps):
        if step < 1e-3:
            raise DataFileError(
                f"{files[index + 1]}: same slice position ({positions[index]:.3f} mm) as "
                f"{files[index].name}; duplicate slice or a second series"
            )
    median = float(np.median(steps))
    for index, step in enumerate(steps):
        if step > MAX_GAP * median:
            raise DataFileError(
                f"{files[index].parent}: missing slice between {files[index].name} "
                f"({positions[index]:.3f} mm) and {files[index + 1].name} "
                f"({positions[index + 1]:.3f} mm): gap {step:.3f} mm, median spacing "
                f"{median:.3f} mm"
            )


def _hu_slice(path: Path, header: Dataset) -> np.ndarray:
    try:
        pixels = pydicom.dcmread(path).pixel_array
    except Exception as err:  # pydicom raises many types for damaged pixel data
        raise DataFileError(f"{path}: unreadable pixel data, truncated file? ({err})") from err
    expected = (int(header.Rows), int(header.Columns))
    if pixels.shape != expected:
        raise DataFileError(f"{path}: pixel array {pixels.shape}, expected {expected}")
    slope, intercept = float(header.RescaleSlope), float(header.RescaleIntercept)
    return pixels.astype(np.float64) * slope + intercept
