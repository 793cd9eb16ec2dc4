"""Argument types shared by the stage and tool subcommands of the ``dblend`` command."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def json_section(text: str) -> Any:
    """A config section passed as one JSON word (Snakemake passes sections as params)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON: {err}") from err


def key_value(text: str) -> tuple[str, str]:
    """One KEY=VALUE word, as a pair; the key ends at the first '=' (so keys hold none)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_training_arguments(parser: argparse.ArgumentParser, defined_by: str) -> None:
    """The arguments every training stage takes beside what it trains on: device, seed, the
    checkpoint and loss curve it writes, and the settings that define the job (``defined_by``
    names the default: the sections it was given)."""
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--loss-csv", type=Path, required=True)
    add_job_settings(parser, defined_by)


def add_job_settings(parser: argparse.ArgumentParser, defined_by: str) -> None:
    """--config-section: the settings that define a job, recorded as its config hash; without
    it, ``defined_by`` (the sections the job was given) stand in."""
    parser.add_argument(
        "--config-section",
        type=json_section,
        help="the settings that define this job (JSON), recorded as its config hash "
        f"(the workflow passes them; default: {defined_by})",
    )
