"""Cone beam: its geometry is checked against ASTRA's own conversion, and asking for it without
CUDA is refused before ASTRA's 3D code (which would kill the process). On a machine with CUDA the
operator, FDK and the samplers behind it run for real."""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys

import astra
import numpy as np
import pytest
import torch
from test_sampler import settings_of

from dblend.data.phantoms import thorax_phantom
from dblend.errors import ConfigError, DeviceError
from dblend.io import read_array, write_array
from dblend.metrics import psnr
from dblend.physics import make_operator
from dblend.physics.base import adjointness_test
from dblend.physics.cone import astra_geometries
from dblend.physics.geometry import cone_geometry, geometry_from_dict, task_geometry
from dblend.recon.kinds import KINDS
from dblend.recon.methods import reconstruct

TASK = {
    "kind": "cone_beam", "views": 16, "arc": 360, "source_origin": 120.0,
    "origin_detector": 80.0, "voxel_height": 1.5, "detector_rows": None, "detector_cols": None,
    "detector_spacing": None, "noise": {"model": "none"}, "method_overrides": {},
}  # fmt: skip
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def detector_hit(vectors: np.ndarray, point: np.ndarray) -> np.ndarray:
    """(u, v) detector pixel coordinates (0 at the centre) of rays from each source to ``point``."""
    source, centre, u, v = vectors[:, 0:3], vectors[:, 3:6], vectors[:, 6:9], vectors[:, 9:12]
    normal = np.cross(u, v)
    direction = point - source
    t = np.sum((centre - source) * normal, axis=1) / np.sum(direction * normal, axis=1)
    offset = source + t[:, None] * direction - centre
    return np.stack(
        [np.sum(offset * u, 1) / np.sum(u * u, 1), np.sum(offset * v, 1) / np.sum(v * v, 1)], 1
    )


def test_vectors_match_astra_circular_cone():
    geometry = cone_geometry(TASK, slices=20, size=64)
    legacy = astra.create_proj_geom(
        "cone", geometry.detector_spacing, geometry.detector_spacing, geometry.detector_rows,
        geometry.detector_cols, np.asarray(geometry.angles), geometry.source_origin,
        geometry.origin_detector,
    )  # fmt: skip
    np.testing.assert_allclose(
        geometry.vectors(), astra.geom_2vec(legacy)["Vectors"], rtol=1e-6, atol=1e-9
    )


def test_default_detector_sees_every_corner_of_the_volume():
    geometry = cone_geometry(TASK, slices=20, size=64)
    assert geometry.detector_spacing == pytest.approx(200.0 / 120.0)
    half, height = 32.0, 20 * 1.5 / 2
    for corner in np.array(np.meshgrid([-half, half], [-half, half], [-height, height])).T.reshape(
        -1, 3
    ):
        hit = detector_hit(geometry.vectors(), corner)
        assert np.all(np.abs(hit[:, 0]) <= geometry.detector_cols / 2)
        assert np.all(np.abs(hit[:, 1]) <= geometry.detector_rows / 2)


def test_scan_coverage_and_round_trip():
    full = cone_geometry(TASK, slices=8, size=32)
    short = cone_geometry({**TASK, "arc": 200}, slices=8, size=32)
    assert full.full_scan and not short.full_scan
    assert math.degrees(short.angles[-1]) == pytest.approx(200 - 200 / 16)
    assert geometry_from_dict(full.to_dict()) == full
    assert task_geometry(TASK, (8, 32, 32)) == full


def test_source_inside_the_volume_is_refused():
    with pytest.raises(ConfigError, match=r"source_origin 30\.0 must exceed"):
        cone_geometry({**TASK, "source_origin": 30.0}, slices=8, size=64)


