"""The samplers against an oracle: a denoiser that returns the exact epsilon of a known volume.

eps = (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t) for the known x0, with no data term (TPDM's
auxiliary prior is the same oracle on the coronal slices, through its perpendicular denoiser).
Then every diffusion kind must return x0; every x_t the denoiser sees must carry unit-variance noise
around sqrt(abar_t) x0; and at eta = 0 (deterministic DDIM) that noise must be exactly the
starting noise at every step. A sign or coefficient error in an update breaks one of these,
which the mutation tests at the end show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest
import torch
from conftest import smooth_volume

from dblend.config import complete_method
from dblend.models.prior import PriorSpec
from dblend.models.schedule import VPSchedule
from dblend.perpendicular import swap_axial_coronal
from dblend.recon import sampler, updates
from dblend.recon.kinds import KINDS
from dblend.recon.kinds.base import DiffusionKind
from dblend.recon.methods import sample, sampling_run
from dblend.recon.partitions import Patch
from dblend.recon.tpdm import PerpendicularDenoiser

DIFFUSION = sorted(name for name, kind in KINDS.items() if isinstance(kind, DiffusionKind))
DDIM = [name for name in DIFFUSION if KINDS[name].sampler in ("ddim", "tpdm")]
REQUIRED = {"prior": "oracle", "auxiliary_prior": "oracle", "steps": 25, "rho": 0.0, "lam": 0.0}
SCHEDULE = VPSchedule.linear()


class OracleDenoiser:
    """The exact epsilon of ``x0`` (network units) for any x_t; records what it was shown."""

    def __init__(self, x0: torch.Tensor, event: str = "eps") -> None:
        self.x0 = x0
        self.event = event
        self.network_inputs = self.input_slices = self.network_calls = 0
        self.noises: list[tuple[float, torch.Tensor]] = []
        self.events: list[str] = []

    def epsilon(self, x_t: torch.Tensor, t: float, patches: Sequence[Patch]) -> torch.Tensor:
        kept = sorted(s for p in patches for s, keep in zip(p.slices, p.keep, strict=True) if keep)
        assert set(kept) == set(range(x_t.shape[0])), "the partition leaves slices out"
        abar = SCHEDULE.alpha_bar(t)
        eps = (x_t - math.sqrt(abar) * self.x0) / math.sqrt(1.0 - abar)
        self.noises.append((t, eps))
        self.events.append(self.event)
        self.network_inputs += len(patches)
        self.input_slices += sum(len(p.slices) for p in patches)
        self.network_calls += 1
        return eps


def coronal_oracle(oracle: OracleDenoiser, size: int) -> PerpendicularDenoiser:
    """TPDM's auxiliary prior as an oracle on the coronal slices of a cube (no depth fitting),
    recording its calls among ``oracle``'s events."""
    coronal = OracleDenoiser(swap_axial_coronal(oracle.x0), event="aux")
    coronal.events = oracle.events
    network = {"channels": [8, 16], "attention": [False, False]}
    spec = PriorSpec(1, (1,), size, network, plane="coronal", depth="pad")
    return PerpendicularDenoiser(coronal, spec, SCHEDULE)


def run_oracle(name: str, depth: int = 16, size: int = 48, **settings):
    """(volume in [0, 1], stats, the oracle, the truth in [0, 1]) of one oracle run."""
    kind = KINDS[name]
    method = complete_method(
        {"kind": name, **{key: REQUIRED[key] for key in kind.required}, **settings}
    )
    auxiliary = "auxiliary_prior" in kind.needs()
    if auxiliary:  # a cube (no depth fitting for the coronal oracle), as many voxels as 16 x 48^2
        depth = size = 32
    truth = smooth_volume(depth, size)
    oracle = OracleDenoiser(truth * 2.0 - 1.0)

    def no_data_term(x: torch.Tensor) -> torch.Tensor:
        oracle.events.append("dc")
        return x

    slices = 3 if kind.prior.multi_slice else 1
    run = sampling_run(
        kind,
        method,
        oracle,
        no_data_term,
        tuple(truth.shape),
        slices,
        0,
        torch.device("cpu"),
        auxiliary=coronal_oracle(oracle, size) if auxiliary else None,
    )
    volume, stats = sample(kind, method, run)
    return volume, stats, oracle, truth


