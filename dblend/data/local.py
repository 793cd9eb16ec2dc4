"""Find a patient's CT series in a user's own copy of a data set (no network).

Limited-access collections such as the AAPM Low-Dose CT Grand Challenge data reach users
through the NBIA Data Retriever or from Mayo/AAPM directly, each with its own folder layout.
Rather than assume one, the copy is walked and each folder holding DICOM files is identified by
the header of its first image file (an RT structure set beside the slices says nothing of the
series); the series folder itself is fully checked later, when read.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from dblend.data.dicom import dicom_files, is_image, read_header
from dblend.errors import ConfigError, DataFileError


@dataclass(frozen=True)
class SeriesFolder:
    """A folder of DICOM files, described by the header of its first file."""

    folder: Path
    patient_id: str
    series_uid: str
    description: str
    files: int

    def describe(self, root: Path) -> str:
        return (
            f"{self.folder.relative_to(root)} (series {self.series_uid}, "
            f"'{self.description}', {self.files} files)"
        )


def scan_series(root: Path) -> list[SeriesFolder]:
    """Every folder under ``root`` that directly holds DICOM images, in path order."""
    if not root.is_dir():
        raise DataFileError(f"{root}: local data folder not found")
    found = []
    for folder, subfolders, _ in os.walk(root):
        subfolders.sort()
        files = dicom_files(Path(folder))
        header = next((h for h in map(read_header, files) if is_image(h)), None)
        if header is None:
            continue
        found.append(
            SeriesFolder(
                folder=Path(folder),
                patient_id=str(header.get("PatientID", "")),
                series_uid=str(header.get("SeriesInstanceUID", "")),
                description=str(header.get("SeriesDescription", "")),
                files=len(files),
            )
        )
    return found


def find_patient_series(
    root: Path,
    patient_id: str,
    *,
    match: str | None = None,
    series_uids: Collection[str] | None = None,
) -> Path:
    """The one series folder of ``patient_id`` under ``root``.

    ``match`` (case-insensitive) must occur in the folder's path below ``root`` or in its
    SeriesDescription, e.g. "full_1mm" or "Full Dose"; ``series_uids`` (say, from the user's
    TCIA manifest) restricts the choice to those series. Anything but exactly one candidate
    raises, listing what the patient has.
    """
    candidates = [entry for entry in scan_series(root) if entry.patient_id == patient_id]
    if not candidates:
        raise DataFileError(f"{root}: no DICOM series of patient {patient_id}")
    chosen = [entry for entry in candidates if fits(entry, root, match, series_uids)]
    if len(chosen) == 1:
        return chosen[0].folder
    listing = "\n".join(f"  {entry.describe(root)}" for entry in candidates)
    criteria = f"match {match!r}" if match is not None else "no match text"
    if series_uids is not None:
        criteria += " and the manifest's series"
    raise ConfigError(
        f"{root}: {len(chosen)} series of patient {patient_id} fit {criteria}; exactly one "
        f"must. The patient's series:\n{listing}"
    )


def fits(
    entry: SeriesFolder,
    root: Path,
    match: str | None,
    series_uids: Collection[str] | None,
) -> bool:
    """Whether a series may be its patient's volume: among ``series_uids`` (when given), and
    ``match`` (when given) in its folder path below ``root`` or its SeriesDescription."""
    if series_uids is not None and entry.series_uid not in series_uids:
        return False
    haystack = f"{entry.folder.relative_to(root).as_posix()} {entry.description}".lower()
    return match is None or match.lower() in haystack
