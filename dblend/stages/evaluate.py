"""Score one reconstruction against its ground truth: PSNR/SSIM per plane, total variation."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from dblend.arguments import json_section
from dblend.io import read_array, read_volume, write_csv
from dblend.metrics import PLANES, plane_scores, total_variation


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--recon", type=Path, required=True)
    parser.add_argument(
        "--labels", type=json_section, required=True, help="dataset/task/method/volume"
    )
    parser.add_argument("--out", type=Path, required=True)


def evaluate(*, truth: Path, recon: Path, labels: dict[str, str], out: Path) -> None:
    """One metrics row per plane for one reconstruction."""
    reference = read_volume(truth)
    estimate, attrs = read_array(recon)
    scores = plane_scores(reference, estimate)
    tv, tv_truth = total_variation(estimate), total_variation(reference)
    ordered = {key: labels[key] for key in ("dataset", "task", "method", "volume")}
    rows = [
        {
            **ordered,
            "plane": plane,
            **scores[plane],
            "seconds": attrs["seconds"],
            "nfe": attrs["nfe"],
            "tv": tv,
            "tv_truth": tv_truth,
        }
        for plane in PLANES
    ]
    write_csv(pd.DataFrame(rows), out)
