"""Every partition gives every slice exactly the estimates its method promises."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from dblend.recon.partitions import (
    PARTITION_RULES,
    adjacent_tiling,
    jump_tiling,
    single_slices,
    sliding_windows,
)


def kept_counts(patches) -> Counter:
    return Counter(s for p in patches for s, keep in zip(p.slices, p.keep, strict=True) if keep)


@pytest.mark.parametrize("depth", [3, 4, 5, 8, 9, 10, 11, 17, 18, 19, 40, 504])
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_adjacent_tiling_covers_each_slice_once(depth, offset):
    patches = adjacent_tiling(depth, 3, offset)
    assert kept_counts(patches) == Counter(range(depth))
    for patch in patches:
        assert patch.spacing == 1
        assert list(patch.slices) == list(range(patch.slices[0], patch.slices[0] + 3))
        assert patch.slices[0] >= 0 and patch.slices[-1] < depth


@pytest.mark.parametrize("depth", [3, 5, 8, 9, 10, 13, 17, 18, 26, 40, 261])
def test_jump_tiling_covers_each_slice_once_with_stride_three(depth):
    patches = jump_tiling(depth, 3, 3)
    assert kept_counts(patches) == Counter(range(depth))
    strided = [p for p in patches if p.spacing == 3]
    if depth >= 9:
        assert strided, "volumes of 9 or more slices use jump patches"
        assert all(p.slices[1] - p.slices[0] == 3 for p in strided)
        assert sum(sum(p.keep) for p in strided) == depth


def test_adjacent_offsets_shift_the_tiling():
    starts = {offset: [p.slices[0] for p in adjacent_tiling(12, 3, offset)] for offset in range(3)}
    assert starts[0] == [0, 3, 6, 9]
    assert starts[1] == [1, 4, 7, 0, 9]
    assert starts[2] == [2, 5, 8, 0, 9]


def test_jump_blocks_interleave_three_triplets():
    patches = jump_tiling(9, 3, 3)
    assert [p.slices for p in patches] == [(0, 3, 6), (1, 4, 7), (2, 5, 8)]


@pytest.mark.parametrize("depth", [3, 7, 12])
def test_sliding_windows_give_overlapping_estimates(depth):
    counts = kept_counts(sliding_windows(depth, 3, 1))
    assert set(counts) == set(range(depth))
    assert counts[0] == 1 and counts[depth - 1] == 1
    if depth >= 5:
        assert counts[depth // 2] == 3


def test_single_slices_and_too_thin_volumes():
    assert kept_counts(single_slices(5)) == Counter(range(5))
    with pytest.raises(ValueError, match="thinner"):
        adjacent_tiling(2, 3, 0)


PAPER_DEPTHS = [504, 261]  # the paper's AAPM (L067) and LIDC test volumes


def holders(patches) -> dict[int, tuple[tuple[int, ...], int]]:
    """slice -> (the patch whose estimate it keeps, that patch's spacing)."""
    return {
        s: (p.slices, p.spacing)
        for p in patches
        for s, keep in zip(p.slices, p.keep, strict=True)
        if keep
    }


def paper_adjacent(z: int, depth: int, offset: int) -> tuple[int, ...]:
    """The paper's adjacent triplet of slice z: triplets tiled from ``offset``; slices before
    the first go to the head triplet (0, 1, 2), slices after the last whole one to the tail."""
    last = offset + 3 * ((depth - offset) // 3 - 1)
    if z < offset:
        return (0, 1, 2)
    if z > last + 2:
        return (depth - 3, depth - 2, depth - 1)
    start = offset + 3 * ((z - offset) // 3)
    return (start, start + 1, start + 2)


def paper_jump(z: int) -> tuple[int, ...]:
    """The paper's jump triplet of slice z: blocks of 9, each 3 interleaved stride-3 triplets."""
    block, j = divmod(z, 9)
    return tuple(9 * block + j % 3 + 3 * i for i in range(3))


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
@pytest.mark.parametrize("offset", [0, 1, 2])
def test_adjacent_tiling_is_the_papers_at_its_depths(depth, offset):
    expected = {z: (paper_adjacent(z, depth, offset), 1) for z in range(depth)}
    assert holders(adjacent_tiling(depth, 3, offset)) == expected


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
def test_jump_tiling_is_the_papers_at_its_depths(depth):
    assert depth % 9 == 0, "both paper depths are whole blocks of 9"
    expected = {z: (paper_jump(z), 3) for z in range(depth)}
    assert holders(jump_tiling(depth, 3, 3)) == expected


def blend_pp_steps(depth: int, steps: int, **settings) -> list[list]:
    rule = PARTITION_RULES["adjacent_and_jump"]
    keys = {"jump_every": 2, "jump_spacing": 3, "adjacent_shift": True, **settings}
    partition, generator = rule(keys, 3), torch.Generator().manual_seed(0)
    return [partition(index, depth, generator) for index in range(steps)]


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
@pytest.mark.parametrize(("every", "pattern"), [(2, "aj"), (3, "aaj"), (1, "j"), (0, "a")])
def test_jump_and_adjacent_steps_alternate(depth, every, pattern):
    steps = blend_pp_steps(depth, 12, jump_every=every)
    kinds = "".join("j" if {p.spacing for p in step} == {3} else "a" for step in steps)
    assert kinds == (pattern * 12)[:12]
    for step, kind in zip(steps, kinds, strict=True):
        offset = step[0].slices[0]  # tiled triplets come first
        paper = {
            z: (paper_jump(z), 3) if kind == "j" else (paper_adjacent(z, depth, offset), 1)
            for z in range(depth)
        }
        assert holders(step) == paper


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
def test_adjacent_steps_redraw_their_offset(depth):
    steps = blend_pp_steps(depth, 40, jump_every=0)
    offsets = [step[0].slices[0] for step in steps]  # tiled triplets come first
    assert set(offsets) == {0, 1, 2}
    for step, offset in zip(steps, offsets, strict=True):
        expected = {z: (paper_adjacent(z, depth, offset), 1) for z in range(depth)}
        assert holders(step) == expected
    fixed = blend_pp_steps(depth, 6, jump_every=0, adjacent_shift=False)
    assert {step[0].slices[0] for step in fixed} == {0}


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_windows_with_any_allowed_stride_cover_every_slice(stride):
    assert set(kept_counts(sliding_windows(20, 3, stride))) == set(range(20))


def test_windows_further_apart_than_the_patch_are_refused():
    with pytest.raises(ValueError, match="stride of 4"):
        sliding_windows(20, 3, 4)
