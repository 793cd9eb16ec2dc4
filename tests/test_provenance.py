"""What made a file: settings digests, keys and seeds; the software every file records."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from dblend import __version__
from dblend.config import deep_merge, validate
from dblend.io import read_attrs, write_array
from dblend.models.checkpoint import read_checkpoint, save_checkpoint
from dblend.provenance import (
    RECORDED,
    digest,
    reconstruction_key,
    reconstruction_settings,
    software_versions,
)
from dblend.report.html import write_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config() -> dict:
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    overlay = {
        "experiments": {
            "jumps": {
                "datasets": ["demo"],
                "tasks": ["sv8", "la90"],
                "methods": ["diffusionblend_pp", "dds"],
                "sweep": {"key": "steps", "values": [200, 50, 10]},
            }
        }
    }
    return validate(deep_merge(base, overlay))


def test_digest_is_canonical():
    assert digest({"a": 1, "b": [1, 2]}) == digest({"b": [1, 2], "a": 1})
    assert digest({"a": 1}) != digest({"a": 1.5})


def test_equal_settings_share_a_key_whatever_the_name_or_label(config):
    key = reconstruction_key(config, "demo", "sv8", "diffusionblend_pp")
    assert key.startswith("diffusionblend_pp-") and len(key.split("-")[1]) == 12
    assert reconstruction_key(config, "demo", "sv8", "diffusionblend_pp_steps_200") == key
    assert reconstruction_key(config, "demo", "sv8", "diffusionblend_pp_steps_50") != key
    assert reconstruction_key(config, "demo", "sv8", "dds_steps_50") == reconstruction_key(
        config, "demo", "sv8", "dds"
    )


def test_what_changes_a_reconstruction_changes_its_key(config):
    key = reconstruction_key(config, "demo", "sv8", "dds")
    changed = [
        ("tasks", "sv8", "views", 9),
        ("priors", "slice", "spacings", [1, 2]),
        ("networks", "small", "norm_groups", 8),
        ("datasets", "demo", "size", 32),
        ("datasets", "demo", "train", 7),
    ]
    for section, name, key_name, value in changed:
        other = deep_merge(config, {section: {name: {key_name: value}}})
        assert reconstruction_key(other, "demo", "sv8", "dds") != key, (section, key_name)
    assert reconstruction_key({**config, "seed": 1}, "demo", "sv8", "dds") != key


def test_what_leaves_a_reconstruction_alone_keeps_its_key(config):
    key = reconstruction_key(config, "demo", "sv8", "dds")
    other = deep_merge(
        config,
        {
            "datasets": {"demo": {"test": 8}},
            "methods": {"dds": {"label": "DDS (renamed)"}, "diffusionblend_pp": {"steps": 9}},
            "tasks": {"sv8": {"method_overrides": {"diffusionblend_pp": {"lam": 0.1}}}},
        },
    )
    assert reconstruction_key(other, "demo", "sv8", "dds") == key
    settings = reconstruction_settings(config, "demo", "la90", "dds")
    assert settings["method"]["lam"] == 0.001, "the task's override for this method applies"
    assert "method_overrides" not in settings["task"]


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
