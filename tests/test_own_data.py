"""docs/own_data.md as a user follows it: its overlay, verbatim, on a folder of DICOM series.

The overlay is read from the doc (not copied here) and run through Snakemake on DICOM series
this test writes for the doc's patients, with one more overlay that only makes the networks,
training and sampling tiny (config/test/tiny.yaml's priors and methods), so the data set, split,
matching, preprocessing and experiment are exactly the doc's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from dicom_factory import write_series
from doc_blocks import commands_of, files_of

from dblend.io import read_array

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "own_data.md"
OVERLAY = "config/my_ct.yaml"


def body_hu(k: int, rows: int, cols: int) -> np.ndarray:
    """An elliptical body (soft tissue) with a lung-like hole that drifts with the slice."""
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : cols * 1j]
    hu = np.where((x / 0.85) ** 2 + (y / 0.65) ** 2 < 1, 40.0, -1000.0)
    lung = ((x + 0.35 - 0.005 * k) / 0.25) ** 2 + (y / 0.35) ** 2 < 1
    return np.where(lung, -850.0, hu)


@pytest.fixture(scope="module")
def overlay() -> dict:
    return yaml.safe_load(files_of(DOC)[OVERLAY])


@pytest.fixture(scope="module")
def own_data_run(tmp_path_factory, overlay) -> Path:
    workdir = tmp_path_factory.mktemp("own")
    (workdir / "config").mkdir()
    (workdir / OVERLAY).write_text(files_of(DOC)[OVERLAY])
    dataset = next(iter(overlay["datasets"].values()))
    for patient in [p for side in dataset["patients"].values() for p in side]:
        folder = workdir / dataset["local_dir"] / patient
        write_series(folder / "ct_soft", 44, rows=48, cols=48, patient_id=patient, hu=body_hu)
        write_series(folder / "localizer", 2, patient_id=patient, description="scout")
    speed = workdir / "speed.yaml"
    speed.write_text(yaml.safe_dump(speed_overlay(overlay)))
    # The speed overlay first: the doc's, last, names the run after its file (my_ct).
    result = snakemake(workdir, "--cores", "2", "--configfile", str(speed), OVERLAY)
    assert result.returncode == 0, result.stderr[-4000:]
    return workdir


def speed_overlay(overlay: dict) -> dict:
    """Tiny networks and training (config/test/tiny.yaml's priors) and 3 sampling steps for every
    diffusion method of the doc's experiment: what runs is the doc's, only smaller."""
    tiny = yaml.safe_load((ROOT / "config" / "test" / "tiny.yaml").read_text())
    methods = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["methods"]
    chosen = [m for e in overlay["experiments"].values() for m in e["methods"]]
    return {
        "priors": tiny["priors"],
        "methods": {m: {"steps": 3} for m in chosen if "steps" in methods[m]},
    }


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """The workflow run from ``workdir`` (where a user's config/ and data/ are)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), *args]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=1800
    )


def test_the_doc_runs_its_overlay_with_the_commands_it_shows(overlay):
    commands = [str(c) for c in commands_of(DOC, ROOT)]
    assert f"snakemake --cores 2 --configfile {OVERLAY}" in commands
    dataset = overlay["datasets"]["my_ct"]
    assert dataset["source"] == "local_dicom" and "name" not in overlay, "run named after file"


def test_a_missing_local_copy_stops_the_plan_naming_the_key(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / OVERLAY).write_text(files_of(DOC)[OVERLAY])
    result = snakemake(tmp_path, "-n", "--configfile", OVERLAY)
    assert result.returncode != 0
    assert "config key datasets.my_ct.local_dir: " in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_own_dicom_series_run_end_to_end(own_data_run, overlay):
    dataset = overlay["datasets"]["my_ct"]
    results = own_data_run / "results"
    test_patient = dataset["patients"]["test"][0]
    volume, attrs = read_array(results / "data" / "my_ct" / f"{test_patient}.h5")
    size, slices = dataset["preprocess"]["size"], dataset["preprocess"]["slices"]
    assert volume.shape == (slices, size, size)
    assert attrs["patient_id"] == test_patient and attrs["source_files"] == 44, "not the scout"
    table = pd.read_csv(results / "my_ct" / "tables" / "metrics.csv")
    assert set(table["volume"]) == {test_patient}
    assert set(table["method"]) == set(overlay["experiments"]["my_ct"]["methods"])
    assert (results / "my_ct" / "report" / "report.html").is_file()
    figure = results / "my_ct" / "experiments" / "my_ct" / "figures" / "my_ct" / "sv8"
    assert (figure / f"{test_patient}.png").is_file()
    trained = {p.stem for p in (results / "priors" / "my_ct").glob("*.pt")}
    assert trained == {"patch", "slice"}
