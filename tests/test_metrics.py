"""Metrics on inputs whose answers are known by hand, under every scoring convention."""

from __future__ import annotations

import math
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from dblend.cli import main
from dblend.errors import ConfigError, DataFileError
from dblend.io import write_array
from dblend.metrics import (
    CONVENTIONS,
    PSNR_CAP_DB,
    Evaluation,
    plane_slices,
    psnr,
    score,
    total_variation,
)

ROOT = Path(__file__).resolve().parents[1]


def db(mse: float, data_range: float = 1.0) -> float:
    return 10.0 * math.log10(data_range**2 / mse)


def air_and_tissue() -> tuple[np.ndarray, np.ndarray]:
    """8 x 8 x 8: axial slices z = 0, 1 and coronal slice y = 0 are air (0); the rest is tissue
    at 0.5, which the estimate gets 0.1 too bright, while it gets the air exactly right."""
    truth = np.zeros((8, 8, 8))
    truth[2:, 1:, :] = 0.5
    estimate = np.where(truth > 0, 0.6, 0.0)
    return truth, estimate


# Squared error 0.01 on the tissue voxels: a share of each slice (or the volume) that holds tissue.
AXIAL_MSE = 0.01 * 56 / 64  # z >= 2: rows y >= 1 of 8
CORONAL_MSE = 0.01 * 48 / 64  # y >= 1: rows z >= 2 of 8
VOLUME_MSE = 0.01 * (6 * 7 * 8) / 512  # also every sagittal slice's: 6 x 7 of 8 x 8


def test_psnr_of_a_constant_offset_and_of_identical_images():
    truth = np.full((4, 8, 8), 0.5)
    assert psnr(truth, truth + 0.1) == pytest.approx(20.0)
    assert psnr(truth, truth + 0.2, data_range=2.0) == pytest.approx(20.0)
    assert psnr(truth, truth) == PSNR_CAP_DB == 100.0
    assert psnr(truth, truth + 1e-7) == PSNR_CAP_DB, "capped, not 140 dB"


def test_plane_slices_follow_the_axes():
    volume = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert plane_slices(volume, "axial").shape == (2, 3, 4)
    assert plane_slices(volume, "coronal").shape == (3, 2, 4)
    assert plane_slices(volume, "sagittal").shape == (4, 2, 3)
    assert np.array_equal(plane_slices(volume, "sagittal")[1], volume[:, :, 1])


def test_anatomy_convention_skips_air_slices_and_counts_them():
    scores = score(*air_and_tissue(), Evaluation("anatomy"))
    axial, coronal, sagittal = (scores.planes[p] for p in ("axial", "coronal", "sagittal"))
    assert (axial.slices_scored, axial.slices) == (6, 8), "z = 0, 1 are air"
    assert (coronal.slices_scored, coronal.slices) == (7, 8), "y = 0 is air"
    assert (sagittal.slices_scored, sagittal.slices) == (8, 8)
    assert axial.psnr == pytest.approx(db(AXIAL_MSE))  # 20.58 dB, not (2 x 100 + 6 x 20.58) / 8
    assert coronal.psnr == pytest.approx(db(CORONAL_MSE))
    assert sagittal.psnr == pytest.approx(db(VOLUME_MSE))
    assert scores.volume_psnr == pytest.approx(db(VOLUME_MSE))
    assert 0.0 < scores.volume_ssim < 1.0
    assert scores.outside_range == 0.0


def test_anatomy_threshold_and_fraction_decide_which_slices_count():
    truth, estimate = air_and_tissue()
    truth[0, 0, :2] = 1.0  # 2 of 64 pixels of the first axial slice
    estimate[0, 0, :2] = 1.0
    lenient = score(truth, estimate, Evaluation("anatomy", anatomy_fraction=0.03))
    assert lenient.planes["axial"].slices_scored == 7
    assert score(truth, estimate, Evaluation("anatomy")).planes["axial"].slices_scored == 6
    with pytest.raises(DataFileError, match="no axial slice holds anatomy"):
        score(truth, estimate, Evaluation("anatomy", anatomy_threshold=0.5))  # tissue is 0.5


def test_tpdm_convention_scores_each_plane_as_one_stack():
    scores = score(*air_and_tissue(), Evaluation("tpdm"))
    for plane in scores.planes.values():
        assert plane.psnr == pytest.approx(db(VOLUME_MSE))
        assert (plane.slices_scored, plane.slices) == (8, 8)
    # SSIM over every axial slice: the two identical slices of air score 1.
    tissue = score(*air_and_tissue(), Evaluation("anatomy")).planes["axial"].ssim
    assert scores.planes["axial"].ssim == pytest.approx((2 * 1.0 + 6 * tissue) / 8)


