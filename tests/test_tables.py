"""Experiment tables from real metrics files: columns, slice counts, the convention they state,
and refusals of files no table may show."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dblend.cli import main
from dblend.io import write_array
from dblend.report.html import write_report

LABELS = {"dark": "Too dark", "bright": "Too bright"}
OFFSETS = {"dark": -0.1, "bright": 0.05}


def evaluate(tmp_path: Path, method: str, volume: str, convention: str) -> Path:
    """Score a reconstruction that is the truth plus the method's offset on the tissue."""
    truth = np.zeros((8, 8, 8))
    truth[2:, 1:, :] = 0.5  # axial z = 0, 1 and coronal y = 0 are air
    estimate = np.where(truth > 0, truth + OFFSETS[method], 0.0)
    write_array(tmp_path / f"{volume}.h5", truth, {})
    recon = tmp_path / f"{method}_{volume}.h5"
    write_array(recon, estimate, {"seconds": 2.0, "nfe": 10})
    out = tmp_path / "metrics" / f"{method}_{volume}.csv"
    labels = {"dataset": "demo", "task": "sv8", "method": method, "volume": volume}
    argv = ["--truth", str(tmp_path / f"{volume}.h5"), "--recon", str(recon)]
    argv += ["--labels", json.dumps(labels), "--evaluation", json.dumps({"convention": convention})]
    assert main(["evaluate", *argv, "--out", str(out)]) == 0
    return out


def experiment_tables(metrics: list[Path], out_dir: Path) -> int:
    argv = ["--metrics", *map(str, metrics), "--labels", json.dumps(LABELS)]
    argv += ["--run-name", "offsets", "--config-section", json.dumps({"methods": LABELS})]
    return main(["experiment_tables", *argv, "--out-dir", str(out_dir)])


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("tables")
    metrics = [evaluate(tmp_path, m, v, "anatomy") for m in LABELS for v in ("p1", "p2")]
    assert experiment_tables(metrics, tmp_path / "experiment") == 0
    return tmp_path / "experiment"


def test_summary_has_the_slice_counts_and_whole_volume_scores(tables):
    summary = pd.read_csv(tables / "summary.csv")
    assert list(summary.columns) == [
        "dataset", "task", "method", "plane", "convention", "psnr_mean", "psnr_std", "ssim_mean",
        "ssim_std", "slices_scored", "slices", "volume_psnr_mean", "volume_psnr_std",
        "volume_ssim_mean", "volume_ssim_std", "volumes", "label",
    ]  # fmt: skip
    assert list(summary["method"]) == ["dark"] * 3 + ["bright"] * 3
    assert list(summary["slices_scored"]) == [12, 14, 16] * 2, "summed over the two volumes"
    assert set(summary["slices"]) == {16}
    assert set(summary["convention"]) == {"anatomy"}
    bright = summary[summary["method"] == "bright"].set_index("plane")
    # Error 0.05 on 56 of 64 pixels of each scored axial slice, on 336 of 512 voxels in all.
    assert bright.loc["axial", "psnr_mean"] == pytest.approx(-10 * math.log10(0.0025 * 56 / 64))
    assert bright.loc["axial", "volume_psnr_mean"] == pytest.approx(
        -10 * math.log10(0.0025 * 336 / 512)
    )
    assert (summary[["psnr_std", "volume_psnr_std"]] == 0.0).all().all()


def test_every_rendering_states_the_convention_and_the_columns(tables):
    markdown = (tables / "summary.md").read_text()
    assert "Convention anatomy: PSNR and SSIM averaged over the slices that hold" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| method"))
    assert header == (
        "| method | axial PSNR | axial SSIM | axial slices | coronal PSNR | coronal SSIM | "
        "coronal slices | sagittal PSNR | sagittal SSIM | sagittal slices | volume PSNR | "
        "volume SSIM |"
    )
    assert "| 12/16 | " in markdown
    assert r"\caption{PSNR / SSIM per plane and per volume" in (tables / "summary.tex").read_text()
    assert "Convention anatomy" in (tables / "summary.tex").read_text()
    assert "<p>Convention anatomy:" in (tables / "summary.html").read_text()
    assert "Convention" not in (tables / "tv.md").read_text(), "TV does not depend on it"


def test_tables_refuse_a_metrics_file_with_infinity(tables, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(tables / "metrics.csv")
    frame.loc[0, "psnr"] = np.inf
    frame.to_csv(bad, index=False)
    assert experiment_tables([bad], tmp_path / "out") == 2
    assert f"{bad}: 1 values are NaN or infinite" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_tables_refuse_old_files_and_mixed_conventions(tables, tmp_path, capsys):
    old = tmp_path / "old.csv"
    pd.read_csv(tables / "metrics.csv").drop(columns=["convention"]).to_csv(old, index=False)
    assert experiment_tables([old], tmp_path / "out") == 2
    assert f"{old}: no column 'convention'; evaluate it again" in capsys.readouterr().err
    tpdm = evaluate(tmp_path, "dark", "p3", "tpdm")
    assert experiment_tables([tables / "metrics.csv", tpdm], tmp_path / "out") == 2
    assert "conventions ['anatomy', 'tpdm']" in capsys.readouterr().err


def test_report_captions_each_summary_with_its_convention(tables, tmp_path):
    out = tmp_path / "report.html"
    write_report({tables: "Offsets"}, out)
    page = " ".join(out.read_text().split())
    assert "<p>Convention anatomy:" in page, "the table's own note"
    assert "scored under convention <code>anatomy</code> (config <code>evaluation</code>)" in page
