"""List the DICOM series in a folder and which one each patient's volume would use."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.data.scan import format_table, missing_patients, scan_copy
from dblend.data.tcia import read_manifest
from dblend.errors import DataFileError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=Path, help="the folder of DICOM series (any layout)")
    parser.add_argument("--match", help="the data set's match text (folder or description)")
    parser.add_argument("--manifest", type=Path, help="only series of this .tcia manifest")
    parser.add_argument(
        "--patients", nargs="+", help="the patients of the data set's split (all if omitted)"
    )


def scan(
    *, folder: Path, match: str | None, manifest: Path | None, patients: list[str] | None
) -> None:
    """Print one row per series (patient, modality, slices, size, spacing, folder) and whether
    preprocessing would use it; a listed patient without a usable series is an error."""
    uids = read_manifest(manifest) if manifest else None
    summaries = scan_copy(folder, match=match, series_uids=uids, patients=patients)
    if not summaries:
        raise DataFileError(f"{folder}: no DICOM series found")
    print(format_table(summaries))
    missing = missing_patients(summaries, patients or [])
    if missing:
        raise DataFileError(
            f"{folder}: no usable series for patient(s) {', '.join(missing)} "
            "(see the 'used' column)"
        )
