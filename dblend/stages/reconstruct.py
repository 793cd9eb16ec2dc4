"""Reconstruct one volume from its sinogram with one method, recording time, work and memory."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from dblend.arguments import add_job_settings, json_section
from dblend.device import clock, peak_memory_mb, reset_peak_gpu, resolve_device
from dblend.errors import DataFileError
from dblend.io import write_array
from dblend.models.checkpoint import checkpoint_metadata, load_prior
from dblend.models.fbpunet import FbpUNetSpec, load_fbpunet, trained_task
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.models.speed import resolve_precision
from dblend.physics import make_operator
from dblend.provenance import file_sha256, provenance
from dblend.recon import methods
from dblend.recon.kinds import needed_priors, trains_model
from dblend.stages._sinogram import read_sinogram

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method-name", required=True)
    parser.add_argument(
        "--method", type=json_section, required=True, help="the method's config (JSON)"
    )
    parser.add_argument("--sinogram", type=Path, required=True)
    for option, what in (("prior", "prior"), ("auxiliary-prior", "auxiliary (TPDM) prior")):
        parser.add_argument(f"--{option}-checkpoint", type=Path, help=f"the {what}")
        parser.add_argument(f"--{option}", type=json_section, help=f"the {what}'s config (JSON)")
        parser.add_argument(
            f"--{option}-network", type=json_section, help=f"the {what}'s network (JSON)"
        )
    parser.add_argument("--model-checkpoint", type=Path, help="the trained model (FBP-UNet)")
    parser.add_argument("--model-network", type=json_section, help="its network (JSON)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    add_job_settings(parser, "the method, priors and networks given")


def _load_prior(
    method_name: str,
    key: str,
    given: tuple[Path | None, dict[str, Any] | None, dict[str, Any] | None],
    size: int,
    device: torch.device,
) -> ScorePrior:
    checkpoint, entry, network = given
    if checkpoint is None or entry is None or network is None:
        option = key.replace("_", "-")
        raise DataFileError(
            f"method {method_name} needs --{option}-checkpoint, --{option} and --{option}-network"
        )
    return load_prior(checkpoint, PriorSpec.from_config(entry, network, image_size=size), device)


def reconstruct(
    *,
    method_name: str,
    method: dict[str, Any],
    sinogram: Path,
    device: str,
    seed: int,
    out: Path,
    prior_checkpoint: Path | None = None,
    prior: dict[str, Any] | None = None,
    prior_network: dict[str, Any] | None = None,
    auxiliary_prior_checkpoint: Path | None = None,
    auxiliary_prior: dict[str, Any] | None = None,
    auxiliary_prior_network: dict[str, Any] | None = None,
    model_checkpoint: Path | None = None,
    model_network: dict[str, Any] | None = None,
    config_section: dict[str, Any] | None = None,
) -> None:
    """Reconstruct one volume with one method and record time, work, memory and what made it
    (commit, config hash, seed, the prior's sha256 and training volumes). The checkpoints (and
    their configs) of the priors or the trained model the method's kind needs are given."""
    where = resolve_device(device)
    projections = read_sinogram(sinogram, where)
    geometry = projections.geometry
    operator = make_operator(geometry, where)
    given = {
        "prior": (prior_checkpoint, prior, prior_network),
        "auxiliary_prior": (auxiliary_prior_checkpoint, auxiliary_prior, auxiliary_prior_network),
    }
    priors = {
        key: _load_prior(method_name, key, given[key], geometry.size, where)
        for key in needed_priors(method)
    }
    model = None
    if trains_model(method):
        if model_checkpoint is None or model_network is None:
            raise DataFileError(
                f"method {method_name} needs --model-checkpoint and --model-network"
            )
        spec = FbpUNetSpec(model_network, geometry.size, method["filter"])
        task = trained_task(geometry.to_dict(), projections.noise)
        model = load_fbpunet(model_checkpoint, spec, task, where)
    reset_peak_gpu(where)
    started = clock(where)
    volume, stats = methods.reconstruct(
        method_name,
        method,
        projections.data,
        operator,
        priors.get("prior"),
        seed,
        where,
        auxiliary_prior=priors.get("auxiliary_prior"),
        model=model,
    )
    seconds = clock(where) - started
    section = config_section or {
        "method": method,
        **{key: {"settings": given[key][1], "network": given[key][2]} for key in priors},
        **({"model": model_network} if model is not None else {}),
    }
    used = {
        "prior": prior_checkpoint if "prior" in priors else None,
        "auxiliary_prior": auxiliary_prior_checkpoint if "auxiliary_prior" in priors else None,
        "model": model_checkpoint if model is not None else None,
    }
    attrs = {
        "method": method_name,
        "settings": method,
        "sinogram": str(sinogram),
        **{key: str(path) if path else None for key, path in used.items()},
        "seed": seed,
        "seconds": seconds,
        **{key: value for key, value in vars(stats).items() if key != "weights"},
        "data_weights": stats.weights,
        "device": str(where),
        "precision": resolve_precision(method.get("precision", "fp32"), where),
        **peak_memory_mb(where),
        "provenance": provenance(
            section,
            seed,
            **prior_record(used["prior"]),
            **{
                f"{key}_sha256": file_sha256(path)
                for key, path in used.items()
                if key != "prior" and path is not None
            },
        ),
    }
    write_array(out, volume.cpu().numpy(), attrs)
    log.info("%s: %s in %.1f s, %d NFE", out, method_name, seconds, stats.nfe)


def prior_record(checkpoint: Path | None) -> dict[str, Any]:
    """The prior a reconstruction sampled with: its file's sha256 and its training volumes."""
    if checkpoint is None:
        return {"prior_sha256": None, "prior_training_volumes": None}
    made = checkpoint_metadata(checkpoint).get("provenance", {})
    return {
        "prior_sha256": file_sha256(checkpoint),
        "prior_training_volumes": made.get("training_volumes"),
    }
