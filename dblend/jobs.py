"""One function per pipeline step, from input files to output files.

These are what the CLI (and so every Snakemake rule) calls; each reads its inputs, runs the
package code, and writes its outputs atomically with metadata saying what made them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from dblend import __version__
from dblend.data.local import find_patient_series
from dblend.data.phantoms import HU_WINDOW, thorax_phantom
from dblend.data.preprocess import PreprocessSpec, preprocess_series
from dblend.data.tcia import download_series, read_manifest
from dblend.device import peak_memory_mb, resolve_device
from dblend.errors import DataFileError
from dblend.io import atomic_path, read_array, read_attrs, write_array
from dblend.metrics import PLANES, plane_scores, total_variation
from dblend.models.checkpoint import load_prior
from dblend.models.prior import PriorSpec
from dblend.physics import make_operator
from dblend.physics.geometry import geometry_from_dict, task_geometry
from dblend.physics.simulate import simulate
from dblend.recon.methods import DIFFUSION_METHODS, reconstruct
from dblend.report.figures import loss_figure, planes_figure, runtime_figure, sweep_figure
from dblend.report.html import TrainingCurve, write_report
from dblend.report.tables import (
    RUNTIME_COLUMNS,
    TABLE_TITLES,
    TV_COLUMNS,
    display,
    paper_layout,
    runtime_table,
    sections,
    summary,
    to_html,
    to_latex,
    to_markdown,
    total_variation_table,
)
from dblend.train import train_prior

log = logging.getLogger(__name__)


def make_phantom(size: int, slices: int, seed: int, out: Path) -> None:
    """Write one embedded thorax phantom volume."""
    volume = thorax_phantom(size=size, slices=slices, seed=seed)
    write_array(
        out,
        volume,
        {
            "source": "embedded thorax phantom",
            "seed": seed,
            "hu_window": list(HU_WINDOW),
            "version": __version__,
        },
    )


def download(uid: str, root: Path, images: int | None) -> None:
    """Fetch (or confirm) one verified TCIA series under ``root``."""
    download_series([uid], root, expected_images={uid: images}, workers=1)


def preprocess(
    series_dir: Path | None,
    local_dir: Path | None,
    manifest: Path | None,
    match: str | None,
    patient: str,
    settings: dict[str, Any],
    out: Path,
) -> None:
    """Turn one patient's DICOM series (a given folder, or found in a local copy) into a volume."""
    if series_dir is None:
        if local_dir is None:
            raise DataFileError("preprocess needs a series folder or a local copy to search")
        uids = read_manifest(manifest) if manifest else None
        series_dir = find_patient_series(local_dir, patient, match=match, series_uids=uids)
    preprocess_series(series_dir, out, PreprocessSpec.from_config(settings), patient_id=patient)


def _volume(path: Path) -> np.ndarray:
    volume, _ = read_array(path)
    if volume.ndim != 3:
        raise DataFileError(f"{path}: expected a volume [Z, H, W], got shape {volume.shape}")
    return volume


def simulate_sinogram(
    volume_path: Path, task: dict[str, Any], seed: int, device_name: str, out: Path
) -> None:
    """Simulate the task's projections of a volume and record the geometry that made them."""
    volume = _volume(volume_path)
    if volume.shape[1] != volume.shape[2]:
        raise DataFileError(f"{volume_path}: slices must be square, got {volume.shape[1:]}")
    device = resolve_device(device_name)
    geometry = task_geometry(task, volume.shape)
    operator = make_operator(geometry, device)
    sinogram = simulate(torch.from_numpy(volume).to(device), operator, task["noise"], seed)
    write_array(
        out,
        sinogram.cpu().numpy(),
        {
            "geometry": geometry.to_dict(),
            "task": task,
            "seed": seed,
            "volume": str(volume_path),
            "version": __version__,
        },
    )


def train(
    prior: dict[str, Any],
    network: dict[str, Any],
    train_paths: Sequence[Path],
    validation_paths: Sequence[Path],
    out: Path,
    loss_csv: Path,
    device_name: str,
    seed: int,
) -> None:
    """Train a prior on the given volumes; write its checkpoint and loss curve."""
    volumes = [torch.from_numpy(_volume(p)) for p in train_paths]
    validation = [torch.from_numpy(_volume(p)) for p in validation_paths]
    sizes = {tuple(v.shape[1:]) for v in volumes + validation}
    if len(sizes) != 1 or len(next(iter(sizes))) != 2 or len(set(next(iter(sizes)))) != 1:
        raise DataFileError(f"training volumes must share one square slice size, got {sizes}")
    spec = PriorSpec.from_config(prior, network, image_size=next(iter(sizes))[0])
    training = {**prior["training"], "seed": seed}
    device = resolve_device(device_name)
    result = train_prior(spec, training, volumes, validation, out, device)
    with atomic_path(loss_csv) as tmp:
        pd.DataFrame(result.history).to_csv(tmp, index=False)
    log.info("trained %s in %.0f s", out, result.seconds)


