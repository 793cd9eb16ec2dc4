"""DDS (Chung, Lee, Ye, ICLR 2024): every slice alone through a 1-slice prior, and on each
step's Tweedie estimate one ADMM iteration with TV along z (the "3D" DDS of the paper)."""

from dblend.recon.kinds.base import DIFFUSION_KEYS, TV_KEYS, DiffusionKind, shared

KIND = DiffusionKind(
    name="dds",
    summary="every slice alone through a 1-slice prior, ADMM-TV-z",
    keys=shared(*DIFFUSION_KEYS, *TV_KEYS),
    required=("prior", "steps", "rho", "lam"),
    partition="single_slices",
    sampler="ddim",
    consistency="admm_tv_z",
)
