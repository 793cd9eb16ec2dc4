"""HDF5 array files written atomically, each carrying the metadata that says what made it.

Every pipeline product (volume, sinogram, reconstruction) is one HDF5 file holding one float32
array and JSON-encoded attributes. Files appear whole or not at all: they are written under a
temporary name in the destination folder and renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from dblend.errors import DataFileError

if TYPE_CHECKING:
    import pandas as pd

ARRAY_KEY = "data"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds.

    The folder and its files then get the permissions of ones made the ordinary way (the
    umask's), not the owner-only ones of temporary files: such folders are made to be shared.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        for file in tmp.rglob("*"):
            file.chmod((0o777 if file.is_dir() else 0o666) & ~mask)
        tmp.chmod(0o777 & ~mask)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_array(path: str | os.PathLike, array: np.ndarray, attrs: Mapping[str, Any]) -> None:
    """Write ``array`` (stored as float32) with ``attrs`` (JSON-encoded) atomically to ``path``."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset(ARRAY_KEY, data=np.asarray(array, dtype=np.float32))
        for key, value in attrs.items():
            handle.attrs[key] = json.dumps(value)


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the metadata of an array file."""
    with _open(path) as handle:
        return {key: json.loads(value) for key, value in handle.attrs.items()}


def read_array(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the array and metadata of a file written by :func:`write_array`."""
    with _open(path) as handle:
        if ARRAY_KEY not in handle:
            raise DataFileError(f"{path}: no '{ARRAY_KEY}' array inside; not written by dblend")
        array = handle[ARRAY_KEY][()]
        attrs = {key: json.loads(value) for key, value in handle.attrs.items()}
    return array, attrs


def read_volume(path: str | os.PathLike) -> np.ndarray:
    """The array of a volume file, refused unless it is a volume [Z, H, W]."""
    volume, _ = read_array(path)
    if volume.ndim != 3:
        raise DataFileError(f"{path}: expected a volume [Z, H, W], got shape {volume.shape}")
    return volume


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a table as CSV atomically, without its index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[h5py.File]:
    if not Path(path).is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise DataFileError(f"{path}: not a readable HDF5 file ({err})") from err
    with handle:
        yield handle