def reconstruct_volume(
    method_name: str,
    method: dict[str, Any],
    sinogram_path: Path,
    prior_path: Path | None,
    prior: dict[str, Any] | None,
    network: dict[str, Any] | None,
    device_name: str,
    seed: int,
    out: Path,
) -> None:
    """Reconstruct one volume with one method and record time, work and memory."""
    device = resolve_device(device_name)
    sinogram, attrs = read_array(sinogram_path)
    if "geometry" not in attrs:
        raise DataFileError(f"{sinogram_path}: no geometry recorded; not a dblend sinogram")
    geometry = geometry_from_dict(attrs["geometry"])
    operator = make_operator(geometry, device)
    score_prior = None
    if method["kind"] in DIFFUSION_METHODS:
        if prior_path is None or prior is None or network is None:
            raise DataFileError(f"method {method_name} needs a prior checkpoint")
        spec = PriorSpec.from_config(prior, network, image_size=geometry.size)
        score_prior = load_prior(prior_path, spec, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    volume, stats = reconstruct(
        method_name,
        method,
        torch.from_numpy(sinogram).to(device),
        operator,
        score_prior,
        seed,
        device,
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - started
    write_array(
        out,
        volume.cpu().numpy(),
        {
            "method": method_name,
            "settings": method,
            "sinogram": str(sinogram_path),
            "prior": str(prior_path) if prior_path else None,
            "seed": seed,
            "seconds": seconds,
            "nfe": stats.nfe,
            "patch_evaluations": stats.patch_evaluations,
            "device": str(device),
            **peak_memory_mb(device),
            "version": __version__,
        },
    )
    log.info("%s: %s in %.1f s, %d NFE", out, method_name, seconds, stats.nfe)


def evaluate(truth_path: Path, recon_path: Path, labels: dict[str, str], out: Path) -> None:
    """One metrics row per plane for one reconstruction."""
    truth = _volume(truth_path)
    estimate, attrs = read_array(recon_path)
    scores = plane_scores(truth, estimate)
    tv, tv_truth = total_variation(estimate), total_variation(truth)
    ordered = {key: labels[key] for key in ("dataset", "task", "method", "volume")}
    rows = [
        {
            **ordered,
            "plane": plane,
            **scores[plane],
            "seconds": attrs["seconds"],
            "nfe": attrs["nfe"],
            "tv": tv,
            "tv_truth": tv_truth,
        }
        for plane in PLANES
    ]
    with atomic_path(out) as tmp:
        pd.DataFrame(rows).to_csv(tmp, index=False)


def describe(path: Path) -> str:
    """The metadata of a dblend file as indented JSON (for people inspecting results)."""
    return json.dumps(read_attrs(path), indent=2)


def experiment_tables(metric_paths: Sequence[Path], labels: dict[str, str], out_dir: Path) -> None:
    """An experiment's long-format metrics and its PSNR/SSIM, TV and runtime tables."""
    metrics = pd.concat([pd.read_csv(p) for p in metric_paths], ignore_index=True)
    tables = {
        "summary": (summary(metrics, labels), None),
        "tv": (total_variation_table(metrics, labels), TV_COLUMNS),
        "runtime": (runtime_table(metrics, labels), RUNTIME_COLUMNS),
    }
    _write_csv(metrics, out_dir / "metrics.csv")
    for name, (table, columns) in tables.items():
        _write_csv(table, out_dir / f"{name}.csv")
        frames = paper_layout(table) if columns is None else display(table, columns)
        for suffix, render in ((".md", to_markdown), (".tex", to_latex), (".html", to_html)):
            with atomic_path(out_dir / f"{name}{suffix}") as tmp:
                tmp.write_text(sections(frames, render, TABLE_TITLES[name]))


def _write_csv(frame: pd.DataFrame, out: Path) -> None:
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, index=False)


def combined_tables(experiment_dirs: Sequence[Path], out_dir: Path) -> None:
    """All reported experiments' metrics in one long table, and their summaries in one file."""
    metrics = pd.concat([pd.read_csv(d / "metrics.csv") for d in experiment_dirs])
    metrics = metrics.drop_duplicates(["dataset", "task", "method", "volume", "plane"])
    _write_csv(metrics, out_dir / "metrics.csv")
    _write_csv(
        pd.concat(
            [pd.read_csv(d / "summary.csv").assign(experiment=d.name) for d in experiment_dirs]
        ),
        out_dir / "summary.csv",
    )
    with atomic_path(out_dir / "summary.md") as tmp:
        tmp.write_text(
            "\n".join(f"# {d.name}\n\n" + (d / "summary.md").read_text() for d in experiment_dirs)
        )


def figure(truth_path: Path, recon_paths: dict[str, Path], title: str, out: Path) -> None:
    """The three-plane comparison figure of one test volume."""
    truth = _volume(truth_path)
    planes_figure(truth, {name: _volume(p) for name, p in recon_paths.items()}, title, out)


def runtime_plot(runtime_csv: Path, title: str, out: Path) -> None:
    runtime_figure(pd.read_csv(runtime_csv), title, out)


def sweep_plot(
    summary_csv: Path, points: list[dict[str, Any]], key: str, title: str, out: Path
) -> None:
    """PSNR against a swept key (e.g. steps: the paper's PSNR-vs-NFE figure)."""
    table = pd.read_csv(summary_csv)
    lookup = pd.DataFrame(points).rename(columns={"name": "method", "method": "base"})
    merged = table.merge(lookup, on="method").rename(columns={"psnr_mean": "psnr"})
    sweep_figure(merged, key, title, out)


def loss_plot(loss_csv: Path, title: str, out: Path) -> None:
    """A prior's training and validation loss curves, from the history its training wrote."""
    loss_figure(pd.read_csv(loss_csv), title, out)


def report(experiments: dict[Path, str], curves: Sequence[TrainingCurve], out: Path) -> None:
    """The self-contained HTML report of every reported experiment and the priors it used."""
    write_report(experiments, out, curves)
