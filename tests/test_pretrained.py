"""Priors from published checkpoints and priors written for others: adapted, trained, exported.

An ADM checkpoint is made by OpenAI's own UNetModel with random weights (RGB in, epsilon and
learned variance out, like the ImageNet model) and saved as the state dict OpenAI publishes.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import randomised, reference_adm, smooth_volume
from diffusers import UNet2DModel
from tiny_workflow import tiny_training

from dblend.cli import main
from dblend.config import complete_method
from dblend.errors import DataFileError
from dblend.models.adm import CheckpointMismatch
from dblend.models.checkpoint import load_prior, read_checkpoint
from dblend.models.export import export_prior, load_exported
from dblend.models.pretrained import WeightSource, load_prior_from
from dblend.models.prior import PriorSpec
from dblend.recon.methods import reconstruct
from dblend.train import train_prior

ADM_NETWORK = {
    "channels": [32, 64],
    "attention": [False, True],
    "layers_per_block": 1,
    "norm_groups": 32,
    "attention_head_dim": 8,
    "dropout": 0.0,
    "scale_shift": True,
    "layout": "adm",
}
PATCH = PriorSpec(3, (1, 3), 32, ADM_NETWORK)
SLICE = PriorSpec(1, (1,), 32, ADM_NETWORK)
TRAINING = tiny_training(
    steps=3,
    learning_rate=1e-5,
    warmup_steps=0,
    lr_schedule="constant",
    ema_decay=0.9,
    log_every=1,
    checkpoint_every=10,
)
TV = {"steps": 3, "cg_iters": 2, "rho": 0.01, "lam": 1e-4}
DDS = complete_method({"kind": "dds", "prior": "slice", **TV})
BLEND = complete_method({"kind": "diffusionblend_pp", "prior": "patch", **TV})


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    """(reference network, path of its saved state dict): an RGB ADM with learned variance."""
    reference = randomised(reference_adm(ADM_NETWORK, 3, 6, None, new_order=False))
    path = tmp_path_factory.mktemp("adm") / "adm.pt"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_three_slice_prior_starts_as_the_checkpoint_for_every_spacing(imagenet_like):
    reference, path = imagenet_like
    prior = load_prior_from(WeightSource(path, "adm"), PATCH).eval()
    assert torch.count_nonzero(prior.unet.class_embedding.weight) == 0
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([3, 800])
    with torch.no_grad():
        epsilon = reference(x, t)[:, :3]  # ADM's output is [epsilon, variance]
        for spacing in PATCH.spacings:
            got = prior(x, t, torch.tensor([spacing, spacing]))
            torch.testing.assert_close(got, epsilon, rtol=0, atol=1e-5)


def test_slice_prior_is_the_checkpoint_on_the_slice_repeated_in_rgb(imagenet_like):
    reference, path = imagenet_like
    prior = load_prior_from(WeightSource(path, "adm"), SLICE).eval()
    x, t = torch.randn(2, 1, 32, 32), torch.tensor([50, 400])
    with torch.no_grad():
        expected = reference(x.repeat(1, 3, 1, 1), t)[:, :3].mean(dim=1, keepdim=True)
        torch.testing.assert_close(prior(x, t, torch.ones(2)), expected, rtol=0, atol=1e-5)


def test_checkpoints_that_do_not_fit_are_refused_with_their_tensors(imagenet_like, tmp_path):
    _, path = imagenet_like
    wider = {**ADM_NETWORK, "channels": [32, 96]}
    with pytest.raises(CheckpointMismatch, match=r"input_blocks\.3\.0\.in_layers\.2\.weight"):
        load_prior_from(WeightSource(path, "adm"), PriorSpec(3, (1, 3), 32, wider))
    conditional = tmp_path / "conditional.pt"
    reference = reference_adm(ADM_NETWORK, 3, 6, 10, new_order=False)
    torch.save(reference.state_dict(), conditional)
    with pytest.raises(CheckpointMismatch, match=r"class_embedding \[10, 128\] cannot become"):
        load_prior_from(WeightSource(conditional, "adm"), PATCH)
    two_channel = tmp_path / "two.pt"
    torch.save(reference_adm(ADM_NETWORK, 2, 4, None, False).state_dict(), two_channel)
    with pytest.raises(CheckpointMismatch, match=r"conv_in\.weight \[32, 2, 3, 3\] takes 2"):
        load_prior_from(WeightSource(two_channel, "adm"), PATCH)
    with pytest.raises(DataFileError, match=r"missing\.pt: checkpoint not found"):
        load_prior_from(WeightSource(tmp_path / "missing.pt", "adm"), PATCH)


@pytest.fixture(scope="module")
def fine_tuned(imagenet_like, tmp_path_factory):
    """A 3-slice prior fine-tuned for a few steps from the ADM checkpoint, and its export."""
    _, path = imagenet_like
    folder = tmp_path_factory.mktemp("prior")
    volumes = [smooth_volume(9, 32), smooth_volume(8, 32).flip(0)]
    checkpoint = folder / "patch.pt"
    train_prior(
        PATCH,
        TRAINING,
        volumes[:1],
        volumes[1:],
        checkpoint,
        torch.device("cpu"),
        init=WeightSource(path, "adm"),
        data={"train": ["a.h5"], "validation": ["b.h5"]},
    )
    export_prior(checkpoint, folder / "patch")
    return checkpoint, folder / "patch"


def test_fine_tuning_records_its_start_and_moves_away_from_it(fine_tuned, imagenet_like):
    checkpoint, _ = fine_tuned
    state = read_checkpoint(checkpoint)
    init = state["init"]
    assert init["format"] == "adm" and init["path"] == str(imagenet_like[1])
    assert len(init["sha256"]) == 64
    start = load_prior_from(WeightSource(imagenet_like[1], "adm"), PATCH)
    moved = [
        name
        for name, weight in start.state_dict().items()
        if not torch.equal(weight, state["ema_weights"][name])
    ]
    assert "unet.class_embedding.weight" in moved, "the spacing embedding learns"


def test_exported_prior_loads_back_bit_identically(fine_tuned):
    checkpoint, folder = fine_tuned
    assert {p.name for p in folder.iterdir()} == {
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "dblend_prior.json",
        "README.md",
    }
    mask = os.umask(0)
    os.umask(mask)
    assert folder.stat().st_mode & 0o777 == 0o777 & ~mask, "a folder to share, not owner-only"
    assert all(p.stat().st_mode & 0o777 == 0o666 & ~mask for p in folder.iterdir())
    weights = read_checkpoint(checkpoint)["ema_weights"]
    unet = UNet2DModel.from_pretrained(folder, low_cpu_mem_usage=False)
    for name, tensor in unet.state_dict().items():
        assert torch.equal(tensor, weights[f"unet.{name}"]), name
    loaded = load_exported(folder)
    assert loaded.spec == PATCH
    card = (folder / "README.md").read_text()
    assert "library_name: diffusers" in card and "`a.h5`" in card and "`b.h5`" in card
    assert f"fine-tuned from `{read_checkpoint(checkpoint)['init']['path']}`" in card
    assert "optimisation steps: 3" in card and "validation loss" in card


def test_exported_prior_reconstructs_what_the_checkpoint_does(fine_tuned, sv8_operator):
    checkpoint, folder = fine_tuned
    volume = smooth_volume(6, 32)
    sinogram = sv8_operator.forward(volume)
    cpu = torch.device("cpu")
    volumes = [
        reconstruct("blend", BLEND, sinogram, sv8_operator, prior, 7, cpu)[0]
        for prior in (load_prior(checkpoint, PATCH, cpu), load_exported(folder))
    ]
    assert torch.equal(volumes[0], volumes[1])


def test_an_exported_prior_is_a_starting_point_too(fine_tuned):
    checkpoint, folder = fine_tuned
    prior = load_prior_from(WeightSource(folder, "diffusers"), PATCH)
    weights = read_checkpoint(checkpoint)["ema_weights"]
    assert all(torch.equal(w, weights[n]) for n, w in prior.state_dict().items())
    metadata = json.loads((folder / "dblend_prior.json").read_text())
    assert metadata["step"] == 3 and metadata["init"]["format"] == "adm"


def test_convert_checkpoint_command_writes_a_published_prior_used_as_is(
    imagenet_like, tmp_path, sv8_operator, capsys
):
    """DDS's prior the way the pipeline uses it: converted once, in [0, 1] units, sampled."""
    _, path = imagenet_like
    out = tmp_path / "slice.pt"
    prior = {"slices": 1, "spacings": [1], "value_range": [0, 1]}
    argv = ["convert_checkpoint", "--checkpoint", str(path), "--format", "adm"]
    argv += ["--prior", json.dumps(prior), "--image-size", "32", "--out", str(out)]
    assert main([*argv, "--network", json.dumps({**ADM_NETWORK, "layers_per_block": 2})]) == 2
    assert "missing input_blocks.4.0.in_layers.0.weight [32]" in capsys.readouterr().err
    assert not out.exists(), "nothing written for a refused checkpoint"
    assert main([*argv, "--network", json.dumps(ADM_NETWORK)]) == 0
    state = read_checkpoint(out)
    assert state["source"]["format"] == "adm" and state["history"] == [] and state["step"] == 0
    spec = PriorSpec(1, (1,), 32, ADM_NETWORK, value_range=(0.0, 1.0))
    published = load_prior(out, spec, torch.device("cpu"))
    sinogram = sv8_operator.forward(smooth_volume(4, 32))
    cpu = torch.device("cpu")
    volume, stats = reconstruct("dds", DDS, sinogram, sv8_operator, published, 0, cpu)
    assert volume.shape == (4, 32, 32) and stats.nfe == 3 and torch.isfinite(volume).all()
    assert main(["export_prior", "--checkpoint", str(out), "--out", str(tmp_path / "dds")]) == 0
    card = (tmp_path / "dds" / "README.md").read_text()
    assert f"converted from `{path}`" in card and "weights were converted" in card


def test_describe_prints_where_a_prior_started_without_its_weights(fine_tuned, capsys):
    checkpoint, _ = fine_tuned
    assert main(["describe", str(checkpoint)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["init"] == read_checkpoint(checkpoint)["init"]
    assert printed["history"]["entries"] == 3 and printed["step"] == 3
    assert "ema_weights" not in printed and printed["spec"]["slices"] == 3
