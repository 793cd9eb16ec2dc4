"""Seconds and network evaluations per method of one experiment, as a figure."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dblend.report import figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime-csv", type=Path, required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--out", type=Path, required=True)


def runtime_figure(*, runtime_csv: Path, title: str, out: Path) -> None:
    """Draw an experiment's runtime table."""
    figures.runtime_figure(pd.read_csv(runtime_csv), title, out)
