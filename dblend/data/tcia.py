"""TCIA series: the pinned list, manifests, and resumable, verified downloads with tcia_utils.

Series are pinned by SeriesInstanceUID in the repository rather than queried, so every run
fetches the same images. Each series lands in ``<root>/<SeriesInstanceUID>/`` and counts as
done only once a completion marker exists there, written after the file count and every MD5
checksum (from the archive's own ``md5hashes.csv``) have been checked. A folder without the
marker is a half-finished download and is fetched again; a folder with it is never requested.

``tcia_utils.nbia.downloadSeries`` logs failed series instead of raising and skips any folder
that already exists, so this module clears unfinished folders first and checks every series
itself afterwards. tcia_utils is imported only when something must be downloaded: nothing here
touches the network unless a download is asked for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from dblend.data.splits import Split, parse_split
from dblend.errors import ConfigError, DataFileError
from dblend.io import atomic_path

log = logging.getLogger(__name__)

MARKER = "DOWNLOAD_COMPLETE.json"
"""Written into a series folder only after its download has been verified."""
CHECKSUMS = "md5hashes.csv"
"""The per-file MD5 list NBIA's getImageWithMD5Hash puts into each series archive."""
UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)+")


@dataclass(frozen=True)
class SeriesPin:
    """One patient's pinned CT series."""

    series_uid: str
    images: int | None
    """The expected number of images, when known; checked after download."""


@dataclass(frozen=True)
class PinnedCollection:
    """A TCIA collection's pinned series per patient and its patient split."""

    collection: str
    patients: dict[str, SeriesPin]
    split: Split


def load_pins(path: Path) -> PinnedCollection:
    """Read a pinned series file such as ``config/pins/lidc_series.yaml``."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: unreadable pinned series file ({err})") from err
    if not isinstance(document, dict) or set(document) != {"collection", "patients", "split"}:
        raise ConfigError(f"{path}: expected exactly the keys collection, patients and split")
    patients = document["patients"]
    if not isinstance(patients, dict) or not patients:
        raise ConfigError(f"{path}: patients: expected a mapping of patient ID to its series")
    pins = {str(patient): _pin(path, str(patient), entry) for patient, entry in patients.items()}
    uids = [pin.series_uid for pin in pins.values()]
    for patient, pin in pins.items():
        if uids.count(pin.series_uid) > 1:
            raise ConfigError(f"{path}: patients.{patient}: series {pin.series_uid} pinned twice")
    return PinnedCollection(
        collection=str(document["collection"]),
        patients=pins,
        split=parse_split(document["split"], f"{path}: split", pins, source="the pinned series"),
    )


def read_manifest(path: Path) -> list[str]:
    """The series UIDs listed in a TCIA manifest (``.tcia``), in file order."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: unreadable TCIA manifest ({err})") from err
    try:
        start = lines.index("ListOfSeriesToDownload=") + 1
    except ValueError:
        raise DataFileError(
            f"{path}: no 'ListOfSeriesToDownload=' line; not a TCIA manifest (.tcia)"
        ) from None
    uids = []
    for number, line in enumerate(lines[start:], start=start + 1):
        if not line:
            continue
        if not UID_PATTERN.fullmatch(line):
            raise DataFileError(f"{path}: line {number}: {line!r} is not a series UID")
        uids.append(line)
    if not uids:
        raise DataFileError(f"{path}: the manifest lists no series")
    return uids


