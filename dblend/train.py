"""One training loop for every prior: epsilon-prediction MSE on random k-slice patches.

AdamW with a linear warm-up then a constant or cosine learning rate, gradient clipping, EMA
weights (what the samplers use), the training section's precision (bf16 autocast on CUDA by
default) and speed switches (dblend/models/speed.py; ``fused_optimizer`` picks AdamW's fused
kernel). The loop checkpoints the whole training state atomically at intervals and, when
started again, resumes from it exactly: model, EMA, optimizer, schedule, step, random states
and the partial loss window, so a killed job ends with the same weights and loss history as an
uninterrupted one.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.optim.lr_scheduler import LRScheduler
from tqdm import tqdm

from dblend.errors import ConfigError, DataFileError
from dblend.models.checkpoint import read_checkpoint, save_checkpoint, spec_differences
from dblend.models.pretrained import WeightSource, prior_weights
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.schedule import VPSchedule
from dblend.models.speed import autocast, prepare_for_training
from dblend.patches import PatchSampler

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
    spec: PriorSpec,
    training: dict[str, Any],
    train_volumes: Sequence[torch.Tensor],
    validation_volumes: Sequence[torch.Tensor],
    init: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a resume file must match to be resumed from: the spec, the training (but for its
    memory switches, which change no number), the data and the start."""
    return {
        "spec": spec.to_dict(),
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


class TrainingRun:
    """The mutable state of one training run, saved and restored as a whole."""

    def __init__(
        self,
        spec: PriorSpec,
        training: dict[str, Any],
        device: torch.device,
        initial: dict[str, torch.Tensor] | None = None,
    ) -> None:
        self.spec, self.training, self.device = spec, training, device
        model = ScorePrior(spec)
        if initial is not None:
            model.load_state_dict(initial)
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


def _loss(
    model: ScorePrior,
    schedule: VPSchedule,
    patches: torch.Tensor,
    spacings: torch.Tensor,
    generator: torch.Generator,
    device: torch.device,
    precision: str,
) -> torch.Tensor:
    """Epsilon-prediction MSE at uniformly drawn timesteps."""
    t = torch.randint(schedule.timesteps, (patches.shape[0],), generator=generator)
    noise = torch.randn(patches.shape, generator=generator)
    x_t = schedule.add_noise(patches, noise, t)
    with autocast(precision, device):
        predicted = model(x_t.to(device), t.to(device), spacings.to(device))
    return F.mse_loss(predicted.float(), noise.to(device))


def train_step(run: TrainingRun, schedule: VPSchedule, sampler: PatchSampler) -> float:
    """One optimisation step on a fresh patch batch; returns its loss, refusing a non-finite one."""
    patches, spacings = sampler.sample(run.training["batch_size"], run.generator)
    loss = _loss(
        run.model, schedule, patches, spacings, run.generator, run.device, run.training["precision"]
    )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(f"training loss became {value} at step {run.step}")
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.training["grad_clip"])
    run.optimizer.step()
    run.lr_schedule.step()
    run.ema.step(run.model.parameters())
    run.step += 1
    return value


def _validation_loss(run: TrainingRun, schedule: VPSchedule, sampler: PatchSampler) -> float:
    """Mean EMA-weight loss on a fixed set of held-out patches, timesteps and noises."""
    generator = torch.Generator().manual_seed(run.training["seed"] + 1)
    run.ema.store(run.model.parameters())
    run.ema.copy_to(run.model.parameters())
    run.model.eval()
    losses = []
    with torch.no_grad():
        for _ in range(run.training["validation_batches"]):
            patches, spacings = sampler.sample(run.training["batch_size"], generator)
            precision = run.training["precision"]
            loss = _loss(run.model, schedule, patches, spacings, generator, run.device, precision)
            losses.append(float(loss))
    run.model.train()
    run.ema.restore(run.model.parameters())
    return sum(losses) / len(losses)


def _resume_state(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
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
        state = read_checkpoint(path)
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
    """Train (or resume training) a prior and write its final checkpoint to ``checkpoint``.

    With ``init`` the network starts from that checkpoint's weights (``dblend.models.pretrained``)
    instead of a random draw; the final checkpoint records which file (and its SHA-256) it was,
    and ``data`` (the volumes' names per split) for the model card of an exported prior, and
    ``provenance`` (what made it: dblend.provenance) beside the weights.
    """
    schedule = VPSchedule.linear()
    sampler = PatchSampler(
        train_volumes, spec.slices, spec.spacings, training["crop"], spec.value_range
    )
    validation = (
        PatchSampler(
            validation_volumes, spec.slices, spec.spacings, training["crop"], spec.value_range
        )
        if validation_volumes
        else None
    )
    started_from = init.record() if init else None
    identity = run_identity(spec, training, train_volumes, validation_volumes, started_from)
    torch.manual_seed(training["seed"])
    initial = prior_weights(init, spec) if init else None
    run = TrainingRun(spec, training, device, initial)
    resume = resume_path(checkpoint)
    state = _resume_state(resume, identity)
    if state is not None:
        run.restore(state)
        log.info("resuming %s at step %d", checkpoint, run.step)
    started = time.perf_counter()
    steps = training["steps"]
    bar = tqdm(total=steps, initial=run.step, desc="train", unit="step", disable=None)
    timed_steps, window_start = 0, time.perf_counter()
    run.model.train()
    while run.step < steps:
        value = train_step(run, schedule, sampler)
        run.window.append(value)
        timed_steps += 1
        bar.update(1)
        bar.set_postfix(loss=f"{value:.4f}")
        if run.step % training["log_every"] == 0 or run.step == steps:
            rate = timed_steps * training["batch_size"] / (time.perf_counter() - window_start)
            entry = {"step": run.step, "loss": sum(run.window) / len(run.window)}
            if validation and (run.step % training["validation_every"] == 0 or run.step == steps):
                entry["validation_loss"] = _validation_loss(run, schedule, validation)
            run.history.append(entry)
            log.info(
                "step %d/%d loss %.5f%s lr %.2e %.1f patches/s",
                run.step,
                steps,
                entry["loss"],
                f" val {entry['validation_loss']:.5f}" if "validation_loss" in entry else "",
                run.lr_schedule.get_last_lr()[0],
                rate,
            )
            run.window, timed_steps, window_start = [], 0, time.perf_counter()
        if run.step % training["checkpoint_every"] == 0 and run.step < steps:
            save_checkpoint(resume, {**identity, **run.state()})
    bar.close()
    final = {
        "spec": spec.to_dict(),
        "training": training,
        "step": run.step,
        "ema_weights": run.ema_weights(),
        "history": run.history,
        "init": started_from,
        "data": data,
        "provenance": provenance or {},
    }
    save_checkpoint(checkpoint, final)
    resume.unlink(missing_ok=True)
    return TrainResult(history=run.history, seconds=time.perf_counter() - started)
