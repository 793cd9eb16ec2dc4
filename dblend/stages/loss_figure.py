"""A prior's training and validation loss curves."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dblend.report import figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loss-csv", type=Path, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--out", type=Path, required=True)


def loss_figure(*, loss_csv: Path, title: str, out: Path) -> None:
    """Draw the loss history that a prior's training wrote."""
    figures.loss_figure(pd.read_csv(loss_csv), title, out)
