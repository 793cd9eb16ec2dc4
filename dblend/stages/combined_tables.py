"""The reported experiments' metrics in one long table and their summaries in one file."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dblend.io import atomic_path, write_csv


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment-dirs", type=Path, nargs="+", required=True)
    parser.add_argument("--out-dir", type=Path, required=True)


def combined_tables(*, experiment_dirs: list[Path], out_dir: Path) -> None:
    """All reported experiments' metrics in one long table, and their summaries in one file."""
    metrics = pd.concat([pd.read_csv(d / "metrics.csv") for d in experiment_dirs])
    metrics = metrics.drop_duplicates(["dataset", "task", "method", "volume", "plane"])
    write_csv(metrics, out_dir / "metrics.csv")
    summaries = [pd.read_csv(d / "summary.csv").assign(experiment=d.name) for d in experiment_dirs]
    write_csv(pd.concat(summaries), out_dir / "summary.csv")
    with atomic_path(out_dir / "summary.md") as tmp:
        tmp.write_text(
            "\n".join(f"# {d.name}\n\n" + (d / "summary.md").read_text() for d in experiment_dirs)
        )
