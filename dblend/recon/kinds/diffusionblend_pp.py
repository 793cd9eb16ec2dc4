"""DiffusionBlend++ (Song et al., NeurIPS 2024): adjacent triplets tiled from a random offset
redrawn every step, and every ``jump_every``-th step strided "jump" triplets (spacing
``jump_spacing``), so that every slice gets exactly one estimate per step."""

from dblend.recon.kinds.base import (
    DIFFUSION_KEYS,
    TV_KEYS,
    DiffusionKind,
    PriorNeed,
    Settings,
    shared,
)


def _spacings(settings: Settings) -> frozenset[int]:
    return frozenset({1, settings["jump_spacing"]})


KIND = DiffusionKind(
    name="diffusionblend_pp",
    summary=(
        "random-offset adjacent triplets, and jump triplets every `jump_every`-th step (0 = never)"
    ),
    keys={
        **shared(*DIFFUSION_KEYS, *TV_KEYS),
        "jump_every": {
            "type": "integer",
            "minimum": 0,
            "default": 2,
            "description": "Every n-th step uses jump patches (the jump frequency); 0 = never.",
        },
        "jump_spacing": {
            "type": "integer",
            "minimum": 2,
            "default": 3,
            "description": "Slice spacing of the jump patches.",
        },
        "adjacent_shift": {
            "type": "boolean",
            "default": True,
            "description": "Redraw the offset of the adjacent tiling every step (else offset 0).",
        },
    },
    required=("prior", "steps", "rho", "lam"),
    prior=PriorNeed(multi_slice=True, spacings=_spacings),
    partition="adjacent_and_jump",
    sampler="ddim",
    consistency="admm_tv_z",
)
