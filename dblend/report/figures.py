"""Figures: the three planes of each method's reconstruction beside the ground truth."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from dblend.io import atomic_path
from dblend.metrics import PLANES, plane_slices, psnr


def middle_slice(volume: np.ndarray, plane: str) -> np.ndarray:
    slices = plane_slices(volume, plane)
    return np.clip(slices[slices.shape[0] // 2], 0.0, 1.0)


def planes_figure(
    truth: np.ndarray, reconstructions: Mapping[str, np.ndarray], title: str, out: Path
) -> None:
    """Rows: axial, coronal, sagittal middle slices; columns: ground truth then each method."""
    columns = {"ground truth": truth, **reconstructions}
    aspect = {"axial": 1.0, "coronal": "auto", "sagittal": "auto"}
    fig, axes = plt.subplots(
        len(PLANES), len(columns), figsize=(2.2 * len(columns), 6.6), squeeze=False
    )
    for row, plane in enumerate(PLANES):
        reference = middle_slice(truth, plane)
        for col, (name, volume) in enumerate(columns.items()):
            image = middle_slice(volume, plane)
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, aspect=aspect[plane])
            ax.set_xticks([])
            ax.set_yticks([])
            label = name if name == "ground truth" else f"{name}\n{psnr(reference, image):.2f} dB"
            if row == 0 or name != "ground truth":
                ax.set_title(label, fontsize=8)
            if col == 0:
                ax.set_ylabel(plane, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
