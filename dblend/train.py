"""One training loop for every learned model: the score priors and FBP-UNet.

A model is trained on an objective, a source of random batches and the model's loss on one:
epsilon-prediction MSE on random k-slice patches for a prior (``DiffusionObjective``), MSE
between the network's output for an FBP slice and the true slice for FBP-UNet
(``SliceRegression``). The loop is the same for every model: AdamW with a linear warm-up then
a constant or cosine learning rate, gradient clipping, EMA weights (what inference uses; decay 0
keeps the last weights), the training section's precision (bf16 autocast on CUDA by default)
and speed switches (dblend/models/speed.py; ``fused_optimizer`` picks AdamW's fused kernel).
The loop checkpoints the whole training state atomically at intervals and, when started again,
resumes from it exactly: model, EMA, optimizer, schedule, step, random states and the partial
loss window, so a killed job ends with the same weights and loss history as an uninterrupted
one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch import nn
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm

from dblend.errors import ConfigError, DataFileError
from dblend.models.checkpoint import (
    PRIOR_FORMAT,
    read_checkpoint,
    save_checkpoint,
    spec_differences,
)
from dblend.models.fbpunet import FBPUNET_FORMAT, FbpUNet, FbpUNetSpec
from dblend.models.pretrained import WeightSource, prior_weights
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.models.speed import autocast, prepare_for_training
from dblend.patches import PatchSampler, SlicePairSampler
from dblend.perpendicular import coronal_training_slices

log = logging.getLogger(__name__)

# training.lr_schedule -> the diffusers schedule after the linear warm-up.
LR_SCHEDULES = {"constant": "constant_with_warmup", "cosine": "cosine"}
MEMORY_SWITCHES = ("gradient_checkpointing",)
"""Training keys that trade memory for time without changing a number: a run interrupted for
lack of memory resumes with them switched on."""


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports: its loss history and how long this attempt took."""

    history: list[dict[str, float]]
    seconds: float


def resume_path(checkpoint: str | os.PathLike) -> Path:
    """Where the in-progress training state of ``checkpoint`` lives until training ends."""
    path = Path(checkpoint)
    return path.with_name(path.name + ".resume")


def lr_scheduler(optimizer: torch.optim.Optimizer, training: dict[str, Any]) -> LRScheduler:
    """Linear warm-up over ``warmup_steps``, then constant or cosine decay to 0 at ``steps``."""
    name = training["lr_schedule"]
    if name not in LR_SCHEDULES:
        raise ConfigError(
            f"training.lr_schedule: {name!r} is not one of {', '.join(sorted(LR_SCHEDULES))}"
        )
    return get_scheduler(
        LR_SCHEDULES[name],
        optimizer,
        num_warmup_steps=training["warmup_steps"],
        num_training_steps=training["steps"],
    )


