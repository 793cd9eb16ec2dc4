"""Train/validation/test split by patient, read from config and checked before any job runs.

Slices of one patient are strongly correlated, so a patient on both sides of the split would
leak test anatomy into training; the split is therefore by patient and overlap is refused.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from dblend.errors import ConfigError

SIDES = ("train", "validation", "test")
REQUIRED_SIDES = ("train", "test")


@dataclass(frozen=True)
class Split:
    """Patient IDs on each side, in config order."""

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]


def parse_split(
    block: Any, where: str, known: Collection[str] | None = None, source: str = "the source"
) -> Split:
    """Check a ``{train: [...], validation: [...], test: [...]}`` block of patient IDs.

    ``where`` names the block in errors (file and key); ``known``, when given, is every
    patient the data source (named by ``source``) has, and each listed patient must be one.
    """
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: expected a mapping with 'train' and 'test' patient lists")
    unknown = sorted(set(block) - set(SIDES))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown side; expected one of {list(SIDES)}")
    sides: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for side in SIDES:
        patients = block.get(side, [])
        if side in REQUIRED_SIDES and not patients:
            raise ConfigError(f"{where}.{side}: expected a non-empty list of patient IDs")
        if not isinstance(patients, list):
            raise ConfigError(f"{where}.{side}: expected a list of patient IDs, got {patients!r}")
        for index, patient in enumerate(patients):
            if not isinstance(patient, str) or not patient:
                raise ConfigError(
                    f"{where}.{side}[{index}]: expected a patient ID, got {patient!r}"
                )
            if seen.get(patient) == side:
                raise ConfigError(f"{where}.{side}: patient {patient} is listed twice")
            if patient in seen:
                raise ConfigError(
                    f"{where}: patient {patient} is listed in both {seen[patient]} and {side}; "
                    "each patient must be on one side only"
                )
            if known is not None and patient not in known:
                listed = ", ".join(sorted(known)[:10]) + (", ..." if len(known) > 10 else "")
                raise ConfigError(
                    f"{where}.{side}: patient {patient} is not in {source} "
                    f"(its {len(known)} patients: {listed or 'none'})"
                )
            seen[patient] = side
        sides[side] = tuple(patients)
    return Split(**sides)
