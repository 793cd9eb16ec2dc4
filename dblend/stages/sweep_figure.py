"""PSNR against a swept setting (the paper's PSNR-against-NFE figure among others)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from dblend.arguments import json_section
from dblend.report import figures


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary-csv", type=Path, required=True)
    parser.add_argument(
        "--points", type=json_section, required=True, help="the sweep's points (JSON)"
    )
    parser.add_argument("--key", required=True)
    parser.add_argument("--title", required=True)
    parser.add_argument("--out", type=Path, required=True)


def sweep_figure(
    *, summary_csv: Path, points: list[dict[str, Any]], key: str, title: str, out: Path
) -> None:
    """PSNR against the swept key, one line per method, data set and task."""
    table = pd.read_csv(summary_csv)
    lookup = pd.DataFrame(points).rename(columns={"name": "method", "method": "base"})
    merged = table.merge(lookup, on="method").rename(columns={"psnr_mean": "psnr"})
    figures.sweep_figure(merged, key, title, out)
