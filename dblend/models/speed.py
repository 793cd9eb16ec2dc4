"""Speed switches of the score networks: arithmetic precision, memory layout, compilation.

Each is a config key whose default leaves the numbers of the plain path as they were:
``precision`` (training and every diffusion method) is ``auto``, bf16 autocast on CUDA and fp32
elsewhere, as before the key existed; ``training.channels_last`` and ``training.compile`` are off
(so is ``training.fused_optimizer``, AdamW's fused kernel, applied where dblend/train.py makes
the optimizer). tests/test_speed.py checks on CPU that switching each on gives the same
results within float tolerance. Attention needs no switch: diffusers' attention blocks already
call torch's fused ``scaled_dot_product_attention`` (their default ``AttnProcessor2_0``; tested
too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from dblend.errors import ConfigError
from dblend.models.prior import ScorePrior

if TYPE_CHECKING:
    from dblend.models.fbpunet import FbpUNet

PRECISIONS = ("auto", "fp32", "bf16")

# torch.compile's backend for training.compile; tests swap in a cheaper one (inductor needs
# minutes of C++ compilation for a U-Net on a small CPU).
COMPILE_BACKEND = "inductor"


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``: what ``precision`` means on ``device`` (auto: bf16 on CUDA only)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The autocast context for network calls: bf16 when ``precision`` resolves to it."""
    enabled = resolve_precision(precision, device) == "bf16"
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def prepare_for_training(
    model: ScorePrior | FbpUNet, training: dict[str, Any]
) -> ScorePrior | FbpUNet:
    """Apply ``training.gradient_checkpointing``, ``channels_last`` and ``compile`` to ``model``,
    in place.

    ``nn.Module.compile`` compiles the U-Net's calls without wrapping it, so parameter names,
    state dicts and checkpoints stay those of the plain model.
    """
    if training["gradient_checkpointing"]:
        model.unet.enable_gradient_checkpointing()
    if training["channels_last"]:
        model.to(memory_format=torch.channels_last)
    if training["compile"]:
        model.unet.compile(backend=COMPILE_BACKEND)
    return model
