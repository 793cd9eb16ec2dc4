"""Experiments: the named targets of the pipeline, each a product of data sets x tasks x methods.

An experiment is one table (or one figure) of the paper: `table_sparse_view`,
`ablation_jump_frequency`, `nfe_sweep`... It may sweep one method key over values (the number of
steps, the jump frequency); each swept value becomes a method of its own, named
``<method>_<key>_<value>``, added to the config's methods so every later stage treats it like
any other method and reuses reconstructions shared between experiments. An experiment scores
the test volumes, or, as a tuning target (``split: validation``), the validation volumes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dblend.errors import ConfigError
from dblend.recon.kinds import kind_of

TABLE_TITLES = {
    "summary": "PSNR / SSIM per plane and per volume (mean ± std over test volumes)",
    "tv": "Total variation per voxel (reconstruction vs ground truth)",
    "runtime": "Wall time, network work and peak memory per volume",
}
"""Every table an experiment writes (as .csv, .md, .tex and .html), with its heading."""


@dataclass(frozen=True)
class SweepPoint:
    """One swept value of one method, and the method entry that runs it."""

    method: str
    key: str
    value: float | bool
    name: str


def display_value(value: float | bool) -> str:
    """How tables and figures show a swept value: switches as on/off, numbers compactly."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}"


def _label(value: float | bool) -> str:
    """A swept value as part of a method name (a Snakemake wildcard: no dots or signs)."""
    return display_value(value).replace(".", "p").replace("-", "m")


def sweep_points(config: dict[str, Any], experiment: str) -> list[SweepPoint]:
    """The swept method entries of ``experiment`` (empty when it sweeps nothing)."""
    entry = config["experiments"][experiment]
    sweep = entry.get("sweep")
    if not sweep:
        return []
    return [
        SweepPoint(method, sweep["key"], value, f"{method}_{sweep['key']}_{_label(value)}")
        for method in entry["methods"]
        for value in sweep["values"]
    ]


def expand_sweeps(config: dict[str, Any]) -> None:
    """Add every swept method variant to ``config["methods"]`` (in place)."""
    for experiment in config["experiments"]:
        for point in sweep_points(config, experiment):
            base = config["methods"][point.method]
            if point.key not in kind_of(base).keys:
                raise ConfigError(
                    f"config key experiments.{experiment}.sweep.key: method {point.method} "
                    f"({base['kind']}) has no key {point.key!r}"
                )
            label = f"{base.get('label') or point.method} {point.key}={display_value(point.value)}"
            config["methods"][point.name] = {**base, point.key: point.value, "label": label}


def is_tuning(config: dict[str, Any], experiment: str) -> bool:
    """Whether an experiment is a tuning target: a sweep scored on the validation volumes."""
    return config["experiments"][experiment]["split"] == "validation"


def experiment_methods(config: dict[str, Any], experiment: str) -> list[str]:
    """Method entries an experiment reconstructs with, in table order."""
    points = sweep_points(config, experiment)
    if points:
        return [point.name for point in points]
    return list(config["experiments"][experiment]["methods"])


def method_label(config: dict[str, Any], method: str) -> str:
    """How tables and figures name a method entry."""
    return config["methods"][method].get("label") or method
