"""Random k-slice training patches: a volume, a spacing and a start that fit inside it.

A patch of spacing s starting at slice i holds slices (i, i + s, ..., i + (k-1) s); starts are
drawn only where the last slice stays inside the volume, so no patch crosses a volume's end.
An optional in-plane crop trains the fully convolutional U-Net on smaller windows, which makes
CPU training several times cheaper while sampling still runs on whole slices.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dblend.errors import DataFileError
from dblend.models.prior import to_network


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
        smallest = min(min(v.shape[1:]) for v in self.volumes)
        if crop is not None and not 0 < crop <= smallest:
            raise DataFileError(f"training crop {crop} does not fit slices of size {smallest}")
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
            patches.append(self._crop(patch, generator))
            spacings.append(spacing)
        return torch.stack(patches), torch.tensor(spacings)

    def _crop(self, patch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop is None:
            return patch
        top = int(torch.randint(patch.shape[1] - self.crop + 1, (1,), generator=generator))
        left = int(torch.randint(patch.shape[2] - self.crop + 1, (1,), generator=generator))
        return patch[:, top : top + self.crop, left : left + self.crop]
