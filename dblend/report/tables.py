"""Tables of the long-format metrics in the paper's layout, as CSV, Markdown and LaTeX.

PSNR/SSIM: mean +- std over test volumes, per plane (axial, coronal, sagittal) with the slices
each plane was scored on, and of the whole volume; one table per data set and task with methods
as rows, saying which scoring convention made it. Total variation: each method's mean TV beside
the ground truth's (DDS over-smooths). Runtime: wall seconds and network evaluations per volume.
``volumes`` counts the values each mean is taken over; a single volume has no std (empty in
the CSV), shown as "n = 1", never as a spread of 0.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dblend.errors import DataFileError
from dblend.metrics import PLANES, convention_note

KEYS = ["dataset", "task", "method"]
TV_COLUMNS = {"tv": "TV", "tv_truth": "TV ground truth", "tv_ratio": "ratio"}
ONE_VOLUME = "n = 1"
"""Shown where a std would be: the mean is of one volume, so there is no spread."""
RUNTIME_COLUMNS = {
    "seconds_mean": "seconds",
    "seconds_std": "± std",
    "steps": "steps",
    "nfe": "NFE",
    "network_inputs": "network inputs",
    "input_slices": "input slices",
    "network_calls": "batched calls",
    "peak_rss_mb": "peak RSS (MiB)",
    "peak_gpu_mb": "peak GPU (MiB)",
}
"""Work per volume under separate names. NFE counts network evaluations of the whole volume
(one per sampling step; two per DiffusionMBIR predictor-corrector step): the paper's NFE. Network
inputs are the patches (or single slices) those evaluations feed the network, input slices the
slices in them, batched calls the forward passes they take."""
RUNTIME_DECIMALS = {
    "seconds": 1,
    "± std": 1,
    **{name: 0 for key, name in RUNTIME_COLUMNS.items() if not key.startswith("seconds")},
}
"""Seconds to 0.1; memory in whole MiB and counts as whole numbers (a mean over volumes of
different sizes rounded to one)."""
SLICES_NOTE = "'slices': slices scored of all slices in the plane, summed over the test volumes."
METRIC_COLUMNS = [
    "psnr", "ssim", "slices_scored", "slices", "volume_psnr", "volume_ssim", "seconds", "nfe",
    "tv", "tv_truth",
]  # fmt: skip
"""The numbers every metrics file must hold, finite, beside its labels and convention."""


def read_metrics(paths: Sequence[Path]) -> pd.DataFrame:
    """The metrics files of an experiment as one frame; refuses a file with a missing column or
    a value that is not finite, naming it (an old file: evaluate it again)."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        missing = [c for c in ["convention", *METRIC_COLUMNS] if c not in frame.columns]
        if missing:
            raise DataFileError(f"{path}: no column {missing[0]!r}; evaluate it again")
        values = frame[METRIC_COLUMNS].to_numpy(dtype=np.float64)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise DataFileError(f"{path}: {bad} values are NaN or infinite; evaluate it again")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def convention_of(metrics: pd.DataFrame) -> str:
    """The one scoring convention behind ``metrics`` (tables never mix two)."""
    conventions = sorted(set(metrics["convention"]))
    if len(conventions) != 1:
        raise DataFileError(f"metrics scored under conventions {conventions}; evaluate them again")
    return conventions[0]


def summary_note(convention: str) -> str:
    """What a summary table's numbers are: its convention and its slice counts."""
    return f"{convention_note(convention)} {SLICES_NOTE}"


