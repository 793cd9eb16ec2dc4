"""Train (or resume training) one score prior on a data set's training volumes.

The prior's ``training`` section arrives with its steps resolved for the data set
(``dblend.config.prior_training``); with ``init.path`` set the network starts from that checkpoint.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from dblend import train as training_loop
from dblend.arguments import add_training_arguments, json_section
from dblend.device import resolve_device
from dblend.errors import ConfigError, DataFileError
from dblend.io import read_volume, write_csv
from dblend.models.pretrained import WeightSource
from dblend.models.prior import PriorSpec
from dblend.provenance import provenance

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prior", type=json_section, required=True, help="the prior (JSON)")
    parser.add_argument("--network", type=json_section, required=True, help="its network (JSON)")
    parser.add_argument("--volumes", type=Path, nargs="+", required=True)
    parser.add_argument("--validation-volumes", type=Path, nargs="*", default=[])
    add_training_arguments(parser, "the prior and network given")


def train_prior(
    *,
    prior: dict[str, Any],
    network: dict[str, Any],
    volumes: list[Path],
    validation_volumes: list[Path],
    device: str,
    seed: int,
    out: Path,
    loss_csv: Path,
    config_section: dict[str, Any] | None = None,
) -> None:
    """Train a prior on the given volumes; write its checkpoint (with what made it: commit,
    config hash, seed, training volumes) and loss curve."""
    training = [torch.from_numpy(read_volume(p)) for p in volumes]
    validation = [torch.from_numpy(read_volume(p)) for p in validation_volumes]
    sizes = {tuple(v.shape[1:]) for v in training + validation}
    if len(sizes) != 1 or len(next(iter(sizes))) != 2 or len(set(next(iter(sizes)))) != 1:
        raise DataFileError(f"training volumes must share one square slice size, got {sizes}")
    spec = PriorSpec.from_config(prior, network, image_size=next(iter(sizes))[0])
    settings = {**prior["training"], "seed": seed}
    if not isinstance(settings["steps"], int):
        raise ConfigError(f"training.steps: expected one number of steps, got {settings['steps']}")
    init = prior.get("init") or {}
    source = WeightSource.from_config(init, "priors.init") if init.get("path") else None
    data = {"train": [str(p) for p in volumes], "validation": [str(p) for p in validation_volumes]}
    made_from = provenance(
        config_section or {"prior": prior, "network": network},
        seed,
        training_volumes=data["train"],
        validation_volumes=data["validation"],
    )
    result = training_loop.train_prior(
        spec,
        settings,
        training,
        validation,
        out,
        resolve_device(device),
        init=source,
        data=data,
        provenance=made_from,
    )
    write_csv(pd.DataFrame(result.history), loss_csv)
    log.info("trained %s in %.0f s", out, result.seconds)
