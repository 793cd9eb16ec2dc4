"""Random training batches drawn from volumes: k-slice patches, and (input, target) slice pairs.

A patch of spacing s starting at slice i holds slices (i, i + s, ..., i + (k-1) s); starts are
drawn only where the last slice stays inside the volume, so no patch crosses a volume's end.
A slice pair is one slice of an input volume (FBP-UNet: its FBP) and the same slice of its
target volume. An optional in-plane crop trains the fully convolutional U-Nets on smaller
windows, which makes CPU training several times cheaper while inference still runs on whole
slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dblend.errors import DataFileError
from dblend.models.prior import to_network


def _check_crop(crop: int | None, volumes: Sequence[torch.Tensor]) -> None:
    smallest = min(min(v.shape[1:]) for v in volumes)
    if crop is not None and not 0 < crop <= smallest:
        raise DataFileError(f"training crop {crop} does not fit slices of size {smallest}")


def random_crop(
    images: Sequence[torch.Tensor], crop: int | None, generator: torch.Generator
) -> list[torch.Tensor]:
    """The same random ``crop`` x ``crop`` window of each image [..., H, W] (all alike)."""
    if crop is None:
        return list(images)
    height, width = images[0].shape[-2:]
    top = int(torch.randint(height - crop + 1, (1,), generator=generator))
    left = int(torch.randint(width - crop + 1, (1,), generator=generator))
    return [image[..., top : top + crop, left : left + crop] for image in images]


class PatchSampler:
    """Draws patch batches [B, k, H, W] in the network's units (``value_range``: the values of
    intensities 0 and 1) and their spacings from volumes in [0, 1]."""

    def __init__(
        self,
        volumes: Sequence[torch.Tensor],
        slices: int,
        spacings: Sequence[int],
        crop: int | None = None,
        value_range: tuple[float, float] = (-1.0, 1.0),
    ) -> None:
        self.volumes = [to_network(v.float(), value_range) for v in volumes]
        self.slices = slices
        self.crop = crop
        _check_crop(crop, self.volumes)
        self.choices = [
            (index, spacing)
            for index, volume in enumerate(self.volumes)
            for spacing in spacings
            if volume.shape[0] > (slices - 1) * spacing
        ]
        if not self.choices:
            depths = [v.shape[0] for v in self.volumes]
            raise DataFileError(
                f"no training volume (slice counts {depths}) is deep enough for a {slices}-slice "
                f"patch with spacings {list(spacings)}"
            )

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.randint(len(self.choices), (batch,), generator=generator).tolist()
        patches, spacings = [], []
        for pick in picks:
            index, spacing = self.choices[pick]
            volume = self.volumes[index]
            last_start = volume.shape[0] - 1 - (self.slices - 1) * spacing
            start = int(torch.randint(last_start + 1, (1,), generator=generator))
            patch = volume[start : start + (self.slices - 1) * spacing + 1 : spacing]
            patches += random_crop([patch], self.crop, generator)
            spacings.append(spacing)
        return torch.stack(patches), torch.tensor(spacings)


class SlicePairSampler:
    """Draws (input, target) slice batches [B, 1, H, W] in [-1, 1] from paired volumes in [0, 1].

    Every input volume has a target volume of its shape; a pair is the same slice (and the same
    crop) of both.
    """

    def __init__(
        self,
        inputs: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        crop: int | None = None,
    ) -> None:
        if [tuple(v.shape) for v in inputs] != [tuple(v.shape) for v in targets]:
            raise DataFileError(
                "input and target volumes differ in shape: "
                f"{[tuple(v.shape) for v in inputs]} vs {[tuple(v.shape) for v in targets]}"
            )
        if not inputs:
            raise DataFileError("no training volumes for slice pairs")
        self.inputs = torch.cat([v.float() for v in inputs]) * 2.0 - 1.0
        self.targets = torch.cat([v.float() for v in targets]) * 2.0 - 1.0
        self.crop = crop
        _check_crop(crop, inputs)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        picks = torch.randint(self.inputs.shape[0], (batch,), generator=generator).tolist()
        pairs = [
            random_crop([self.inputs[pick, None], self.targets[pick, None]], self.crop, generator)
            for pick in picks
        ]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
