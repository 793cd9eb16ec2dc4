"""Image quality of a reconstruction against its truth, per viewing plane and per volume.

Axial slices are volume[z], coronal volume[:, y], sagittal volume[:, :, x]. Every plane gets a
PSNR and an SSIM, and the whole volume its own PSNR and 3D SSIM. Published codes score in
different ways, so how is a named convention (config ``evaluation.convention``), and every table
says which one made it:

- ``anatomy`` (the default): both volumes clipped to [0, 1] (the HU window), data range 1; a
  plane's PSNR and SSIM are means over the slices that hold anatomy in the truth (at least
  ``anatomy_fraction`` of their pixels above ``anatomy_threshold``), the same slices for every
  method. Slices of air score tens of dB or perfect, whatever the method, so averaging them in
  measures the share of air in a plane, not the reconstruction.
- ``tpdm`` (TPDM's code): clipped to [0, 1], data range 1; one PSNR per plane over its whole stack
  of slices (the same voxels in every plane, so the same number), SSIM averaged over every slice.
- ``dds`` (DDS's code): every image (each slice; the whole volume for the volume scores)
  min-max normalised to [0, 1] on its own, truth and reconstruction apart, data range 1, means
  over every slice. A constant image normalises to zeros.
- ``dm4ct`` (DM4CT's code): intensities mapped to [-1, 1] (2x - 1), not clipped, data range 2,
  means over every slice.

Identical images have no finite PSNR: every PSNR is capped at ``PSNR_CAP_DB``. A volume holding
NaN or infinity is refused, naming its file. Total variation measures over-smoothing along all
axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from skimage.metrics import structural_similarity

from dblend.errors import ConfigError, DataFileError
from dblend.io import finite_message, non_finite

PLANES = ("axial", "coronal", "sagittal")
_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}
PSNR_CAP_DB = 100.0
"""PSNR of identical images: an RMS error of 1e-5 of the data range, far below any
reconstruction's error and far above float32 rounding (about 150 dB), so only an exact copy
reaches it."""
CONVENTIONS = {
    "anatomy": "PSNR and SSIM averaged over the slices that hold anatomy in the truth; "
    "volumes clipped to [0, 1], data range 1",
    "tpdm": "one PSNR per plane over the whole stack (TPDM), SSIM averaged over every slice; "
    "volumes clipped to [0, 1], data range 1",
    "dds": "each image min-max normalised to [0, 1] on its own (DDS), PSNR and SSIM averaged "
    "over every slice; data range 1",
    "dm4ct": "intensities on [-1, 1], not clipped, data range 2 (DM4CT), PSNR and SSIM "
    "averaged over every slice",
}
"""What each convention does, in the words tables and captions use."""


def convention_note(convention: str) -> str:
    """One sentence for tables and captions: the convention's name and what it does."""
    return (
        f"Convention {convention}: {CONVENTIONS[convention]}; PSNR capped at {PSNR_CAP_DB:g} dB "
        "for identical images."
    )


@dataclass(frozen=True)
class Evaluation:
    """How reconstructions are scored; mirrors the config's ``evaluation`` section."""

    convention: str = "anatomy"
    anatomy_threshold: float = 0.05
    """Truth intensity in [0, 1] above which a pixel is anatomy, not air (-900 HU in the
    default window): under the anatomy convention only."""
    anatomy_fraction: float = 0.05
    """Share of a slice's pixels that must be anatomy for the slice to be scored."""

    def __post_init__(self) -> None:
        if self.convention not in CONVENTIONS:
            raise ConfigError(
                f"evaluation.convention: {self.convention!r} is not one of {sorted(CONVENTIONS)}"
            )
        for key in ("anatomy_threshold", "anatomy_fraction"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                raise ConfigError(f"evaluation.{key}: expected a number in [0, 1), got {value!r}")

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> Evaluation:
        """Build from the config's ``evaluation`` section, naming any unknown key."""
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"evaluation.{unknown[0]}: unknown key; expected one of {sorted(known)}"
            )
        return cls(**section)


@dataclass(frozen=True)
class PlaneScore:
    """A plane's PSNR (dB) and SSIM, and how many of its slices they were averaged over."""

    psnr: float
    ssim: float
    slices_scored: int
    slices: int


@dataclass(frozen=True)
class Scores:
    """Everything one reconstruction is scored on, under one convention."""

    convention: str
    planes: dict[str, PlaneScore]
    volume_psnr: float
    volume_ssim: float
    outside_range: float
    """Share of the reconstruction's voxels outside [0, 1] (what clipping hides, if it clips)."""


def plane_slices(volume: np.ndarray, plane: str) -> np.ndarray:
    """The slices of ``volume`` [Z, H, W] seen in ``plane``, stacked on the first axis."""
    return np.moveaxis(volume, _AXIS[plane], 0)


def psnr(truth: np.ndarray, estimate: np.ndarray, data_range: float = 1.0) -> float:
    """PSNR in dB, capped at ``PSNR_CAP_DB`` (which identical images score)."""
    mse = float(np.mean((np.asarray(truth, np.float64) - estimate) ** 2))
    if mse == 0.0:
        return PSNR_CAP_DB
    return min(PSNR_CAP_DB, 10.0 * math.log10(data_range**2 / mse))


