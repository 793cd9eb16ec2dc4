"""Prior weights from outside a training run: ADM checkpoints, diffusers folders, dblend priors.

A weight source (``priors.<name>.init`` to fine-tune from, ``priors.<name>.pretrained`` to use as
is) is a path and its format:
- ``adm``: a guided-diffusion state dict (OpenAI's ImageNet model, DDS's AAPM prior), converted
  by ``dblend.models.adm`` with the attention order it was trained with;
- ``diffusers``: a UNet2DModel folder written by ``save_pretrained`` (what dblend exports);
- ``dblend``: a prior checkpoint (.pt) of this project (its EMA weights).

The source network must be the prior's network (``priors.<name>.network``) up to its input and
output channels and class embedding, which are adapted to the prior:
- input: a checkpoint with k channels serves a k-slice prior as it is (ImageNet's RGB channels
  take the three slices of a patch); a 1-slice prior from a multi-channel checkpoint sums the
  input convolution over its channels, which is the checkpoint's network seeing the slice
  repeated in every channel;
- output: of 2k channels (epsilon and ADM's learned variance) the epsilon half is kept; a 1-slice
  prior from a multi-channel checkpoint averages the epsilon channels (the mean of the checkpoint's
  estimates for the repeated slice);
- spacing label: a new embedding, zero at the start, so the converted prior is the checkpoint's
  network for every spacing. A class embedding of another size (ImageNet's 1000 classes) has no
  place in a prior and is refused rather than dropped.
Anything else that differs is refused, naming the tensors and shapes.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DModel

from dblend.errors import ConfigError, DataFileError
from dblend.models import adm
from dblend.models.adm import CheckpointMismatch
from dblend.models.checkpoint import read_checkpoint, save_checkpoint, spec_differences
from dblend.models.networks import unet_config
from dblend.models.prior import PriorSpec, ScorePrior

FORMATS = ("adm", "diffusers", "dblend")
PRIOR_PREFIX = "unet."


@dataclass(frozen=True)
class WeightSource:
    """A checkpoint to start a prior from: where it is, its format and ADM's attention order."""

    path: Path
    format: str
    attention_order: str = "legacy"

    @classmethod
    def from_config(cls, entry: dict[str, Any], where: str) -> WeightSource:
        if entry["format"] not in FORMATS:
            raise ConfigError(f"{where}.format: {entry['format']!r} is not one of {FORMATS}")
        return cls(Path(entry["path"]), entry["format"], entry.get("attention_order", "legacy"))

    def record(self) -> dict[str, Any]:
        """What a prior's checkpoint keeps of where it started: the source and its SHA-256."""
        return {
            "path": str(self.path),
            "format": self.format,
            "attention_order": self.attention_order,
            "sha256": _sha256(self.path),
        }


