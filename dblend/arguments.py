"""Argument types shared by the stage and tool subcommands of the ``dblend`` command."""

from __future__ import annotations

import argparse
import json
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
