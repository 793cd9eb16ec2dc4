"""The runtime table and the HTML rendering of every table."""

from __future__ import annotations

import pandas as pd

from dblend.report.tables import (
    RUNTIME_COLUMNS,
    RUNTIME_DECIMALS,
    display,
    runtime_table,
    to_html,
)

LABELS = {"fbp": "FBP", "dds": "DDS", "diffusionblend_pp": "DiffusionBlend++"}


def metrics() -> pd.DataFrame:
    rows = []
    work = {  # steps, nfe, inputs, slices per input, calls, seconds per volume
        "diffusionblend_pp": (200, 200, 2900, 3, 200, [77.04, 79.16]),
        "dds": (50, 50, 2000, 1, 50, [61.98, 62.02]),
        "fbp": (0, 0, 0, 1, 0, [0.0081, 0.0079]),
    }
    for method, (steps, nfe, inputs, k, calls, seconds) in work.items():
        for volume, wall in zip(("v1", "v2"), seconds, strict=True):
            for plane in ("axial", "coronal", "sagittal"):
                rows.append(
                    {
                        "dataset": "demo",
                        "task": "sv8",
                        "method": method,
                        "volume": volume,
                        "plane": plane,
                        "seconds": wall,
                        "steps": steps,
                        "nfe": nfe,
                        "network_inputs": inputs,
                        "input_slices": inputs * k,
                        "network_calls": calls,
                        "peak_rss_mb": 1000.4 + len(method) + (volume == "v2"),
                        "peak_gpu_mb": None,
                    }
                )
    return pd.DataFrame(rows)


def test_runtime_table_names_each_count_and_rounds_for_reading():
    table = runtime_table(metrics(), LABELS)
    assert list(table["label"]) == ["FBP", "DDS", "DiffusionBlend++"], "the config's order"
    frame = display(table, RUNTIME_COLUMNS, RUNTIME_DECIMALS)[("demo", "sv8")]
    assert list(frame.columns) == [
        "seconds",
        "± std",
        "steps",
        "NFE",
        "network inputs",
        "input slices",
        "batched calls",
        "peak RSS (MiB)",
    ], "no GPU column on a CPU run"
    row = frame.loc["DiffusionBlend++"]
    assert (row["seconds"], row["± std"]) == (78.1, 1.5)
    assert (row["NFE"], row["network inputs"], row["input slices"]) == (200, 2900, 8700)
    assert row["peak RSS (MiB)"] == 1018 and str(frame["peak RSS (MiB)"].dtype) == "Int64"
    counts = ["steps", "NFE", "network inputs", "input slices", "batched calls"]
    assert all(str(frame[c].dtype) == "Int64" for c in counts), "counts print as 50, not 50.0"
    assert frame.loc["FBP", "seconds"] == 0.0


def test_html_tables_have_one_header_row_naming_the_method_column():
    frame = display(runtime_table(metrics(), LABELS), RUNTIME_COLUMNS, RUNTIME_DECIMALS)
    page = to_html(frame[("demo", "sv8")], "Runtime")
    header = page.split("<thead>")[1].split("</thead>")[0]
    assert header.count("<tr") == 1
    assert "<th>method</th>" in header and "label" not in page
    assert "<td>DiffusionBlend++</td>" in page
