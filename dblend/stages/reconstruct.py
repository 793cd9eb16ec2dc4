"""Reconstruct one volume from its sinogram with one method, recording time, work and memory."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch

from dblend.arguments import json_section
from dblend.device import clock, peak_memory_mb, reset_peak_gpu, resolve_device
from dblend.errors import DataFileError
from dblend.io import read_array, write_array
from dblend.models.checkpoint import checkpoint_metadata, load_prior
from dblend.models.prior import PriorSpec
from dblend.models.speed import resolve_precision
from dblend.physics import make_operator
from dblend.physics.geometry import geometry_from_dict
from dblend.provenance import file_sha256, provenance
from dblend.recon import methods

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--method-name", required=True)
    parser.add_argument(
        "--method", type=json_section, required=True, help="the method's config (JSON)"
    )
    parser.add_argument("--sinogram", type=Path, required=True)
    parser.add_argument("--prior-checkpoint", type=Path)
    parser.add_argument("--prior", type=json_section, help="the prior's config (JSON)")
    parser.add_argument("--network", type=json_section, help="the prior's network (JSON)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--config-section",
        type=json_section,
        help="the settings that define this job (JSON), recorded as its config hash "
        "(the workflow passes them; default: the method, prior and network given)",
    )


def reconstruct(
    *,
    method_name: str,
    method: dict[str, Any],
    sinogram: Path,
    prior_checkpoint: Path | None,
    prior: dict[str, Any] | None,
    network: dict[str, Any] | None,
    device: str,
    seed: int,
    out: Path,
    config_section: dict[str, Any] | None = None,
) -> None:
    """Reconstruct one volume with one method and record time, work, memory and what made it
    (commit, config hash, seed, the prior's sha256 and training volumes)."""
    where = resolve_device(device)
    projections, attrs = read_array(sinogram)
    if "geometry" not in attrs:
        raise DataFileError(f"{sinogram}: no geometry recorded; not a dblend sinogram")
    geometry = geometry_from_dict(attrs["geometry"])
    operator = make_operator(geometry, where)
    score_prior = None
    if methods.uses_prior(method):
        if prior_checkpoint is None or prior is None or network is None:
            raise DataFileError(f"method {method_name} needs a prior checkpoint")
        spec = PriorSpec.from_config(prior, network, image_size=geometry.size)
        score_prior = load_prior(prior_checkpoint, spec, where)
    reset_peak_gpu(where)
    started = clock(where)
    volume, stats = methods.reconstruct(
        method_name,
        method,
        torch.from_numpy(projections).to(where),
        operator,
        score_prior,
        seed,
        where,
    )
    seconds = clock(where) - started
    section = config_section or {"method": method, "prior": prior, "network": network}
    attrs = {
        "method": method_name,
        "settings": method,
        "sinogram": str(sinogram),
        "prior": str(prior_checkpoint) if prior_checkpoint else None,
        "seed": seed,
        "seconds": seconds,
        **{key: value for key, value in vars(stats).items() if key != "weights"},
        "data_weights": stats.weights,
        "device": str(where),
        "precision": resolve_precision(method.get("precision", "fp32"), where),
        **peak_memory_mb(where),
        "provenance": provenance(section, seed, **prior_record(prior_checkpoint)),
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
