"""Score networks: diffusers' UNet2DModel built from a size described in config.

A network entry names per-level channels, which levels attend, blocks per level and the norm
groups; the same builder makes the CI-sized, the CPU-demo-sized and the paper-sized (ADM-like:
256 base channels, multipliers 1,1,2,2,4,4, attention at 32/16/8, scale-shift norm) U-Nets.
"""

from __future__ import annotations

from typing import Any

from diffusers import UNet2DModel

from dblend.models.shape import check_network


def build_unet(
    network: dict[str, Any], image_size: int, in_channels: int, num_classes: int | None
) -> UNet2DModel:
    """A U-Net mapping ``in_channels`` noisy slices (+ optional class label) to as many epsilons."""
    check_network(network, "networks", {"image size": image_size})
    channels = list(network["channels"])
    attention = list(network["attention"])
    return UNet2DModel(
        sample_size=image_size,
        in_channels=in_channels,
        out_channels=in_channels,
        block_out_channels=tuple(channels),
        layers_per_block=int(network["layers_per_block"]),
        down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attention),
        up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)),
        norm_num_groups=int(network["norm_groups"]),
        attention_head_dim=int(network["attention_head_dim"]),
        dropout=float(network["dropout"]),
        resnet_time_scale_shift="scale_shift" if network["scale_shift"] else "default",
        num_class_embeds=num_classes,
    )