def _ordered(frame: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """Rows of the methods in ``labels`` (in its order), with a 'label' column."""
    rank = {name: i for i, name in enumerate(labels)}
    frame = frame[frame["method"].isin(rank)].copy()
    frame["label"] = frame["method"].map(labels)
    return frame.sort_values("method", key=lambda c: c.map(rank), kind="stable")


def summary(metrics: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    """One row per (dataset, task, method, plane): mean and std of PSNR and SSIM, the slices
    scored and in all (summed over volumes), and the whole-volume PSNR and SSIM."""
    table = (
        metrics.groupby([*KEYS, "plane", "convention"], sort=False)
        .agg(
            psnr_mean=("psnr", "mean"),
            psnr_std=("psnr", "std"),
            ssim_mean=("ssim", "mean"),
            ssim_std=("ssim", "std"),
            slices_scored=("slices_scored", "sum"),
            slices=("slices", "sum"),
            volume_psnr_mean=("volume_psnr", "mean"),
            volume_psnr_std=("volume_psnr", "std"),
            volume_ssim_mean=("volume_ssim", "mean"),
            volume_ssim_std=("volume_ssim", "std"),
            volumes=("psnr", "count"),
        )
        .reset_index()
    )
    return _ordered(table, labels).reset_index(drop=True)


def paper_layout(summary_table: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (dataset, task): method labels as rows; '<plane> PSNR' / '<plane> SSIM' as text, the
    slices scored of all ('<plane> slices'), then 'volume PSNR' / 'volume SSIM'."""
    layouts = {}
    for (dataset, task), block in summary_table.groupby(["dataset", "task"], sort=False):
        rows = {}
        for label, per_method in block.groupby("label", sort=False):
            cells = {}
            for plane in PLANES:
                row = per_method[per_method["plane"] == plane]
                if not row.empty:
                    cells.update(_plane_cells(plane, row.iloc[0]))
            first = per_method.iloc[0]
            cells["volume PSNR"] = _mean_std(first.volume_psnr_mean, first.volume_psnr_std, ".2f")
            cells["volume SSIM"] = _mean_std(first.volume_ssim_mean, first.volume_ssim_std, ".3f")
            rows[label] = cells
        layouts[(dataset, task)] = pd.DataFrame.from_dict(rows, orient="index")
    return layouts


def _plane_cells(plane: str, row: pd.Series) -> dict[str, str]:
    return {
        f"{plane} PSNR": _mean_std(row.psnr_mean, row.psnr_std, ".2f"),
        f"{plane} SSIM": _mean_std(row.ssim_mean, row.ssim_std, ".3f"),
        f"{plane} slices": f"{row.slices_scored}/{row.slices}",
    }


def _mean_std(mean: float, std: float, spec: str) -> str:
    """'mean ± std', or 'mean (n = 1)' where a single volume has no spread to show."""
    if pd.isna(std):
        return f"{mean:{spec}} ({ONE_VOLUME})"
    return f"{mean:{spec}} ± {std:{spec}}"


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
    """Per method: wall seconds (mean, std), the work counts of RUNTIME_COLUMNS (mean over
    volumes) and peak memory (max); columns the metrics do not hold (GPU memory on a CPU run)
    are left out."""
    per_volume = metrics.drop_duplicates([*KEYS, "volume"])
    held = [c for c in RUNTIME_COLUMNS if c in per_volume and per_volume[c].notna().any()]
    aggregations = {
        "seconds_mean": ("seconds", "mean"),
        "seconds_std": ("seconds", "std"),
        **{c: (c, "max" if c.startswith("peak_") else "mean") for c in held},
    }
    table = per_volume.groupby(KEYS, sort=False).agg(**aggregations).reset_index()
    return _ordered(table, labels).reset_index(drop=True)


def display(
    table: pd.DataFrame,
    columns: Mapping[str, str],
    decimals: Mapping[str, int] | None = None,
) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (dataset, task): label-indexed frames of the named columns that ``table`` holds,
    rounded for reading (``decimals`` per shown column name, 4 otherwise; 0 shows integers);
    a std over one volume shows ONE_VOLUME."""
    shown = {key: name for key, name in columns.items() if key in table}
    decimals = decimals or {}
    frames = {}
    for (dataset, task), block in table.groupby(["dataset", "task"], sort=False):
        frame = block.set_index("label")[list(shown)]
        shown_columns = {}
        for key, name in shown.items():
            places = decimals.get(name, 4)
            column = frame[key].round(places)
            if places == 0:
                column = column.astype("Int64")
            if key.endswith("_std"):
                column = column.astype(object).where(column.notna(), ONE_VOLUME)
            shown_columns[name] = column
        frames[(dataset, task)] = pd.DataFrame(shown_columns)
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


def to_html(frame: pd.DataFrame, heading: str, note: str = "", index_name: str = "method") -> str:
    """An HTML table of ``frame`` under an ``h3`` heading and a ``note`` paragraph (reports);
    the index comes first, headed ``index_name`` in the column row (no extra row for its name)."""
    paragraph = f"<p>{html.escape(note)}</p>\n" if note else ""
    table = frame.rename_axis(index_name).reset_index()
    return f"<h3>{html.escape(heading)}</h3>\n{paragraph}" + table.to_html(border=0, index=False)


def sections(
    frames: Mapping[tuple[str, str], pd.DataFrame], render, title: str, note: str = ""
) -> str:
    """Render each (dataset, task) frame under a heading (Markdown, HTML) or as a LaTeX table;
    ``note`` (what the numbers are) follows each heading, or ends each caption."""
    parts = []
    for (dataset, task), frame in frames.items():
        if render is to_latex:
            parts.append(to_latex(frame, f"{title}: {dataset}, {task}. {note}".strip()))
        elif render is to_html:
            parts.append(to_html(frame, f"{title}: {dataset} / {task}", note))
        else:
            paragraph = f"{note}\n\n" if note else ""
            parts.append(f"## {title}: {dataset} / {task}\n\n{paragraph}" + to_markdown(frame))
    return "\n".join(parts)
