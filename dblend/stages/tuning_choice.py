"""The table a validation tuning target chose from: each swept value's PSNR, the best marked."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from dblend.arguments import json_section
from dblend.io import atomic_path, write_csv
from dblend.report.tuning import tuning_markdown, tuning_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--summary-csv", type=Path, required=True)
    parser.add_argument(
        "--points", type=json_section, required=True, help="the sweep's points (JSON)"
    )
    parser.add_argument("--title", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)


def tuning_choice(
    *, summary_csv: Path, points: list[dict[str, Any]], title: str, out_dir: Path
) -> None:
    """Write choice.csv and choice.md: the swept values on the validation volumes, one chosen."""
    table = tuning_table(pd.read_csv(summary_csv), points)
    write_csv(table, out_dir / "choice.csv")
    with atomic_path(out_dir / "choice.md") as tmp:
        tmp.write_text(tuning_markdown(table, title))
