"""FBP-UNet: trained on tiny volumes' FBPs its loss goes down and it beats its FBP input; it
reconstructs slice by slice; a model trained for another task or geometry is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_NETWORK, smooth_volume
from tiny_workflow import tiny_training

from dblend import cli
from dblend.errors import DataFileError
from dblend.io import read_array, write_array
from dblend.models.checkpoint import read_checkpoint
from dblend.models.fbpunet import FBPUNET_FORMAT, FbpUNet, FbpUNetSpec, load_fbpunet, trained_task
from dblend.physics.geometry import parallel_geometry
from dblend.physics.parallel import ParallelBeamOperator
from dblend.train import resume_path, train_fbpunet

CPU = torch.device("cpu")
NETWORK = {**TINY_NETWORK, "attention": [False, False]}
SPEC = FbpUNetSpec(network=NETWORK, image_size=32, filter="hann")
NOISE_FREE = {"model": "none"}
TRAINING = tiny_training(
    steps=40,
    learning_rate=3e-3,
    warmup_steps=0,
    ema_decay=0.0,
    log_every=20,
    checkpoint_every=20,
    validation_every=20,
)


def _pair(
    volume: torch.Tensor, operator: ParallelBeamOperator
) -> tuple[torch.Tensor, torch.Tensor]:
    return operator.fbp(operator.forward(volume), "hann"), volume


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sv8_operator):
    """An FBP-UNet trained for 8 views on two tiny volumes, validated on a third."""
    path = tmp_path_factory.mktemp("fbpunet") / "fbpunet.pt"
    train = [
        _pair(smooth_volume(13, 32), sv8_operator),
        _pair(smooth_volume(11, 32).flip(2), sv8_operator),
    ]
    validation = [_pair(smooth_volume(12, 32).flip(0), sv8_operator)]
    task = trained_task(sv8_operator.geometry.to_dict(), NOISE_FREE)
    result = train_fbpunet(SPEC, task, TRAINING, train, validation, path, CPU)
    return path, task, result


def _mse(model: FbpUNet, fbp: torch.Tensor, truth: torch.Tensor) -> float:
    return float(torch.mean((model.reconstruct(fbp, batch_size=5, precision="auto") - truth) ** 2))


def test_training_lowers_the_loss_and_the_error_of_the_output(trained, sv8_operator, tiny_volume):
    path, task, result = trained
    history = result.history
    assert [h["step"] for h in history] == [20, 40]
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert history[-1]["validation_loss"] < history[0]["validation_loss"]
    fbp, truth = _pair(tiny_volume, sv8_operator)
    torch.manual_seed(TRAINING["seed"])
    untrained = FbpUNet(SPEC).eval()
    model = load_fbpunet(path, SPEC, task, CPU)
    assert _mse(model, fbp, truth) < 0.5 * _mse(untrained, fbp, truth)
    assert _mse(model, fbp, truth) < float(torch.mean((fbp - truth) ** 2)), "better than its FBP"
    assert not resume_path(path).exists(), "resume state removed when done"


def test_reconstructs_slice_by_slice_in_batches(trained, sv8_operator):
    path, task, _ = trained
    model = load_fbpunet(path, SPEC, task, CPU)
    fbp, _ = _pair(smooth_volume(7, 32), sv8_operator)
    whole = model.reconstruct(fbp, batch_size=7, precision="auto")
    assert whole.shape == fbp.shape
    assert torch.allclose(model.reconstruct(fbp, batch_size=2, precision="auto"), whole, atol=1e-5)
    assert torch.allclose(
        model.reconstruct(fbp[3:4], batch_size=1, precision="auto"), whole[3:4], atol=1e-5
    )


def test_a_model_trained_for_another_task_is_refused(trained):
    path, task, _ = trained
    six_views = parallel_geometry({"kind": "sparse_view", "views": 6}, 32).to_dict()
    with pytest.raises(
        DataFileError,
        match=r"fbpunet\.pt: this FBP-UNet was trained for another task \(parallel beam, 8 views "
        r".*noise-free\); the sinogram is parallel beam, 6 views",
    ):
        load_fbpunet(path, SPEC, trained_task(six_views, NOISE_FREE), CPU)
    noisy = {"model": "poisson", "incident_counts": 1e4, "attenuation": 0.02}
    with pytest.raises(DataFileError, match=r"the sinogram is .*Poisson noise, I0 10000"):
        load_fbpunet(path, SPEC, trained_task(task["geometry"], noisy), CPU)


def test_a_model_of_another_config_or_kind_is_refused(trained):
    path, task, _ = trained
    with pytest.raises(DataFileError, match=r"another config:\n  filter: checkpoint has 'hann'"):
        load_fbpunet(path, FbpUNetSpec(NETWORK, 32, "ramp"), task, CPU)
    assert read_checkpoint(path, FBPUNET_FORMAT)["task"] == task
    with pytest.raises(
        DataFileError, match=r"expected a dblend-prior/1 checkpoint, found 'dblend-fbpunet/1'"
    ):
        read_checkpoint(path)


@pytest.fixture(scope="module")
def stage_files(tmp_path_factory) -> dict[str, Path]:
    """Two tiny volumes and their sinograms for 8 and 6 views, written by the stages."""
    folder = tmp_path_factory.mktemp("stage")
    files = {}
    for name, volume in (("a", smooth_volume(9, 32)), ("b", smooth_volume(7, 32).flip(2))):
        files[name] = folder / f"{name}.h5"
        write_array(files[name], volume.numpy(), {"source": "test"})
        for views in (8, 6):
            task = json.dumps({"kind": "sparse_view", "views": views, "noise": NOISE_FREE})
            out = files[f"{name}{views}"] = folder / f"{name}.sv{views}.h5"
            arguments = ["--volume", files[name], "--task", task, "--seed", "1", "--out", out]
            assert cli.main(["simulate", *map(str, arguments)]) == 0
    return files


def _train(files: dict[str, Path], out: Path, *sinograms: str) -> int:
    method = {"filter": "hann", "training": {**TRAINING, "steps": 2, "log_every": 1}}
    return cli.main(
        [
            "train_fbpunet", "--method", json.dumps(method), "--network", json.dumps(NETWORK),
            "--volumes", str(files["a"]), "--sinograms", str(files[sinograms[0]]),
            "--validation-volumes", str(files["b"]),
            "--validation-sinograms", str(files[sinograms[1]]),
            "--device", "cpu", "--seed", "0",
            "--out", str(out / "m.pt"), "--loss-csv", str(out / "m.loss.csv"),
        ]
    )  # fmt: skip


def _reconstruct(model: Path, sinogram: Path, out: Path) -> int:
    method = {
        "kind": "fbpunet",
        "network": "n",
        "filter": "hann",
        "batch_size": 4,
        "precision": "auto",
    }
    return cli.main(
        [
            "reconstruct", "--method-name", "fbpunet", "--method", json.dumps(method),
            "--sinogram", str(sinogram), "--model-checkpoint", str(model),
            "--model-network", json.dumps(NETWORK), "--device", "cpu", "--seed", "0",
            "--out", str(out),
        ]
    )  # fmt: skip


def test_stages_train_for_one_task_and_refuse_another(stage_files, tmp_path, capsys):
    assert _train(stage_files, tmp_path, "a8", "b8") == 0
    assert len(pd.read_csv(tmp_path / "m.loss.csv")) == 2
    capsys.readouterr()
    assert cli.main(["describe", str(tmp_path / "m.pt")]) == 0
    described = json.loads(capsys.readouterr().out)
    assert len(described["task"]["geometry"]["angles"]) == 8
    assert described["provenance"]["seed"] == 0
    assert described["history"]["entries"] == 2 and "ema_weights" not in described
    assert _reconstruct(tmp_path / "m.pt", stage_files["b8"], tmp_path / "b8.h5") == 0
    volume, attrs = read_array(tmp_path / "b8.h5")
    assert volume.shape == (7, 32, 32) and attrs["nfe"] == 1
    assert attrs["model"] == str(tmp_path / "m.pt")
    capsys.readouterr()
    assert _reconstruct(tmp_path / "m.pt", stage_files["b6"], tmp_path / "b6.h5") == 2
    error = capsys.readouterr().err
    assert "this FBP-UNet was trained for another task (parallel beam, 8 views" in error
    assert "the sinogram is parallel beam, 6 views" in error
    assert not (tmp_path / "b6.h5").exists()


def test_training_on_sinograms_of_two_tasks_is_refused(stage_files, tmp_path, capsys):
    assert _train(stage_files, tmp_path, "a8", "b6") == 2
    assert "one FBP-UNet serves one task" in capsys.readouterr().err
    assert not (tmp_path / "m.pt").exists()
