"""Slices perpendicular to the axial ones, for TPDM's auxiliary prior, fitted to its network.

A volume [Z, H, W] seen as coronal slices is [H, Z, W]: H images of Z x W. The swap is its own
inverse. The auxiliary prior is trained at the volumes' width W (square S x S images, S = W),
so a depth Z other than W is fitted, as the prior's ``depth`` key says, the same way in
training and in sampling:

- ``pad``: a volume thinner than S is reflect-padded along z to S, centred (its mirrored ends
  stand in for the missing slices); a thicker one is seen through S-slice windows in training
  (random crops) and whole in sampling (the U-Net is fully convolutional), reflect-padded to a
  multiple of the U-Net's downsampling factor. Padded rows are dropped after the network.
- ``resample``: every coronal slice is linearly resampled along z to S rows. In sampling this
  resamples the noisy volume, which lowers the noise between original rows (the network sees
  slightly less noise than its timestep says), and the clean estimate is resampled back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from dblend.errors import DataFileError

DEPTH_MODES = ("pad", "resample")


def swap_axial_coronal(x: torch.Tensor) -> torch.Tensor:
    """[Z, H, W] -> [H, Z, W] (axial slices -> coronal slices), and back: its own inverse."""
    return x.transpose(0, 1)


def pad_rows(stack: torch.Tensor, rows: int) -> tuple[torch.Tensor, int]:
    """Reflect-pad the rows of [N, R, W] images to ``rows`` (centred); also the first row kept."""
    have = stack.shape[1]
    top = (rows - have) // 2
    bottom = rows - have - top
    if max(top, bottom) >= have:
        raise DataFileError(
            f"a volume of {have} slices is too thin to reflect-pad to {rows} rows for the "
            "perpendicular prior; use depth: resample"
        )
    padded = F.pad(stack[:, None], (0, 0, top, bottom), mode="reflect")[:, 0]
    return padded, top


def resample_rows(stack: torch.Tensor, rows: int) -> torch.Tensor:
    """Linear resampling of the rows of [N, R, W] images to ``rows`` (end rows kept)."""
    if stack.shape[1] == rows:
        return stack
    resized = F.interpolate(
        stack[:, None], size=(rows, stack.shape[2]), mode="bilinear", align_corners=True
    )
    return resized[:, 0]


def coronal_training_slices(volume: torch.Tensor, size: int, depth: str) -> torch.Tensor:
    """The coronal slices [W, Z', W] of a volume [Z, W, W] for training at size S = ``size``.

    Z' is S, except with ``pad`` for Z > S, where training crops S-row windows.
    """
    stack = swap_axial_coronal(volume)
    if depth == "resample":
        return resample_rows(stack, size)
    if depth != "pad":
        raise ValueError(f"unknown depth mode {depth!r}; expected one of {DEPTH_MODES}")
    return pad_rows(stack, size)[0] if stack.shape[1] < size else stack


def sampling_rows(depth: int, size: int, multiple: int) -> int:
    """Rows the network sees for a volume of ``depth`` slices under ``pad``: S if the volume
    is thinner, else the depth rounded up to the U-Net's ``multiple``."""
    return size if depth < size else math.ceil(depth / multiple) * multiple
