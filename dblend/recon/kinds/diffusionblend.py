"""DiffusionBlend (Song et al., NeurIPS 2024): fixed overlapping adjacent windows of a 3-slice
patch prior, whose estimates are averaged per slice. The public code lost this solver; this is
the best reading of the paper, kept configurable through ``window_stride``."""

from dblend.recon.kinds.base import DIFFUSION_KEYS, TV_KEYS, DiffusionKind, PriorNeed, shared

KIND = DiffusionKind(
    name="diffusionblend",
    summary="fixed overlapping adjacent windows, estimates averaged per slice",
    keys={
        **shared(*DIFFUSION_KEYS, *TV_KEYS),
        "window_stride": {
            "type": "integer",
            "minimum": 1,
            "default": 1,
            "description": "Start-to-start distance of the overlapping windows.",
        },
    },
    required=("prior", "steps", "rho", "lam"),
    prior=PriorNeed(multi_slice=True),
    partition="sliding_windows",
    sampler="ddim",
    consistency="admm_tv_z",
)
