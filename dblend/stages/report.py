"""The self-contained HTML report of the reported experiments and the priors they used."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dblend.arguments import json_section, key_value
from dblend.io import read_attrs
from dblend.models.checkpoint import read_checkpoint
from dblend.report.html import TrainingCurve, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--experiment", type=key_value, nargs="+", required=True, metavar="DIR=TITLE"
    )
    parser.add_argument(
        "--training-curve",
        nargs=4,
        action="append",
        default=[],
        metavar=("DATASET", "PRIOR", "LOSS_CSV", "FIGURE"),
        help="a prior the experiments used (repeat for each)",
    )
    parser.add_argument(
        "--recons", type=Path, nargs="*", default=[], help="the reconstructions reported"
    )
    parser.add_argument("--priors", type=Path, nargs="*", default=[], help="the priors they used")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--run-name", required=True, help="the run's name (config key name)")
    parser.add_argument(
        "--config-section",
        type=json_section,
        required=True,
        help="the run's resolved config (JSON), shown as its config hash",
    )


def report(
    *,
    experiment: list[tuple[str, str]],
    training_curve: list[list[str]],
    recons: list[Path],
    priors: list[Path],
    out: Path,
    run_name: str,
    config_section: dict[str, Any],
) -> None:
    """The run (name, config hash, date, commit, test volumes per table), every reported
    experiment's tables and figures, its priors' loss curves, and the software versions its
    reconstructions and priors recorded."""
    titles = {Path(directory): title for directory, title in experiment}
    curves = [
        TrainingCurve(prior, dataset, Path(loss_csv), Path(figure))
        for dataset, prior, loss_csv, figure in training_curve
    ]
    software = {
        "reconstructions": [read_attrs(path).get("software", {}) for path in recons],
        "priors": [read_checkpoint(path, mmap=True).get("software", {}) for path in priors],
    }
    write_report(
        titles,
        out,
        curves,
        software={k: v for k, v in software.items() if v},
        run=(run_name, config_section),
    )
