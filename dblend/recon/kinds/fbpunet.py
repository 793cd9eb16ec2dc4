"""FBP-UNet (FBPConvNet; Jin, McCann, Froustey, Unser, IEEE TIP 2017): a residual U-Net from the
FBP of each axial slice to the slice, trained per data set and task on the FBPs of the training
volumes' sinograms (``dblend.models.fbpunet``), applied slice by slice."""

from dblend.recon.kinds.base import LearnedKind, shared

SLICES_PER_CALL = {"description": "Slices per network call."}

KIND = LearnedKind(
    name="fbpunet",
    summary="a residual U-Net from each slice's FBP to the slice, trained per task",
    keys={
        **shared("label", "batch_size", "precision", batch_size=SLICES_PER_CALL),
        "network": {"$ref": "#/$defs/name", "description": "An entry of networks."},
        "filter": {
            "enum": ["ramp", "hann"],
            "default": "hann",
            "description": "Filter of the FBP input (dival's reference uses Hann).",
        },
        "training": {
            "$ref": "#/$defs/training",
            "description": "How the network is trained (the keys of a prior's training).",
        },
    },
    required=("network", "training"),
    algorithm="fbpunet",
)
