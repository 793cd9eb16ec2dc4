"""Prior checkpoints: one file holding the weights and the exact spec they were trained for.

Loading always uses ``weights_only=True`` (no code runs from a checkpoint) and refuses a file
made for another prior spec, naming each differing key, so a sampler never silently runs a
network trained under a different config.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dblend.errors import DataFileError
from dblend.io import atomic_path
from dblend.models.prior import PriorSpec, ScorePrior

FORMAT = "dblend-prior/1"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (plain types and tensors only) atomically, tagged with the format."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely; a missing, truncated or foreign file raises DataFileError."""
    if not Path(path).is_file():
        raise DataFileError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise DataFileError(f"{path}: not a readable dblend checkpoint ({err})") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise DataFileError(f"{path}: expected a {FORMAT} checkpoint, found {found!r}")
    return state


def spec_differences(
    expected: dict[str, Any], found: dict[str, Any], prefix: str = ""
) -> list[str]:
    """Human-readable 'key: found X, expected Y' lines for every differing (nested) key."""
    lines = []
    for key in sorted(set(expected) | set(found)):
        name = f"{prefix}{key}"
        want, have = expected.get(key), found.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            lines += spec_differences(want, have, prefix=f"{name}.")
        elif want != have:
            lines.append(f"{name}: checkpoint has {have!r}, config expects {want!r}")
    return lines


def check_spec(path: str | os.PathLike, state: dict[str, Any], spec: PriorSpec) -> None:
    """Refuse a checkpoint whose prior spec differs from ``spec``."""
    differences = spec_differences(spec.to_dict(), PriorSpec.from_dict(state["spec"]).to_dict())
    if differences:
        raise DataFileError(
            f"{path}: checkpoint was trained for another prior config:\n  "
            + "\n  ".join(differences)
        )


def load_prior(path: str | os.PathLike, spec: PriorSpec, device: torch.device) -> ScorePrior:
    """The EMA weights of a finished checkpoint in a ScorePrior ready for sampling."""
    state = read_checkpoint(path)
    check_spec(path, state, spec)
    prior = ScorePrior(spec)
    prior.load_state_dict(state["ema_weights"])
    return prior.to(device).eval()
