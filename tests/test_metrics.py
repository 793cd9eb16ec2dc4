"""Metrics on inputs whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dblend.metrics import plane_scores, plane_slices, psnr, total_variation


def test_psnr_of_a_constant_offset():
    truth = np.full((4, 8, 8), 0.5)
    assert psnr(truth, truth + 0.1) == pytest.approx(20.0)
    assert psnr(truth, truth) == math.inf


def test_plane_slices_follow_the_axes():
    volume = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    assert plane_slices(volume, "axial").shape == (2, 3, 4)
    assert plane_slices(volume, "coronal").shape == (3, 2, 4)
    assert plane_slices(volume, "sagittal").shape == (4, 2, 3)
    assert np.array_equal(plane_slices(volume, "sagittal")[1], volume[:, :, 1])


def test_plane_scores_of_identical_and_offset_volumes():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.2, 0.8, (9, 16, 16))
    same = plane_scores(truth, truth.copy())
    assert all(same[p]["ssim"] == pytest.approx(1.0) for p in same)
    shifted = plane_scores(truth, truth + 0.01)
    for plane in ("axial", "coronal", "sagittal"):
        assert shifted[plane]["psnr"] == pytest.approx(40.0)
        assert shifted[plane]["ssim"] < 1.0


def test_scores_clip_to_the_intensity_range():
    truth = np.ones((3, 8, 8))
    assert plane_scores(truth, truth + 5.0)["axial"]["psnr"] == math.inf


def test_total_variation_counts_steps_on_every_axis():
    volume = np.zeros((2, 2, 2))
    volume[1] = 1.0
    assert total_variation(volume) == pytest.approx(4.0 / 8.0)
    assert total_variation(np.zeros((3, 3, 3))) == 0.0
