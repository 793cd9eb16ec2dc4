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
from dblend.models.checkpoint import load_prior
from dblend.models.prior import PriorSpec
from dblend.models.speed import resolve_precision
from dblend.physics import make_operator
from dblend.physics.geometry import geometry_from_dict
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
) -> None:
    """Reconstruct one volume with one method and record time, work and memory."""
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
    attrs = {
        "method": method_name,
        "settings": method,
        "sinogram": str(sinogram),
        "prior": str(prior_checkpoint) if prior_checkpoint else None,
        "seed": seed,
        "seconds": seconds,
        "nfe": stats.nfe,
        "patch_evaluations": stats.patch_evaluations,
        "data_weights": stats.weights,
        "device": str(where),
        "precision": resolve_precision(method.get("precision", "fp32"), where),
        **peak_memory_mb(where),
    }
    write_array(out, volume.cpu().numpy(), attrs)
    log.info("%s: %s in %.1f s, %d NFE", out, method_name, seconds, stats.nfe)