def ssim(truth: np.ndarray, estimate: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two images or volumes (7-wide uniform window, narrower for smaller inputs)."""
    window = min(7, *truth.shape)
    window -= 1 - window % 2
    return float(structural_similarity(truth, estimate, data_range=data_range, win_size=window))


def anatomy_slices(truth: np.ndarray, plane: str, evaluation: Evaluation) -> np.ndarray:
    """Which slices of ``plane`` hold anatomy: a boolean per slice, decided on the truth alone."""
    above = plane_slices(truth, plane) > evaluation.anatomy_threshold
    return above.mean(axis=(1, 2)) >= evaluation.anatomy_fraction


def require_finite(volume: np.ndarray, source: str) -> None:
    """Refuse a volume holding NaN or infinity: it has no score, and no table cell may hide it."""
    count = non_finite(volume)
    if count:
        raise DataFileError(finite_message(source, count, volume.size))


def min_max_normalised(image: np.ndarray) -> np.ndarray:
    """``image`` mapped to [0, 1] by its own minimum and maximum (a constant image to zeros)."""
    low, high = float(image.min()), float(image.max())
    if high == low:
        return np.zeros_like(image)
    return (image - low) / (high - low)


def _intensities(volume: np.ndarray, convention: str) -> np.ndarray:
    """The volume on the intensity scale the convention scores."""
    volume = np.asarray(volume, np.float64)
    if convention in ("anatomy", "tpdm"):
        return np.clip(volume, 0.0, 1.0)
    if convention == "dm4ct":
        return 2.0 * volume - 1.0
    return volume


def _plane_score(
    truth: np.ndarray,
    estimate: np.ndarray,
    scored: np.ndarray,
    convention: str,
    data_range: float,
) -> PlaneScore:
    """Scores of one plane's stacks of slices [N, H, W], over the slices ``scored`` selects."""
    image: Callable[[np.ndarray], np.ndarray] = (
        min_max_normalised if convention == "dds" else np.asarray
    )
    pairs = [(image(t), image(e)) for t, e in zip(truth[scored], estimate[scored], strict=True)]
    if convention == "tpdm":
        plane_psnr = psnr(truth, estimate, data_range)
    else:
        plane_psnr = float(np.mean([psnr(t, e, data_range) for t, e in pairs]))
    plane_ssim = float(np.mean([ssim(t, e, data_range) for t, e in pairs]))
    return PlaneScore(plane_psnr, plane_ssim, int(scored.sum()), len(scored))


def score(
    truth: np.ndarray,
    estimate: np.ndarray,
    evaluation: Evaluation,
    sources: tuple[str, str] = ("truth", "estimate"),
) -> Scores:
    """Score ``estimate`` against ``truth`` (both [Z, H, W]) under ``evaluation``'s convention.

    ``sources`` name the two volumes (their files) in errors.
    """
    for volume, source in zip((truth, estimate), sources, strict=True):
        if volume.ndim != 3:
            raise DataFileError(f"{source}: expected a volume [Z, H, W], got shape {volume.shape}")
        require_finite(volume, source)
    if truth.shape != estimate.shape:
        raise DataFileError(
            f"{sources[1]}: shape {estimate.shape} differs from the truth's {truth.shape} "
            f"({sources[0]})"
        )
    convention = evaluation.convention
    data_range = 2.0 if convention == "dm4ct" else 1.0
    truth_scale = _intensities(truth, convention)
    estimate_scale = _intensities(estimate, convention)
    planes = {}
    for plane in PLANES:
        if convention == "anatomy":
            scored = anatomy_slices(truth, plane, evaluation)
        else:
            scored = np.ones(truth.shape[_AXIS[plane]], dtype=bool)
        if not scored.any():
            raise DataFileError(
                f"{sources[0]}: no {plane} slice holds anatomy (at least "
                f"{evaluation.anatomy_fraction:g} of its pixels above "
                f"{evaluation.anatomy_threshold:g}); nothing to score"
            )
        planes[plane] = _plane_score(
            plane_slices(truth_scale, plane),
            plane_slices(estimate_scale, plane),
            scored,
            convention,
            data_range,
        )
    if convention == "dds":
        truth_scale, estimate_scale = (
            min_max_normalised(truth_scale),
            min_max_normalised(estimate_scale),
        )
    return Scores(
        convention=convention,
        planes=planes,
        volume_psnr=psnr(truth_scale, estimate_scale, data_range),
        volume_ssim=ssim(truth_scale, estimate_scale, data_range),
        outside_range=float(np.mean((estimate < 0.0) | (estimate > 1.0))),
    )


def total_variation(volume: np.ndarray) -> float:
    """Anisotropic total variation per voxel: mean absolute forward difference over all axes."""
    volume = np.clip(volume.astype(np.float64), 0.0, 1.0)
    return float(sum(np.abs(np.diff(volume, axis=axis)).sum() for axis in range(3)) / volume.size)
