"""guided-diffusion (ADM) state dicts as diffusers' UNet2DModel weights, tensor for tensor.

OpenAI's ADM checkpoints (``256x256_diffusion_uncond.pt``, DDS's AAPM prior) are plain state
dicts of guided-diffusion's ``UNetModel``. With the ``adm`` network layout
(``dblend.models.networks``) UNet2DModel computes the same function, module for module:

- timestep embedding: ADM's sinusoid is [cos, sin] with frequencies exp(-ln(10^4) i / half),
  which is UNet2DModel's ``flip_sin_to_cos=True, freq_shift=0`` (its defaults); the two linear
  layers are ``time_embed.0/2``;
- class embedding: ADM adds ``label_emb(y)`` to the time embedding, as UNet2DModel's
  ``num_class_embeds`` does;
- residual blocks with scale-shift norm (``resnet_time_scale_shift="scale_shift"``) and ADM's
  ``resblock_updown`` (residual blocks that average-pool or nearest-upsample inside);
- attention: ADM's ``qkv`` 1x1 convolution is split into diffusers' ``to_q/to_k/to_v`` linear
  layers. Heads have a fixed width (``num_head_channels``, 64 in both checkpoints), which is
  UNet2DModel's ``attention_head_dim``. Checkpoints trained with ``use_new_attention_order=False``
  (both of the above) store the rows head by head as [q, k, v] ("legacy" order); with True as
  [all q, all k, all v] ("new"). Shapes cannot tell the two apart, so the order is stated.

What UNet2DModel cannot express is refused or left out: a fixed number of heads of varying
width per level (``num_heads`` without ``num_head_channels``), strided-convolution resampling
(``resblock_updown=False``) together with a GroupNorm'd middle attention, and anything beyond
2D. Two details no tensor shape shows must be stated right in the network entry: the head width
(``attention_head_dim``, ADM's ``num_head_channels``) and the 32 GroupNorm groups ADM always
uses (``norm_groups: 32``, checked). Every tensor of the checkpoint must be used and every weight
of the network filled; otherwise :class:`CheckpointMismatch` lists each differing name and shape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from dblend.errors import ConfigError, DataFileError

ATTENTION_ORDERS = ("legacy", "new")
ADM_NORM_GROUPS = 32  # guided-diffusion's normalization(): GroupNorm32(32, channels)


class CheckpointMismatch(DataFileError):
    """A checkpoint's tensors do not fit the stated architecture; the message lists each one."""


@dataclass(frozen=True)
class Rule:
    """One ADM tensor and the diffusers tensors it becomes."""

    source: str
    targets: tuple[str, ...]
    kind: str  # "copy", "conv1x1" (a 1x1 conv1d as a linear layer) or "qkv"


def _resblock(old: str, new: str) -> Iterator[tuple[str, str]]:
    yield f"{old}.in_layers.0", f"{new}.norm1"
    yield f"{old}.in_layers.2", f"{new}.conv1"
    yield f"{old}.emb_layers.1", f"{new}.time_emb_proj"
    yield f"{old}.out_layers.0", f"{new}.norm2"
    yield f"{old}.out_layers.3", f"{new}.conv2"
    yield f"{old}.skip_connection", f"{new}.conv_shortcut"


def _attention(old: str, new: str) -> Iterator[Rule]:
    for param in ("weight", "bias"):
        yield Rule(f"{old}.norm.{param}", (f"{new}.group_norm.{param}",), "copy")
        qkv = tuple(f"{new}.to_{x}.{param}" for x in "qkv")
        yield Rule(f"{old}.qkv.{param}", qkv, "qkv")
        yield Rule(f"{old}.proj_out.{param}", (f"{new}.to_out.0.{param}",), "conv1x1")


def _copies(pairs: Iterator[tuple[str, str]]) -> Iterator[Rule]:
    for old, new in pairs:
        for param in ("weight", "bias"):
            yield Rule(f"{old}.{param}", (f"{new}.{param}",), "copy")


