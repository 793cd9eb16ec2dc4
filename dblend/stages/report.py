"""The self-contained HTML report of the reported experiments and the priors they used."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.arguments import key_value
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
    parser.add_argument("--out", type=Path, required=True)


def report(
    *, experiment: list[tuple[str, str]], training_curve: list[list[str]], out: Path
) -> None:
    """Every reported experiment's tables and figures, then its priors' loss curves."""
    titles = {Path(directory): title for directory, title in experiment}
    curves = [
        TrainingCurve(prior, dataset, Path(loss_csv), Path(figure))
        for dataset, prior, loss_csv, figure in training_curve
    ]
    write_report(titles, out, curves)
