"""Summary tables of the long-format metrics: mean +- std over test volumes per plane."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from dblend.metrics import PLANES

KEYS = ["dataset", "task", "method"]


def summary(metrics: pd.DataFrame, method_order: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, task, method, plane) with mean and std of PSNR and SSIM."""
    grouped = metrics.groupby([*KEYS, "plane"], sort=False)
    table = grouped.agg(
        psnr_mean=("psnr", "mean"),
        psnr_std=("psnr", "std"),
        ssim_mean=("ssim", "mean"),
        ssim_std=("ssim", "std"),
        volumes=("volume", "nunique"),
        seconds=("seconds", "mean"),
    ).reset_index()
    table[["psnr_std", "ssim_std"]] = table[["psnr_std", "ssim_std"]].fillna(0.0)
    if method_order:
        rank = {name: i for i, name in enumerate(method_order)}
        table = table.sort_values(by="method", key=lambda c: c.map(rank), kind="stable")
    return table.reset_index(drop=True)


def paper_layout(summary_table: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (dataset, task): methods as rows, 'plane PSNR' / 'plane SSIM' columns as text."""
    layouts = {}
    for (dataset, task), block in summary_table.groupby(["dataset", "task"], sort=False):
        rows = {}
        for method, per_method in block.groupby("method", sort=False):
            cells = {}
            for plane in PLANES:
                row = per_method[per_method["plane"] == plane]
                if row.empty:
                    continue
                row = row.iloc[0]
                cells[f"{plane} PSNR"] = f"{row.psnr_mean:.2f} ± {row.psnr_std:.2f}"
                cells[f"{plane} SSIM"] = f"{row.ssim_mean:.3f} ± {row.ssim_std:.3f}"
            rows[method] = cells
        layouts[(dataset, task)] = pd.DataFrame.from_dict(rows, orient="index")
    return layouts


def to_markdown(frame: pd.DataFrame, index_name: str = "method") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (index first)."""
    header = [index_name, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, row.tolist())]) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(summary_table: pd.DataFrame) -> str:
    """All paper-layout tables, each under a heading naming its data set and task."""
    sections = []
    for (dataset, task), frame in paper_layout(summary_table).items():
        sections.append(f"## {dataset} / {task}\n\n" + to_markdown(frame))
    return "\n".join(sections)
