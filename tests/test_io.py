"""Array files: written whole or not at all, and bad files named clearly."""

from __future__ import annotations

import numpy as np
import pytest

from dblend.errors import DataFileError
from dblend.io import atomic_path, read_array, write_array
from dblend.provenance import software_versions


def test_round_trip_keeps_array_and_metadata(tmp_path):
    path = tmp_path / "sub" / "v.h5"
    write_array(path, np.ones((2, 3, 3)), {"spacing": [2.5, 1.0, 1.0], "source": "x"})
    array, attrs = read_array(path)
    assert array.dtype == np.float32 and array.shape == (2, 3, 3)
    assert attrs == {"spacing": [2.5, 1.0, 1.0], "source": "x", "software": software_versions()}


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "v.h5"
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(DataFileError, match=r"missing\.h5: file not found"):
        read_array(tmp_path / "missing.h5")
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not hdf5")
    with pytest.raises(DataFileError, match=r"corrupt\.h5: not a readable HDF5 file"):
        read_array(corrupt)
