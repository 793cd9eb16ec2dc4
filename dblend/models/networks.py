"""Score networks: diffusers' UNet2DModel built from a size described in config.

A network entry names per-level channels, which levels attend, blocks per level and the norm
groups; the same builder makes the CI-sized, the CPU-demo-sized and the paper-sized (ADM-like:
256 base channels, multipliers 1,1,2,2,4,4, attention at 32/16/8, scale-shift norm) U-Nets.

``layout`` picks how the levels are joined:
- ``diffusers``: UNet2DModel's own blocks: a strided convolution down, nearest-neighbour plus a
  convolution up, and (diffusers' choice under scale-shift norm) no GroupNorm before the middle
  attention.
- ``adm``: guided-diffusion's ADM with ``resblock_updown``: a residual block that average-pools
  (down) or nearest-upsamples (up) inside it, and a GroupNorm before every attention, the middle
  one included. Only this layout holds ADM checkpoints (``dblend.models.adm``).
"""

from __future__ import annotations

from typing import Any

from diffusers import UNet2DModel

from dblend.errors import ConfigError
from dblend.models.shape import check_network

LAYOUTS = ("diffusers", "adm")


def unet_config(
    network: dict[str, Any],
    image_size: int,
    in_channels: int,
    num_classes: int | None,
    out_channels: int | None = None,
) -> dict[str, Any]:
    """UNet2DModel's keyword arguments for a network entry (``out_channels`` defaults to in)."""
    check_network(network, "networks", {"image size": image_size})
    channels = list(network["channels"])
    attention = list(network["attention"])
    layout = network.get("layout", "diffusers")
    if layout not in LAYOUTS:
        raise ConfigError(f"networks: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    adm = layout == "adm"
    plain_down, plain_up = ("ResnetDownsampleBlock2D", "ResnetUpsampleBlock2D")
    if not adm:
        plain_down, plain_up = ("DownBlock2D", "UpBlock2D")
    config = {
        "sample_size": image_size,
        "in_channels": in_channels,
        "out_channels": out_channels or in_channels,
        "block_out_channels": tuple(channels),
        "layers_per_block": int(network["layers_per_block"]),
        "down_block_types": tuple("AttnDownBlock2D" if a else plain_down for a in attention),
        "up_block_types": tuple("AttnUpBlock2D" if a else plain_up for a in reversed(attention)),
        "norm_num_groups": int(network["norm_groups"]),
        "attention_head_dim": int(network["attention_head_dim"]),
        "dropout": float(network["dropout"]),
        "resnet_time_scale_shift": "scale_shift" if network["scale_shift"] else "default",
        "num_class_embeds": num_classes,
    }
    if adm:
        config |= {
            "flip_sin_to_cos": True,  # ADM's sinusoid: [cos, sin], frequencies 1e4^(-i/half)
            "freq_shift": 0,
            "downsample_type": "resnet",
            "upsample_type": "resnet",
            "attn_norm_num_groups": int(network["norm_groups"]),
        }
    return config


def build_unet(
    network: dict[str, Any],
    image_size: int,
    in_channels: int,
    num_classes: int | None,
    out_channels: int | None = None,
) -> UNet2DModel:
    """A U-Net mapping ``in_channels`` noisy slices (+ optional class label) to epsilons."""
    return UNet2DModel(**unet_config(network, image_size, in_channels, num_classes, out_channels))
