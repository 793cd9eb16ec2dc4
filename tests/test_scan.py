"""Scanning a folder of DICOM series: what each series is, and which one each patient uses."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_factory import write_series

from dblend.cli import main
from dblend.data.scan import USED, format_table, missing_patients, scan_copy


@pytest.fixture
def copy(tmp_path) -> Path:
    write_series(tmp_path / "L067" / "full_1mm", 5, patient_id="L067", step=2.5)
    write_series(tmp_path / "L067" / "quarter_1mm", 5, patient_id="L067", step=1.0)
    write_series(
        tmp_path / "L096" / "full_1mm", 4, rows=16, cols=12, spacing=(0.8, 0.6), patient_id="L096"
    )
    write_series(tmp_path / "L109" / "x", 3, patient_id="L109", modality="MR", description="Full")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not DICOM")
    return tmp_path


def by_folder(summaries) -> dict[str, object]:
    return {s.folder.as_posix(): s for s in summaries}


def test_every_series_is_described_from_its_headers(copy):
    found = by_folder(scan_copy(copy))
    assert set(found) == {"L067/full_1mm", "L067/quarter_1mm", "L096/full_1mm", "L109/x"}
    full = found["L067/full_1mm"]
    assert (full.patient_id, full.modality, full.slices) == ("L067", "CT", 5)
    assert full.slice_spacing == pytest.approx(2.5) and found["L067/quarter_1mm"].slices == 5
    other = found["L096/full_1mm"]
    assert (other.rows, other.columns, other.pixel_spacing) == (16, 12, (0.8, 0.6))
    assert found["L109/x"].modality == "MR"


def test_the_series_used_is_the_one_preprocessing_would_pick(copy):
    found = by_folder(scan_copy(copy))
    assert found["L067/full_1mm"].status.startswith("ambiguous: 2 series")
    assert found["L096/full_1mm"].status == USED
    found = by_folder(scan_copy(copy, match="FULL", patients=["L067", "L096", "L200"]))
    assert found["L067/full_1mm"].status == USED
    assert found["L067/quarter_1mm"].status == "does not fit match/manifest"
    assert found["L109/x"].status == "patient not in the split"
    summaries = list(found.values())
    assert missing_patients(summaries, ["L067", "L096", "L200"]) == ["L200"]


def test_table_lists_size_and_spacing(copy):
    table = format_table(scan_copy(copy, match="full_1mm")).splitlines()
    assert table[0].split()[:4] == ["patient", "modality", "slices", "size"]
    row = next(line for line in table if "L096/full_1mm" in line)
    assert "16 x 12" in row and "2.5, 0.8, 0.6" in row and row.endswith(USED)


def test_scan_command_prints_the_table_and_names_patients_without_a_series(copy, capsys):
    assert main(["scan", str(copy), "--match", "full_1mm", "--patients", "L067", "L096"]) == 0
    out = capsys.readouterr().out
    assert "L067/full_1mm" in out and "L109/x" in out
    assert main(["scan", str(copy), "--patients", "L067", "L096"]) == 2
    assert "no usable series for patient(s) L067" in capsys.readouterr().err
