"""Convert a published checkpoint (an ADM state dict, a diffusers folder) into a finished prior.

Used for a prior that is a published checkpoint (``priors.<name>.pretrained``, e.g. DDS's AAPM
prior): no training runs, and the written ``.pt`` records the source file and its SHA-256. Outside
Snakemake it converts any checkpoint that fits a network entry, for instance::

    dblend convert_checkpoint --checkpoint AAPM256_1M.pt --format adm --image-size 256 \\
        --prior '{"slices": 1, "spacings": [1], "value_range": [0, 1]}' \\
        --network '{"channels": [256, 256, 512, 512, 1024, 1024], ...}' --out dds.pt
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from dblend.arguments import json_section
from dblend.models.adm import ATTENTION_ORDERS
from dblend.models.pretrained import FORMATS, WeightSource, convert_prior
from dblend.models.prior import PriorSpec

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="file or folder")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--attention-order", choices=ATTENTION_ORDERS, default="legacy")
    parser.add_argument("--prior", type=json_section, required=True, help="the prior (JSON)")
    parser.add_argument("--network", type=json_section, required=True, help="its network (JSON)")
    parser.add_argument("--image-size", type=int, required=True, help="slices are N x N")
    parser.add_argument("--out", type=Path, required=True, help="the prior checkpoint (.pt)")


def convert_checkpoint(
    *,
    checkpoint: Path,
    format: str,
    attention_order: str,
    prior: dict[str, Any],
    network: dict[str, Any],
    image_size: int,
    out: Path,
) -> None:
    """Write ``checkpoint`` as a dblend prior checkpoint for the given prior and network."""
    spec = PriorSpec.from_config(prior, network, image_size)
    convert_prior(WeightSource(checkpoint, format, attention_order), spec, out)
    log.info("converted %s (%s) into %s", checkpoint, format, out)
