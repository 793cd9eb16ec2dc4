"""Every method runs through the one sampler loop on a tiny volume, batched and reproducibly."""

from __future__ import annotations

import pytest
import torch

from dblend.errors import ConfigError
from dblend.recon.methods import reconstruct

COMMON = {"steps": 4, "eta": 0.85, "cg_iters": 3, "batch_size": 5}
TV = {"rho": 0.01, "lam": 1e-4}
METHODS = {
    "fbp": ({"kind": "fbp", "filter": "ramp"}, None),
    "dds": ({"kind": "dds", **COMMON, **TV}, "slice"),
    "dds2d": ({"kind": "dds2d", **COMMON}, "slice"),
    "diffusionmbir": (
        {"kind": "diffusionmbir", "steps": 4, "snr": 0.16, "cg_iters": 1, "batch_size": 5, **TV},
        "slice",
    ),
    "diffusionblend": ({"kind": "diffusionblend", "window_stride": 1, **COMMON, **TV}, "patch"),
    "diffusionblend_pp": (
        {
            "kind": "diffusionblend_pp",
            "jump_every": 2,
            "jump_spacing": 3,
            "adjacent_shift": True,
            **COMMON,
            **TV,
        },
        "patch",
    ),
}
NETWORK_INPUTS_PER_STEP = {"dds": 13, "dds2d": 13, "diffusionblend": 11}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_reconstructs_tiny_volume(name, sv8_operator, tiny_volume, request):
    method, prior_name = METHODS[name]
    prior = request.getfixturevalue(f"{prior_name}_prior") if prior_name else None
    sinogram = sv8_operator.forward(tiny_volume)

    def run(seed: int):
        return reconstruct(name, method, sinogram, sv8_operator, prior, seed, torch.device("cpu"))

    volume, stats = run(0)
    assert volume.shape == tiny_volume.shape
    assert torch.isfinite(volume).all()
    assert torch.equal(volume, run(0)[0]), "same seed, same reconstruction"
    if prior is None:
        return
    assert stats.nfe == (2 * 4 - 1 if name == "diffusionmbir" else 4)
    if name in NETWORK_INPUTS_PER_STEP:
        assert stats.patch_evaluations == 4 * NETWORK_INPUTS_PER_STEP[name]
    if name == "diffusionblend_pp":
        # 13 slices: adjacent steps use 5 or 6 triplets, jump steps 3 strided + 3 tail/adjacent
        assert 4 * 5 - 2 <= stats.patch_evaluations <= 4 * 6
    # data consistency acts: DiffusionMBIR takes 1 CG iteration a step, the others 3
    tolerance = 0.5 if name == "diffusionmbir" else 0.2
    sinogram_error = torch.linalg.vector_norm(sv8_operator.forward(volume) - sinogram)
    assert sinogram_error < tolerance * torch.linalg.vector_norm(sinogram)


def test_diffusion_method_refuses_a_prior_of_the_wrong_kind(sv8_operator, tiny_volume, slice_prior):
    method, _ = METHODS["diffusionblend_pp"]
    with pytest.raises(ConfigError, match="multi-slice prior"):
        reconstruct(
            "diffusionblend_pp",
            method,
            sv8_operator.forward(tiny_volume),
            sv8_operator,
            slice_prior,
            0,
            torch.device("cpu"),
        )
