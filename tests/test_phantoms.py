"""The embedded thorax phantoms: valid, deterministic, varied, and structured along z."""

from __future__ import annotations

import numpy as np
import pytest

from dblend.data.phantoms import HU_WINDOW, thorax_phantom


def hu(value: float) -> float:
    low, high = HU_WINDOW
    return (value - low) / (high - low)


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    return thorax_phantom(64, 40, seed=1)


def test_shape_range_and_determinism(volume):
    assert volume.shape == (40, 64, 64) and volume.dtype == np.float32
    assert volume.min() >= 0.0 and volume.max() <= 1.0
    assert np.array_equal(volume, thorax_phantom(64, 40, seed=1))
    assert not np.allclose(volume, thorax_phantom(64, 40, seed=2), atol=0.05)


def test_tissue_classes_are_present(volume):
    fractions = {
        "air": np.mean(volume < hu(-950)),
        "lung": np.mean((volume > hu(-950)) & (volume < hu(-700))),
        "soft tissue": np.mean(np.abs(volume - hu(40)) < hu(-900)),
        "bone": np.mean(volume > hu(400)),
    }
    assert fractions["air"] > 0.1 and fractions["lung"] > 0.05
    assert fractions["soft tissue"] > 0.1 and fractions["bone"] > 0.003


def test_structures_continue_across_slices(volume):
    adjacent = np.abs(np.diff(volume, axis=0)).mean()
    far = np.abs(volume[10:] - volume[:-10]).mean()
    other = np.abs(volume - thorax_phantom(64, 40, seed=7)).mean()
    assert adjacent < 0.5 * far
    assert adjacent < 0.3 * other


def test_anatomy_does_not_depend_on_grid_size():
    coarse = thorax_phantom(32, 12, seed=3)
    fine = thorax_phantom(64, 12, seed=3).reshape(12, 32, 2, 32, 2).mean(axis=(2, 4))
    assert np.abs(coarse - fine).mean() < 0.05
