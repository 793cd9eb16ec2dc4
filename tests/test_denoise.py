"""Gathering patches and scattering their estimates back: each slice gets the estimates of
exactly the patches that keep it, from the channel that holds it."""

from __future__ import annotations

import pytest
import torch

from dblend.recon.denoise import VolumeDenoiser
from dblend.recon.partitions import adjacent_tiling, jump_tiling, single_slices, sliding_windows


class EchoPrior(torch.nn.Module):
    """Each patch's own input plus 10 x its spacing, so every estimate shows where it came from."""

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, spacing: torch.Tensor) -> torch.Tensor:
        return x_t + 10.0 * spacing.view(-1, 1, 1, 1).to(x_t.dtype)


@pytest.mark.parametrize(
    "patches",
    [
        single_slices(13),
        adjacent_tiling(13, 3, 1),
        jump_tiling(13, 3, 3),
        sliding_windows(13, 3, 2),
    ],
    ids=["single", "adjacent", "jump", "windows"],
)
def test_each_slice_gets_its_own_estimates(patches):
    x_t = torch.randn(13, 4, 4, generator=torch.Generator().manual_seed(0))
    denoiser = VolumeDenoiser(EchoPrior(), batch_size=2, precision="fp32")
    eps = denoiser.epsilon(x_t, 500.0, patches)
    spacings: dict[int, list[int]] = {z: [] for z in range(13)}
    for patch in patches:
        for z, keep in zip(patch.slices, patch.keep, strict=True):
            if keep:
                spacings[z].append(patch.spacing)
    mean_spacing = torch.tensor([sum(s) / len(s) for s in spacings.values()])
    assert torch.allclose(eps, x_t + 10.0 * mean_spacing.view(-1, 1, 1))
    assert denoiser.network_inputs == len(patches)
    assert denoiser.input_slices == sum(len(p.slices) for p in patches)
    assert denoiser.network_calls == -(-len(patches) // 2), "batches of 2"
