"""Every partition gives every slice exactly the estimates its method promises."""

from __future__ import annotations

from collections import Counter

import pytest

from dblend.recon.partitions import adjacent_tiling, jump_tiling, single_slices, sliding_windows


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


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_windows_with_any_allowed_stride_cover_every_slice(stride):
    assert set(kept_counts(sliding_windows(20, 3, stride))) == set(range(20))


def test_windows_further_apart_than_the_patch_are_refused():
    with pytest.raises(ValueError, match="stride of 4"):
        sliding_windows(20, 3, 4)
