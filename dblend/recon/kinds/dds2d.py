"""DDS 2D: DDS without the z-TV, each slice its own 2D problem (CG on the data term per slice)."""

from dblend.recon.kinds.base import DIFFUSION_KEYS, DiffusionKind, shared

KIND = DiffusionKind(
    name="dds2d",
    summary="as DDS, CG on the data term only, each slice its own problem",
    keys=shared(*DIFFUSION_KEYS),
    required=("prior", "steps"),
    partition="single_slices",
    sampler="ddim",
    consistency="data_cg",
)
