"""Every file the pipeline writes records the software that made it, and the report lists it."""

from __future__ import annotations

from importlib import metadata

import numpy as np
import torch

from dblend import __version__
from dblend.io import read_attrs, write_array
from dblend.models.checkpoint import read_checkpoint, save_checkpoint
from dblend.provenance import RECORDED, software_versions
from dblend.report.html import write_report


def test_versions_name_dblend_python_and_the_numerical_stack():
    versions = software_versions()
    assert set(versions) == {"dblend", "python", *RECORDED}
    assert {"torch", "diffusers", "astra-toolbox", "numpy"} <= set(RECORDED)
    assert versions["dblend"] == __version__
    assert versions["torch"] == torch.__version__
    assert versions["numpy"] == np.__version__
    assert versions["diffusers"] == metadata.version("diffusers")


def test_array_files_and_checkpoints_record_the_versions(tmp_path):
    write_array(tmp_path / "volume.h5", np.zeros((2, 4, 4)), {"source": "test"})
    attrs = read_attrs(tmp_path / "volume.h5")
    assert attrs["software"] == software_versions()
    assert attrs["source"] == "test"
    save_checkpoint(tmp_path / "prior.pt", {"weights": torch.ones(3)})
    assert read_checkpoint(tmp_path / "prior.pt", mmap=True)["software"] == software_versions()


def test_report_lists_each_distinct_software_set_with_its_count_and_ends_with_citations(tmp_path):
    ours = software_versions()
    older = {**ours, "torch": "2.3.0"}
    out = tmp_path / "report.html"
    write_report({}, out, software={"reconstructions": [ours, ours, older], "priors": [ours]})
    page = out.read_text()
    software = page[page.index("<h2>Software</h2>") : page.index("<h2>How to cite</h2>")]
    assert "<h3>reconstructions</h3>" in software and "<h3>priors</h3>" in software
    assert f"<td>2</td><td>{ours['astra-toolbox']}</td>" in software
    assert "<td>1</td>" in software and "<td>2.3.0</td>" in software
    cite = page[page.index("<h2>How to cite</h2>") :]
    assert "arXiv:2406.10211" in cite and "10.7937/K9/TCIA.2015.LO9QL9SX" in cite
    assert "10.7937/9npb-2637" in cite and page.endswith("</p>\n</body></html>")