def mapping(config: dict[str, Any]) -> list[Rule]:
    """Every ADM tensor name of a network with UNet2DModel keyword arguments ``config``."""
    levels = len(config["block_out_channels"])
    layers = config["layers_per_block"]
    attends = [kind.startswith("Attn") for kind in config["down_block_types"]]
    modules: list[tuple[str, str]] = [
        ("time_embed.0", "time_embedding.linear_1"),
        ("time_embed.2", "time_embedding.linear_2"),
        ("input_blocks.0.0", "conv_in"),
        ("out.0", "conv_norm_out"),
        ("out.2", "conv_out"),
    ]
    attentions: list[tuple[str, str]] = [("middle_block.1", "mid_block.attentions.0")]
    modules += _resblock("middle_block.0", "mid_block.resnets.0")
    modules += _resblock("middle_block.2", "mid_block.resnets.1")
    block = 1  # ADM's input_blocks: [resblock (, attention)] per layer, then a down resblock
    for level in range(levels):
        new = f"down_blocks.{level}"
        for j in range(layers):
            modules += _resblock(f"input_blocks.{block}.0", f"{new}.resnets.{j}")
            if attends[level]:
                attentions.append((f"input_blocks.{block}.1", f"{new}.attentions.{j}"))
            block += 1
        if level < levels - 1:
            modules += _resblock(f"input_blocks.{block}.0", f"{new}.downsamplers.0")
            block += 1
    block = 0  # output_blocks: resblock (, attention) (, up resblock after a level's last layer)
    for up, level in enumerate(reversed(range(levels))):
        new = f"up_blocks.{up}"
        for j in range(layers + 1):
            modules += _resblock(f"output_blocks.{block}.0", f"{new}.resnets.{j}")
            if attends[level]:
                attentions.append((f"output_blocks.{block}.1", f"{new}.attentions.{j}"))
            if j == layers and level > 0:
                index = 2 if attends[level] else 1
                modules += _resblock(f"output_blocks.{block}.{index}", f"{new}.upsamplers.0")
            block += 1
    rules = list(_copies(iter(modules)))
    for old, new in attentions:
        rules += _attention(old, new)
    if config.get("num_class_embeds") is not None:
        rules.append(Rule("label_emb.weight", ("class_embedding.weight",), "copy"))
    return rules


def _source_shape(rule: Rule, shapes: dict[str, torch.Size]) -> tuple[int, ...] | None:
    """The shape ADM stores for ``rule`` given the network's shapes, None if it has no such."""
    if any(t not in shapes for t in rule.targets):
        return None
    first = tuple(shapes[rule.targets[0]])
    if rule.kind == "copy":
        return first
    if rule.kind == "conv1x1":
        return (*first, 1) if len(first) == 2 else first
    rows = 3 * first[0]
    return (rows, first[1], 1) if len(first) == 2 else (rows,)


def _split_qkv(tensor: torch.Tensor, width: int, heads: int, order: str) -> list[torch.Tensor]:
    """ADM's fused qkv rows as separate q, k, v (each [heads * width, ...], head-major)."""
    rest = tensor.shape[1:]
    if order == "legacy":
        grouped = tensor.reshape(heads, 3, width, *rest).transpose(0, 1)
    else:
        grouped = tensor.reshape(3, heads, width, *rest)
    return [part.reshape(heads * width, *rest) for part in grouped]


