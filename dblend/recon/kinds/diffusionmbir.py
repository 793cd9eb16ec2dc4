"""DiffusionMBIR (Chung, Ryu, Ye, CVPR 2023): a 2D prior's predictor-corrector sampler with one
ADMM-TV-z update (1 CG iteration) after each predictor + corrector step."""

from dblend.recon.kinds.base import TV_KEYS, DiffusionKind, shared

KIND = DiffusionKind(
    name="diffusionmbir",
    summary=(
        "predictor-corrector (ancestral predictor + Langevin corrector), then one ADMM-TV-z "
        "update per step"
    ),
    keys={
        **shared(
            *("label", "prior", "steps", "cg_iters", "batch_size", "precision", *TV_KEYS),
            cg_iters={"default": 1},
        ),
        "snr": {
            "type": "number",
            "exclusiveMinimum": 0,
            "default": 0.16,
            "description": "Signal-to-noise ratio of the Langevin corrector's step size.",
        },
    },
    required=("prior", "steps", "rho", "lam"),
    partition="single_slices",
    sampler="predictor_corrector",
    consistency="admm_tv_z",
)
