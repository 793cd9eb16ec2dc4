"""The table a validation tuning target chooses from.

A target with ``split: validation`` sweeps keys of a method on the validation volumes only; this
table lists each swept value's mean PSNR per plane there and marks, per data set, task and
method, the value with the best mean over the three planes. Test volumes are never scored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dblend.metrics import PLANES

CHOICE_COLUMNS = ["dataset", "task", "method", "key", "value", *PLANES, "mean", "chosen"]


def tuning_table(summary: pd.DataFrame, points: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per swept value: PSNR per plane, their mean, and whether it is the one chosen."""
    lookup = pd.DataFrame(points).rename(columns={"method": "base", "name": "method"})
    psnr = summary[summary["plane"].isin(PLANES)].pivot_table(
        index=["dataset", "task", "method"], columns="plane", values="psnr_mean"
    )
    table = psnr.reset_index().merge(lookup, on="method")
    table["mean"] = table[list(PLANES)].mean(axis=1)
    best = table.groupby(["dataset", "task", "base"], sort=False)["mean"].idxmax()
    table["chosen"] = table.index.isin(best)
    table = table.drop(columns="method").rename(columns={"base": "method"})
    return table[CHOICE_COLUMNS].reset_index(drop=True)


def tuning_markdown(table: pd.DataFrame, title: str) -> str:
    """The table as Markdown, one section per data set and task, the chosen value in bold."""
    parts = [f"# {title}\n\nMean PSNR (dB) on the validation volumes; chosen: best mean.\n"]
    for (dataset, task), block in table.groupby(["dataset", "task"], sort=False):
        header = ["method", "key", "value", *(f"{plane} PSNR" for plane in PLANES), "mean"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in block.itertuples(index=False):
            cells = [row.method, row.key, f"{row.value:g}"]
            cells += [f"{getattr(row, plane):.2f}" for plane in PLANES] + [f"{row.mean:.2f}"]
            if row.chosen:
                cells = [f"**{cell}**" for cell in cells]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append(f"## {dataset} / {task}\n\n" + "\n".join(lines) + "\n")
    return "\n".join(parts)
