"""The one prior interface: epsilon(x_t, t, spacing) for a batch of k-slice patches.

k = 3 with spacings {1, 3} is DiffusionBlend's position-aware 3D-patch prior: the slices of a
patch are the channels of a 2D U-Net, and the spacing between them is a class label whose
embedding is added to the timestep embedding. k = 1 is the 2D slice prior of the baselines.
A prior's ``plane`` says which slices it learnt: axial (every prior but one), or coronal for
TPDM's auxiliary prior, whose volumes' depth is fitted to the network as ``depth`` says
(``dblend.perpendicular``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dblend.errors import ConfigError
from dblend.models.networks import build_unet

# Network keys added after priors were first saved, with the value those priors were built with,
# so a checkpoint written before a key existed still matches a config that states the default.
NETWORK_DEFAULTS = {"layout": "diffusers"}


def to_network(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Intensities in [0, 1] in a network's units (``value_range``: its values of 0 and 1)."""
    low, high = value_range
    return low + (high - low) * x


def to_unit(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """A network's values as intensities in [0, 1]."""
    low, high = value_range
    return (x - low) / (high - low)


@dataclass(frozen=True)
class PriorSpec:
    """Everything that fixes a prior's architecture; a checkpoint must match it exactly."""

    slices: int
    spacings: tuple[int, ...]
    image_size: int
    network: dict[str, Any]
    value_range: tuple[float, float] = (-1.0, 1.0)
    """The network's values of the intensities 0 and 1 (DDS's published prior: 0 and 1)."""
    plane: str = "axial"
    depth: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", {**NETWORK_DEFAULTS, **self.network})
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))

    @classmethod
    def from_config(
        cls, prior: dict[str, Any], network: dict[str, Any], image_size: int
    ) -> PriorSpec:
        spacings = tuple(int(s) for s in prior["spacings"])
        if prior["slices"] == 1 and spacings != (1,):
            raise ConfigError(f"priors: a 1-slice prior takes spacings [1], got {list(spacings)}")
        value_range = prior.get("value_range", cls.value_range)
        plane = prior.get("plane", "axial")
        depth = prior.get("depth", "pad") if plane == "coronal" else None
        slices, size = int(prior["slices"]), int(image_size)
        return cls(slices, spacings, size, dict(network), value_range, plane, depth)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PriorSpec:
        """A spec as saved; one saved before value_range (or plane) existed had the default."""
        value_range = data.get("value_range", cls.value_range)
        spacings = tuple(data["spacings"])
        return cls(
            data["slices"],
            spacings,
            data["image_size"],
            data["network"],
            value_range,
            data.get("plane", "axial"),
            data.get("depth"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "spacings": list(self.spacings),
            "value_range": list(self.value_range),
        }

    @property
    def labelled(self) -> bool:
        """Whether the network is told the spacing (only when there is more than one)."""
        return len(self.spacings) > 1


class ScorePrior(nn.Module):
    """epsilon_theta(x_t, t, spacing) on patches [B, k, H, W] in the network's units."""

    def __init__(self, spec: PriorSpec) -> None:
        super().__init__()
        self.spec = spec
        classes = len(spec.spacings) if spec.labelled else None
        self.unet = build_unet(spec.network, spec.image_size, spec.slices, classes)
        self.register_buffer("_spacings", torch.tensor(spec.spacings), persistent=False)

    def spacing_labels(self, spacing: torch.Tensor) -> torch.Tensor:
        """Class indices of spacing values; refuses spacings the prior was not trained on."""
        matches = spacing.view(-1, 1).to(self._spacings.device) == self._spacings.view(1, -1)
        if not bool(matches.any(dim=1).all()):
            unknown = sorted(set(spacing.tolist()) - set(self.spec.spacings))
            raise ValueError(
                f"spacings {unknown} unknown to this prior ({list(self.spec.spacings)})"
            )
        return matches.float().argmax(dim=1)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, spacing: torch.Tensor) -> torch.Tensor:
        labels = self.spacing_labels(spacing) if self.spec.labelled else None
        return self.unet(x_t, t, class_labels=labels).sample
