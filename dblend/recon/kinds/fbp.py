"""FBP (FDK for cone beam): the analytic baseline, no prior."""

from dblend.recon.kinds.base import AnalyticKind, shared

KIND = AnalyticKind(
    name="fbp",
    summary="filtered backprojection (FDK for cone beam)",
    keys={
        **shared("label"),
        "filter": {
            "enum": ["ramp", "hann"],
            "default": "ramp",
            "description": "Filter window: ramp (Ram-Lak) or hann.",
        },
    },
    algorithm="fbp",
)
