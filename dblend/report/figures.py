"""Figures: three planes per method with error maps and zooms beside them; runtime; PSNR vs steps;
training loss curves.

CT slices are shown in HU through a named display window (lung, soft tissue, or the volume's
full HU window) with colour bars in HU, and coronal and sagittal slices at their physical
aspect ratio (slice spacing against pixel spacing), not stretched to squares.

Every figure is written atomically as PNG with the Agg backend (no display needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Rectangle
from scipy.ndimage import uniform_filter

from dblend.io import atomic_path
from dblend.metrics import PLANES, plane_slices, psnr

DISPLAY_WINDOWS: dict[str, tuple[float, float] | None] = {
    "full": None,
    "lung": (-600.0, 1500.0),
    "soft_tissue": (40.0, 400.0),
}
"""Named CT display windows as (level, width) in HU; "full" shows the volume's whole HU window."""
ERROR_RANGE = 0.1
"""Absolute errors are shown on [0, 0.1] of the volume's HU window (200 HU for -1000..1000)."""
MIN_ROW_HEIGHT = 0.45
"""Rows of flat slices (few slices, thick in-plane) stay this tall, relative to their width, so
their colour bars stay readable."""
PLANE_AXES = {"axial": (1, 2), "coronal": (0, 2), "sagittal": (0, 1)}
"""The (vertical, horizontal) axes of [Z, H, W] that a plane's slices show."""


def _save(fig: plt.Figure, out: Path) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def display_range(window: str, hu_window: tuple[float, float]) -> tuple[float, float]:
    """The HU shown from black to white by a named window."""
    if window not in DISPLAY_WINDOWS:
        raise ValueError(f"display window {window!r} is not one of {', '.join(DISPLAY_WINDOWS)}")
    named = DISPLAY_WINDOWS[window]
    if named is None:
        return float(hu_window[0]), float(hu_window[1])
    level, width = named
    return level - width / 2, level + width / 2


def pixel_aspect(plane: str, spacing_mm: tuple[float, float, float]) -> float:
    """Height over width of one pixel of a plane's slices, so anatomy keeps its proportions."""
    vertical, horizontal = PLANE_AXES[plane]
    return spacing_mm[vertical] / spacing_mm[horizontal]


def _extent(volume: np.ndarray, plane: str, spacing_mm: tuple[float, float, float]) -> float:
    """Height over width, in mm, of a plane's slices: the row height that fits them."""
    vertical, horizontal = PLANE_AXES[plane]
    return (volume.shape[vertical] * spacing_mm[vertical]) / (
        volume.shape[horizontal] * spacing_mm[horizontal]
    )


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


ZOOM_WIDTH = 0.45
"""Width of the zoom beside each slice, as a fraction of the slice panel's width."""


def _with_zoom(
    ax: plt.Axes, image: np.ndarray, window: tuple[int, int, int], origin: str, **shown
) -> None:
    """Mark ``window`` on the slice and show it enlarged in a panel to the slice's right,
    outside it, so the zoom never hides anatomy; drawn with the slice's orientation."""
    row, col, side = window
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), side, side, fill=False, ec="yellow", lw=0.8))
    zoom = ax.inset_axes((1.04, 1.0 - ZOOM_WIDTH, ZOOM_WIDTH, ZOOM_WIDTH))
    shown = {**shown, "aspect": "equal"}
    zoom.imshow(image[row : row + side, col : col + side], cmap="gray", origin=origin, **shown)
    zoom.set_xticks([])
    zoom.set_yticks([])
    for spine in zoom.spines.values():
        spine.set_edgecolor("yellow")
        spine.set_linewidth(1.2)


def draw_planes(
    truth: np.ndarray,
    reconstructions: Mapping[str, np.ndarray],
    title: str,
    *,
    hu_window: tuple[float, float],
    window: str = "full",
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> plt.Figure:
    """For each plane: a row of middle slices in HU, each with a zoom beside it, and a row of
    |error| maps.

    Volumes are in [0, 1] units of ``hu_window``; slices are shown in HU through the named
    display ``window``, each pixel ``spacing_mm`` (z, y, x) in size. The panel under the
    ground truth, which has no error, holds the colour bars of both rows in HU. PSNR is that of
    the [0, 1] slices, as in the tables.
    """
    low, high = hu_window
    vmin, vmax = display_range(window, hu_window)
    error_max = ERROR_RANGE * (high - low)
    columns = {"Ground truth": truth, **reconstructions}
    heights = [max(MIN_ROW_HEIGHT, _extent(truth, plane, spacing_mm)) for plane in PLANES]
    heights = [height for height in heights for _ in range(2)]  # slices, then errors
    fig, axes = plt.subplots(
        2 * len(PLANES),
        len(columns),
        figsize=(2.2 * (1 + ZOOM_WIDTH) * len(columns), 2.2 * sum(heights) + 0.8),
        squeeze=False,
        gridspec_kw={"height_ratios": heights},
    )
    for p, plane in enumerate(PLANES):
        reference = middle_slice(truth, plane)
        zoom = zoom_window(reference)
        error_image = None
        shown = {"aspect": pixel_aspect(plane, spacing_mm), "vmin": vmin, "vmax": vmax}
        origin = "upper" if plane == "axial" else "lower"
        for col, (name, volume) in enumerate(columns.items()):
            image = middle_slice(volume, plane)
            top, bottom = axes[2 * p, col], axes[2 * p + 1, col]
            slice_image = top.imshow(
                low + image * (high - low), cmap="gray", origin=origin, **shown
            )
            _with_zoom(top, low + image * (high - low), zoom, origin, **shown)
            label = name if col == 0 else f"{name}\n{psnr(reference, image):.2f} dB"
            top.set_title(label, fontsize=8)
            if col == 0:
                top.set_ylabel(plane, fontsize=9)
                bars = bottom
            else:
                error_image = bottom.imshow(
                    np.abs(image - reference) * (high - low), cmap="magma", vmin=0.0,
                    vmax=error_max, aspect=shown["aspect"], origin=origin,
                )  # fmt: skip
            for ax in (top, bottom):
                ax.set_xticks([])
                ax.set_yticks([])
        _colour_bars(fig, bars, slice_image, error_image, plane)
    window_text = "" if window == "full" else f", {window.replace('_', ' ')} window"
    fig.suptitle(
        f"{title} (HU {vmin:g} to {vmax:g}{window_text}; errors 0 to {error_max:g} HU)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _colour_bars(fig: plt.Figure, panel: plt.Axes, image, error, plane: str) -> None:
    """The slice row's grey scale and the error row's colours, in HU, inside ``panel``."""
    panel.axis("off")
    grey = panel.inset_axes((0.05, 0.08, 0.12, 0.84))
    fig.colorbar(image, cax=grey).set_label("HU", fontsize=7)
    grey.tick_params(labelsize=6)
    if error is not None:
        colours = panel.inset_axes((0.62, 0.08, 0.12, 0.84))
        fig.colorbar(error, cax=colours).set_label(f"|error| {plane} (HU)", fontsize=7)
        colours.tick_params(labelsize=6)


def experiment_figure(
    truth: np.ndarray,
    reconstructions: Mapping[str, np.ndarray],
    title: str,
    out: Path,
    **display: Any,
) -> None:
    """Write :func:`draw_planes` (``display``: its keyword arguments) as PNG to ``out``."""
    _save(draw_planes(truth, reconstructions, title, **display), out)


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
