"""TCIA series: manifests, and resumable, verified downloads with tcia_utils.

The series to fetch are pinned in the repository (``dblend.data.pins``). Each series lands in
``<root>/<SeriesInstanceUID>/`` and counts as done only once a completion marker exists there,
written after the file count and every MD5 checksum (from the archive's own
``md5hashes.csv``) have been checked. A folder without the marker is a half-finished download
and is fetched again; a folder with it is never requested.

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
from pathlib import Path

from dblend.data.pins import UID_PATTERN
from dblend.errors import ConfigError, DataFileError
from dblend.io import atomic_path

log = logging.getLogger(__name__)

MARKER = "DOWNLOAD_COMPLETE.json"
"""Written into a series folder only after its download has been verified."""
CHECKSUMS = "md5hashes.csv"
"""The per-file MD5 list NBIA's getImageWithMD5Hash puts into each series archive."""


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