def test_dm4ct_convention_averages_every_slice_air_included():
    scores = score(*air_and_tissue(), Evaluation("dm4ct"))
    # On [-1, 1] the error is 0.2 and the data range 2: the same dB as 0.1 on [0, 1].
    assert scores.planes["axial"].psnr == pytest.approx((2 * 100.0 + 6 * db(AXIAL_MSE)) / 8)
    assert scores.planes["coronal"].psnr == pytest.approx((100.0 + 7 * db(CORONAL_MSE)) / 8)
    assert scores.planes["sagittal"].psnr == pytest.approx(db(VOLUME_MSE))
    assert scores.planes["axial"].slices_scored == 8


def test_dds_convention_normalises_each_image_by_its_own_range():
    levels = np.array([0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 1.0, 1.0])
    truth = np.broadcast_to(levels, (8, 8, 8)).copy()
    # An affine copy of the truth (0.2 + 0.4 t) with the middle level at 0.3 instead of 0.4:
    # normalised, 0.25 instead of 0.5 on half of the pixels of every axial and coronal slice.
    estimate = np.broadcast_to(np.array([0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 0.6, 0.6]), (8, 8, 8))
    scores = score(truth, estimate, Evaluation("dds"))
    half_wrong = db(0.25**2 / 2)  # 10 log10(32) = 15.05 dB
    assert scores.planes["axial"].psnr == pytest.approx(half_wrong)
    assert scores.planes["coronal"].psnr == pytest.approx(half_wrong)
    assert scores.planes["sagittal"].psnr == PSNR_CAP_DB, "constant slices normalise to zeros"
    assert scores.volume_psnr == pytest.approx(half_wrong)
    affine = score(truth, 0.2 + 0.4 * truth, Evaluation("dds"))
    assert affine.volume_psnr == PSNR_CAP_DB, "min-max normalisation hides scale and offset"


@pytest.mark.parametrize(
    ("convention", "expected_ssim", "expected_psnr"),
    [
        # Constant 0.5 against constant 0.6: SSIM is the luminance term (2ab + C1)/(a²+b²+C1)
        # with C1 = (0.01 L)², L the data range.
        ("anatomy", (2 * 0.5 * 0.6 + 1e-4) / (0.5**2 + 0.6**2 + 1e-4), 20.0),
        ("tpdm", (2 * 0.5 * 0.6 + 1e-4) / (0.5**2 + 0.6**2 + 1e-4), 20.0),
        # On [-1, 1]: 0 against 0.2, L = 2, C1 = 4e-4.
        ("dm4ct", 4e-4 / (0.2**2 + 4e-4), 20.0),
        # Both constant images normalise to zeros: identical.
        ("dds", 1.0, PSNR_CAP_DB),
    ],
)
def test_each_convention_on_constant_volumes(convention, expected_ssim, expected_psnr):
    scores = score(np.full((8, 8, 8), 0.5), np.full((8, 8, 8), 0.6), Evaluation(convention))
    for plane in scores.planes.values():
        assert plane.ssim == pytest.approx(expected_ssim)
        assert plane.psnr == pytest.approx(expected_psnr)
    assert scores.volume_ssim == pytest.approx(expected_ssim)
    assert scores.volume_psnr == pytest.approx(expected_psnr)


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_identical_volumes_score_the_cap_not_infinity(convention):
    truth, _ = air_and_tissue()
    scores = score(truth, truth.copy(), Evaluation(convention))
    values = [scores.volume_psnr, *(p.psnr for p in scores.planes.values())]
    assert values == [PSNR_CAP_DB] * 4
    assert scores.volume_ssim == 1.0
    assert all(p.ssim == 1.0 for p in scores.planes.values())


def test_clipping_is_the_conventions_and_the_share_outside_is_recorded():
    truth = np.ones((3, 8, 8))
    clipped = score(truth, truth + 5.0, Evaluation("anatomy"))
    assert clipped.planes["axial"].psnr == PSNR_CAP_DB, "anatomy clips to [0, 1]: finite"
    assert clipped.outside_range == 1.0, "what the clipping hid"
    unclipped = score(truth, truth + 5.0, Evaluation("dm4ct"))
    assert unclipped.planes["axial"].psnr == pytest.approx(db(25.0))  # -13.98 dB


