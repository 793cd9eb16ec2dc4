"""This workflow as a module of another one (Snakemake `module`, as snakedeploy sets it up), and
planning that needs none of the package's heavy imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from dblend.io import read_attrs

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {
    "torch", "diffusers", "astra", "numpy", "scipy", "pandas", "skimage", "h5py", "matplotlib",
    "pydicom", "nibabel", "tcia_utils",
}  # fmt: skip
IMPORT = re.compile(r"^(?:from dblend\S* import (?:\([^)]*\)|.+)|import dblend\S*)$", re.M)


def plan_time_imports() -> list[str]:
    """The dblend import statements of the Snakefile and the rule files."""
    files = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]
    return [match.group(0) for path in files for match in IMPORT.finditer(path.read_text())]


def test_planning_imports_none_of_the_heavy_packages():
    statements = plan_time_imports()
    assert any("import config" in s for s in statements), statements
    code = "\n".join([*statements, "import sys", "print(' '.join(sys.modules))"])
    loaded = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert sorted(HEAVY & {name.partition(".")[0] for name in loaded}) == []


OUTER = """\
configfile: "{root}/config/config.yaml"
configfile: "config/tiny.yaml"


module dblend:
    snakefile: "{root}/Snakefile"
    config: config


use rule * from dblend
"""


@pytest.mark.slow
def test_tiny_config_runs_as_a_module_of_a_workflow_elsewhere(tmp_path):
    """An outer workflow in another folder, with its own copy of the tiny config, runs the
    chain from phantoms to the report and the NIfTI exports through `use rule * from dblend`.
    Its copy keeps the FBP row only: training and sampling are the same rules test_workflow runs,
    and a module proves nothing more by running them twice."""
    tiny = yaml.safe_load((ROOT / "config" / "test" / "tiny.yaml").read_text())
    tiny["experiments"]["tiny"]["methods"] = ["fbp"]
    tiny["run"] = ["tiny"]
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    (tmp_path / "Snakefile").write_text(OUTER.format(root=ROOT))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "2", "all", "nifti"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = tmp_path / "results"
    run = results / "tiny"  # the run's own folder, named by the config's `name`
    assert set(pd.read_csv(run / "tables" / "metrics.csv")["dataset"]) == {"tiny"}
    assert "How to cite" in (run / "report" / "report.html").read_text()
    volume = results / "data" / "tiny" / "phantom003.h5"
    truth = nib.load(results / "nifti" / "data" / "tiny" / "phantom003.nii.gz")
    recon = nib.load(
        next((results / "nifti" / "recon" / "tiny" / "sv8").glob("fbp-*/phantom003.nii.gz"))
    )
    np.testing.assert_allclose(recon.affine, truth.affine)
    z, y, x = read_attrs(volume)["spacing_mm"]
    np.testing.assert_allclose(truth.header.get_zooms(), (x, y, z))
    assert (x, z) == (360.0 / 32, 2.5)
