"""Fetch one pinned series from TCIA, verified."""

from __future__ import annotations

import argparse
from pathlib import Path

from dblend.data.tcia import download_series


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--uid", required=True, help="SeriesInstanceUID")
    parser.add_argument("--root", type=Path, required=True, help="series land in ROOT/UID/")
    parser.add_argument("--images", type=int, default=None, help="expected image count")


def download(*, uid: str, root: Path, images: int | None) -> None:
    """Fetch (or confirm) one verified TCIA series under ``root``."""
    download_series([uid], root, expected_images={uid: images}, workers=1)
