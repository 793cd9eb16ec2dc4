"""The embedded thorax phantoms: well-formed, deterministic, continuous along z, anatomical."""

from __future__ import annotations

import numpy as np
import pytest

from dblend.data.phantoms import HU_WINDOW, thorax_phantom

SEEDS = (0, 1, 2)


def _mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def _hu(volume: np.ndarray) -> np.ndarray:
    low, high = HU_WINDOW
    return low + volume * (high - low)


@pytest.fixture(scope="module")
def volumes() -> dict[int, np.ndarray]:
    """A few small patients with enough slices to compare near and far ones."""
    return {seed: thorax_phantom(size=32, slices=24, seed=seed) for seed in SEEDS}


def test_shape_dtype_and_range(volumes):
    for volume in volumes.values():
        assert volume.shape == (24, 32, 32)
        assert volume.dtype == np.float32
        assert np.isfinite(volume).all()
        assert volume.min() >= 0.0 and volume.max() <= 1.0
        assert np.all(volume[:, 0, 0] == 0.0), "air around the patient maps to 0"


def test_hu_window_is_the_documented_one():
    assert HU_WINDOW == (-1000.0, 1000.0)


def test_same_seed_same_volume_and_seeds_differ(volumes):
    assert np.array_equal(thorax_phantom(size=32, slices=24, seed=1), volumes[1])
    assert _mad(volumes[0], volumes[1]) > 0.02
    assert _mad(volumes[1], volumes[2]) > 0.02


def test_structures_continue_smoothly_along_z(volumes):
    for seed, volume in volumes.items():
        adjacent = _mad(volume[1:], volume[:-1])
        apart = _mad(volume[10:], volume[:-10])
        others = min(_mad(volume, other) for s, other in volumes.items() if s != seed)
        assert adjacent < 0.5 * apart
        assert adjacent < 0.25 * others
        three_apart = np.corrcoef(volume[3:].ravel(), volume[:-3].ravel())[0, 1]
        assert 0.9 < three_apart < 0.999, "slices 3 apart are related but not identical"


def test_tissue_classes_are_present(volumes):
    for volume in volumes.values():
        hu = _hu(volume)

        def share(low: float, high: float, hu: np.ndarray = hu) -> float:
            return float(((hu >= low) & (hu < high)).mean())

        assert share(-1000, -950) > 0.2, "air"
        assert share(-900, -780) > 0.04, "lung parenchyma"
        assert share(-150, -50) > 0.01, "fat"
        assert share(0, 100) > 0.05, "soft tissue and blood"
        assert share(200, 1001) > 0.01, "bone"


def test_cortical_bone_at_finer_sampling():
    hu = _hu(thorax_phantom(size=64, slices=8, seed=0))
    assert (hu > 500).mean() > 0.001


def test_same_anatomy_at_another_grid_size():
    """A seed is a patient, not a picture: the 32-pixel volume is the 64-pixel one, downsampled."""
    coarse = thorax_phantom(size=32, slices=12, seed=4)
    fine = thorax_phantom(size=64, slices=12, seed=4)
    downsampled = fine.reshape(12, 32, 2, 32, 2).mean(axis=(2, 4))
    other = thorax_phantom(size=32, slices=12, seed=5)
    assert _mad(coarse, downsampled) < 0.25 * _mad(coarse, other)
    assert np.corrcoef(coarse.ravel(), downsampled.ravel())[0, 1] > 0.97


def test_rejects_empty_grids():
    with pytest.raises(ValueError):
        thorax_phantom(size=1, slices=4, seed=0)
    with pytest.raises(ValueError):
        thorax_phantom(size=32, slices=0, seed=0)
