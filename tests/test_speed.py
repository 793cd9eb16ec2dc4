"""Speed switches change the speed, not the results: each one on CPU against the plain path."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
import torch
from conftest import TINY_NETWORK, smooth_volume
from diffusers.models.attention_processor import Attention

from dblend import train
from dblend.config import complete_method
from dblend.errors import ConfigError
from dblend.io import read_attrs, write_array
from dblend.metrics import psnr
from dblend.models import speed
from dblend.models.fbpunet import FbpUNetSpec, trained_task
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.patches import PatchSampler
from dblend.physics.geometry import parallel_geometry
from dblend.physics.parallel import ParallelBeamOperator
from dblend.recon.methods import reconstruct
from dblend.stages.reconstruct import reconstruct as reconstruct_stage
from dblend.train import DiffusionObjective, TrainingRun, train_fbpunet, train_prior, train_step

CPU = torch.device("cpu")
TRAINING = {
    "steps": 4,
    "batch_size": 4,
    "learning_rate": 2e-3,
    "warmup_steps": 1,
    "lr_schedule": "constant",
    "weight_decay": 0.01,
    "ema_decay": 0.9,
    "grad_clip": 1.0,
    "crop": None,
    "log_every": 2,
    "checkpoint_every": 2,
    "validation_every": 2,
    "validation_batches": 1,
    "precision": "auto",
    "gradient_checkpointing": False,
    "channels_last": False,
    "compile": False,
    "fused_optimizer": False,
    "seed": 0,
}
SPEC = PriorSpec(3, (1, 3), 16, TINY_NETWORK)  # TINY_NETWORK attends at its second level
DDS = complete_method(
    {"kind": "dds", "prior": "slice", "steps": 4, "rho": 0.01, "lam": 1e-4, "batch_size": 5}
)


class Trained(NamedTuple):
    losses: list[float]
    first_gradients: dict[str, torch.Tensor]
    first_weights: dict[str, torch.Tensor]


def train_three_steps(**switches: object) -> Trained:
    """Three real training steps from one seed: losses, the first step's gradients and result."""
    torch.manual_seed(0)
    run = TrainingRun(ScorePrior(SPEC), {**TRAINING, **switches}, CPU)
    sampler = PatchSampler([smooth_volume(9, 16)], SPEC.slices, SPEC.spacings)
    objective = DiffusionObjective(VPSchedule.linear(), sampler)
    losses = [train_step(run, objective)]
    gradients = {name: p.grad.detach().clone() for name, p in run.model.named_parameters()}
    weights = {name: value.detach().clone() for name, value in run.model.state_dict().items()}
    losses += [train_step(run, objective) for _ in range(2)]
    return Trained(losses, gradients, weights)


@pytest.fixture(scope="module")
def plain() -> Trained:
    return train_three_steps()


@pytest.mark.parametrize(
    "switches",
    [
        {"channels_last": True},
        {"channels_last": True, "compile": True, "fused_optimizer": True},
    ],
    ids=["channels_last", "all"],
)
def test_network_switches_keep_losses_and_gradients(switches, plain, monkeypatch):
    # The dynamo capture and autograd graphs are the real ones; inductor's C++ code generation
    # takes minutes on a small CPU, so the graphs run through torch's eager kernels here
    # (benchmarks/train_throughput.py compares inductor's first losses on a GPU). Weights are
    # compared through the later losses: Adam turns float noise in a gradient that is zero in
    # exact arithmetic (an attention key's bias) into a step of the learning rate's size.
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "aot_eager")
    trained = train_three_steps(**switches)
    assert trained.losses == pytest.approx(plain.losses, rel=1e-5)
    assert trained.first_weights.keys() == plain.first_weights.keys(), "checkpoints keep names"
    for name, gradient in trained.first_gradients.items():
        torch.testing.assert_close(gradient, plain.first_gradients[name], rtol=1e-3, atol=1e-7)
    if switches.get("channels_last"):
        conv = trained.first_weights["unet.conv_in.weight"]
        assert conv.is_contiguous(memory_format=torch.channels_last)


def test_fused_adamw_takes_the_same_steps(plain):
    trained = train_three_steps(fused_optimizer=True)
    assert trained.losses == pytest.approx(plain.losses, rel=1e-5)
    for name, value in trained.first_weights.items():  # the same gradients went into these
        torch.testing.assert_close(value, plain.first_weights[name], rtol=1e-6, atol=1e-8)


def test_bf16_training_stays_within_bf16_precision(plain):
    losses = train_three_steps(precision="bf16").losses
    assert losses == pytest.approx(plain.losses, rel=3e-2)
    assert losses != plain.losses, "bf16 autocast was applied"


def _train_fbpunet(training: dict, out: Path) -> train.TrainResult:
    volume = smooth_volume(6, 16)
    task = trained_task(parallel_geometry({"kind": "sparse_view", "views": 8}, 16).to_dict(), {})
    spec = FbpUNetSpec(TINY_NETWORK, 16, "hann")
    return train_fbpunet(spec, task, training, [(volume.flip(1), volume)], [], out, CPU)