def run_identity(
    spec: dict[str, Any],
    training: dict[str, Any],
    train_volumes: Sequence[torch.Tensor],
    validation_volumes: Sequence[torch.Tensor],
    init: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a resume file must match to be resumed from: the spec, the training (but for its
    memory switches, which change no number), the data and the start."""
    return {
        "spec": spec,
        "training": {k: v for k, v in training.items() if k not in MEMORY_SWITCHES},
        "data": {
            "train": data_fingerprint(train_volumes),
            "validation": data_fingerprint(validation_volumes),
        },
        "init": init,
    }


def data_fingerprint(volumes: Sequence[torch.Tensor]) -> str:
    """SHA-256 of the volumes' shapes and values, so a resume file never meets other data."""
    digest = hashlib.sha256()
    for volume in volumes:
        array = volume.detach().cpu().float().contiguous().numpy()
        digest.update(repr(array.shape).encode())
        digest.update(memoryview(array))
    return digest.hexdigest()


class Objective(Protocol):
    """What a model is trained on: random batches and the model's loss on one."""

    def loss(
        self,
        model: nn.Module,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
        precision: str,
    ) -> torch.Tensor: ...


@dataclass(frozen=True)
class DiffusionObjective:
    """A score prior's objective: epsilon-prediction MSE at uniformly drawn timesteps."""

    schedule: VPSchedule
    patches: PatchSampler

    def loss(
        self,
        model: nn.Module,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
        precision: str,
    ) -> torch.Tensor:
        patches, spacings = self.patches.sample(batch_size, generator)
        t = torch.randint(self.schedule.timesteps, (patches.shape[0],), generator=generator)
        noise = torch.randn(patches.shape, generator=generator)
        x_t = self.schedule.add_noise(patches, noise, t)
        with autocast(precision, device):
            predicted = model(x_t.to(device), t.to(device), spacings.to(device))
        return F.mse_loss(predicted.float(), noise.to(device))


@dataclass(frozen=True)
class SliceRegression:
    """A supervised slice-to-slice network's objective (FBP-UNet): MSE to the target slice."""

    pairs: SlicePairSampler

    def loss(
        self,
        model: nn.Module,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
        precision: str,
    ) -> torch.Tensor:
        inputs, targets = self.pairs.sample(batch_size, generator)
        with autocast(precision, device):
            predicted = model(inputs.to(device))
        return F.mse_loss(predicted.float(), targets.to(device))


class TrainingRun:
    """The mutable state of one training run, saved and restored as a whole."""

    def __init__(self, model: nn.Module, training: dict[str, Any], device: torch.device) -> None:
        self.training, self.device = training, device
        self.model = prepare_for_training(model.to(device), training)
        self.ema = EMAModel(self.model.parameters(), decay=training["ema_decay"])
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=training["learning_rate"],
            weight_decay=training["weight_decay"],
            fused=training["fused_optimizer"] or None,
        )
        self.lr_schedule = lr_scheduler(self.optimizer, training)
        self.generator = torch.Generator().manual_seed(training["seed"])
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.window: list[float] = []  # losses since the last history entry

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.lr_schedule.state_dict(),
            "rng": {
                "sampler": self.generator.get_state(),
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            },
            "history": self.history,
            "window": self.window,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.ema.load_state_dict(state["ema"])
        self.ema.to(self.device)
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_schedule.load_state_dict(state["lr_schedule"])
        self.generator.set_state(state["rng"]["sampler"])
        torch.set_rng_state(state["rng"]["torch"])
        if state["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.window = list(state["window"])

    def ema_weights(self) -> dict[str, torch.Tensor]:
        self.ema.store(self.model.parameters())
        self.ema.copy_to(self.model.parameters())
        weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        self.ema.restore(self.model.parameters())
        return weights


def train_step(run: TrainingRun, objective: Objective) -> float:
    """One optimisation step on a fresh batch; returns its loss, refusing a non-finite one."""
    training = run.training
    loss = objective.loss(
        run.model, training["batch_size"], run.generator, run.device, training["precision"]
    )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss became {value} at step {run.step}")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), training["grad_clip"])
    run.optimizer.step()
    run.lr_schedule.step()
    run.ema.step(run.model.parameters())
    run.step += 1
    return value


def _validation_loss(run: TrainingRun, objective: Objective) -> float:
    """Mean EMA-weight loss on a fixed set of held-out batches (the same at every evaluation)."""
    training = run.training
    generator = torch.Generator().manual_seed(training["seed"] + 1)
    run.ema.store(run.model.parameters())
    run.ema.copy_to(run.model.parameters())
    run.model.eval()
    losses = []
    with torch.no_grad():
        for _ in range(training["validation_batches"]):
            loss = objective.loss(
                run.model, training["batch_size"], generator, run.device, training["precision"]
            )
            losses.append(float(loss))
    run.model.train()
    run.ema.restore(run.model.parameters())
    return sum(losses) / len(losses)


def _resume_state(path: Path, identity: dict[str, Any], fmt: str) -> dict[str, Any] | None:
    """The saved state of an earlier attempt at this very run, if there is one.

    A resume file made for another spec, training section or data is expected (the config or
    the volumes changed and the job runs again): it is ignored with a warning and overwritten
    at the next checkpoint. An unreadable one is not: saves are atomic, so it means damage or
    an incompatible torch, and silently starting over could throw away days of GPU time that
    fixing the environment would keep. It is refused, naming the file; deleting it starts over.
    """
    if not path.is_file():
        return None
    try:
        state = read_checkpoint(path, fmt)
    except DataFileError as err:
        raise DataFileError(
            f"{err}; this is the resume state of an interrupted training run: "
            f"delete {path} to start training over"
        ) from err
    differences = spec_differences(identity, {k: state.get(k) for k in identity})
    if differences:
        log.warning("ignoring %s, made for another config: %s", path, "; ".join(differences))
        return None
    return state


def fit(
    build_model: Callable[[], nn.Module],
    objective: Objective,
    validation: Objective | None,
    training: dict[str, Any],
    identity: dict[str, Any],
    checkpoint: str | os.PathLike,
    device: torch.device,
    fmt: str,
    record: dict[str, Any],
) -> TrainResult:
    """Train (or resume training) a model and write its final checkpoint to ``checkpoint``.

    ``identity`` (spec, training, data fingerprints, start) must match a resume file for it to
    be resumed from; the final checkpoint holds its spec, the training section, the EMA weights,
    the loss history and ``record`` (what else the model's kind keeps); ``fmt`` tags both files
    with the kind of model they hold.
    """
    torch.manual_seed(training["seed"])
    run = TrainingRun(build_model(), training, device)
    resume = resume_path(checkpoint)
    state = _resume_state(resume, identity, fmt)
    if state is not None:
        run.restore(state)
        log.info("resuming %s at step %d", checkpoint, run.step)
    started = time.perf_counter()
    steps = training["steps"]
    bar = tqdm(total=steps, initial=run.step, desc="train", unit="step", disable=None)
    timed_steps, window_start = 0, time.perf_counter()
    run.model.train()
    while run.step < steps:
        value = train_step(run, objective)
        run.window.append(value)
        timed_steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if run.step % training["log_every"] == 0 or run.step == steps:
            rate = timed_steps * training["batch_size"] / (time.perf_counter() - window_start)
            entry = {"step": run.step, "loss": sum(run.window) / len(run.window)}
            if validation and (run.step % training["validation_every"] == 0 or run.step == steps):
                entry["validation_loss"] = _validation_loss(run, validation)
            run.history.append(entry)
            log.info(
                "step %d/%d loss %.5f%s lr %.2e %.1f samples/s",
                run.step,
                steps,
                entry["loss"],
                f" val {entry['validation_loss']:.5f}" if "validation_loss" in entry else "",
                run.lr_schedule.get_last_lr()[0],
                rate,
            )
            run.window, timed_steps, window_start = [], 0, time.perf_counter()
        if run.step % training["checkpoint_every"] == 0 and run.step < steps:
            save_checkpoint(resume, {**identity, **run.state()}, fmt)
    bar.close()
    final = {
        "spec": identity["spec"],
        "training": training,
        "step": run.step,
        "ema_weights": run.ema_weights(),
        "history": run.history,
        **record,
    }
    save_checkpoint(checkpoint, final, fmt)
    resume.unlink(missing_ok=True)
    return TrainResult(history=run.history, seconds=time.perf_counter() - started)


def train_prior(
    spec: PriorSpec,
    training: dict[str, Any],
    train_volumes: Sequence[torch.Tensor],
    validation_volumes: Sequence[torch.Tensor],
    checkpoint: str | os.PathLike,
    device: torch.device,
    init: WeightSource | None = None,
    data: dict[str, list[str]] | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (or resume training) a score prior on k-slice patches of the volumes' slices of
    its plane: axial, or coronal (fitted to the network's size, as ``spec.depth`` says).

    With ``init`` the network starts from that checkpoint's weights (``dblend.models.pretrained``)
    instead of a random draw; the final checkpoint records which file (and its SHA-256) it was,
    and ``data`` (the volumes' names per split) for the model card of an exported prior, and
    ``provenance`` (what made it: dblend.provenance) beside the weights.
    """
    crop = training["crop"]
    if spec.plane == "coronal":
        crop = crop or spec.image_size  # windows of volumes deeper than they are wide

    def objective(volumes: Sequence[torch.Tensor]) -> DiffusionObjective:
        if spec.plane == "coronal":
            volumes = [coronal_training_slices(v, spec.image_size, spec.depth) for v in volumes]
        patches = PatchSampler(volumes, spec.slices, spec.spacings, crop, spec.value_range)
        return DiffusionObjective(VPSchedule.linear(), patches)

    def build() -> ScorePrior:
        model = ScorePrior(spec)
        if init is not None:
            model.load_state_dict(prior_weights(init, spec))
        return model

    started_from = init.record() if init else None
    return fit(
        build,
        objective(train_volumes),
        objective(validation_volumes) if validation_volumes else None,
        training,
        run_identity(spec.to_dict(), training, train_volumes, validation_volumes, started_from),
        checkpoint,
        device,
        PRIOR_FORMAT,
        {"init": started_from, "data": data, "provenance": provenance or {}},
    )


SlicePairs = Sequence[tuple[torch.Tensor, torch.Tensor]]
"""(input, target) volumes [Z, H, W] in [0, 1]: for FBP-UNet a volume's FBP and the volume."""


def train_fbpunet(
    spec: FbpUNetSpec,
    task: dict[str, Any],
    training: dict[str, Any],
    train_pairs: SlicePairs,
    validation_pairs: SlicePairs,
    checkpoint: str | os.PathLike,
    device: torch.device,
    provenance: dict[str, Any] | None = None,
) -> TrainResult:
    """Train (or resume training) an FBP-UNet for ``task`` on slice pairs of the volumes; its
    checkpoint records the task (geometry and noise) it serves, and ``provenance`` (what made
    it: dblend.provenance)."""

    def objective(pairs: SlicePairs) -> SliceRegression:
        inputs, targets = [p[0] for p in pairs], [p[1] for p in pairs]
        return SliceRegression(SlicePairSampler(inputs, targets, training["crop"]))

    def volumes(pairs: SlicePairs) -> list[torch.Tensor]:
        return [volume for pair in pairs for volume in pair]

    identity = run_identity(
        spec.to_dict(), training, volumes(train_pairs), volumes(validation_pairs)
    )
    return fit(
        lambda: FbpUNet(spec),
        objective(train_pairs),
        objective(validation_pairs) if validation_pairs else None,
        training,
        {**identity, "task": task},
        checkpoint,
        device,
        FBPUNET_FORMAT,
        {"task": task, "provenance": provenance or {}},
    )
