"""Data consistency: CG solves the normal equations; ADMM-TV-z pulls slices together along z."""

from __future__ import annotations

import torch

from dblend.recon.consistency import (
    AdmmTvZ,
    conjugate_gradient,
    diff_z,
    diff_z_adjoint,
    slice_inner,
)


def test_diff_z_adjoint_is_exact():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 4, 4, generator=generator, dtype=torch.float64)
    d = torch.randn(5, 4, 4, generator=generator, dtype=torch.float64)
    assert torch.allclose(torch.sum(diff_z(x) * d), torch.sum(x * diff_z_adjoint(d)))


def test_conjugate_gradient_solves_spd_system():
    generator = torch.Generator().manual_seed(2)
    basis = torch.randn(20, 20, generator=generator, dtype=torch.float64)
    matrix = basis @ basis.T + 20 * torch.eye(20, dtype=torch.float64)
    truth = torch.randn(20, generator=generator, dtype=torch.float64)
    start = torch.zeros(20, dtype=torch.float64)
    solution = conjugate_gradient(lambda v: matrix @ v, matrix @ truth, start, 40)
    assert torch.allclose(solution.double(), truth, atol=1e-6)


def test_cg_data_step_reduces_the_residual(sv8_operator, tiny_volume):
    sinogram = sv8_operator.forward(tiny_volume)
    step = AdmmTvZ(sv8_operator, sinogram, rho=0.0, lam=0.0, cg_iters=5)
    start = torch.zeros_like(tiny_volume)
    result = step(start)
    before = torch.linalg.vector_norm(sv8_operator.forward(start) - sinogram)
    after = torch.linalg.vector_norm(sv8_operator.forward(result) - sinogram)
    assert after < 0.5 * before


def test_tv_z_smooths_along_z_only_when_weighted(sv8_operator, tiny_volume):
    sinogram = sv8_operator.forward(tiny_volume)
    generator = torch.Generator().manual_seed(3)
    noisy_start = tiny_volume + 0.2 * torch.randn(tiny_volume.shape, generator=generator)
    plain = AdmmTvZ(sv8_operator, sinogram, rho=0.0, lam=0.0, cg_iters=3)
    tv = AdmmTvZ(sv8_operator, sinogram, rho=1.0, lam=0.05, cg_iters=3)
    x_plain, x_tv = noisy_start, noisy_start
    for _ in range(5):
        x_plain, x_tv = plain(x_plain), tv(x_tv)
    assert diff_z(x_tv).abs().mean() < diff_z(x_plain).abs().mean()


def test_data_cg_solves_each_slice_as_its_own_problem(sv8_operator, tiny_volume):
    sinogram = sv8_operator.forward(tiny_volume)
    start = torch.zeros_like(tiny_volume)
    start[4] = tiny_volume[4]  # one slice already consistent: its residual is zero
    step = AdmmTvZ(sv8_operator, sinogram, rho=0.0, lam=0.0, cg_iters=4)
    whole = step(start)
    for z in (0, 4, 7):
        alone = AdmmTvZ(sv8_operator, sinogram[z : z + 1], rho=0.0, lam=0.0, cg_iters=4)
        assert torch.allclose(whole[z], alone(start[z : z + 1])[0], atol=1e-5)
    one_cg = conjugate_gradient(step.normal, step.rhs_data, start, 4)
    assert not torch.allclose(whole, one_cg, atol=1e-4), "one CG over the volume is another solver"


def test_slice_inner_products_are_per_slice():
    a = torch.arange(2 * 2 * 3, dtype=torch.float64).view(2, 2, 3)
    assert slice_inner(a, a).flatten().tolist() == [55.0, 451.0]
