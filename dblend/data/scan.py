"""What a folder of DICOM series holds, and which series a local_dicom data set would use.

Before a run, a user pointing the pipeline at their own copy needs to see what the pipeline will
see: each series' patient, modality, slice count, spacing and size, and whether it is the one
series its patient's volume will be made from (the same rule as preprocessing applies:
``dblend.data.local.fits``). Only headers are read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dblend.data.dicom import dicom_files, read_header, slice_positions
from dblend.data.local import SeriesFolder, fits, scan_series

USED = "used"


@dataclass(frozen=True)
class SeriesSummary:
    """One series folder as a user checks it, with whether and why it would be used."""

    folder: Path
    """Relative to the scanned folder."""
    patient_id: str
    modality: str
    description: str
    slices: int
    rows: int | None
    columns: int | None
    pixel_spacing: tuple[float, float] | None
    """(row, column) spacing in mm."""
    slice_spacing: float | None
    """Median distance between neighbouring slices along the slice normal, in mm."""
    status: str
    """'used', or why not."""


def summarise(entry: SeriesFolder, root: Path, status: str) -> SeriesSummary:
    """Slice count, matrix and spacing of one series folder, from all of its headers."""
    headers = [read_header(path) for path in dicom_files(entry.folder)]
    first = headers[0]
    slice_spacing = None
    if all("ImagePositionPatient" in h and "ImageOrientationPatient" in h for h in headers):
        positions = np.sort(slice_positions(headers))
        if len(positions) > 1:
            slice_spacing = float(np.median(np.diff(positions)))
    spacing = first.get("PixelSpacing")
    return SeriesSummary(
        folder=entry.folder.relative_to(root),
        patient_id=entry.patient_id,
        modality=str(first.get("Modality", "")),
        description=entry.description,
        slices=len(headers),
        rows=int(first.Rows) if "Rows" in first else None,
        columns=int(first.Columns) if "Columns" in first else None,
        pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing else None,
        slice_spacing=slice_spacing,
        status=status,
    )


def scan_copy(
    root: Path,
    *,
    match: str | None = None,
    series_uids: Collection[str] | None = None,
    patients: Collection[str] | None = None,
) -> list[SeriesSummary]:
    """Every series under ``root``, each marked 'used' or with the reason it would not be.

    ``match`` and ``series_uids`` are a data set's ``match`` and manifest; ``patients``, when
    given, are the patients its split lists (others are not used).
    """
    entries = scan_series(root)
    fitting = Counter(e.patient_id for e in entries if fits(e, root, match, series_uids))
    summaries = []
    for entry in entries:
        if patients is not None and entry.patient_id not in patients:
            status = "patient not in the split"
        elif not fits(entry, root, match, series_uids):
            status = "does not fit match/manifest"
        elif fitting[entry.patient_id] > 1:
            status = f"ambiguous: {fitting[entry.patient_id]} series of this patient fit"
        else:
            status = USED
        summaries.append(summarise(entry, root, status))
    return summaries


def missing_patients(summaries: list[SeriesSummary], patients: Collection[str]) -> list[str]:
    """Patients of a split without a used series (their volume could not be made)."""
    used = {s.patient_id for s in summaries if s.status == USED}
    return [patient for patient in patients if patient not in used]


def format_table(summaries: list[SeriesSummary]) -> str:
    """A plain-text table, one row per series, columns aligned."""
    header = ("patient", "modality", "slices", "size", "spacing mm (z, y, x)", "series")
    rows = [(*header, "folder", "used")]
    for s in summaries:
        size = f"{s.rows} x {s.columns}" if s.rows else "?"
        z = f"{s.slice_spacing:.3g}" if s.slice_spacing else "?"
        yx = ", ".join(f"{v:.3g}" for v in s.pixel_spacing) if s.pixel_spacing else "?, ?"
        cells = (s.patient_id, s.modality, str(s.slices), size, f"{z}, {yx}", s.description)
        rows.append((*cells, s.folder.as_posix(), s.status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