def test_a_volume_with_nan_is_refused_naming_it():
    truth, estimate = air_and_tissue()
    estimate[3, 4, :3] = np.nan
    with pytest.raises(DataFileError, match=r"^recon\.h5: 3 of 512 values are NaN or infinite"):
        score(truth, estimate, Evaluation(), sources=("truth.h5", "recon.h5"))


def test_a_truth_without_anatomy_in_a_plane_is_refused():
    with pytest.raises(DataFileError, match=r"truth\.h5: no axial slice holds anatomy"):
        score(np.zeros((4, 8, 8)), np.zeros((4, 8, 8)), Evaluation(), ("truth.h5", "recon.h5"))


def test_different_shapes_are_refused_naming_both_files():
    with pytest.raises(DataFileError, match=r"recon\.h5: shape \(4, 8, 8\) differs .*truth\.h5"):
        score(np.ones((3, 8, 8)), np.ones((4, 8, 8)), Evaluation(), ("truth.h5", "recon.h5"))


def test_evaluation_section_is_checked_and_its_defaults_are_the_schemas():
    with pytest.raises(ConfigError, match=r"evaluation\.convention: 'psnr' is not one of"):
        Evaluation.from_config({"convention": "psnr"})
    with pytest.raises(ConfigError, match=r"evaluation\.threshold: unknown key"):
        Evaluation.from_config({"threshold": 0.1})
    with pytest.raises(ConfigError, match=r"evaluation\.anatomy_fraction: expected a number"):
        Evaluation.from_config({"anatomy_fraction": 1.5})
    schema = yaml.safe_load((ROOT / "dblend" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["evaluation"]["properties"]
    defaults = {key: entry["default"] for key, entry in properties.items()}
    assert Evaluation.from_config(defaults) == Evaluation()


def write_pair(tmp_path: Path, estimate: np.ndarray) -> tuple[Path, Path]:
    truth, _ = air_and_tissue()
    write_array(tmp_path / "truth.h5", truth, {})
    write_array(tmp_path / "recon.h5", estimate, {"seconds": 1.5, "nfe": 4})
    return tmp_path / "truth.h5", tmp_path / "recon.h5"


def evaluate(truth: Path, recon: Path, out: Path, evaluation: str) -> int:
    labels = '{"dataset": "d", "task": "t", "method": "m", "volume": "v"}'
    argv = ["--truth", str(truth), "--recon", str(recon), "--labels", labels]
    return main(["evaluate", *argv, "--evaluation", evaluation, "--out", str(out)])


def test_evaluate_command_writes_one_row_per_plane_under_the_convention(tmp_path):
    truth, recon = write_pair(tmp_path, air_and_tissue()[1])
    out = tmp_path / "metrics.csv"
    assert evaluate(truth, recon, out, '{"convention": "anatomy"}') == 0
    rows = pd.read_csv(out)
    assert list(rows.columns) == [
        "dataset", "task", "method", "volume", "plane", "convention", "psnr", "ssim",
        "slices_scored", "slices", "volume_psnr", "volume_ssim", "outside_range", "seconds",
        "steps", "nfe", "network_inputs", "input_slices", "network_calls", "peak_rss_mb",
        "peak_gpu_mb", "tv", "tv_truth", "seed", "config_hash", "prior_sha256", "commit", "dirty",
    ]  # fmt: skip
    assert list(rows["slices_scored"]) == [6, 7, 8]
    assert rows["psnr"].iloc[0] == pytest.approx(db(AXIAL_MSE))
    assert set(rows["convention"]) == {"anatomy"}


def test_evaluate_command_refuses_a_reconstruction_with_nan(tmp_path, capsys):
    estimate = air_and_tissue()[1]
    estimate[0, 0, 0] = np.inf
    estimate[5, 5, 5] = np.nan
    truth, recon = write_pair(tmp_path, air_and_tissue()[1])
    with h5py.File(recon, "r+") as handle:  # write_array itself refuses NaN
        handle["data"][...] = estimate
    out = tmp_path / "metrics.csv"
    assert evaluate(truth, recon, out, "{}") == 2
    error = capsys.readouterr().err
    assert f"{recon}: 2 of 512 values are NaN or infinite" in error
    assert not out.exists()


def test_total_variation_counts_steps_on_every_axis():
    volume = np.zeros((2, 2, 2))
    volume[1] = 1.0
    assert total_variation(volume) == pytest.approx(4.0 / 8.0)
    assert total_variation(np.zeros((3, 3, 3))) == 0.0
