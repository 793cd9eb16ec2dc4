"""HDF5 array files written atomically, each carrying the metadata that says what made it.

Every pipeline product (volume, sinogram, reconstruction) is one HDF5 file holding one float32
array and JSON-encoded attributes. Files appear whole or not at all: they are written under a
temporary name in the destination folder and renamed into place only when complete, with the
mode the user's umask gives new files. No bad number passes silently: an array is checked
finite when it is read and before it is written, and its bytes carry a Fletcher-32 checksum,
so a damaged file is refused by name instead of becoming a wrong result.
"""

from __future__ import annotations

import io
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

from dblend.errors import DataFileError, OutputError
from dblend.provenance import software_versions

if TYPE_CHECKING:
    import pandas as pd

ARRAY_KEY = "data"


def _umask_mode() -> int:
    """The mode the user's umask gives a new regular file (read once, then restored)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The result gets the user's umask mode, not the temporary file's private 0600. An output
    that cannot be written (no permission, a file where a folder should be, a full disk)
    raises OutputError naming ``path``, and nothing is left behind.
    """
    target = Path(path)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
        tmp = Path(tmp_name)
        os.fchmod(fd, _umask_mode())
        os.close(fd)
        yield tmp
        os.replace(tmp, target)
    except OSError as err:
        raise OutputError(f"{target}: cannot write the output ({_reason(err)})") from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _reason(err: OSError) -> str:
    """An OS error as a short reason, naming the path it concerns when that is not the output."""
    reason = err.strerror or str(err)
    return f"{reason}: {err.filename}" if err.filename else reason


def non_finite(values: np.ndarray) -> int:
    """How many entries of ``values`` are NaN or infinite."""
    return int(values.size - np.count_nonzero(np.isfinite(values)))


def finite_message(path: str | os.PathLike, count: int, total: int, what: str = "") -> str:
    """The one wording of a non-finite refusal, for arrays and checkpoint tensors alike."""
    values = f"values {what}" if what else "values"
    return f"{path}: {count} of {total} {values} are NaN or infinite; expected finite numbers"


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
    """Write ``array`` (stored as float32) with ``attrs`` (JSON-encoded) atomically to ``path``,
    adding the versions of the software that wrote it (attribute ``software``).

    A non-finite value is refused before anything is written. The file is built in memory and
    written in one go, so a failing disk is an OutputError rather than HDF5 closing half a file.
    """
    data = np.asarray(array, dtype=np.float32)
    count = non_finite(data)
    if count:
        raise DataFileError(finite_message(path, count, data.size, "to be written"))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        handle.create_dataset(ARRAY_KEY, data=data, chunks=True, fletcher32=True)
        for key, value in {**attrs, "software": software_versions()}.items():
            handle.attrs[key] = json.dumps(value)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())


def read_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the metadata of an array file."""
    with _open(path) as handle:
        return _attrs(handle)


def read_array(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, Any]]:
    """Read the array and metadata of a file written by :func:`write_array`; refuse NaN or inf."""
    with _open(path) as handle:
        if ARRAY_KEY not in handle:
            raise DataFileError(f"{path}: no '{ARRAY_KEY}' array inside; not written by dblend")
        array = handle[ARRAY_KEY][()]
        attrs = _attrs(handle)
    count = non_finite(array)
    if count:
        raise DataFileError(finite_message(path, count, array.size))
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


def _attrs(handle: h5py.File) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in handle.attrs.items()}


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[h5py.File]:
    """An HDF5 file open for reading; damage found while reading it raises DataFileError.

    h5py reports damage inside a file that opened fine (a broken index, a failed checksum,
    a mangled object header) as OSError, RuntimeError, KeyError or ValueError, depending on
    where it lies.
    """
    if not Path(path).is_file():
        raise DataFileError(f"{path}: file not found")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise DataFileError(f"{path}: not a readable HDF5 file ({err})") from err
    with handle:
        try:
            yield handle
        except (OSError, RuntimeError, KeyError, ValueError) as err:
            detail = str(err.args[0]).splitlines()[0] if err.args else type(err).__name__
            raise DataFileError(
                f"{path}: damaged HDF5 file, its contents cannot be read ({detail})"
            ) from err
