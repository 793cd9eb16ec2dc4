"""Every registered method kind runs through its sampler on a tiny volume, batched and
reproducibly; the settings come from the registry's own keys and defaults, so a new kind is
tested here without new test code."""

from __future__ import annotations

import pytest
import torch

from dblend.config import complete_method
from dblend.errors import ConfigError
from dblend.recon.consistency import CONSISTENCY_STEPS
from dblend.recon.kinds import KINDS
from dblend.recon.kinds.base import AnalyticKind, DiffusionKind, LearnedKind, MethodKind
from dblend.recon.methods import ANALYTIC, LEARNED, reconstruct
from dblend.recon.partitions import PARTITION_RULES
from dblend.recon.sampler import SAMPLERS

STEPS = 4
REQUIRED = {
    "prior": "test",
    "auxiliary_prior": "test",
    "steps": STEPS,
    "rho": 0.01,
    "lam": 1e-4,
    "network": "test",
    "training": {"steps": 1, "batch_size": 1},
}
"""Values for the keys a kind requires (the rest are its defaults)."""
BATCH = {"batch_size": 5}
"""Batches smaller than a step's patches, so a step takes several network calls."""
NFE = {"ddim": STEPS, "predictor_corrector": 2 * STEPS - 1, "tpdm": STEPS}
"""Volume-level network evaluations of each sampler loop."""
DEPTH, SLICES, SIZE = 13, 3, 32
INPUTS_PER_STEP = {
    "single_slices": (DEPTH, DEPTH),
    "sliding_windows": (DEPTH - SLICES + 1, DEPTH - SLICES + 1),
    # adjacent steps: 4 tiled triplets and 1 or 2 head/tail ones; jump steps: 3 strided + 2 more
    "adjacent_and_jump": (5, 6),
}


def settings_of(kind: MethodKind) -> dict:
    """A complete method entry of ``kind``: its required keys, and its defaults for the rest."""
    given = {key: REQUIRED[key] for key in kind.required}
    batch = {key: value for key, value in BATCH.items() if key in kind.keys}
    return complete_method({"kind": kind.name, **given, **batch})


def prior_of(kind: MethodKind, request: pytest.FixtureRequest):
    if kind.prior is None:
        return None
    return request.getfixturevalue("patch_prior" if kind.prior.multi_slice else "slice_prior")


def models_of(kind: MethodKind, request: pytest.FixtureRequest) -> dict:
    """The other trained parts a kind needs: an auxiliary (coronal) prior, or its own model."""
    models = {}
    if "auxiliary_prior" in kind.needs():
        models["auxiliary_prior"] = request.getfixturevalue("coronal_prior")
    if isinstance(kind, LearnedKind):
        models["model"] = request.getfixturevalue("fbpunet_model")
    return models


def test_every_kind_names_parts_that_exist():
    for kind in KINDS.values():
        if isinstance(kind, AnalyticKind):
            assert kind.algorithm in ANALYTIC, kind.name
        elif isinstance(kind, LearnedKind):
            assert kind.algorithm in LEARNED, kind.name
        else:
            assert isinstance(kind, DiffusionKind), kind.name
            assert kind.partition in PARTITION_RULES, kind.name
            assert kind.sampler in SAMPLERS, kind.name
            assert kind.consistency in CONSISTENCY_STEPS, kind.name
        assert set(kind.required) <= set(kind.keys), kind.name


@pytest.mark.parametrize("name", sorted(KINDS))
def test_method_reconstructs_tiny_volume(name, sv8_operator, tiny_volume, request):
    kind = KINDS[name]
    method = settings_of(kind)
    prior = prior_of(kind, request)
    models = models_of(kind, request)
    sinogram = sv8_operator.forward(tiny_volume)

    def run(seed: int):
        cpu = torch.device("cpu")
        return reconstruct(name, method, sinogram, sv8_operator, prior, seed, cpu, **models)

    volume, stats = run(0)
    assert volume.shape == tiny_volume.shape
    assert torch.isfinite(volume).all()
    assert torch.equal(volume, run(0)[0]), "same seed, same reconstruction"
    if prior is None:
        return
    assert stats.nfe == NFE[kind.sampler]
    low, high = INPUTS_PER_STEP[kind.partition]
    if "auxiliary_prior" in models:  # its steps see the volume's SIZE coronal slices
        low, high = min(low, SIZE), max(high, SIZE)
    assert stats.nfe * low <= stats.network_inputs <= stats.nfe * high
    # data consistency acts (a single CG iteration per step pulls less than several)
    tolerance = 0.5 if method["cg_iters"] == 1 else 0.2
    assert stats.steps == STEPS
    assert stats.input_slices == stats.network_inputs * prior.spec.slices
    assert stats.nfe <= stats.network_calls <= stats.network_inputs, "batched, never one by one"
    sinogram_error = torch.linalg.vector_norm(sv8_operator.forward(volume) - sinogram)
    assert sinogram_error < tolerance * torch.linalg.vector_norm(sinogram)
    if "rho" in method:
        assert stats.weights == {"rho": method["rho"], "lam": method["lam"]}


@pytest.mark.parametrize("name", sorted(n for n, k in KINDS.items() if k.prior is not None))
def test_diffusion_method_refuses_a_prior_of_the_wrong_kind(
    name, sv8_operator, tiny_volume, slice_prior, patch_prior
):
    kind = KINDS[name]
    wrong = slice_prior if kind.prior.multi_slice else patch_prior
    expected = "multi-slice prior" if kind.prior.multi_slice else "1-slice prior"
    with pytest.raises(ConfigError, match=expected):
        reconstruct(
            name,
            settings_of(kind),
            sv8_operator.forward(tiny_volume),
            sv8_operator,
            wrong,
            0,
            torch.device("cpu"),
        )
