"""The three-plane comparison figure of one test volume in one experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.arguments import key_value
from dblend.io import read_attrs, read_volume
from dblend.report import figures
from dblend.report.figures import DISPLAY_WINDOWS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument(
        "--recon",
        type=key_value,
        nargs="+",
        required=True,
        metavar="PATH=LABEL",
        help="a reconstruction and the method label it is shown under (labels may hold '=')",
    )
    parser.add_argument("--title", required=True)
    parser.add_argument(
        "--window", choices=list(DISPLAY_WINDOWS), default="full", help="display window (HU)"
    )
    parser.add_argument("--out", type=Path, required=True)


def experiment_figure(
    *, truth: Path, recon: list[tuple[str, str]], title: str, window: str, out: Path
) -> None:
    """Middle axial, coronal and sagittal slices of every method beside the ground truth, in HU
    through the display ``window``, at the ground truth's voxel spacing."""
    reconstructions = {label: read_volume(path) for path, label in recon}
    attrs = read_attrs(truth)
    figures.experiment_figure(
        read_volume(truth),
        reconstructions,
        title,
        out,
        hu_window=tuple(attrs["hu_window"]),
        window=window,
        spacing_mm=tuple(attrs.get("spacing_mm", (1.0, 1.0, 1.0))),
    )
