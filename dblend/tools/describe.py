"""Print the metadata of a dblend file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dblend.io import read_attrs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path)


def describe(*, path: Path) -> None:
    """Print what made a file (its metadata) as indented JSON, for people inspecting results."""
    print(json.dumps(read_attrs(path), indent=2))