def _sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files in name order (a diffusers folder)."""
    if not path.exists():
        raise DataFileError(f"{path}: checkpoint not found")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()


def _shapes(model: torch.nn.Module) -> dict[str, torch.Size]:
    return {name: tensor.shape for name, tensor in model.state_dict().items()}


def _meta_unet(config: dict[str, Any]) -> UNet2DModel:
    """A UNet2DModel whose weights have shapes but no storage (cheap at 552M parameters)."""
    with torch.device("meta"):
        return UNet2DModel(**config)


def _from_adm(source: WeightSource, spec: PriorSpec) -> dict[str, torch.Tensor]:
    state = adm.read_state(source.path)
    in_channels, out_channels, classes = adm.channels(state, str(source.path))
    config = unet_config(spec.network, spec.image_size, in_channels, classes, out_channels)
    shapes = _shapes(_meta_unet(config))
    return adm.convert(state, config, shapes, source.attention_order, str(source.path))


def _plain(value: Any) -> Any:
    """A config value as JSON holds it (tuples as lists), as config.json gives it back."""
    return json.loads(json.dumps(value))


def _from_diffusers(source: WeightSource, spec: PriorSpec) -> dict[str, torch.Tensor]:
    if not (source.path / "config.json").is_file():
        raise DataFileError(f"{source.path}: not a diffusers model folder (no config.json)")
    try:
        model = UNet2DModel.from_pretrained(source.path, low_cpu_mem_usage=False)
    except (OSError, ValueError) as err:
        raise DataFileError(f"{source.path}: not a readable UNet2DModel folder ({err})") from err
    found = model.config
    config = unet_config(
        spec.network,
        spec.image_size,
        found.in_channels,
        found.num_class_embeds,
        found.out_channels,
    )
    expected = _meta_unet(config).config
    differences = [
        f"{key}: folder has {found.get(key)!r}, the prior's network expects {value!r}"
        for key, value in expected.items()
        if not key.startswith("_")
        and key != "sample_size"
        and _plain(found.get(key)) != _plain(value)
    ]
    if differences:
        raise CheckpointMismatch(
            f"{source.path}: its UNet2DModel is not the prior's network:\n  "
            + "\n  ".join(differences)
        )
    return model.state_dict()


def _from_dblend(source: WeightSource, spec: PriorSpec) -> dict[str, torch.Tensor]:
    state = read_checkpoint(source.path)
    differences = spec_differences(
        spec.network, PriorSpec.from_dict(state["spec"]).network, prefix="network."
    )
    if differences:
        raise CheckpointMismatch(
            f"{source.path}: its network is not the prior's:\n  " + "\n  ".join(differences)
        )
    weights = state["ema_weights"]
    return {k.removeprefix(PRIOR_PREFIX): v for k, v in weights.items()}


def adapt(weights: dict[str, torch.Tensor], spec: PriorSpec, where: str) -> dict[str, torch.Tensor]:
    """UNet2DModel weights with the prior's input, output and spacing embedding (module doc)."""
    adapted = dict(weights)
    k = spec.slices
    conv_in = adapted["conv_in.weight"]
    source = conv_in.shape[1]
    if source != k:
        if k != 1:
            raise CheckpointMismatch(
                f"{where}: conv_in.weight {list(conv_in.shape)} takes {source} channels; a "
                f"{k}-slice prior starts from a {k}-channel checkpoint (or a 1-slice one from any)"
            )
        adapted["conv_in.weight"] = conv_in.sum(dim=1, keepdim=True)
    out_weight, out_bias = adapted["conv_out.weight"], adapted["conv_out.bias"]
    if out_weight.shape[0] not in (source, 2 * source):
        raise CheckpointMismatch(
            f"{where}: conv_out.weight {list(out_weight.shape)} has {out_weight.shape[0]} outputs;"
            f" expected {source} (epsilon) or {2 * source} (epsilon and learned variance)"
        )
    out_weight, out_bias = out_weight[:source], out_bias[:source]
    if source != k:
        out_weight, out_bias = out_weight.mean(0, keepdim=True), out_bias.mean(0, keepdim=True)
    adapted["conv_out.weight"], adapted["conv_out.bias"] = out_weight, out_bias
    embedding = adapted.pop("class_embedding.weight", None)
    labels = len(spec.spacings) if spec.labelled else 0
    width = adapted["time_embedding.linear_2.weight"].shape[0]
    if embedding is None and labels:
        adapted["class_embedding.weight"] = torch.zeros(labels, width)
    elif embedding is not None and embedding.shape[0] == labels:
        adapted["class_embedding.weight"] = embedding
    elif embedding is not None:
        raise CheckpointMismatch(
            f"{where}: class_embedding {list(embedding.shape)} cannot become the embedding of "
            f"{labels} spacings; start from an unconditional checkpoint"
        )
    return adapted


LOADERS = {"adm": _from_adm, "diffusers": _from_diffusers, "dblend": _from_dblend}


def prior_weights(source: WeightSource, spec: PriorSpec) -> dict[str, torch.Tensor]:
    """A ScorePrior state dict for ``spec`` from ``source``, refusing what does not fit."""
    where = str(source.path)
    weights = adapt(LOADERS[source.format](source, spec), spec, where)
    weights = {PRIOR_PREFIX + name: tensor for name, tensor in weights.items()}
    with torch.device("meta"):
        expected = _shapes(ScorePrior(spec))
    problems = [
        f"{name}: has {list(weights[name].shape)}, the prior expects {list(shape)}"
        for name, shape in expected.items()
        if name in weights and weights[name].shape != shape
    ]
    problems += [f"missing {n} {list(s)}" for n, s in expected.items() if n not in weights]
    problems += [f"unexpected {n} {list(weights[n].shape)}" for n in weights if n not in expected]
    if problems:
        raise CheckpointMismatch(
            f"{where}: does not fit the prior:\n  " + "\n  ".join(sorted(problems))
        )
    return weights


def convert_prior(source: WeightSource, spec: PriorSpec, out: str | os.PathLike) -> None:
    """Write a published checkpoint as a finished dblend prior (used as is, never trained here)."""
    weights = prior_weights(source, spec)
    state = {"spec": spec.to_dict(), "step": 0, "ema_weights": weights, "history": []}
    save_checkpoint(out, {**state, "training": None, "source": source.record()})


def load_prior_from(source: WeightSource, spec: PriorSpec) -> ScorePrior:
    """A ScorePrior for ``spec`` holding the source's weights (adapted as the module says)."""
    prior = ScorePrior(spec)
    prior.load_state_dict(prior_weights(source, spec))
    return prior
