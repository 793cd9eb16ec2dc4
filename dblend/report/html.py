"""A self-contained HTML report: every experiment's tables and figures, and the training curves
of the priors they used, captioned, in one file."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dblend import __version__
from dblend.io import atomic_path
from dblend.report.figures import validation_points
from dblend.report.tables import TABLE_TITLES

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5em 0; } img { max-width: 100%; } figcaption { color: #555; }
"""
CAPTIONS = {
    "planes": "Middle axial, coronal and sagittal slices of {name} beside the ground truth, "
    "each with its PSNR, a zoomed inset of the most detailed region, and the absolute error.",
    "runtime": "Wall-clock seconds per volume (mean ± std over test volumes) and network "
    "evaluations (NFE) of each method.",
    "sweep": "Mean PSNR per plane against the swept setting.",
}


def figure_caption(path: Path, experiment_dir: Path) -> str:
    """What a figure of an experiment shows, from where it sits in the experiment folder."""
    if path.stem in CAPTIONS:
        return CAPTIONS[path.stem]
    name = "/".join(path.relative_to(experiment_dir / "figures").with_suffix("").parts)
    return CAPTIONS["planes"].format(name=name)


def _image(path: Path) -> str:
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{encoded}">'


def experiment_section(directory: Path, title: str) -> list[str]:
    """Tables and figures of one experiment folder (as written by the experiment rules)."""
    parts = [f"<h2>{html.escape(title)}</h2>"]
    parts += [(directory / f"{name}.html").read_text() for name in TABLE_TITLES]
    for path in sorted(directory.rglob("*.png")):
        caption = html.escape(figure_caption(path, directory))
        parts.append(f"<figure>{_image(path)}<figcaption>{caption}</figcaption></figure>")
    return parts


@dataclass(frozen=True)
class TrainingCurve:
    """A prior trained on one data set: its loss history and the figure drawn from it."""

    prior: str
    dataset: str
    loss_csv: Path
    figure: Path


def training_caption(curve: TrainingCurve, history: pd.DataFrame) -> str:
    """Name the prior and its data, and give the last losses so runs compare without the plot."""
    last = history.iloc[-1]
    validation = validation_points(history)
    final_validation = (
        f"{validation['validation_loss'].iloc[-1]:.4g}" if not validation.empty else "not logged"
    )
    return (
        f"Prior {curve.prior} on data set {curve.dataset}: {int(last['step'])} steps; final "
        f"training loss {last['loss']:.4g}, final validation loss {final_validation} "
        "(noise-prediction MSE, log scale)."
    )


def training_section(curves: Sequence[TrainingCurve]) -> list[str]:
    """The loss curves of the priors behind the reported reconstructions."""
    parts = ["<h2>Training</h2>"]
    for curve in curves:
        caption = html.escape(training_caption(curve, pd.read_csv(curve.loss_csv)))
        parts.append(f"<figure>{_image(curve.figure)}<figcaption>{caption}</figcaption></figure>")
    return parts


def write_report(
    experiments: Mapping[Path, str],
    out: Path,
    curves: Sequence[TrainingCurve] = (),
    title: str = "dblend results",
) -> None:
    """Write ``out`` with one section per experiment folder (mapped to its title), then the
    training curves of their priors (when any method used one)."""
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p>dblend {__version__}. PSNR (dB) and SSIM are means ± std over test volumes of the "
        "per-slice values in each viewing plane, with data range 1.</p>",
    ]
    for directory, experiment_title in experiments.items():
        parts += experiment_section(directory, experiment_title)
    if curves:
        parts += training_section(curves)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
