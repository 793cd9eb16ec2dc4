"""Whether a network entry can be built at all, and take given image sizes, without building it.

The config is checked when it is read (before any job is planned) and again when a U-Net is
built; this module holds the one set of rules for both, and imports nothing heavy, so a dry
run stays quick.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dblend.errors import ConfigError


def downsampling(network: Mapping[str, Any]) -> int:
    """How many times the U-Net halves an image: sizes must be multiples of 2 to this power."""
    return len(network["channels"]) - 1


def check_network(
    network: Mapping[str, Any], where: str, sizes: Mapping[str, int] | None = None
) -> None:
    """Refuse a network that diffusers cannot build, or that cannot take ``sizes``.

    ``where`` names the network entry in errors; ``sizes`` maps what sets a size (a config key,
    or "image size") to the size.
    """
    channels, attention = list(network["channels"]), list(network["attention"])
    if len(attention) != len(channels):
        raise ConfigError(
            f"{where}: 'attention' has {len(attention)} entries but 'channels' has "
            f"{len(channels)}; expected one flag per level"
        )
    groups = int(network["norm_groups"])
    uneven = [c for c in channels if c % groups]
    if uneven:
        raise ConfigError(
            f"{where}: norm_groups {groups} does not divide the channels {uneven}; group "
            "normalisation needs the channels of every level to be a multiple of it"
        )
    head = int(network["attention_head_dim"])
    attending = [c for c, a in zip(channels, attention, strict=True) if a] + channels[-1:]
    if min(attending) < head:
        raise ConfigError(
            f"{where}: attention_head_dim {head} exceeds the {min(attending)} channels of an "
            "attention layer (every level marked in 'attention', and the middle block)"
        )
    factor = 1 << downsampling(network)
    for source, size in (sizes or {}).items():
        if size % factor:
            raise ConfigError(
                f"{where}: {source} {size} is not divisible by {factor} (2^{downsampling(network)}"
                f"), which the network's {len(channels)} U-Net levels need"
            )
