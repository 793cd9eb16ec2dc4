"""Which volumes a data set has and how they split, derived from config alone.

Snakemake needs every volume name when it plans the jobs, so names never come from looking
at data: embedded phantoms are numbered, pinned TCIA collections list their patients in the
pins file, and a local DICOM copy lists them in config. Splits are by patient. Where the local
copy is already there when the jobs are planned, each patient of its split must be in it, so a
typo is refused then rather than by the job that looks for the patient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dblend.data.pins import PinnedCollection, load_pins
from dblend.data.splits import parse_split

SPLITS = ("train", "validation", "test")


def resolve(path: str, base: Path) -> Path:
    """A config path: absolute as given, relative ones against ``base`` (the repository)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def pins(dataset: dict[str, Any], base: Path) -> PinnedCollection:
    return load_pins(resolve(dataset["pins"], base))


def volume_names(dataset: dict[str, Any], base: Path, name: str = "") -> dict[str, list[str]]:
    """{"train": [...], "validation": [...], "test": [...]} volume names of a data set."""
    source = dataset["source"]
    if source == "embedded":
        names = [f"phantom{i:03d}" for i in range(dataset["train"] + dataset["test"])]
        train, test = names[: dataset["train"]], names[dataset["train"] :]
        held_out = min(dataset["validation"], len(train) - 1)
        split = len(train) - held_out
        return {"train": train[:split], "validation": train[split:], "test": test}
    if source == "tcia":
        chosen = pins(dataset, base).split
    else:
        from dblend.data.local import scan_series  # reads DICOM: only where a copy is local

        folder = resolve(dataset["local_dir"], Path.cwd())
        known = {entry.patient_id for entry in scan_series(folder)} if folder.is_dir() else None
        where = f"config key datasets.{name}.patients"
        chosen = parse_split(dataset["patients"], where, known, source=f"local copy {folder}")
    return {side: list(getattr(chosen, side)) for side in SPLITS}


def preprocess_settings(dataset: dict[str, Any], patient: str) -> dict[str, Any]:
    """The data set's preprocessing section with the patient's own overrides applied."""
    return {**dataset["preprocess"], **dataset.get("per_patient", {}).get(patient, {})}
