"""Model checkpoints: one file holding the weights and the exact spec they were trained for.

Every file is tagged with its format (a prior; FBP-UNet has its own), so one kind of model is
never loaded as another. Loading always uses ``weights_only=True`` (no code runs from a
checkpoint) and refuses a file made for another prior spec, naming each differing key, so a
sampler never silently runs a network trained under a different config. Every floating-point
tensor is checked finite when a checkpoint is saved and when it is read, and a file that is not
a finished prior (a training run's resume state, a file without its spec, weights of another
network) is refused by name.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import torch

from dblend.errors import DataFileError
from dblend.io import atomic_path, finite_message
from dblend.models.prior import PriorSpec, ScorePrior
from dblend.provenance import software_versions

PRIOR_FORMAT = "dblend-prior/1"
PRIOR_KEYS = ("spec", "ema_weights")
"""What a finished prior checkpoint holds besides its format (a resume state has no EMA copy)."""


class _RecordingWriter:
    """A file wrapper keeping the OSError of a failed write, which torch.save reports only as
    a bare "unexpected pos" RuntimeError; the real cause (say, a full disk) is raised instead."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.handle.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.handle.flush()


def save_checkpoint(
    path: str | os.PathLike, state: dict[str, Any], fmt: str = PRIOR_FORMAT
) -> None:
    """Write ``state`` (plain types and tensors only) atomically, tagged with its format and
    the versions of the software that wrote it."""
    _check_finite(path, state, "to be saved")
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        writer = _RecordingWriter(handle)
        try:
            torch.save({"format": fmt, **state, "software": software_versions()}, writer)
        except RuntimeError as err:
            if writer.error is None:
                raise
            raise writer.error from err


def read_checkpoint(
    path: str | os.PathLike, fmt: str | tuple[str, ...] = PRIOR_FORMAT, *, mmap: bool = False
) -> dict[str, Any]:
    """Read a checkpoint of format ``fmt`` (or of one of several) safely; a missing, truncated,
    foreign or non-finite file raises.

    ``mmap=True`` maps the tensors instead of reading them: cheap when only the metadata (its
    spec, training, software versions) is wanted from a large checkpoint.
    """
    if not Path(path).is_file():
        raise DataFileError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise DataFileError(f"{path}: not a readable dblend checkpoint ({_why(err)})") from err
    formats = (fmt,) if isinstance(fmt, str) else fmt
    if not isinstance(state, dict) or state.get("format") not in formats:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise DataFileError(
            f"{path}: expected a {' or '.join(formats)} checkpoint, found {found!r}"
        )
    _check_finite(path, state, "in its tensors")
    return state


def _why(err: Exception) -> str:
    """torch's load error in a few words, without its advice to unpickle untrusted code."""
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        what = f"a pickled {found.group(1)}" if found else "pickled Python objects"
        return f"it holds {what}; dblend loads only tensors and plain values, never code"
    first = re.split(r"\.\s|\n", str(err), maxsplit=1)[0].strip()
    if not first or "weights_only" in first:
        return type(err).__name__
    return f"{type(err).__name__}: {first}"


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    """Every floating-point tensor in a nested state of dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point():
            yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _tensors(item)


def _check_finite(path: str | os.PathLike, state: dict[str, Any], what: str) -> None:
    count = total = 0
    for tensor in _tensors(state):
        count += int(torch.count_nonzero(~torch.isfinite(tensor.detach())))
        total += tensor.numel()
    if count:
        raise DataFileError(finite_message(path, count, total, what))


def checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Everything a checkpoint holds but its tensors: format, spec, training, step, loss
    history and provenance (what ``dblend describe`` shows and reconstructions record)."""
    state = read_checkpoint(path, mmap=True)
    return {key: value for key, value in state.items() if not _holds_tensors(value)}


def _holds_tensors(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(_holds_tensors(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_tensors(v) for v in value)
    return False


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
            f"{path}: checkpoint was trained for another prior config: " + "; ".join(differences)
        )


def _check_finished(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Refuse what is not a finished prior: a resume state, or a file missing spec or weights."""
    missing = [key for key in PRIOR_KEYS if not isinstance(state.get(key), dict)]
    if not missing:
        return
    if "optimizer" in state:
        raise DataFileError(
            f"{path}: the resume state of an unfinished training run, not a prior; expected "
            "the checkpoint that training writes when it ends"
        )
    raise DataFileError(
        f"{path}: no {' or '.join(missing)} inside; expected a finished prior checkpoint"
    )


def _check_weights(path: str | os.PathLike, prior: ScorePrior, weights: dict[str, Any]) -> None:
    """Refuse weights that do not fit the network the spec builds (say, another prior's)."""
    expected = {name: tuple(t.shape) for name, t in prior.state_dict().items()}
    found = {
        name: tuple(t.shape) if isinstance(t, torch.Tensor) else None for name, t in weights.items()
    }
    wrong = [name for name in expected if name in found and found[name] != expected[name]]
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if not (wrong or missing or extra):
        return
    example = (
        f"{wrong[0]} is {found[wrong[0]]}, the network's is {expected[wrong[0]]}"
        if wrong
        else f"{(missing or extra)[0]} is {'missing' if missing else 'unexpected'}"
    )
    raise DataFileError(
        f"{path}: its weights do not fit the network its spec describes ({len(wrong)} of "
        f"{len(expected)} tensors of another shape, {len(missing)} missing, {len(extra)} "
        f"unexpected; {example}); weights of another prior?"
    )


def load_prior(path: str | os.PathLike, spec: PriorSpec, device: torch.device) -> ScorePrior:
    """The EMA weights of a finished checkpoint in a ScorePrior ready for sampling."""
    state = read_checkpoint(path)
    _check_finished(path, state)
    check_spec(path, state, spec)
    prior = ScorePrior(spec)
    _check_weights(path, prior, state["ema_weights"])
    prior.load_state_dict(state["ema_weights"])
    return prior.to(device).eval()
