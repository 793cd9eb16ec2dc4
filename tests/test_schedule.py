"""The VP schedule: integer timesteps as before, and a continuous schedule beyond T steps."""

from __future__ import annotations

import itertools
import math

import pytest

from dblend.models.schedule import VPSchedule

SCHEDULE = VPSchedule.linear()


def test_integer_timesteps_read_the_table():
    for t in (0, 1, 500, 999):
        assert SCHEDULE.alpha_bar(t) == float(SCHEDULE.alphas_cumprod[t])
        assert SCHEDULE.alpha_bar(float(t)) == SCHEDULE.alpha_bar(t)
    assert SCHEDULE.alpha_bar(-1) == 1.0


def test_between_integers_beta_is_constant():
    for t in (0.5, 123.25, 998.75):
        low, high = SCHEDULE.alpha_bar(math.floor(t)), SCHEDULE.alpha_bar(math.ceil(t))
        assert high < SCHEDULE.alpha_bar(t) < low
        expected = low * (high / low) ** (t - math.floor(t))
        assert SCHEDULE.alpha_bar(t) == pytest.approx(expected, rel=1e-12)


def test_up_to_t_steps_are_integers_beyond_they_are_fractional():
    assert SCHEDULE.sampling_timesteps(4) == [999, 666, 333, 0]
    thousand = SCHEDULE.sampling_timesteps(1000)
    assert thousand == list(range(999, -1, -1))
    paper_mbir = SCHEDULE.sampling_timesteps(2000)
    assert len(paper_mbir) == len(set(paper_mbir)) == 2000
    assert paper_mbir[0] == 999.0 and paper_mbir[-1] == 0.0
    assert all(a > b for a, b in itertools.pairwise(paper_mbir))
    assert paper_mbir[1] == pytest.approx(999 - 999 / 1999)
    with pytest.raises(ValueError, match="at least 1"):
        SCHEDULE.sampling_timesteps(0)
