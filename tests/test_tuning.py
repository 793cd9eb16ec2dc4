"""Tuning targets: a sweep scored on the validation volumes only, and the table it chose from."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dblend.config import validate
from dblend.errors import ConfigError
from dblend.provenance import reconstruction_key
from dblend.stages.tuning_choice import tuning_choice

ROOT = Path(__file__).resolve().parents[1]
POINTS = [
    {"method": "blend", "key": "lam", "value": value, "name": f"blend_lam_{i}"}
    for i, value in enumerate([1e-4, 3e-4, 1e-3])
]


def summary_of(psnr: dict[str, tuple[float, float, float]]) -> pd.DataFrame:
    """A summary table (as experiment_tables writes it) with the given PSNR per plane."""
    rows = [
        {"dataset": "demo", "task": "sv8", "method": name, "plane": plane, "psnr_mean": value}
        for name, values in psnr.items()
        for plane, value in zip(("axial", "coronal", "sagittal"), values, strict=True)
    ]
    return pd.DataFrame(rows)


def test_the_value_with_the_best_mean_over_planes_is_chosen(tmp_path):
    summary = summary_of(
        {"blend_lam_0": (27.0, 33.0, 28.0), "blend_lam_1": (27.5, 33.2, 28.1),
         "blend_lam_2": (28.0, 32.0, 27.9)}  # best axial, but not the best mean
    )  # fmt: skip
    summary.to_csv(tmp_path / "summary.csv", index=False)
    tuning_choice(
        summary_csv=tmp_path / "summary.csv", points=POINTS, title="Tuning", out_dir=tmp_path
    )
    table = pd.read_csv(tmp_path / "choice.csv")
    assert table["chosen"].tolist() == [False, True, False]
    assert table.loc[1, "value"] == 3e-4 and table.loc[1, "method"] == "blend"
    assert table.loc[1, "mean"] == pytest.approx((27.5 + 33.2 + 28.1) / 3)
    markdown = (tmp_path / "choice.md").read_text()
    assert "| **blend** | **lam** | **0.0003** | **27.50** |" in markdown
    assert "| blend | lam | 0.001 | 28.00 |" in markdown


def test_a_tuning_target_without_a_sweep_is_refused():
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    config["experiments"]["tune_lam"].pop("sweep")
    with pytest.raises(ConfigError, match=r"experiments\.tune_lam: 'sweep' is a required"):
        validate(config)


def test_the_demos_tuning_target_plans_the_validation_phantom_only(tmp_path):
    config = validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    entry = config["experiments"]["tune_lam"]
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "tune_lam"]
    command += ["-d", str(tmp_path), "-n", "--printshellcmds"]
    plan = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr[-4000:]
    recons = set(re.findall(r"results/recon/demo/sv8/([\w-]+)/(\w+)\.h5", plan.stdout))
    swept = {f"diffusionblend_pp_lam_{v}" for v in ("0p0001", "0p0003", "0p001")}
    keys = {reconstruction_key(config, "demo", "sv8", method) for method in swept}
    assert recons == {(key, "phantom007") for key in keys}, "validation phantom only"
    assert len(entry["sweep"]["values"]) == len(swept)
    assert "dblend tuning_choice" in plan.stdout
    assert "results/demo/experiments/tune_lam/choice.md" in plan.stdout
