"""TPDM (Lee, Chung, Park, Park, Ryu, Ye, ICCV 2023): the axial slice prior with a data step,
alternating with unconditional steps of an auxiliary prior trained on perpendicular (coronal)
slices, run on the permuted volume; K chooses the alternation (``dblend.recon.tpdm``).

TPDM's public code runs a VE-SDE predictor-corrector sampler with a DPS data step (a gradient
step on ||A x0(x_t) - y|| through the network). Here, on VP priors, each step is a DDS-type
step: one network evaluation, the Tweedie estimate, on primary steps CG on the data term (no
TV: TPDM has none; the auxiliary prior regularises along z), then DDS's re-noising. So a step
costs one network evaluation where TPDM's costs two, there is no DPS weight, and the last step
is always primary (TPDM's code ends on whichever prior its count gives)."""

from dblend.recon.kinds.base import DIFFUSION_KEYS, DiffusionKind, PriorNeed, shared

KIND = DiffusionKind(
    name="tpdm",
    summary=(
        "the axial slice prior with a data step (CG, no TV), alternating by `K` with "
        "unconditional steps of a coronal prior on the permuted volume"
    ),
    keys={
        **shared(*DIFFUSION_KEYS),
        "auxiliary_prior": {
            "$ref": "#/$defs/name",
            "description": "An entry of priors: the 1-slice coronal prior of the auxiliary steps.",
        },
        "K": {
            "anyOf": [
                {"type": "integer", "minimum": 2},
                {"type": "number", "exclusiveMinimum": 1},
            ],
            "default": 2,
            "description": (
                "Integer: K - 1 primary steps, then one auxiliary. Float: each step primary "
                "with probability 1 - 1/K."
            ),
        },
    },
    required=("prior", "auxiliary_prior", "steps"),
    auxiliary_prior=PriorNeed(multi_slice=False, plane="coronal"),
    partition="single_slices",
    sampler="tpdm",
    consistency="data_cg",
)
