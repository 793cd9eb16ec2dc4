"""Turn one patient's DICOM series into a windowed volume."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dblend.arguments import json_section
from dblend.data.local import find_patient_series
from dblend.data.preprocess import PreprocessSpec, preprocess_series
from dblend.data.tcia import read_manifest
from dblend.errors import DataFileError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--series-dir", type=Path, help="the series folder")
    parser.add_argument("--local-dir", type=Path, help="or a local copy to find it in")
    parser.add_argument("--manifest", type=Path, help="only series of this .tcia manifest")
    parser.add_argument("--match", help="text picking the series in the local copy")
    parser.add_argument("--patient", required=True, help="PatientID the files must carry")
    parser.add_argument(
        "--settings", type=json_section, required=True, help="preprocess config (JSON)"
    )
    parser.add_argument("--out", type=Path, required=True)


def preprocess(
    *,
    series_dir: Path | None,
    local_dir: Path | None,
    manifest: Path | None,
    match: str | None,
    patient: str,
    settings: dict[str, Any],
    out: Path,
) -> None:
    """Turn one patient's DICOM series (a given folder, or found in a local copy) into a volume."""
    if series_dir is None:
        if local_dir is None:
            raise DataFileError("preprocess needs a series folder or a local copy to search")
        uids = read_manifest(manifest) if manifest else None
        series_dir = find_patient_series(local_dir, patient, match=match, series_uids=uids)
    preprocess_series(series_dir, out, PreprocessSpec.from_config(settings), patient_id=patient)