def convert(
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    shapes: dict[str, torch.Size],
    attention_order: str = "legacy",
    where: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """UNet2DModel weights (``shapes``: its state dict's shapes) from an ADM state dict.

    Refuses, listing every name and shape, a checkpoint with a tensor missing, left over or of
    another shape; nothing is dropped or filled silently.
    """
    if attention_order not in ATTENTION_ORDERS:
        raise ValueError(f"attention_order must be one of {ATTENTION_ORDERS}")
    if config["norm_num_groups"] != ADM_NORM_GROUPS or not config.get("attn_norm_num_groups"):
        raise ConfigError(
            f"{where}: an ADM checkpoint needs a network with layout 'adm' and norm_groups "
            f"{ADM_NORM_GROUPS} (its GroupNorms always have {ADM_NORM_GROUPS} groups)"
        )
    rules = [r for r in mapping(config) if _source_shape(r, shapes) is not None]
    width = config["attention_head_dim"]
    problems = []
    expected = {rule.source: _source_shape(rule, shapes) for rule in rules}
    for name, shape in expected.items():
        if name not in state:
            problems.append(f"missing {name} {list(shape)}")
        elif tuple(state[name].shape) != shape:
            found = list(state[name].shape)
            problems.append(f"{name}: checkpoint has {found}, expected {list(shape)}")
    for name in sorted(set(state) - set(expected)):
        problems.append(f"unexpected {name} {list(state[name].shape)}")
    covered = {t for r in rules for t in r.targets}
    for name in sorted(set(shapes) - covered):
        problems.append(f"network weight {name} {list(shapes[name])} has no ADM counterpart")
    if problems:
        raise CheckpointMismatch(
            f"{where}: its tensors do not fit the stated ADM network "
            f"({len(problems)} differences):\n  " + "\n  ".join(problems)
        )
    weights: dict[str, torch.Tensor] = {}
    for rule in rules:
        tensor = state[rule.source].float()
        if rule.kind == "qkv":
            parts = _split_qkv(tensor, width, tensor.shape[0] // (3 * width), attention_order)
            parts = [p.reshape(shapes[t]) for p, t in zip(parts, rule.targets, strict=True)]
        else:
            parts = [tensor.reshape(shapes[rule.targets[0]])]
        weights.update(zip(rule.targets, (p.contiguous() for p in parts), strict=True))
    return weights


def guided_diffusion_arguments(
    network: dict[str, Any],
    in_channels: int,
    out_channels: int,
    num_classes: int | None = None,
    attention_order: str = "legacy",
) -> dict[str, Any]:
    """guided-diffusion ``UNetModel`` keyword arguments of the ADM a network entry describes.

    The inverse of what a checkpoint must match: ``channels`` are ``model_channels`` times
    ``channel_mult``, attention sits at the downsampling rates 2^level of the attending levels,
    heads are ``attention_head_dim`` wide, residual blocks resample, scale-shift norm as stated.
    """
    base = network["channels"][0]
    return {
        "image_size": 256,  # unused by the network itself
        "in_channels": in_channels,
        "model_channels": base,
        "out_channels": out_channels,
        "num_res_blocks": network["layers_per_block"],
        "attention_resolutions": tuple(2**i for i, a in enumerate(network["attention"]) if a),
        "dropout": network["dropout"],
        "channel_mult": tuple(c // base for c in network["channels"]),
        "num_classes": num_classes,
        "num_head_channels": network["attention_head_dim"],
        "use_scale_shift_norm": network["scale_shift"],
        "resblock_updown": True,
        "use_new_attention_order": attention_order == "new",
    }


def read_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """An ADM checkpoint's tensors, loaded without running code from the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as err:
        raise DataFileError(f"{path}: checkpoint not found") from err
    except Exception as err:  # torch raises many types for corrupt or unsafe files
        raise DataFileError(f"{path}: not a readable PyTorch state dict ({err})") from err
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise DataFileError(f"{path}: expected a guided-diffusion state dict (name -> tensor)")
    return state


def channels(state: dict[str, torch.Tensor], where: str) -> tuple[int, int, int | None]:
    """(input channels, output channels, classes or None) an ADM state dict was made for."""
    needed = ("input_blocks.0.0.weight", "out.2.weight")
    missing = [name for name in needed if name not in state]
    if missing:
        raise CheckpointMismatch(
            f"{where}: not a guided-diffusion UNetModel state dict (no {', '.join(missing)})"
        )
    classes = state["label_emb.weight"].shape[0] if "label_emb.weight" in state else None
    return state["input_blocks.0.0.weight"].shape[1], state["out.2.weight"].shape[0], classes
