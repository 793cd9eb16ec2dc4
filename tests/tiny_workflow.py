"""The workflow as the tests run it: Snakemake on this checkout, in a folder of the test's own,
and the tiny config's settings for tests that call the package directly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dblend.config import load

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "config" / "test" / "tiny.yaml"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)


def tiny_training(**changes: Any) -> dict[str, Any]:
    """A training section as config/test/tiny.yaml completes it (every key, schema defaults
    filled), with seed 0 and the given changes."""
    config = load(ROOT / "config" / "config.yaml", TINY)
    return {**config["priors"]["patch"]["training"], "seed": 0, **changes}
