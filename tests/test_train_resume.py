"""Resuming training: a killed run ends bit-identical to an uninterrupted one; bad files named.

The kill test runs the real CLI in subprocesses (as Snakemake does), kills one with SIGKILL as
soon as its first resume file is on disk, and starts it again. Dropout, a cosine schedule and
a log interval that does not divide the checkpoint interval make every piece of saved state
matter: the torch RNG, the LR schedule and the partial loss window as well as the weights.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import TINY_NETWORK, smooth_volume

from dblend import cli
from dblend.io import write_array
from dblend.models.checkpoint import read_checkpoint, save_checkpoint
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.train import TrainingRun, resume_path, run_identity, train_prior

NETWORK = {**TINY_NETWORK, "dropout": 0.1}
TRAINING = {
    "steps": 60,
    "batch_size": 4,
    "learning_rate": 2e-3,
    "warmup_steps": 5,
    "lr_schedule": "cosine",
    "weight_decay": 0.01,
    "ema_decay": 0.9,
    "grad_clip": 1.0,
    "gradient_checkpointing": False,
    "crop": None,
    "log_every": 3,
    "checkpoint_every": 4,
    "validation_every": 6,
    "validation_batches": 1,
    "precision": "auto",
    "channels_last": False,
    "compile": False,
    "fused_optimizer": False,
}
PRIOR = {"slices": 3, "spacings": [1, 3], "network": "tiny", "training": TRAINING}
SPEC = PriorSpec(3, (1, 3), 16, NETWORK)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def volume_files(tmp_path_factory) -> dict[str, list[Path]]:
    folder = tmp_path_factory.mktemp("volumes")
    volumes = {
        "train": [smooth_volume(13, 16), smooth_volume(11, 16).flip(0)],
        "validation": [smooth_volume(12, 16).flip(2)],
    }
    files: dict[str, list[Path]] = {}
    for split, arrays in volumes.items():
        files[split] = []
        for index, volume in enumerate(arrays):
            path = folder / f"{split}{index}.h5"
            write_array(path, volume.numpy(), {"source": "test"})
            files[split].append(path)
    return files


def _train_args(files: dict[str, list[Path]], out: Path) -> list[str]:
    return [
        "train_prior",
        "--prior",
        json.dumps(PRIOR),
        "--network",
        json.dumps(NETWORK),
        "--volumes",
        *map(str, files["train"]),
        "--validation-volumes",
        *map(str, files["validation"]),
        "--device",
        "cpu",
        "--seed",
        "7",
        "--out",
        str(out / "prior.pt"),
        "--loss-csv",
        str(out / "loss.csv"),
    ]


def _start(files: dict[str, list[Path]], out: Path) -> subprocess.Popen:
    """The CLI in a subprocess, its output appended to ``out/log.txt``."""
    out.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "dblend.cli", "--threads", "1", *_train_args(files, out)]
    with open(out / "log.txt", "ab") as log_file:
        return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def _finish(process: subprocess.Popen, out: Path) -> str:
    process.wait(timeout=300)
    log_text = (out / "log.txt").read_text()
    assert process.returncode == 0, log_text
    return log_text


def test_killed_training_resumes_to_bit_identical_weights(volume_files, tmp_path):
    whole_dir, killed_dir = tmp_path / "whole", tmp_path / "killed"
    whole = _start(volume_files, whole_dir)
    killed = _start(volume_files, killed_dir)
    resume = resume_path(killed_dir / "prior.pt")
    deadline = time.monotonic() + 120
    while not resume.exists():
        assert killed.poll() is None, "training ended before its first resume file appeared"
        assert time.monotonic() < deadline, "no resume file appeared within 120 s"
        time.sleep(0.01)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert not (killed_dir / "prior.pt").exists(), "killed before it could finish"
    assert not (killed_dir / "loss.csv").exists()

    log_text = _finish(_start(volume_files, killed_dir), killed_dir)
    _finish(whole, whole_dir)

    resumed_at = [int(s) for s in re.findall(r"resuming \S+ at step (\d+)", log_text)]
    assert len(resumed_at) == 1, log_text
    assert 0 < resumed_at[0] < TRAINING["steps"]
    assert not resume.exists(), "resume state removed once training ended"
    reference = read_checkpoint(whole_dir / "prior.pt")
    resumed = read_checkpoint(killed_dir / "prior.pt")
    assert resumed["step"] == reference["step"] == TRAINING["steps"]
    assert resumed["ema_weights"].keys() == reference["ema_weights"].keys()
    for name, tensor in reference["ema_weights"].items():
        assert torch.equal(resumed["ema_weights"][name], tensor), name
    assert resumed["history"] == reference["history"]
    history = pd.read_csv(killed_dir / "loss.csv")
    assert history["validation_loss"].notna().sum() == TRAINING["steps"] // 6
    pd.testing.assert_frame_equal(history, pd.read_csv(whole_dir / "loss.csv"))


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"training": {**TRAINING, "learning_rate": 1.0}}, r"training\.learning_rate"),
        ({"data": {"train": "0" * 64, "validation": "0" * 64}}, r"data\.train"),
    ],
)
def test_resume_file_of_another_config_is_ignored_with_a_warning(tmp_path, caplog, change, named):
    volumes = [smooth_volume(13, 16)]
    training = {**TRAINING, "steps": 3, "seed": 7}
    fresh = train_prior(SPEC, training, volumes, [], tmp_path / "fresh.pt", CPU)
    checkpoint = tmp_path / "prior.pt"
    stale = TrainingRun(ScorePrior(SPEC), training, CPU)
    stale.step = 2
    identity = {**run_identity(SPEC.to_dict(), training, volumes, []), **change}
    save_checkpoint(resume_path(checkpoint), {**identity, **stale.state()})
    with caplog.at_level(logging.WARNING, logger="dblend.train"):
        result = train_prior(SPEC, training, volumes, [], checkpoint, CPU)
    assert re.search(
        rf"ignoring \S*prior\.pt\.resume, made for another config: .*{named}", caplog.text
    )
    assert result.history == fresh.history, "started over, not from the stale state"
    ours, theirs = read_checkpoint(checkpoint), read_checkpoint(tmp_path / "fresh.pt")
    for name, tensor in theirs["ema_weights"].items():
        assert torch.equal(ours["ema_weights"][name], tensor), name


def test_corrupt_resume_file_is_refused_naming_it(volume_files, tmp_path, capsys):
    resume = resume_path(tmp_path / "prior.pt")
    resume.write_bytes(b"not a torch file")
    assert cli.main(_train_args(volume_files, tmp_path)) == 2
    error = capsys.readouterr().err
    assert f"{resume}: not a readable dblend checkpoint" in error
    assert f"delete {resume} to start training over" in error
    assert not (tmp_path / "prior.pt").exists()
    assert resume.read_bytes() == b"not a torch file", "left for a person to inspect"
