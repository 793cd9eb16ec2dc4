"""Priors others can load: diffusers' own format with a model card, and back.

A finished prior's ``.pt`` is the resumable training state's end (weights, spec, history).
:func:`export_prior` writes its EMA network with ``save_pretrained`` (``config.json`` and
``diffusion_pytorch_model.safetensors``: no pickle), ``dblend_prior.json`` (what the network does
not say: slices, spacings and their label order, value units, provenance) and ``README.md``, a
model card generated from the checkpoint. The folder loads with ``UNet2DModel.from_pretrained``,
as a ScorePrior with :func:`load_exported`, or as ``priors.<name>.init`` (format ``diffusers``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dblend import __version__
from dblend.errors import DataFileError
from dblend.io import atomic_dir
from dblend.models.checkpoint import read_checkpoint
from dblend.models.pretrained import WeightSource, load_prior_from
from dblend.models.prior import PriorSpec, ScorePrior

METADATA = "dblend_prior.json"


def _loss_summary(history: list[dict[str, float]]) -> list[str]:
    if not history:
        return ["No training history: the weights were converted, not trained here."]
    losses = [entry["loss"] for entry in history]
    lines = [
        f"- training loss (epsilon MSE, mean over each logging window): first "
        f"{losses[0]:.5f} at step {history[0]['step']}, last {losses[-1]:.5f} at step "
        f"{history[-1]['step']}, lowest {min(losses):.5f}"
    ]
    validation = [e for e in history if e.get("validation_loss") is not None]
    if validation:
        last = validation[-1]
        best = min(e["validation_loss"] for e in validation)
        lines.append(
            f"- validation loss (EMA weights, held-out volumes): last "
            f"{last['validation_loss']:.5f} at step {last['step']}, lowest {best:.5f}"
        )
    return lines


def _origin(state: dict[str, Any]) -> str:
    if state.get("source"):
        source = state["source"]
        return f"converted from `{source['path']}` ({source['format']}, sha256 {source['sha256']})"
    if state.get("init"):
        init = state["init"]
        return f"fine-tuned from `{init['path']}` ({init['format']}, sha256 {init['sha256']})"
    return "trained from scratch (random initialisation)"


def model_card(state: dict[str, Any], name: str, parameters: int) -> str:
    """The README.md of an exported prior: data, network, training, loss and the config."""
    spec = PriorSpec.from_dict(state["spec"])
    data = state.get("data") or {}
    volumes = "\n".join(
        f"- {split}: " + (", ".join(f"`{v}`" for v in names) or "none")
        for split, names in data.items()
    )
    labels = ", ".join(f"{s} -> class {i}" for i, s in enumerate(spec.spacings))
    low, high = spec.value_range
    config = {"spec": spec.to_dict(), "training": state.get("training"), "init": state.get("init")}
    return "\n".join(
        [
            "---",
            "library_name: diffusers",
            "tags: [diffusion, computed-tomography, score-prior, dblend]",
            "---",
            f"# dblend prior `{name}`",
            "",
            f"An epsilon-prediction diffusion prior for CT: a UNet2DModel ({parameters:,} "
            f"parameters) that takes {spec.slices}-slice patches (the slices are the channels) "
            f"of {spec.image_size} x {spec.image_size} pixels"
            + (f", told the slice spacing as a class label ({labels})." if spec.labelled else "."),
            f"Intensities: a HU window mapped to [0, 1], given to the network as {low:g} + "
            f"{high - low:g} x; VP schedule with linear betas 1e-4 to 0.02 over 1000 steps, "
            "integer timesteps.",
            "",
            "## Data",
            volumes or "Not recorded.",
            "",
            "## Training",
            f"- origin: {_origin(state)}",
            f"- optimisation steps: {state.get('step', 0)}",
            *_loss_summary(state.get("history") or []),
            "",
            "## Use",
            "```python",
            "from diffusers import UNet2DModel",
            "unet = UNet2DModel.from_pretrained(FOLDER)",
            "epsilon = unet(x_t, t, class_labels=labels).sample",
            "```",
            "or `dblend.models.export.load_exported(FOLDER)`, or `priors.<name>.init` with",
            "`format: diffusers` to fine-tune from it.",
            "",
            "## Config",
            "```json",
            json.dumps(config, indent=2, sort_keys=True),
            "```",
            "",
            f"Written by dblend {__version__}.",
            "",
        ]
    )


def export_prior(checkpoint: str | os.PathLike, out: str | os.PathLike) -> None:
    """Write a finished prior checkpoint as a diffusers folder with a model card (atomically)."""
    state = read_checkpoint(checkpoint)
    spec = PriorSpec.from_dict(state["spec"])
    prior = ScorePrior(spec)
    prior.load_state_dict(state["ema_weights"])
    metadata = {
        "spec": spec.to_dict(),
        "checkpoint": str(checkpoint),
        "step": state.get("step", 0),
        "training": state.get("training"),
        "init": state.get("init"),
        "source": state.get("source"),
        "data": state.get("data"),
        "version": __version__,
    }
    parameters = sum(p.numel() for p in prior.unet.parameters())
    with atomic_dir(out) as tmp:
        prior.unet.save_pretrained(tmp, safe_serialization=True)
        (tmp / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        (tmp / "README.md").write_text(model_card(state, Path(checkpoint).stem, parameters))


def load_exported(folder: str | os.PathLike) -> ScorePrior:
    """The ScorePrior of a folder written by :func:`export_prior`, in eval mode."""
    path = Path(folder)
    if not (path / METADATA).is_file():
        raise DataFileError(f"{path}: no {METADATA}; not a prior exported by dblend")
    spec = PriorSpec.from_dict(json.loads((path / METADATA).read_text())["spec"])
    return load_prior_from(WeightSource(path, "diffusers"), spec).eval()
