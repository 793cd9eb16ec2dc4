"""Score one reconstruction against its ground truth under the configured convention: PSNR and
SSIM per plane (with the slices scored) and of the whole volume, total variation."""

from __future__ import annotations

import argparse
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from dblend.arguments import json_section
from dblend.io import read_array, read_volume, write_csv
from dblend.metrics import PLANES, Evaluation, score, total_variation
from dblend.provenance import ROW_PROVENANCE

log = logging.getLogger(__name__)
RECORDED = (
    "steps",
    "nfe",
    "network_inputs",
    "input_slices",
    "network_calls",
    "peak_rss_mb",
    "peak_gpu_mb",
)
"""The reconstruction's work and memory, copied into each row for the runtime table."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--recon", type=Path, required=True)
    parser.add_argument(
        "--labels", type=json_section, required=True, help="dataset/task/method/volume"
    )
    parser.add_argument(
        "--evaluation",
        type=json_section,
        default={},
        help="the config's evaluation section (JSON; its defaults when absent)",
    )
    parser.add_argument("--out", type=Path, required=True)


def evaluate(
    *, truth: Path, recon: Path, labels: dict[str, str], evaluation: dict[str, Any], out: Path
) -> None:
    """One metrics row per plane for one reconstruction, scored as ``evaluation`` says, with
    its work, memory and provenance."""
    reference = read_volume(truth)
    estimate, attrs = read_array(recon)
    scores = score(
        reference, estimate, Evaluation.from_config(evaluation), (str(truth), str(recon))
    )
    if scores.outside_range:
        log.warning(
            "%s: %.2g of the voxels lie outside [0, 1] (scored under convention %s)",
            recon,
            scores.outside_range,
            scores.convention,
        )
    tv, tv_truth = total_variation(estimate), total_variation(reference)
    ordered = {key: labels[key] for key in ("dataset", "task", "method", "volume")}
    made = attrs.get("provenance", {})
    rows = [
        {
            **ordered,
            "plane": plane,
            "convention": scores.convention,
            **asdict(scores.planes[plane]),
            "volume_psnr": scores.volume_psnr,
            "volume_ssim": scores.volume_ssim,
            "outside_range": scores.outside_range,
            "seconds": attrs["seconds"],
            **{key: attrs.get(key) for key in RECORDED},
            "tv": tv,
            "tv_truth": tv_truth,
            **{key: made.get(key) for key in ROW_PROVENANCE},
        }
        for plane in PLANES
    ]
    write_csv(pd.DataFrame(rows), out)