def simulate_from_the_cli(volume, device: str, out) -> subprocess.CompletedProcess:
    """`dblend simulate` of TASK, as a Snakemake job runs it."""
    command = [
        sys.executable, "-m", "dblend.cli", "simulate", "--volume", str(volume), "--task",
        json.dumps(TASK), "--seed", "0", "--device", device, "--out", str(out),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on CPU machines")
def test_cone_operator_refuses_without_cuda():
    with pytest.raises(DeviceError, match="cone-beam tasks need ASTRA's CUDA projectors"):
        make_operator(cone_geometry(TASK, slices=8, size=32), torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on CPU machines")
def test_cone_simulation_from_the_cli_fails_cleanly_without_cuda(tmp_path):
    volume = tmp_path / "v.h5"
    write_array(volume, np.zeros((8, 32, 32)), {})
    out = tmp_path / "sino.h5"
    result = simulate_from_the_cli(volume, "auto", out)
    assert result.returncode == 2, result.stderr
    assert "cone-beam tasks need ASTRA's CUDA projectors" in result.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [volume]


def gpu_operator(slices: int = 20, size: int = 64, **task):
    return make_operator(cone_geometry({**TASK, **task}, slices, size), torch.device("cuda"))


@needs_cuda
def test_gpu_operator_gives_astras_own_numbers_and_is_nearly_adjoint():
    operator = gpu_operator()
    phantom = thorax_phantom(64, 20, 0)
    projections = operator.forward(torch.from_numpy(phantom).cuda())
    assert projections.is_cuda and tuple(projections.shape) == operator.data_shape
    vol_geom, proj_geom = astra_geometries(operator.geometry)
    sino_id, theirs = astra.create_sino3d_gpu(phantom, proj_geom, vol_geom)
    astra.data3d.delete(sino_id)
    np.testing.assert_allclose(projections.cpu().numpy(), theirs, atol=1e-4 * theirs.max())
    back_id, back = astra.create_backprojection3d_gpu(theirs, proj_geom, vol_geom)
    astra.data3d.delete(back_id)
    np.testing.assert_allclose(
        operator.adjoint(projections).cpu().numpy(), back, atol=1e-4 * back.max()
    )
    assert adjointness_test(operator, operator.image_shape, operator.data_shape) < 0.02


@needs_cuda
@pytest.mark.parametrize(("arc", "views", "floor"), [(360, 180, 23.0), (200, 100, 21.0)])
def test_fdk_reconstructs_a_phantom_from_dense_views(arc, views, floor):
    phantom = thorax_phantom(64, 20, 1)
    operator = gpu_operator(arc=arc, views=views, voxel_height=1.0)
    projections = operator.forward(torch.from_numpy(phantom).cuda())
    before = projections.clone()
    estimate = operator.fbp(projections)
    assert torch.equal(projections, before), "FDK leaves the caller's projections as they were"
    sparse = gpu_operator(arc=arc, views=8, voxel_height=1.0)
    sparse_estimate = sparse.fbp(sparse.forward(torch.from_numpy(phantom).cuda()))
    dense_psnr = psnr(phantom, estimate.clamp(0, 1).cpu().numpy())
    assert dense_psnr > floor
    assert dense_psnr > psnr(phantom, sparse_estimate.clamp(0, 1).cpu().numpy()) + 5


@needs_cuda
@pytest.mark.parametrize("name", ["dds", "diffusionblend_pp"])
def test_samplers_run_unchanged_behind_cone_beam(name, slice_prior, patch_prior):
    kind = KINDS[name]
    method = settings_of(kind)
    prior = patch_prior if kind.prior.multi_slice else slice_prior
    operator = gpu_operator(slices=13, size=32, views=16)
    sinogram = operator.forward(torch.from_numpy(thorax_phantom(32, 13, 2)).cuda())
    device = torch.device("cuda")
    prior = copy.deepcopy(prior).to(device)  # the fixture stays on the CPU for other tests
    volume, stats = reconstruct(name, method, sinogram, operator, prior, 0, device)
    assert volume.is_cuda and tuple(volume.shape) == operator.image_shape
    assert torch.isfinite(volume).all() and stats.nfe == method["steps"]
    error = torch.linalg.vector_norm(operator.forward(volume) - sinogram)
    assert error < 0.5 * torch.linalg.vector_norm(sinogram)


@needs_cuda
def test_cone_simulation_from_the_cli_on_a_gpu(tmp_path):
    volume = tmp_path / "v.h5"
    write_array(volume, thorax_phantom(32, 8, 0), {})
    out = tmp_path / "sino.h5"
    result = simulate_from_the_cli(volume, "cuda", out)
    assert result.returncode == 0, result.stderr
    sinogram, _ = read_array(out)
    geometry = cone_geometry(TASK, slices=8, size=32)
    assert sinogram.shape == (geometry.detector_rows, geometry.n_views, geometry.detector_cols)
    assert sinogram.max() > 0
