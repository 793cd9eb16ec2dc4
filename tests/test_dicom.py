"""DICOM series through the real reader and preprocessing: order, HU, and each bad case named."""

from __future__ import annotations

import random

import numpy as np
import pytest
from dicom_factory import slice_hu, write_ct_file, write_series

from dblend.data.dicom import read_series
from dblend.data.local import find_patient_series
from dblend.data.preprocess import PREPROCESS_VERSION, PreprocessSpec, preprocess_series
from dblend.errors import ConfigError, DataFileError
from dblend.io import read_array
from dblend.provenance import software_versions

# Feet-first style orientation: column direction -y flips the normal to -z, so ordering by raw
# z or by InstanceNumber (written in reverse) would both give the wrong order.
FLIPPED = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)


@pytest.mark.parametrize("orientation", [(1.0, 0.0, 0.0, 0.0, 1.0, 0.0), FLIPPED])
@pytest.mark.parametrize("step", [2.5, -2.5])
def test_slices_follow_the_normal_whatever_names_and_numbers_say(tmp_path, orientation, step):
    count = 7
    names = [f"{n}.dcm" for n in random.Random(0).sample(range(100, 200), count)]
    paths = write_series(
        tmp_path,
        count,
        orientation=orientation,
        step=step,
        slope=2.0,
        intercept=-1000.0,
        names=names,
    )
    series = read_series(tmp_path)
    # Slice k sits at k * step along the normal: ascending order is k for a positive step.
    expected = list(range(count)) if step > 0 else list(range(count))[::-1]
    assert [paths.index(p) for p in series.files] == expected
    assert np.all(np.diff(series.positions) > 0)
    np.testing.assert_allclose(np.diff(series.positions), abs(step))
    for index, k in enumerate(expected):
        np.testing.assert_array_equal(series.hu[index], slice_hu(k, 8, 8))
    assert series.hu.dtype == np.float32 and series.pixel_spacing == (0.7, 0.7)


def test_missing_slice_is_named(tmp_path):
    paths = write_series(tmp_path, 8)
    paths[4].unlink()
    with pytest.raises(DataFileError, match=r"missing slice between 003\.dcm .* and 005\.dcm"):
        read_series(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"series_uid": "1.2.3.4"}, "SeriesInstanceUID 1.2.3.4 differs"),
        ({"orientation": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)}, "ImageOrientationPatient"),
        ({"hu": slice_hu(0, 8, 10)}, r"Rows x Columns \(8, 10\) differs from \(8, 8\)"),
        ({"spacing": (0.8, 0.8)}, r"PixelSpacing \[0.8, 0.8\] differs"),
    ],
)
def test_mixed_series_names_the_odd_file(tmp_path, change, message):
    paths = write_series(tmp_path, 5, series_uid="1.2.3.5")
    odd = tmp_path / "zz_odd.dcm"
    settings = {
        "hu": slice_hu(5, 8, 8),
        "position": (-5.0, -5.0, -100.0 + 5 * 2.5),
        "series_uid": "1.2.3.5",
    }
    write_ct_file(odd, **{**settings, **change})
    with pytest.raises(DataFileError, match=message) as caught:
        read_series(tmp_path)
    assert str(odd) in str(caught.value) and paths[0].name in str(caught.value)


@pytest.mark.parametrize(
    ("keep", "message"),
    [
        (0.1, "unreadable DICOM file"),  # cut inside the preamble
        (0.5, "missing SeriesInstanceUID, .*; truncated"),  # cut inside the header
        (0.9, "unreadable pixel data, truncated file"),  # cut inside the pixel data
    ],
)
def test_truncated_file_is_named(tmp_path, keep, message):
    paths = write_series(tmp_path, 5)
    data = paths[2].read_bytes()
    paths[2].write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(DataFileError, match=message) as caught:
        read_series(tmp_path)
    assert str(caught.value).startswith(f"{paths[2]}: ")


def test_empty_or_duplicated_series_refused(tmp_path):
    with pytest.raises(DataFileError, match="found 0 CT image file"):
        read_series(tmp_path)
    write_series(tmp_path, 3, series_uid="1.2.3.6")
    write_ct_file(
        tmp_path / "copy.dcm", slice_hu(1, 8, 8), position=(-5, -5, -97.5), series_uid="1.2.3.6"
    )
    with pytest.raises(DataFileError, match="same slice position"):
        read_series(tmp_path)


def test_non_dicom_files_beside_the_series_are_ignored(tmp_path):
    write_series(tmp_path, 3)
    (tmp_path / "md5hashes.csv").write_text("Filename,MD5Hash\n")
    (tmp_path / "._000.dcm").write_bytes(b"\0" * 10)  # a macOS resource-fork companion
    assert len(read_series(tmp_path).files) == 3


