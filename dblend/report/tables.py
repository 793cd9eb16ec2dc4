"""Tables of the long-format metrics in the paper's layout, as CSV, Markdown and LaTeX.

PSNR/SSIM: mean +- std over test volumes, per plane (axial, coronal, sagittal), one table per
data set and task with methods as rows. Total variation: each method's mean TV beside the
ground truth's (DDS over-smooths). Runtime: wall seconds and network evaluations per volume.
"""

from __future__ import annotations

import html
from collections.abc import Mapping

import pandas as pd

from dblend.metrics import PLANES

KEYS = ["dataset", "task", "method"]
TABLE_TITLES = {
    "summary": "PSNR / SSIM per plane (mean ± std over test volumes)",
    "tv": "Total variation per voxel (reconstruction vs ground truth)",
    "runtime": "Wall time and network evaluations per volume",
}
"""Every table an experiment writes (as .csv, .md, .tex and .html), with its heading."""
TV_COLUMNS = {"tv": "TV", "tv_truth": "TV ground truth", "tv_ratio": "ratio"}
RUNTIME_COLUMNS = {"seconds_mean": "seconds", "seconds_std": "± std", "nfe": "NFE"}


def _ordered(frame: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Rows of the methods in ``labels`` (in its order), with a 'label' column."""
    rank = {name: i for i, name in enumerate(labels)}
    frame = frame[frame["method"].isin(rank)].copy()
    frame["label"] = frame["method"].map(labels)
    return frame.sort_values("method", key=lambda c: c.map(rank), kind="stable")


def summary(metrics: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per (dataset, task, method, plane): mean and std of PSNR and SSIM."""
    table = (
        metrics.groupby([*KEYS, "plane"], sort=False)
        .agg(
            psnr_mean=("psnr", "mean"),
            psnr_std=("psnr", "std"),
            ssim_mean=("ssim", "mean"),
            ssim_std=("ssim", "std"),
            volumes=("volume", "nunique"),
        )
        .reset_index()
    )
    table[["psnr_std", "ssim_std"]] = table[["psnr_std", "ssim_std"]].fillna(0.0)
    return _ordered(table, labels).reset_index(drop=True)


def paper_layout(summary_table: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (dataset, task): method labels as rows, '<plane> PSNR' / '<plane> SSIM' as text."""
    layouts = {}
    for (dataset, task), block in summary_table.groupby(["dataset", "task"], sort=False):
        rows = {}
        for label, per_method in block.groupby("label", sort=False):
            cells = {}
            for plane in PLANES:
                row = per_method[per_method["plane"] == plane]
                if not row.empty:
                    row = row.iloc[0]
                    cells[f"{plane} PSNR"] = f"{row.psnr_mean:.2f} ± {row.psnr_std:.2f}"
                    cells[f"{plane} SSIM"] = f"{row.ssim_mean:.3f} ± {row.ssim_std:.3f}"
            rows[label] = cells
        layouts[(dataset, task)] = pd.DataFrame.from_dict(rows, orient="index")
    return layouts


def total_variation_table(metrics: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Mean TV of each method's reconstructions and of the ground truth, per data set and task."""
    per_volume = metrics.drop_duplicates([*KEYS, "volume"])
    table = per_volume.groupby(KEYS, sort=False).agg(
        tv=("tv", "mean"), tv_truth=("tv_truth", "mean")
    )
    table = table.reset_index()
    table["tv_ratio"] = table["tv"] / table["tv_truth"]
    return _ordered(table, labels).reset_index(drop=True)


def runtime_table(metrics: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Wall seconds (mean, std) and network evaluations per volume, per method."""
    per_volume = metrics.drop_duplicates([*KEYS, "volume"])
    table = per_volume.groupby(KEYS, sort=False).agg(
        seconds_mean=("seconds", "mean"), seconds_std=("seconds", "std"), nfe=("nfe", "max")
    )
    table = table.reset_index()
    table["seconds_std"] = table["seconds_std"].fillna(0.0)
    return _ordered(table, labels).reset_index(drop=True)


def display(table: pd.DataFrame, columns: Mapping[str, str]) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (dataset, task): label-indexed frames of the named columns, rounded for reading."""
    frames = {}
    for (dataset, task), block in table.groupby(["dataset", "task"], sort=False):
        frame = block.set_index("label")[list(columns)].rename(columns=columns)
        frames[(dataset, task)] = frame.round(4)
    return frames


def to_markdown(frame: pd.DataFrame, index_name: str = "method") -> str:
    """A GitHub-flavoured Markdown table of ``frame`` (index first)."""
    header = [index_name, *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in frame.iterrows():
        lines.append("| " + " | ".join([str(index), *map(str, row.tolist())]) + " |")
    return "\n".join(lines) + "\n"


def _latex_text(value: object) -> str:
    text = str(value).replace("±", r"$\pm$")
    for char in "&%#_":
        text = text.replace(char, "\\" + char)
    return text


def to_latex(frame: pd.DataFrame, caption: str, index_name: str = "Method") -> str:
    """A booktabs ``table`` environment of ``frame`` (index first), ready for a paper."""
    columns = [index_name, *map(str, frame.columns)]
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_text(caption)}}}",
        r"\begin{tabular}{l" + "c" * len(frame.columns) + "}",
        r"\toprule",
        " & ".join(_latex_text(c) for c in columns) + r" \\",
        r"\midrule",
    ]
    for index, row in frame.iterrows():
        lines.append(" & ".join(_latex_text(v) for v in [index, *row.tolist()]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, heading: str) -> str:
    """An HTML table of ``frame`` under an ``h3`` heading (for reports)."""
    return f"<h3>{html.escape(heading)}</h3>\n" + frame.to_html(border=0)


def sections(frames: Mapping[tuple[str, str], pd.DataFrame], render, title: str) -> str:
    """Render each (dataset, task) frame under a heading (Markdown, HTML) or as a LaTeX table."""
    parts = []
    for (dataset, task), frame in frames.items():
        if render is to_latex:
            parts.append(to_latex(frame, f"{title}: {dataset}, {task}"))
        elif render is to_html:
            parts.append(to_html(frame, f"{title}: {dataset} / {task}"))
        else:
            parts.append(f"## {title}: {dataset} / {task}\n\n" + to_markdown(frame))
    return "\n".join(parts)
