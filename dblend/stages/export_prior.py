"""Write a finished prior in diffusers' format (save_pretrained) with a generated model card."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from dblend.models.export import export_prior as write_folder

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="a finished prior (.pt)")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")


def export_prior(*, checkpoint: Path, out: Path) -> None:
    """The prior's EMA network as safetensors + config.json, dblend_prior.json and README.md."""
    write_folder(checkpoint, out)
    log.info("exported %s to %s", checkpoint, out)
