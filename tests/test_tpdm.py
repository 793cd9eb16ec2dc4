"""TPDM's parts: the alternation schedule chosen by K, the perpendicular (coronal) permutation
and depth fitting, in training and in sampling, and the coronal prior's checkpoint."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from conftest import TINY_NETWORK, smooth_volume
from tiny_workflow import tiny_training

from dblend.config import complete_method, load, validate
from dblend.errors import ConfigError, DataFileError
from dblend.models.checkpoint import load_prior
from dblend.models.prior import PriorSpec
from dblend.models.schedule import VPSchedule
from dblend.perpendicular import coronal_training_slices, pad_rows, swap_axial_coronal
from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.methods import reconstruct
from dblend.recon.tpdm import PerpendicularDenoiser, primary_steps
from dblend.train import train_prior

CPU = torch.device("cpu")
ROOT = Path(__file__).resolve().parents[1]
NETWORK = {**TINY_NETWORK, "attention": [False, False]}


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(3)


@pytest.mark.parametrize(
    ("k", "roles"),
    [
        (2, "PAPAPAPAP"),
        (3, "PPAPPAPPP"),
        (4, "PPPAPPPAP"),
    ],
)
def test_integer_k_alternates_k_minus_1_primary_steps_and_one_auxiliary(k, roles):
    schedule = primary_steps(9, k, _generator())
    assert "".join("P" if primary else "A" for primary in schedule) == roles


def test_the_last_step_is_always_primary():
    assert primary_steps(4, 2, _generator()) == [True, False, True, True]
    assert primary_steps(3, 1.0001, _generator())[-1]


def test_float_k_draws_primary_steps_with_probability_1_minus_1_over_k():
    roles = primary_steps(4000, 4.0, _generator())
    assert abs(sum(roles[:-1]) / 3999 - 0.75) < 0.03
    assert roles == primary_steps(4000, 4.0, _generator()), "same generator, same schedule"
    assert roles != primary_steps(4000, 4.0, torch.Generator().manual_seed(4))
    runs = "".join("P" if r else "A" for r in roles)
    assert "AA" in runs, "random, not a fixed pattern"


@pytest.mark.parametrize("k", [1, 0, 1.0, 0.5, True, "2"])
def test_k_that_never_takes_a_primary_or_auxiliary_step_is_refused(k):
    with pytest.raises(ConfigError, match="K"):
        primary_steps(5, k, _generator())


def test_coronal_slices_are_the_volume_seen_from_the_front():
    volume = torch.arange(4 * 5 * 6, dtype=torch.float32).view(4, 5, 6)
    coronal = swap_axial_coronal(volume)
    assert coronal.shape == (5, 4, 6)
    for row in range(5):
        assert torch.equal(coronal[row], volume[:, row, :]), "coronal slice = fixed row, Z x W"
    assert torch.equal(swap_axial_coronal(coronal), volume), "its own inverse"


def test_training_slices_of_a_thin_volume_are_reflect_padded_to_square():
    volume = smooth_volume(13, 32)
    slices = coronal_training_slices(volume, 32, "pad")
    assert slices.shape == (32, 32, 32)
    top = (32 - 13) // 2
    assert torch.equal(slices[:, top : top + 13], swap_axial_coronal(volume))
    assert torch.equal(slices[:, top - 1], swap_axial_coronal(volume)[:, 1]), "mirrored end"
    deep = smooth_volume(40, 32)
    assert torch.equal(coronal_training_slices(deep, 32, "pad"), swap_axial_coronal(deep))


def test_training_slices_resampled_keep_their_end_slices():
    volume = smooth_volume(13, 32)
    slices = coronal_training_slices(volume, 32, "resample")
    assert slices.shape == (32, 32, 32)
    assert torch.allclose(slices[:, 0], volume[0]) and torch.allclose(slices[:, -1], volume[-1])


def test_a_volume_too_thin_to_pad_is_refused_naming_the_way_out():
    with pytest.raises(DataFileError, match=r"3 slices is too thin .* use depth: resample"):
        pad_rows(torch.zeros(4, 3, 32), 32)


@pytest.mark.parametrize("depth", ["pad", "resample"])
def test_perpendicular_epsilon_of_each_coronal_slice_depends_on_that_slice_only(
    coronal_prior, depth
):
    spec = dataclasses.replace(coronal_prior.spec, depth=depth)
    denoiser = PerpendicularDenoiser(
        VolumeDenoiser(coronal_prior, batch_size=7, precision="auto"), spec, VPSchedule.linear()
    )
    x = torch.randn(13, 32, 32, generator=_generator())
    eps = denoiser.epsilon(x, 500)
    assert eps.shape == x.shape and torch.isfinite(eps).all()
    assert denoiser.network_inputs == 32, "one network input per coronal slice"
    changed = x.clone()
    changed[:, 10, :] += 1.0
    moved = (denoiser.epsilon(changed, 500) - eps).abs().amax(dim=(0, 2))
    assert moved[10] > 1e-3
    assert torch.all(moved[torch.arange(32) != 10] < 1e-5), "coronal slices are independent"


def test_auxiliary_prior_must_be_a_coronal_slice_prior(slice_prior):
    with pytest.raises(ConfigError, match="1-slice coronal prior, got a 1-slice axial prior"):
        PerpendicularDenoiser(
            VolumeDenoiser(slice_prior, 4, precision="auto"), slice_prior.spec, VPSchedule.linear()
        )


def test_coronal_prior_trains_on_volumes_thinner_and_deeper_than_wide(tmp_path):
    spec = PriorSpec(1, (1,), 32, NETWORK, plane="coronal", depth="pad")
    training = tiny_training(
        steps=2,
        learning_rate=1e-3,
        warmup_steps=0,
        lr_schedule="constant",
        ema_decay=0.9,
        log_every=1,
        checkpoint_every=10,
        validation_every=1,
    )
    volumes = [smooth_volume(13, 32), smooth_volume(40, 32)]
    result = train_prior(spec, training, volumes, volumes[:1], tmp_path / "c.pt", CPU)
    assert len(result.history) == 2
    assert load_prior(tmp_path / "c.pt", spec, CPU).spec.plane == "coronal"
    axial = PriorSpec(1, (1,), 32, NETWORK)
    with pytest.raises(DataFileError, match=r"plane: checkpoint has 'coronal', config expects"):
        load_prior(tmp_path / "c.pt", axial, CPU)


def _tpdm(k: int | float, steps: int = 4) -> dict:
    return complete_method(
        {"kind": "tpdm", "prior": "slice", "auxiliary_prior": "coronal", "steps": steps, "K": k}
    )


def test_the_sampler_follows_the_schedule(sv8_operator, tiny_volume, slice_prior, coronal_prior):
    sinogram = sv8_operator.forward(tiny_volume)
    for k, auxiliary_steps in ((2, 1), (3, 1), (4, 0)):  # 4 steps: PAPP, PPAP, PPPP
        _, stats = reconstruct(
            "tpdm", _tpdm(k), sinogram, sv8_operator, slice_prior, 0, CPU,
            auxiliary_prior=coronal_prior,
        )  # fmt: skip
        assert stats.nfe == 4
        primary = 4 - auxiliary_steps
        assert stats.network_inputs == primary * 13 + auxiliary_steps * 32, k


def test_priors_of_the_wrong_plane_are_refused(
    sv8_operator, tiny_volume, slice_prior, coronal_prior
):
    sinogram = sv8_operator.forward(tiny_volume)
    with pytest.raises(ConfigError, match="tpdm needs a prior of coronal slices, got one of axial"):
        reconstruct(
            "tpdm", _tpdm(2), sinogram, sv8_operator, slice_prior, 0, CPU,
            auxiliary_prior=slice_prior,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="tpdm needs a prior of axial slices, got one of coronal"):
        reconstruct(
            "tpdm", _tpdm(2), sinogram, sv8_operator, coronal_prior, 0, CPU,
            auxiliary_prior=coronal_prior,
        )  # fmt: skip
    with pytest.raises(ConfigError, match="tpdm needs an auxiliary prior"):
        reconstruct("tpdm", _tpdm(2), sinogram, sv8_operator, slice_prior, 0, CPU)


def test_a_config_pairing_tpdm_with_an_axial_auxiliary_prior_is_refused_before_any_job():
    config = load(ROOT / "config" / "config.yaml")
    config["methods"]["tpdm"]["auxiliary_prior"] = "slice"
    refused = r"methods\.tpdm: tpdm with auxiliary_prior 'slice' needs a prior of coronal"
    with pytest.raises(ConfigError, match=refused):
        validate(config)
    config["methods"]["tpdm"]["auxiliary_prior"] = "sagittal"
    undefined = r"methods\.tpdm\.auxiliary_prior: 'sagittal' is not defined under priors"
    with pytest.raises(ConfigError, match=undefined):
        validate(config)
