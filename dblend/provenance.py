"""What made a file: the settings that define a job, their digest, the pipeline's commit.

A reconstruction is defined by its settings, not by the names a config gives them: the method's
settings for the task (without its display label), the task, the prior (its name, which stands
for its trained weights, and its settings and network), the data set that made the prior's
training volumes and the test volume, and the base seed. Their digest names the reconstruction's
file and derives its seed, so an ablation arm equal to the main row is the main row's file and
number, and runs of different configs share whatever they have in common.

Every reconstruction, prior checkpoint and experiment records ``provenance(...)``: the git
commit of the pipeline (and whether its tracked files differ from it), the digest of the config
section that made it, its seed, the date, and what else it was made from. Every output also
records the software that made it (``software_versions``): numbers from the same config can
still differ between versions of torch, diffusers, ASTRA or NumPy. Versions come from the
installed distributions' metadata, so recording them imports nothing heavy; a local version
label says which torch build ran (``+cpu``, ``+cu130``; PyPI's own Linux wheels carry none and
are CUDA builds). Plan-time code and dblend.io import this module, so it needs the standard
library only at import time.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from dblend import __version__

RECORDED = ("torch", "diffusers", "astra-toolbox", "numpy")
"""The distributions whose versions every output records, besides dblend and Python."""

PIPELINE_DIR = "DBLEND_PIPELINE_DIR"
"""Environment variable naming the pipeline checkout (the workflow sets it for its jobs)."""
TEST_ONLY = ("test",)
"""Data set keys that only choose test volumes; they do not change a reconstruction."""


def digest(section: Any) -> str:
    """SHA-256 of a config section in canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(section, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def dataset_identity(dataset: Mapping[str, Any]) -> dict[str, Any]:
    """A data set's settings without those that only pick test volumes (embedded ``test``,
    the ``test`` side of ``patients``)."""
    identity = {key: value for key, value in dataset.items() if key not in TEST_ONLY}
    if "patients" in identity:
        identity["patients"] = {k: v for k, v in identity["patients"].items() if k != "test"}
    return identity


def prior_identity(config: Mapping[str, Any], dataset: str, prior: str) -> dict[str, Any]:
    """What defines a trained prior: its name (replicas differ by name), settings, network and
    the data set its training volumes come from."""
    entry = config["priors"][prior]
    return {
        "name": prior,
        "settings": entry,
        "network": config["networks"][entry["network"]],
        "dataset": dataset_identity(config["datasets"][dataset]),
        "seed": config["seed"],
    }


def task_physics(config: Mapping[str, Any], task: str) -> dict[str, Any]:
    """What defines a task's projections: its geometry and noise, not the method settings it
    overrides (a new override must not re-simulate, and so re-run, everything downstream)."""
    return {k: v for k, v in config["tasks"][task].items() if k != "method_overrides"}


def fbpunet_identity(
    config: Mapping[str, Any], dataset: str, task: str, method: str
) -> dict[str, Any]:
    """What defines a trained FBP-UNet: its method entry's name, input filter, training and
    network, the data set of its training volumes and the task of their sinograms."""
    from dblend.config import method_for_task  # not at import: dblend.config imports dblend.io

    settings = method_for_task(config, method, task)
    return {
        "name": method,
        "settings": {key: settings[key] for key in ("filter", "training")},
        "network": config["networks"][settings["network"]],
        "dataset": dataset_identity(config["datasets"][dataset]),
        "task": task_physics(config, task),
        "seed": config["seed"],
    }


def reconstruction_settings(
    config: Mapping[str, Any], dataset: str, task: str, method: str
) -> dict[str, Any]:
    """Everything that defines a reconstruction of one test volume of ``dataset``: with its
    prior, TPDM's auxiliary prior, and FBP-UNet's trained network."""
    from dblend.config import method_for_task  # not at import: dblend.config imports dblend.io
    from dblend.recon.kinds import trains_model

    settings = {k: v for k, v in method_for_task(config, method, task).items() if k != "label"}
    prior = settings.get("prior")
    made_with = {}
    if "auxiliary_prior" in settings:
        made_with["auxiliary_prior"] = prior_identity(config, dataset, settings["auxiliary_prior"])
    if trains_model(settings):
        made_with["model"] = fbpunet_identity(config, dataset, task, method)
    return {
        "dataset": dataset_identity(config["datasets"][dataset]),
        "task": task_physics(config, task),
        "method": settings,
        "prior": prior_identity(config, dataset, prior) if prior else None,
        **made_with,
        "seed": config["seed"],
    }


def reconstruction_key(config: Mapping[str, Any], dataset: str, task: str, method: str) -> str:
    """The folder name of a reconstruction: its method kind and settings digest."""
    settings = reconstruction_settings(config, dataset, task, method)
    return f"{settings['method']['kind']}-{digest(settings)[:12]}"


def software_versions() -> dict[str, str]:
    """{name: version} of dblend, Python and each distribution in RECORDED."""
    versions = {"dblend": __version__, "python": platform.python_version()}
    for name in RECORDED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def pipeline_commit(directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The git commit of the pipeline checkout and whether tracked files differ from it.

    The checkout is ``directory``, else $DBLEND_PIPELINE_DIR, else the one holding this package;
    outside a git checkout (or without git) both fields are None.
    """
    where = directory or os.environ.get(PIPELINE_DIR) or Path(__file__).resolve().parents[1]
    try:
        commit = _git(where, "rev-parse", "HEAD")
        dirty = bool(_git(where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _git(where: str | os.PathLike, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (a prior checkpoint, say), read in blocks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def provenance(section: Any, seed: int | None = None, **made_from: Any) -> dict[str, Any]:
    """The record a file carries: pipeline commit, config digest, seed, date, and its inputs."""
    return {
        **pipeline_commit(),
        "config_hash": digest(section),
        "seed": seed,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        **made_from,
    }


ROW_PROVENANCE = ("seed", "config_hash", "prior_sha256", "commit", "dirty")
"""What each metrics row carries of the reconstruction it scores."""


def experiment_record(
    run: str, experiment: str, section: Any, rows: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """An experiment's provenance: run, config digest, commit, date, the number of test volumes
    of each (data set, task) table and, per row, what made its reconstruction."""
    volumes: dict[str, set[str]] = {}
    made: dict[tuple[str, ...], dict[str, Any]] = {}
    for row in rows:
        volumes.setdefault(f"{row['dataset']} / {row['task']}", set()).add(row["volume"])
        key = tuple(str(row[k]) for k in ("dataset", "task", "method", "volume"))
        made[key] = {k: row.get(k) for k in ("dataset", "task", "method", "volume")} | {
            k: row.get(k) for k in ROW_PROVENANCE
        }
    return {
        "run": run,
        "experiment": experiment,
        **provenance(section),
        "test_volumes": {table: len(names) for table, names in volumes.items()},
        "reconstructions": list(made.values()),
    }
