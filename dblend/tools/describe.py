"""Print the metadata of a dblend file (a volume, sinogram or reconstruction, or a prior or
FBP-UNet .pt)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dblend.io import read_attrs
from dblend.models.checkpoint import PRIOR_FORMAT, read_checkpoint
from dblend.models.fbpunet import FBPUNET_FORMAT

# What a checkpoint holds besides its metadata: tensors and per-step records.
BULK = ("ema_weights", "model", "ema", "optimizer", "lr_schedule", "rng", "window")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", type=Path, help="an .h5 file, or a prior or FBP-UNet checkpoint (.pt)"
    )


def describe(*, path: Path) -> None:
    """Print what made a file (its metadata) as indented JSON, for people inspecting results.

    For a prior checkpoint: its spec, training, where it started (or was converted from) and
    the last loss-history entry, without the weights; for an FBP-UNet's, the task it serves
    too.
    """
    if path.suffix != ".pt":
        print(json.dumps(read_attrs(path), indent=2))
        return
    state = read_checkpoint(path, (PRIOR_FORMAT, FBPUNET_FORMAT))
    history = state.get("history") or []
    summary = {k: v for k, v in state.items() if k not in BULK and k != "history"}
    summary["history"] = {"entries": len(history), "last": history[-1] if history else None}
    print(json.dumps(summary, indent=2, default=str))
