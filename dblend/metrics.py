"""Image quality per viewing plane: PSNR and SSIM averaged over the slices of each plane.

Axial slices are volume[z], coronal volume[:, y], sagittal volume[:, :, x]. Both volumes are
clipped to the [0, 1] intensity range first, and the data range is 1, so the numbers compare
across methods, tasks and data sets. Total variation measures over-smoothing along all axes.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

PLANES = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}


def plane_slices(volume: np.ndarray, plane: str) -> np.ndarray:
    """The slices of ``volume`` [Z, H, W] seen in ``plane``, stacked on the first axis."""
    return np.moveaxis(volume, _AXIS[plane], 0)


def psnr(truth: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB with data range 1 (infinite for identical images)."""
    if np.array_equal(truth, estimate):
        return float("inf")
    return float(peak_signal_noise_ratio(truth, estimate, data_range=1.0))


def ssim(truth: np.ndarray, estimate: np.ndarray) -> float:
    """SSIM with data range 1; the window shrinks for images narrower than 7 pixels."""
    window = min(7, *truth.shape)
    window -= 1 - window % 2
    return float(structural_similarity(truth, estimate, data_range=1.0, win_size=window))


def plane_scores(truth: np.ndarray, estimate: np.ndarray) -> dict[str, dict[str, float]]:
    """{plane: {"psnr": mean over slices, "ssim": mean over slices}} of two volumes."""
    if truth.shape != estimate.shape:
        raise ValueError(f"shapes differ: truth {truth.shape}, estimate {estimate.shape}")
    truth = np.clip(truth.astype(np.float64), 0.0, 1.0)
    estimate = np.clip(estimate.astype(np.float64), 0.0, 1.0)
    scores = {}
    for plane in PLANES:
        pairs = list(zip(plane_slices(truth, plane), plane_slices(estimate, plane), strict=True))
        scores[plane] = {
            "psnr": float(np.mean([psnr(t, e) for t, e in pairs])),
            "ssim": float(np.mean([ssim(t, e) for t, e in pairs])),
        }
    return scores


def total_variation(volume: np.ndarray) -> float:
    """Anisotropic total variation per voxel: mean absolute forward difference over all axes."""
    volume = np.clip(volume.astype(np.float64), 0.0, 1.0)
    return float(sum(np.abs(np.diff(volume, axis=axis)).sum() for axis in range(3)) / volume.size)