def _train_coronal_prior(training: dict, out: Path) -> train.TrainResult:
    spec = PriorSpec(1, (1,), 16, TINY_NETWORK, plane="coronal", depth="pad")
    return train_prior(spec, training, [smooth_volume(9, 16)], [], out, CPU)


@pytest.mark.parametrize(
    "trainer", [_train_fbpunet, _train_coronal_prior], ids=["fbpunet", "coronal"]
)
def test_fbpunet_and_coronal_prior_training_take_the_switches(trainer, tmp_path, monkeypatch):
    """FBP-UNet and TPDM's coronal prior train through the priors' loop: the training section's
    memory switches are applied to their U-Net and its precision reaches their loss."""
    prepared = []

    def recorded(model, training):
        prepared.append(model)
        return speed.prepare_for_training(model, training)

    monkeypatch.setattr(train, "prepare_for_training", recorded)

    def losses(**switches: object) -> list[float]:
        settings = {**TRAINING, "steps": 2, "log_every": 1, **switches}
        result = trainer(settings, tmp_path / f"{len(prepared)}.pt")
        return [entry["loss"] for entry in result.history]

    plain = losses()
    switched = losses(gradient_checkpointing=True, channels_last=True)
    unet = prepared[-1].unet
    assert unet.is_gradient_checkpointing
    conv = unet.down_blocks[0].resnets[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert switched == pytest.approx(plain, rel=1e-5)
    bf16 = losses(precision="bf16")
    assert bf16 == pytest.approx(plain, rel=3e-2)
    assert bf16 != plain, "bf16 autocast was applied"


def test_precision_auto_is_bf16_on_cuda_only():
    assert speed.resolve_precision("auto", CPU) == "fp32"
    assert speed.resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert speed.resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ConfigError, match=r"precision: 'fp16' is not one of auto, fp32, bf16"):
        speed.resolve_precision("fp16", CPU)


def test_attention_blocks_call_torchs_fused_attention(patch_prior, monkeypatch):
    blocks = [m for m in patch_prior.modules() if isinstance(m, Attention)]
    assert blocks and {type(m.processor).__name__ for m in blocks} == {"AttnProcessor2_0"}
    fused = torch.nn.functional.scaled_dot_product_attention
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    with torch.no_grad():
        patch_prior(torch.randn(2, 3, 32, 32), torch.tensor([5, 900]), torch.tensor([1, 3]))
    assert len(calls) == len(blocks), "every attention block goes through the fused kernel"


def test_sampling_precision_auto_is_fp32_on_cpu_and_bf16_stays_close():
    torch.manual_seed(0)
    prior = ScorePrior(PriorSpec(1, (1,), 16, TINY_NETWORK)).eval()
    volume = smooth_volume(5, 16)
    operator = ParallelBeamOperator(parallel_geometry({"kind": "sparse_view", "views": 8}, 16))
    sinogram = operator.forward(volume)
    volumes = {
        precision: reconstruct(
            "dds", {**DDS, "precision": precision}, sinogram, operator, prior, 0, CPU
        )[0]
        for precision in ("auto", "fp32", "bf16")
    }
    assert torch.equal(volumes["auto"], volumes["fp32"]), "the CPU demo's numbers do not move"
    assert not torch.equal(volumes["bf16"], volumes["fp32"])
    truth = volume.numpy()
    gap = psnr(truth, volumes["bf16"].numpy()) - psnr(truth, volumes["fp32"].numpy())
    assert abs(gap) < 0.1


def test_each_reconstruction_records_its_precision(tmp_path, tiny_volume):
    geometry = parallel_geometry({"kind": "sparse_view", "views": 8}, 32)
    sinogram = tmp_path / "sinogram.h5"
    projections = ParallelBeamOperator(geometry).forward(tiny_volume)
    write_array(sinogram, projections.numpy(), {"geometry": geometry.to_dict()})
    prior = {"slices": 1, "spacings": [1], "network": "tiny", "training": TRAINING}
    checkpoint = tmp_path / "slice.pt"
    spec = PriorSpec.from_config(prior, TINY_NETWORK, image_size=32)
    train_prior(spec, {**TRAINING, "steps": 1}, [tiny_volume], [], checkpoint, CPU)
    runs = {
        "fbp": (complete_method({"kind": "fbp"}), None),
        "dds": ({**DDS, "steps": 1, "precision": "bf16"}, checkpoint),
    }
    for name, (method, path) in runs.items():
        reconstruct_stage(
            method_name=name,
            method=method,
            sinogram=sinogram,
            prior_checkpoint=path,
            prior=prior,
            prior_network=TINY_NETWORK,
            device="cpu",
            seed=0,
            out=tmp_path / f"{name}.h5",
        )
    assert read_attrs(tmp_path / "fbp.h5")["precision"] == "fp32"
    attrs = read_attrs(tmp_path / "dds.h5")
    assert attrs["precision"] == "bf16" and attrs["settings"]["precision"] == "bf16"
