"""How a volume is cut into network inputs at one sampling step.

A partition is a list of patches, each a tuple of slice indices with the spacing between them and
a mask of which of its slices' estimates are used. DiffusionBlend++ partitions give every slice
exactly one estimate per step: candidates are listed in priority order and each slice takes its
estimate from the first candidate holding it, so volumes whose depth is not a multiple of 3 or 9
are still covered once (head and tail patches fill the ends). DiffusionBlend's sliding windows
overlap instead, and their estimates are averaged per slice.

A kind names its per-step partition rule (``PARTITION_RULES``): from the method's settings and
the prior's slice count it makes the ``Partitioner`` a sampler calls at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Patch:
    """One network input: slice indices (in order), their spacing, and which estimates to keep."""

    slices: tuple[int, ...]
    spacing: int
    keep: tuple[bool, ...]


def _window(start: int, slices: int, spacing: int) -> tuple[int, ...]:
    return tuple(range(start, start + (slices - 1) * spacing + 1, spacing))


def _check_depth(depth: int, slices: int) -> None:
    if depth < slices:
        raise ValueError(f"a volume of {depth} slices is thinner than a {slices}-slice patch")


def assign_once(depth: int, candidates: Iterable[tuple[tuple[int, ...], int]]) -> list[Patch]:
    """Give each of ``depth`` slices to the first candidate (slices, spacing) that holds it."""
    taken = [False] * depth
    patches = []
    for slices, spacing in candidates:
        keep = tuple(not taken[s] for s in slices)
        if any(keep):
            for s in slices:
                taken[s] = True
            patches.append(Patch(slices, spacing, keep))
    missing = [s for s, done in enumerate(taken) if not done]
    if missing:
        raise ValueError(f"partition leaves slices {missing} without an estimate")
    return patches


def single_slices(depth: int) -> list[Patch]:
    """The 2D baselines: every slice on its own."""
    return [Patch((z,), 1, (True,)) for z in range(depth)]


def _adjacent_candidates(depth: int, slices: int, offset: int) -> list[tuple[tuple[int, ...], int]]:
    starts = list(range(offset, depth - slices + 1, slices))
    ends = [0, depth - slices]
    return [(_window(s, slices, 1), 1) for s in starts + ends]


def adjacent_tiling(depth: int, slices: int, offset: int) -> list[Patch]:
    """Adjacent patches tiled from ``offset``, with fixed head and tail patches at the ends."""
    _check_depth(depth, slices)
    return assign_once(depth, _adjacent_candidates(depth, slices, offset % slices))


def jump_tiling(depth: int, slices: int, spacing: int) -> list[Patch]:
    """Blocks of slices*spacing, each split into ``spacing`` interleaved strided patches.

    A last block aligned to the volume's end covers the remainder; a volume too thin for one
    block falls back to adjacent patches for the slices strided ones cannot hold.
    """
    _check_depth(depth, slices)
    block = slices * spacing
    starts = list(range(0, depth - block + 1, block))
    if depth >= block:
        starts.append(depth - block)
    strided = [(_window(b + j, slices, spacing), spacing) for b in starts for j in range(spacing)]
    return assign_once(depth, strided + _adjacent_candidates(depth, slices, 0))


def sliding_windows(depth: int, slices: int, stride: int) -> list[Patch]:
    """Overlapping adjacent windows every ``stride`` slices; every slice keeps every estimate.

    A stride beyond the window would leave the slices between two windows without an estimate.
    """
    _check_depth(depth, slices)
    if not 1 <= stride <= slices:
        raise ValueError(f"a window stride of {stride} must lie in [1, {slices}] (the window)")
    starts = list(range(0, depth - slices + 1, stride))
    if starts[-1] != depth - slices:
        starts.append(depth - slices)
    return [Patch(_window(s, slices, 1), 1, (True,) * slices) for s in starts]


Partitioner = Callable[[int, int, torch.Generator], list[Patch]]
"""(step index, depth, generator) -> the partition used at that step."""

PartitionRule = Callable[[Mapping[str, Any], int], Partitioner]
"""(method settings, prior slices) -> the method's partitioner."""


def _single_slices(settings: Mapping[str, Any], slices: int) -> Partitioner:
    return lambda index, depth, generator: single_slices(depth)


def _sliding_windows(settings: Mapping[str, Any], slices: int) -> Partitioner:
    stride = settings["window_stride"]
    return lambda index, depth, generator: sliding_windows(depth, slices, stride)


def _adjacent_and_jump(settings: Mapping[str, Any], slices: int) -> Partitioner:
    """DiffusionBlend++: jump patches every ``jump_every``-th step (0 = never), else adjacent
    patches from an offset drawn from ``generator`` each step (or 0 without ``adjacent_shift``)."""
    every, spacing = settings["jump_every"], settings["jump_spacing"]
    shift = settings["adjacent_shift"]

    def partition(index: int, depth: int, generator: torch.Generator) -> list[Patch]:
        if every and index % every == every - 1:
            return jump_tiling(depth, slices, spacing)
        offset = int(torch.randint(slices, (1,), generator=generator)) if shift else 0
        return adjacent_tiling(depth, slices, offset)

    return partition


PARTITION_RULES: dict[str, PartitionRule] = {
    "single_slices": _single_slices,
    "sliding_windows": _sliding_windows,
    "adjacent_and_jump": _adjacent_and_jump,
}
