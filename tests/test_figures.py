"""The three-plane figure shows CT in HU through named windows, with colour bars in HU, and
coronal and sagittal slices at their physical aspect ratio."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dblend.report.figures import display_range, draw_planes, experiment_figure

HU_WINDOW = (-1000.0, 1000.0)
SPACING = (2.5, 0.7, 0.7)  # z, y, x in mm


def lung_volume() -> np.ndarray:
    """A volume [8, 16, 16] at -600 HU (0.2 in [0, 1] units of HU_WINDOW) with a -1000 HU
    corner, so every panel has a known value and some detail."""
    volume = np.full((8, 16, 16), 0.2, dtype=np.float32)
    volume[:, :4, :4] = 0.0
    return volume


def test_named_windows_are_level_and_width_in_hu():
    assert display_range("lung", HU_WINDOW) == (-1350.0, 150.0)
    assert display_range("soft_tissue", HU_WINDOW) == (-160.0, 240.0)
    assert display_range("full", (-1000.0, 500.0)) == (-1000.0, 500.0)
    with pytest.raises(ValueError, match="not one of full, lung, soft_tissue"):
        display_range("bone", HU_WINDOW)


@pytest.mark.parametrize(("window", "grey"), [("lung", 0.5), ("soft_tissue", 0.0), ("full", 0.2)])
def test_a_known_hu_value_gets_the_windows_grey_level(window, grey):
    truth = lung_volume()
    figure = draw_planes(truth, {}, "t", hu_window=HU_WINDOW, window=window)
    axial = figure.axes[0].images[0]
    assert axial.get_array()[8, 8] == pytest.approx(-600.0)
    assert float(np.clip(axial.norm(-600.0), 0.0, 1.0)) == pytest.approx(grey)
    plt.close(figure)


def test_panels_keep_physical_proportions_and_the_empty_panel_holds_hu_colour_bars():
    truth = lung_volume()
    recon = truth + 0.01  # 20 HU off everywhere
    figure = draw_planes(
        truth, {"DDS": recon}, "t", hu_window=HU_WINDOW, window="lung", spacing_mm=SPACING
    )
    grid = np.array(figure.axes[:12]).reshape(6, 2)  # 3 planes x (slices, errors), 2 columns
    assert grid[0, 0].get_aspect() == pytest.approx(1.0)  # axial: 0.7 x 0.7 mm pixels
    assert grid[2, 0].get_aspect() == pytest.approx(2.5 / 0.7)  # coronal: z over x
    assert grid[4, 1].get_aspect() == pytest.approx(2.5 / 0.7)  # sagittal: z over y
    error = grid[1, 1].images[0]
    assert error.get_array()[8, 8] == pytest.approx(20.0, abs=0.01)
    assert (error.norm.vmin, error.norm.vmax) == (0.0, pytest.approx(200.0))
    labels = [bar.get_ylabel() for row in (1, 3, 5) for bar in grid[row, 0].child_axes]
    assert labels.count("HU") == 3 and "|error| axial (HU)" in labels
    assert not grid[1, 0].axison, "the panel under the ground truth only holds colour bars"
    plt.close(figure)


def test_experiment_figure_writes_a_png(tmp_path):
    out = tmp_path / "figure.png"
    experiment_figure(lung_volume(), {}, "t", out, hu_window=HU_WINDOW, spacing_mm=SPACING)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_each_zoom_sits_right_of_its_slice_not_over_it():
    truth = lung_volume()
    figure = draw_planes(truth, {"DDS": truth + 0.01}, "t", hu_window=HU_WINDOW, spacing_mm=SPACING)
    figure.canvas.draw()
    slices = [ax for ax in figure.axes if ax.images and ax.child_axes]
    assert len(slices) == 3 * 2, "every slice of three planes and two columns has its zoom"
    renderer = figure.canvas.get_renderer()
    for ax in slices:
        (zoom,) = ax.child_axes
        image_box, zoom_box = ax.get_window_extent(renderer), zoom.get_window_extent(renderer)
        assert zoom_box.x0 >= image_box.x1, "beside the slice, not over it"
        side = zoom.images[0].get_array().shape
        assert side[0] == side[1] < 16, "a square part of the slice"
    plt.close(figure)
