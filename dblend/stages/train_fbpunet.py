"""Train (or resume training) one FBP-UNet for one task on a data set's training volumes."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dblend import train as training_loop
from dblend.arguments import add_training_arguments, json_section
from dblend.device import resolve_device
from dblend.errors import DataFileError
from dblend.io import read_volume, write_csv
from dblend.models.fbpunet import FbpUNetSpec, trained_task
from dblend.physics import make_operator
from dblend.provenance import provenance
from dblend.stages._sinogram import read_sinogram

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--method", type=json_section, required=True, help="the method's config (JSON)"
    )
    parser.add_argument("--network", type=json_section, required=True, help="its network (JSON)")
    parser.add_argument("--volumes", type=Path, nargs="+", required=True)
    parser.add_argument(
        "--sinograms", type=Path, nargs="+", required=True, help="the task's, of --volumes"
    )
    parser.add_argument("--validation-volumes", type=Path, nargs="*", default=[])
    parser.add_argument("--validation-sinograms", type=Path, nargs="*", default=[])
    add_training_arguments(parser, "the method and network given")


def _fbp_pairs(
    volumes: list[Path], sinograms: list[Path], window: str, device: torch.device
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], list[dict[str, Any]]]:
    """(FBP, volume) of each volume and its sinogram, and the task each sinogram was made for."""
    if len(volumes) != len(sinograms):
        raise DataFileError(f"{len(volumes)} volumes but {len(sinograms)} sinograms; one each")
    pairs, tasks = [], []
    for volume_path, sinogram_path in zip(volumes, sinograms, strict=True):
        sinogram = read_sinogram(sinogram_path, device)
        fbp = make_operator(sinogram.geometry, device).fbp(sinogram.data, window).cpu()
        volume = torch.from_numpy(read_volume(volume_path))
        if fbp.shape != volume.shape:
            raise DataFileError(
                f"{sinogram_path}: its FBP has shape {tuple(fbp.shape)}, but {volume_path} "
                f"has {tuple(volume.shape)}; not the sinogram of that volume"
            )
        pairs.append((fbp, volume))
        tasks.append(trained_task(sinogram.geometry.to_dict(), sinogram.noise))
    return pairs, tasks


def train_fbpunet(
    *,
    method: dict[str, Any],
    network: dict[str, Any],
    volumes: list[Path],
    sinograms: list[Path],
    validation_volumes: list[Path],
    validation_sinograms: list[Path],
    device: str,
    seed: int,
    out: Path,
    loss_csv: Path,
    config_section: dict[str, Any] | None = None,
) -> None:
    """Train an FBP-UNet on the FBPs of the task's sinograms of the given volumes; write its
    checkpoint (with the task it serves and what made it: commit, config hash, seed, training
    volumes) and its loss curve."""
    where = resolve_device(device)
    train, tasks = _fbp_pairs(volumes, sinograms, method["filter"], where)
    validation, more = _fbp_pairs(validation_volumes, validation_sinograms, method["filter"], where)
    distinct = {json.dumps(task, sort_keys=True) for task in tasks + more}
    if len(distinct) != 1:
        raise DataFileError(
            f"the sinograms of {', '.join(map(str, sinograms + validation_sinograms))} were made "
            "for different geometries or noise; one FBP-UNet serves one task"
        )
    spec = FbpUNetSpec(network, image_size=train[0][1].shape[-1], filter=method["filter"])
    settings = {**method["training"], "seed": seed}
    made_from = provenance(
        config_section or {"method": method, "network": network},
        seed,
        training_volumes=[str(p) for p in volumes],
        validation_volumes=[str(p) for p in validation_volumes],
    )
    result = training_loop.train_fbpunet(
        spec, tasks[0], settings, train, validation, out, where, made_from
    )
    write_csv(pd.DataFrame(result.history), loss_csv)
    log.info("trained %s in %.0f s", out, result.seconds)