def is_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a verified download (its completion marker exists)."""
    return (folder / MARKER).is_file()


def download_series(
    uids: Sequence[str],
    root: Path,
    *,
    expected_images: Mapping[str, int | None] | None = None,
    workers: int = 4,
) -> dict[str, Path]:
    """Make ``<root>/<uid>/`` a verified, complete copy of each series; return those folders.

    Complete series are skipped without a request; unfinished folders are deleted and fetched
    again. Raises DataFileError listing every series still missing or failing verification
    (those keep no marker, so the next run fetches them again).
    """
    for uid in uids:
        if not UID_PATTERN.fullmatch(uid):
            raise ConfigError(f"series UID {uid!r}: expected digits separated by dots")
    uids = list(dict.fromkeys(uids))
    expected_images = expected_images or {}
    pending = [uid for uid in uids if not is_complete(root / uid)]
    if pending:
        root.mkdir(parents=True, exist_ok=True)
        for uid in pending:
            _discard_unfinished(root, uid)
        _fetch(pending, root, workers)
    failures = {}
    for uid in pending:
        try:
            count = _verify(root / uid, expected_images.get(uid))
        except DataFileError as err:
            failures[uid] = str(err)
            continue
        with atomic_path(root / uid / MARKER) as tmp:
            tmp.write_text(json.dumps({"series_uid": uid, "images": count, "md5": "verified"}))
        log.info("series %s: %d images verified", uid, count)
    if failures:
        lines = "\n".join(f"  {uid}: {reason}" for uid, reason in failures.items())
        raise DataFileError(
            f"{root}: {len(failures)} of {len(uids)} series missing or incomplete after "
            f"download (run again to retry them):\n{lines}"
        )
    return {uid: root / uid for uid in uids}


def _pin(path: Path, patient: str, entry: object) -> SeriesPin:
    where = f"{path}: patients.{patient}"
    if not isinstance(entry, dict) or set(entry) - {"series_uid", "images"}:
        raise ConfigError(f"{where}: expected a mapping with series_uid and images")
    uid = entry.get("series_uid")
    if not isinstance(uid, str) or not UID_PATTERN.fullmatch(uid):
        raise ConfigError(f"{where}.series_uid: expected a SeriesInstanceUID, got {uid!r}")
    images = entry.get("images")
    if images is not None and not (isinstance(images, int) and images > 0):
        raise ConfigError(f"{where}.images: expected a positive count or null, got {images!r}")
    return SeriesPin(series_uid=uid, images=images)


def _discard_unfinished(root: Path, uid: str) -> None:
    folder, archive = root / uid, root / f"{uid}.zip"
    if folder.exists():
        log.warning("series %s: unfinished download in %s, fetching it again", uid, folder)
        shutil.rmtree(folder)
    archive.unlink(missing_ok=True)


def _fetch(uids: list[str], root: Path, workers: int) -> None:
    from tcia_utils import nbia  # imported here: loading it is the first step to the network

    log.info("downloading %d series from TCIA into %s", len(uids), root)
    nbia.downloadSeries(uids, input_type="list", path=str(root), hash="y", max_workers=workers)


def _verify(folder: Path, expected: int | None) -> int:
    """Check a fetched series folder against its checksum list; return its image count."""
    if not folder.is_dir():
        raise DataFileError(f"{folder}: not downloaded (see the tcia_utils log above)")
    checksums = folder / CHECKSUMS
    if not checksums.is_file():
        raise DataFileError(f"{checksums}: missing; the archive carried no checksum list")
    entries = _read_checksums(checksums)
    if not entries:
        raise DataFileError(
            f"{checksums}: lists no images; is the series public and the UID right?"
        )
    if expected is not None and len(entries) != expected:
        raise DataFileError(f"{folder}: {len(entries)} images, expected {expected} (pinned)")
    for name, md5 in entries:
        path = folder / name
        if not path.is_file():
            raise DataFileError(f"{path}: listed in {CHECKSUMS} but missing")
        actual = _md5(path)
        if actual != md5:
            raise DataFileError(f"{path}: MD5 {actual}, expected {md5} from {CHECKSUMS}")
    return len(entries)


def _read_checksums(path: Path) -> list[tuple[str, str]]:
    """(file name, md5) rows of ``md5hashes.csv``: a ``Filename,MD5Hash`` header, then rows."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines()[1:], start=2):
        if not line.strip():
            continue
        name, _, md5 = line.partition(",")
        name, md5 = name.strip(), md5.strip().lower()
        if not name or Path(name).name != name or not re.fullmatch(r"[0-9a-f]{32}", md5):
            raise DataFileError(f"{path}: line {number}: expected 'file name,md5', got {line!r}")
        entries.append((name, md5))
    return entries


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