def test_preprocess_windows_resamples_and_records_provenance(tmp_path):
    write_series(tmp_path / "s", 9, rows=32, cols=32, step=1.0, series_uid="1.2.3.7")
    spec = PreprocessSpec(size=16, hu_window=(-1000.0, -500.0), slice_spacing=0.5, slices=11)
    out = tmp_path / "out" / "P001.h5"
    preprocess_series(tmp_path / "s", out, spec, patient_id="P001")
    volume, attrs = read_array(out)
    assert volume.shape == (11, 16, 16) and volume.dtype == np.float32
    assert volume.min() >= 0.0 and volume.max() <= 1.0
    # 0.5 mm from 9 slices at 1 mm gives 17; the middle 11 start at native slice 1.5, and the
    # top-left HU of output slice i is -1000 + 150 + 50 i (plus a few HU of in-plane ramp),
    # clipped once it passes the window's top.
    expected = np.minimum((150 + 50 * np.arange(11)) / 500, 1.0)
    assert volume[:, 0, 0] == pytest.approx(expected, abs=0.02)
    assert volume[-1].min() == 1.0
    assert attrs == {
        "source": "dicom",
        "source_uids": ["1.2.3.7"],
        "patient_id": "P001",
        "spacing_mm": [0.5, 1.4, 1.4],
        "orientation": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        # the first pixel centre of 1.4 mm pixels lies half a native 0.7 mm pixel inside, and
        # the first kept slice is native slice 1.5 (1 mm apart from z = -100)
        "origin_mm": [-4.65, -4.65, -98.5],
        "hu_window": [-1000.0, -500.0],
        "preprocessing_version": PREPROCESS_VERSION,
        "source_files": 9,
        "software": software_versions(),
    }


def test_preprocess_z_range_and_native_spacing(tmp_path):
    write_series(tmp_path / "s", 10, step=2.0, origin=(0, 0, 0))
    out = tmp_path / "v.h5"
    preprocess_series(tmp_path / "s", out, PreprocessSpec(size=8, z_range=(3.0, 13.0)))
    volume, attrs = read_array(out)
    assert volume.shape == (5, 8, 8) and attrs["spacing_mm"][0] == 2.0
    window = (np.clip(slice_hu(2, 8, 8), -1000, 1000) + 1000) / 2000
    np.testing.assert_allclose(volume[0], window, atol=1e-6)


def test_failed_checks_write_nothing(tmp_path):
    write_series(tmp_path / "s", 6, patient_id="P001")
    out = tmp_path / "out" / "v.h5"
    with pytest.raises(ConfigError, match=r"50 slices requested, series .* has 6"):
        preprocess_series(tmp_path / "s", out, PreprocessSpec(size=8, slices=50))
    with pytest.raises(DataFileError, match="PatientID 'P001', expected 'P002'"):
        preprocess_series(tmp_path / "s", out, PreprocessSpec(size=8), patient_id="P002")
    (tmp_path / "s" / "003.dcm").unlink()
    with pytest.raises(DataFileError, match="missing slice"):
        preprocess_series(tmp_path / "s", out, PreprocessSpec(size=8))
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"sise": 256}, r"preprocess\.sise: unknown key"),
        ({"hu_window": [1000, -1000]}, r"preprocess\.hu_window: expected \[low, high\]"),
        ({"hu_window": 1000}, r"preprocess\.hu_window: expected \[low, high\]"),
        ({"z_range": [0, "top"]}, r"preprocess\.z_range"),
        ({"slice_spacing": 0}, r"preprocess\.slice_spacing"),
        ({"slices": 2.5}, r"preprocess\.slices"),
    ],
)
def test_bad_preprocess_settings_name_the_key(section, message):
    with pytest.raises(ConfigError, match=message):
        PreprocessSpec.from_config(section)


def test_local_copy_finds_the_patients_series(tmp_path):
    write_series(tmp_path / "L067" / "full_1mm", 3, patient_id="L067", series_uid="1.2.1")
    write_series(tmp_path / "L067" / "quarter_1mm", 3, patient_id="L067", series_uid="1.2.2")
    write_series(tmp_path / "L096" / "full_1mm", 3, patient_id="L096", series_uid="1.2.3")
    assert find_patient_series(tmp_path, "L067", match="FULL_1mm") == tmp_path / "L067/full_1mm"
    assert find_patient_series(tmp_path, "L067", series_uids={"1.2.2"}).name == "quarter_1mm"
    with pytest.raises(ConfigError, match=r"2 series of patient L067 .*\n.*full_1mm"):
        find_patient_series(tmp_path, "L067")
    with pytest.raises(DataFileError, match="no DICOM series of patient L109"):
        find_patient_series(tmp_path, "L109")
