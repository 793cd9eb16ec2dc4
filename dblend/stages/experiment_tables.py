"""An experiment's long-format metrics and its PSNR/SSIM, TV and runtime tables."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from dblend.arguments import json_section
from dblend.experiments import TABLE_TITLES
from dblend.io import atomic_path, write_csv
from dblend.provenance import experiment_record
from dblend.report.tables import (
    RUNTIME_COLUMNS,
    RUNTIME_DECIMALS,
    TV_COLUMNS,
    convention_of,
    display,
    paper_layout,
    read_metrics,
    runtime_table,
    sections,
    summary,
    summary_note,
    to_html,
    to_latex,
    to_markdown,
    total_variation_table,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", type=Path, nargs="+", required=True)
    parser.add_argument(
        "--labels", type=json_section, required=True, help="method -> label, in order"
    )
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--run-name", required=True, help="the run's name (config key name)")
    parser.add_argument(
        "--config-section",
        type=json_section,
        required=True,
        help="the experiment's settings (JSON), recorded as its config hash",
    )


def experiment_tables(
    *,
    metrics: list[Path],
    labels: dict[str, str],
    out_dir: Path,
    run_name: str,
    config_section: dict[str, Any],
) -> None:
    """An experiment's long-format metrics, its summary, TV and runtime tables, and
    provenance.json (run, config hash, commit, date, test volumes per table, and what made
    each reconstruction)."""
    rows = read_metrics(metrics)
    tables = {
        "summary": (summary(rows, labels), None, summary_note(convention_of(rows))),
        "tv": (total_variation_table(rows, labels), TV_COLUMNS, ""),
        "runtime": (runtime_table(rows, labels), RUNTIME_COLUMNS, ""),
    }
    decimals = {"runtime": RUNTIME_DECIMALS}
    write_csv(rows, out_dir / "metrics.csv")
    record = experiment_record(run_name, out_dir.name, config_section, rows.to_dict("records"))
    with atomic_path(out_dir / "provenance.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=str))
    for name, (table, columns, note) in tables.items():
        write_csv(table, out_dir / f"{name}.csv")
        frames = (
            paper_layout(table) if columns is None else display(table, columns, decimals.get(name))
        )
        for suffix, render in ((".md", to_markdown), (".tex", to_latex), (".html", to_html)):
            with atomic_path(out_dir / f"{name}{suffix}") as tmp:
                tmp.write_text(sections(frames, render, TABLE_TITLES[name], note))
