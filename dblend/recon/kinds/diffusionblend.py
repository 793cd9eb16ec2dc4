"""DiffusionBlend (Song et al., NeurIPS 2024): fixed overlapping adjacent windows of a 3-slice
patch prior, whose estimates are averaged per slice. The public code lost this solver; this is
the best reading of the paper, kept configurable through ``window_stride``."""

from dblend.recon.kinds.base import (
    DIFFUSION_KEYS,
    TV_KEYS,
    DiffusionKind,
    PriorNeed,
    Settings,
    shared,
)


def _windows_cover_every_slice(settings: Settings, slices: int) -> list[str]:
    stride = settings["window_stride"]
    if stride > slices:
        return [
            f"window_stride {stride} exceeds the prior's {slices}-slice window: the slices "
            "between two windows would get no estimate"
        ]
    return []


KIND = DiffusionKind(
    name="diffusionblend",
    summary="fixed overlapping adjacent windows, estimates averaged per slice",
    keys={
        **shared(*DIFFUSION_KEYS, *TV_KEYS),
        "window_stride": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "Start-to-start distance of the windows; at most the prior's slices.",
        },
    },
    required=("prior", "steps", "rho", "lam"),
    prior=PriorNeed(multi_slice=True),
    limits=_windows_cover_every_slice,
    partition="sliding_windows",
    sampler="ddim",
    consistency="admm_tv_z",
)
