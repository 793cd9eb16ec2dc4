"""FBP-UNet (FBPConvNet; Jin, McCann, Froustey, Unser, IEEE TIP 2017): FBP slice -> true slice.

A supervised 2D U-Net, one per data set and task, with a residual connection: its output is the
input FBP slice plus the network's correction, in the network's [-1, 1] units. The network is
diffusers' UNet2DModel built from a ``networks`` entry (one input and one output channel, no
class labels) by the same builder as the priors. It is not a diffusion model: its timestep
input is always 0, so its time embedding is one learned constant bias per block.

Reference settings are dival's FBPUNetReconstructor: Hann-filtered FBP input, 5 scales
(channels 32, 32, 64, 64, 128), Adam, cosine learning-rate decay, MSE loss. What differs: the
blocks are UNet2DModel's residual blocks (GroupNorm, SiLU) rather than dival's double
convolutions with BatchNorm and LeakyReLU; its skips concatenate all channels (dival squeezes
them to 4); the output is residual (FBPConvNet) with no sigmoid; and the kept weights are the
last (or their EMA) rather than those of the epoch with the best validation PSNR.

A checkpoint records the geometry and noise model of the task it was trained for, and a model
trained for another task or geometry is refused when loaded.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dblend.errors import DataFileError
from dblend.models.checkpoint import read_checkpoint, spec_differences
from dblend.models.networks import build_unet
from dblend.models.speed import autocast
from dblend.physics.geometry import geometry_from_dict

FBPUNET_FORMAT = "dblend-fbpunet/1"


@dataclass(frozen=True)
class FbpUNetSpec:
    """The network and its input: what fixes an FBP-UNet's architecture and meaning."""

    network: dict[str, Any]
    image_size: int
    filter: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def trained_task(geometry: dict[str, Any], noise: dict[str, Any]) -> dict[str, Any]:
    """What an FBP-UNet is specific to: the acquisition geometry and the noise model."""
    return {"geometry": geometry, "noise": noise}


class FbpUNet(nn.Module):
    """x + U-Net(x) on FBP slices [B, 1, H, W] in [-1, 1]."""

    def __init__(self, spec: FbpUNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.unet = build_unet(spec.network, spec.image_size, in_channels=1, num_classes=None)

    def forward(self, fbp: torch.Tensor) -> torch.Tensor:
        timesteps = torch.zeros(fbp.shape[0], dtype=torch.long, device=fbp.device)
        return fbp + self.unet(fbp, timesteps).sample

    @torch.no_grad()
    def reconstruct(self, fbp: torch.Tensor, batch_size: int, precision: str) -> torch.Tensor:
        """Apply the network slice by slice, in batches of ``batch_size`` and in ``precision``
        (dblend/models/speed.py), to an FBP volume [Z, H, W] in [0, 1]."""
        device = next(self.parameters()).device
        slices = []
        for start in range(0, fbp.shape[0], batch_size):
            batch = fbp[start : start + batch_size, None].to(device) * 2.0 - 1.0
            with autocast(precision, device):
                slices.append(self(batch).float()[:, 0])
        return (torch.cat(slices) + 1.0) / 2.0


def _task_summary(task: dict[str, Any]) -> str:
    noise = task["noise"]
    if noise["model"] == "none":
        words = "noise-free"
    else:
        words = f"Poisson noise, I0 {noise['incident_counts']:g}, mu {noise['attenuation']:g}"
    return f"{geometry_from_dict(task['geometry']).summary()}, {words}"


def _check_task(path: str | os.PathLike, trained: dict[str, Any], given: dict[str, Any]) -> None:
    if spec_differences(given, trained):
        raise DataFileError(
            f"{path}: this FBP-UNet was trained for another task ({_task_summary(trained)}); "
            f"the sinogram is {_task_summary(given)}. Train one for this task and geometry"
        )


def load_fbpunet(
    path: str | os.PathLike, spec: FbpUNetSpec, task: dict[str, Any], device: torch.device
) -> FbpUNet:
    """The trained FBP-UNet of ``path``, refused unless made for this spec and this task."""
    state = read_checkpoint(path, FBPUNET_FORMAT)
    differences = spec_differences(spec.to_dict(), state["spec"])
    if differences:
        raise DataFileError(
            f"{path}: FBP-UNet was trained for another config:\n  " + "\n  ".join(differences)
        )
    _check_task(path, state["task"], task)
    model = FbpUNet(spec)
    model.load_state_dict(state["ema_weights"])
    return model.to(device).eval()