def failures(name: str, **settings) -> list[str]:
    """Every way an oracle run departs from the exact sampler, as readable lines."""
    volume, _, oracle, truth = run_oracle(name, **settings)
    found = []
    error = float((volume - truth).abs().max())
    if error > 1e-3:
        found.append(f"returned volume off by {error:.3g}")
    for t, noise in oracle.noises[1:]:
        std, mean = float(noise.std()), float(noise.mean())
        if abs(std - 1.0) > 0.02 or abs(mean) > 0.02:
            found.append(f"t={t}: noise std {std:.3f}, mean {mean:.3f}")
    if settings.get("eta") == 0.0:
        start = oracle.noises[0][1]
        for t, noise in oracle.noises[1:]:
            drift = float((noise - start).abs().max())
            if drift > 1e-3:
                found.append(f"t={t}: deterministic noise drifted by {drift:.3g}")
    return found


@pytest.mark.parametrize("name", DIFFUSION)
def test_oracle_denoiser_gives_back_the_volume(name):
    assert failures(name) == []


@pytest.mark.parametrize("name", DDIM)
def test_deterministic_ddim_keeps_its_starting_noise(name):
    assert failures(name, eta=0.0) == []


def test_predictor_corrector_updates_data_once_per_step_after_the_corrector():
    _, stats, oracle, _ = run_oracle("diffusionmbir", steps=5)
    assert oracle.events == ["eps", "eps", "dc"] * 4 + ["eps", "dc"]
    assert stats.nfe == 2 * 5 - 1 == oracle.events.count("eps")


def test_ddim_updates_data_once_per_step():
    _, stats, oracle, _ = run_oracle("dds", steps=5)
    assert oracle.events == ["eps", "dc"] * 5
    assert stats.nfe == 5


def test_tpdm_takes_its_auxiliary_steps_without_a_data_step():
    _, stats, oracle, _ = run_oracle("tpdm", steps=5, K=2)
    assert oracle.events == ["eps", "dc", "aux"] * 2 + ["eps", "dc"]
    _, _, oracle, _ = run_oracle("tpdm", steps=5, K=3)
    assert oracle.events == ["eps", "dc", "eps", "dc", "aux", "eps", "dc", "eps", "dc"]
    assert stats.nfe == 5


def test_predictor_corrector_runs_2000_steps_on_the_continuous_schedule():
    volume, stats, oracle, truth = run_oracle("diffusionmbir", depth=3, size=8, steps=2000)
    assert stats.nfe == 3999 == len(oracle.noises)
    times = [t for t, _ in oracle.noises]
    assert times[0] == 999.0 and times[-1] == 0.0
    assert len(set(times)) == 2000 and any(t != round(t) for t in times)
    assert torch.allclose(volume, truth, atol=1e-3)


def _flipped_renoise(x0, eps, abar_prev, eta, fresh):
    return updates.dds_renoise(x0, -eps, abar_prev, eta, fresh)


def _stale_renoise(x0, eps, abar_prev, eta, fresh):
    return updates.dds_renoise(x0, eps, abar_prev**0.5, eta, fresh)


def _flipped_tweedie(x_t, eps, abar, value_range):
    return ((x_t + math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)).clamp(*value_range)


def _beta_variance_ancestral(x_t, x0, abar, abar_prev, fresh):
    beta = 1.0 - abar / abar_prev
    sharp = updates.ancestral_step(x_t, x0, abar, abar_prev, torch.zeros_like(fresh))
    return sharp + math.sqrt(beta) * fresh


def _flipped_langevin(x, eps, abar, alpha, snr, fresh):
    return updates.langevin_step(x, -eps, abar, alpha, snr, fresh)


@pytest.mark.parametrize(
    ("name", "target", "mutant", "settings"),
    [
        ("dds", "dds_renoise", _flipped_renoise, {"eta": 0.0}),
        ("diffusionblend_pp", "dds_renoise", _stale_renoise, {}),
        ("diffusionblend", "tweedie", _flipped_tweedie, {}),
        ("diffusionmbir", "ancestral_step", _beta_variance_ancestral, {}),
        ("diffusionmbir", "langevin_step", _flipped_langevin, {}),
        ("diffusionmbir", "tweedie", _flipped_tweedie, {}),
        ("tpdm", "tweedie", _flipped_tweedie, {}),
    ],
)
def test_a_wrong_update_fails_the_oracle(monkeypatch, name, target, mutant, settings):
    monkeypatch.setattr(sampler, target, mutant)
    assert failures(name, **settings), f"the oracle did not notice a broken {target}"
