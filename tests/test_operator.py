"""The projection operator: exact adjoint, ASTRA agreement, FBP accuracy, angle sets, noise."""

from __future__ import annotations

import math

import astra
import numpy as np
import pytest
import torch
from conftest import smooth_volume

from dblend.metrics import psnr
from dblend.physics.base import adjointness_test
from dblend.physics.geometry import geometry_from_dict, parallel_geometry, task_angles
from dblend.physics.parallel import ParallelBeamOperator, astra_geometries
from dblend.physics.simulate import simulate


def test_adjoint_identity_is_exact(sv8_operator):
    assert adjointness_test(sv8_operator, (5, 32, 32), (5, *sv8_operator.data_shape)) < 1e-5


class _PerturbedAdjoint:
    """The operator with a transpose that doubles one central detector bin of one view."""

    def __init__(self, operator):
        self.operator, self.device = operator, operator.device

    def forward(self, x):
        return self.operator.forward(x)

    def adjoint(self, y):
        y = y.clone()
        y[..., 0, y.shape[-1] // 2] *= 2.0
        return self.operator.adjoint(y)


def test_adjointness_test_catches_a_wrong_transpose(sv8_operator):
    shapes = ((5, 32, 32), (5, *sv8_operator.data_shape))
    assert adjointness_test(_PerturbedAdjoint(sv8_operator), *shapes) > 1e-4


def test_forward_agrees_with_astra_own_projection(sv8_operator, tiny_volume):
    slice_ = tiny_volume[6].numpy()
    volume_geometry, projection_geometry = astra_geometries(sv8_operator.geometry)
    projector = astra.create_projector("linear", projection_geometry, volume_geometry)
    try:
        sino_id, expected = astra.create_sino(slice_, projector)
        astra.data2d.delete(sino_id)
    finally:
        astra.projector.delete(projector)
    ours = sv8_operator.forward(torch.from_numpy(slice_)).numpy()
    assert ours.shape == expected.shape == (8, math.ceil(math.sqrt(2) * 32))
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("window", ["ramp", "hann"])
def test_fbp_of_a_well_sampled_phantom(window):
    operator = ParallelBeamOperator(parallel_geometry({"kind": "sparse_view", "views": 180}, 64))
    volume = smooth_volume(2, 64)
    reconstruction = operator.fbp(operator.forward(volume), window)
    assert psnr(volume.numpy(), reconstruction.numpy()) > 30.0


def test_sparse_view_angles_are_uniform_over_half_circle():
    angles, step = task_angles({"kind": "sparse_view", "views": 6})
    np.testing.assert_allclose(np.rad2deg(angles), [0, 30, 60, 90, 120, 150])
    assert step == pytest.approx(math.pi / 6)


def test_limited_angle_covers_its_arc_at_its_step():
    angles, step = task_angles({"kind": "limited_angle", "arc": 90, "step": 1})
    np.testing.assert_allclose(np.rad2deg(angles), np.arange(90.0))
    assert step == pytest.approx(math.radians(1))


def test_detector_defaults_to_sqrt2_n_and_geometry_round_trips():
    geometry = parallel_geometry({"kind": "sparse_view", "views": 4}, 256)
    assert geometry.detector_bins == 363
    assert geometry_from_dict(geometry.to_dict()) == geometry


def test_operator_norm_matches_largest_singular_value(sv8_operator):
    dense = sv8_operator._forward.to_dense().double()
    assert sv8_operator.norm == pytest.approx(float(torch.linalg.matrix_norm(dense, 2)), rel=1e-3)


def test_poisson_noise_is_seeded_and_unbiased_at_high_counts(sv8_operator, tiny_volume):
    noise = {"model": "poisson", "incident_counts": 1e6, "attenuation": 0.02}
    clean = simulate(tiny_volume, sv8_operator, {"model": "none"}, seed=0)
    first = simulate(tiny_volume, sv8_operator, noise, seed=3)
    assert torch.equal(first, simulate(tiny_volume, sv8_operator, noise, seed=3))
    assert not torch.equal(first, simulate(tiny_volume, sv8_operator, noise, seed=4))
    assert float((first - clean).mean().abs()) < 0.01 * float(clean.abs().mean())
    assert 0 < float((first - clean).std()) < 0.05 * float(clean.max())
