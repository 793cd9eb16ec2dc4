"""Figures: three planes per method with error maps and a zoomed inset; runtime; PSNR vs steps;
training loss curves.

Every figure is written atomically as PNG with the Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from scipy.ndimage import uniform_filter

from dblend.io import atomic_path
from dblend.metrics import PLANES, plane_slices, psnr

ERROR_RANGE = 0.1
"""Absolute errors are shown on [0, 0.1] of the intensity range (200 HU in the default window)."""


def _save(fig: plt.Figure, out: Path) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def middle_slice(volume: np.ndarray, plane: str) -> np.ndarray:
    slices = plane_slices(volume, plane)
    return np.clip(slices[slices.shape[0] // 2], 0.0, 1.0)


def zoom_window(image: np.ndarray) -> tuple[int, int, int]:
    """(row, col, side) of a square a quarter of the image wide where detail is densest."""
    side = max(4, min(image.shape) // 4)
    mean = uniform_filter(image, side)
    detail = uniform_filter(image**2, side) - mean**2
    half = side // 2
    valid = detail[half : image.shape[0] - side + half + 1, half : image.shape[1] - side + half + 1]
    row, col = np.unravel_index(np.argmax(valid), valid.shape)
    return int(row), int(col), side


def _with_inset(ax: plt.Axes, image: np.ndarray, window: tuple[int, int, int]) -> None:
    row, col, side = window
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), side, side, fill=False, ec="yellow", lw=0.8))
    inset = ax.inset_axes((0.6, 0.0, 0.4, 0.4))
    inset.imshow(image[row : row + side, col : col + side], cmap="gray", vmin=0.0, vmax=1.0)
    inset.set_xticks([])
    inset.set_yticks([])
    for spine in inset.spines.values():
        spine.set_edgecolor("yellow")


def experiment_figure(
    truth: np.ndarray, reconstructions: Mapping[str, np.ndarray], title: str, out: Path
) -> None:
    """For each plane: a row of middle slices (zoomed inset) and a row of |error| maps."""
    columns = {"Ground truth": truth, **reconstructions}
    fig, axes = plt.subplots(
        2 * len(PLANES), len(columns), figsize=(2.2 * len(columns), 13.0), squeeze=False
    )
    for p, plane in enumerate(PLANES):
        reference = middle_slice(truth, plane)
        window = zoom_window(reference)
        origin = "upper" if plane == "axial" else "lower"
        aspect = "equal" if plane == "axial" else "auto"
        for col, (name, volume) in enumerate(columns.items()):
            image = middle_slice(volume, plane)
            top, bottom = axes[2 * p, col], axes[2 * p + 1, col]
            top.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, aspect=aspect, origin=origin)
            _with_inset(top, image, window)
            label = name if col == 0 else f"{name}\n{psnr(reference, image):.2f} dB"
            top.set_title(label, fontsize=8)
            if col == 0:
                top.set_ylabel(plane, fontsize=9)
                bottom.set_ylabel(f"|error| {plane}", fontsize=8)
            else:
                bottom.imshow(
                    np.abs(image - reference), cmap="magma", vmin=0.0, vmax=ERROR_RANGE,
                    aspect=aspect, origin=origin,
                )  # fmt: skip
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
    fig.suptitle(f"{title} (error maps on [0, {ERROR_RANGE}])", fontsize=10)
    fig.tight_layout()
    _save(fig, out)


def runtime_figure(runtime: pd.DataFrame, title: str, out: Path) -> None:
    """Seconds per volume for each method (mean +- std), with its network evaluations."""
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(runtime), 3.6))
    names = [f"{row.label}\n{row.dataset}/{row.task}" for row in runtime.itertuples()]
    bars = ax.bar(names, runtime["seconds_mean"], yerr=runtime["seconds_std"], color="#4c72b0")
    for bar, nfe in zip(bars, runtime["nfe"], strict=True):
        ax.annotate(f"{int(nfe)} NFE", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)  # fmt: skip
    ax.set_ylabel("seconds per volume")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    _save(fig, out)


def sweep_figure(points: pd.DataFrame, key: str, title: str, out: Path) -> None:
    """Mean PSNR per plane against the swept key, one line per method and plane (``points``: rows
    of a summary table, which name their scoring convention)."""
    fig, axes = plt.subplots(1, len(PLANES), figsize=(11, 3.4), sharey=True)
    for ax, plane in zip(axes, PLANES, strict=True):
        block = points[points["plane"] == plane]
        for (method, dataset, task), line in block.groupby(["base", "dataset", "task"]):
            line = line.sort_values("value")
            ax.plot(line["value"], line["psnr"], marker="o", label=f"{method} ({dataset}/{task})")
        ax.set_title(plane, fontsize=9)
        ax.set_xlabel(key)
        if pd.api.types.is_bool_dtype(points["value"]):
            ax.set_xticks([0, 1], ["off", "on"])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"mean PSNR (dB), convention {points['convention'].iloc[0]}")
    axes[-1].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, out)


def validation_points(history: pd.DataFrame) -> pd.DataFrame:
    """The rows of a loss history that carry a validation loss (it is logged less often)."""
    if "validation_loss" not in history:
        return history.iloc[:0]
    return history.dropna(subset=["validation_loss"])


def loss_figure(history: pd.DataFrame, title: str, out: Path) -> None:
    """Training loss per logged step and validation loss where logged, on a log scale.

    The noise-prediction loss falls steeply at first and slowly after; a log axis shows both.
    """
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    ax.plot(history["step"], history["loss"], marker=".", label="training")
    validation = validation_points(history)
    if not validation.empty:
        ax.plot(validation["step"], validation["validation_loss"], marker="o",
                label="validation (EMA weights)")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("noise-prediction MSE")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out)
