"""Pinned TCIA series: which CT series each patient contributes, and the patient split.

Series are pinned by SeriesInstanceUID in the repository rather than queried, so every run
fetches the same images. This module only reads the pins file (YAML): Snakemake imports it
while it plans the jobs, so it must stay free of the heavy imports the downloads need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from dblend.data.splits import Split, parse_split
from dblend.errors import ConfigError

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
