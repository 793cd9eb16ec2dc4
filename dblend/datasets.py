"""Which volumes a data set has and how they split, derived from config alone.

Snakemake needs every volume name when it plans the jobs, so names never come from looking
at files: embedded phantoms are numbered, real data sets list their patients in config.
"""

from __future__ import annotations

from typing import Any

SPLITS = ("train", "validation", "test")


def volume_names(dataset: dict[str, Any]) -> dict[str, list[str]]:
    """{"train": [...], "validation": [...], "test": [...]} volume names of a data set."""
    if dataset["source"] == "embedded":
        names = [f"phantom{i:03d}" for i in range(dataset["train"] + dataset["test"])]
        train, test = names[: dataset["train"]], names[dataset["train"] :]
        held_out = min(dataset["validation"], len(train) - 1)
        split = len(train) - held_out
        return {"train": train[:split], "validation": train[split:], "test": test}
    raise ValueError(f"unknown data set source {dataset['source']!r}")
