"""Training: loss goes down, patches stay inside volumes, checkpoints are safe and exact."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from conftest import TINY_NETWORK, smooth_volume

from dblend.errors import ConfigError, DataFileError
from dblend.models.checkpoint import load_prior, read_checkpoint
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.patches import PatchSampler
from dblend.train import (
    DiffusionObjective,
    TrainingRun,
    lr_scheduler,
    resume_path,
    run_identity,
    train_prior,
)

TRAINING = {
    "steps": 40,
    "batch_size": 8,
    "learning_rate": 2e-3,
    "warmup_steps": 5,
    "lr_schedule": "constant",
    "weight_decay": 0.0,
    "ema_decay": 0.9,
    "grad_clip": 1.0,
    "gradient_checkpointing": False,
    "crop": None,
    "log_every": 10,
    "checkpoint_every": 10,
    "validation_every": 20,
    "validation_batches": 2,
    "precision": "auto",
    "channels_last": False,
    "compile": False,
    "fused_optimizer": False,
    "seed": 0,
}
SPEC = PriorSpec(3, (1, 3), 32, TINY_NETWORK)


@pytest.fixture(scope="module")
def volumes() -> list[torch.Tensor]:
    return [smooth_volume(13, 32), smooth_volume(11, 32).flip(0)]


def test_patches_never_cross_a_volume_end():
    volume = torch.arange(7, dtype=torch.float32).view(7, 1, 1).expand(7, 4, 4) / 6
    sampler = PatchSampler([volume], slices=3, spacings=[1, 3])
    generator = torch.Generator().manual_seed(0)
    patches, spacings = sampler.sample(400, generator)
    slice_index = ((patches[:, :, 0, 0] + 1) / 2 * 6).round()
    steps = slice_index[:, 1:] - slice_index[:, :-1]
    assert torch.equal(steps, spacings.view(-1, 1).float().expand_as(steps))
    assert set(spacings.tolist()) == {1, 3}
    assert slice_index.max() <= 6 and slice_index.min() >= 0


def test_patch_sampler_refuses_volumes_too_thin():
    with pytest.raises(DataFileError, match=r"deep enough"):
        PatchSampler([torch.zeros(4, 8, 8)], slices=3, spacings=[3])


def test_training_lowers_the_loss(volumes, tmp_path):
    objective = DiffusionObjective(VPSchedule.linear(), PatchSampler(volumes, 3, (1, 3)))

    def fixed_loss(model: ScorePrior) -> float:
        generator = torch.Generator().manual_seed(123)
        with torch.no_grad():
            cpu = torch.device("cpu")
            return float(objective.loss(model, 32, generator, cpu, "auto"))

    torch.manual_seed(0)
    before = fixed_loss(ScorePrior(SPEC))
    result = train_prior(
        SPEC, TRAINING, volumes, volumes[:1], tmp_path / "p.pt", torch.device("cpu")
    )
    after = fixed_loss(load_prior(tmp_path / "p.pt", SPEC, torch.device("cpu")))
    assert after < 0.7 * before
    assert [h["step"] for h in result.history] == [10, 20, 30, 40]
    assert "validation_loss" in result.history[1]
    assert not resume_path(tmp_path / "p.pt").exists(), "resume state removed when done"


def test_checkpoint_of_another_config_is_refused_naming_the_difference(volumes, tmp_path):
    path = tmp_path / "p.pt"
    train_prior(SPEC, {**TRAINING, "steps": 2}, volumes, [], path, torch.device("cpu"))
    network = copy.deepcopy(TINY_NETWORK)
    network["channels"] = [8, 32]
    other = PriorSpec(3, (1, 3), 32, network)
    with pytest.raises(DataFileError, match=r"network\.channels: checkpoint has \[8, 16\]"):
        load_prior(path, other, torch.device("cpu"))
    with pytest.raises(DataFileError, match=r"spacings"):
        load_prior(path, PriorSpec(3, (1, 2), 32, TINY_NETWORK), torch.device("cpu"))


def test_truncated_or_foreign_checkpoints_are_refused(volumes, tmp_path):
    path = tmp_path / "p.pt"
    train_prior(SPEC, {**TRAINING, "steps": 1}, volumes, [], path, torch.device("cpu"))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataFileError, match=r"truncated\.pt: not a readable dblend checkpoint"):
        read_checkpoint(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(DataFileError, match=r"expected a dblend-prior/1 checkpoint"):
        read_checkpoint(foreign)
    with pytest.raises(DataFileError, match=r"not found"):
        read_checkpoint(tmp_path / "missing.pt")


def _learning_rates(schedule: str, steps: int = 10, warmup: int = 2) -> list[float]:
    """The learning rate each of ``steps`` optimisation steps uses."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = lr_scheduler(
        optimizer, {"lr_schedule": schedule, "warmup_steps": warmup, "steps": steps}
    )
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    return [*rates, scheduler.get_last_lr()[0]]


def test_constant_schedule_warms_up_then_holds():
    assert _learning_rates("constant") == pytest.approx([0.0, 0.5] + [1.0] * 9)


def test_cosine_schedule_warms_up_then_decays_to_zero():
    rates = _learning_rates("cosine")
    assert rates[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert rates[6] == pytest.approx(0.5), "half-way through the decay"
    assert all(a > b for a, b in itertools.pairwise(rates[2:]))
    assert rates[-1] == pytest.approx(0.0, abs=1e-12)


def test_unknown_schedule_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"training\.lr_schedule: 'linear' is not one of"):
        _learning_rates("linear")


def test_gradient_checkpointing_recomputes_activations_for_the_same_gradients(volumes):
    """On: each residual block runs again in the backward pass (so its activations were not
    kept), and every gradient equals the one computed without it."""
    objective = DiffusionObjective(VPSchedule.linear(), PatchSampler(volumes, 3, (1, 3)))
    gradients, calls = {}, {False: [], True: []}
    for switch in (False, True):
        torch.manual_seed(0)
        training = {**TRAINING, "gradient_checkpointing": switch}
        run = TrainingRun(ScorePrior(SPEC), training, torch.device("cpu"))
        block = run.model.unet.down_blocks[0].resnets[0]
        block.register_forward_pre_hook(lambda *_, seen=calls[switch]: seen.append(1))
        generator = torch.Generator().manual_seed(2)  # the same batch for both
        objective.loss(run.model, 4, generator, run.device, "auto").backward()
        gradients[switch] = [p.grad for p in run.model.parameters()]
    assert {switch: len(seen) for switch, seen in calls.items()} == {False: 1, True: 2}
    for plain, checkpointed in zip(gradients[False], gradients[True], strict=True):
        torch.testing.assert_close(checkpointed, plain, rtol=1e-5, atol=1e-7)


def test_a_run_stopped_for_memory_resumes_with_checkpointing_switched_on(volumes):
    on = {**TRAINING, "gradient_checkpointing": True}
    spec = SPEC.to_dict()
    assert run_identity(spec, on, volumes, []) == run_identity(spec, TRAINING, volumes, [])
