"""Patient splits: each patient on one side only, every mistake named."""

from __future__ import annotations

import pytest

from dblend.data.splits import Split, parse_split
from dblend.errors import ConfigError

AAPM = ["L067", "L096", "L109", "L143", "L192", "L286", "L291", "L310", "L333", "L506"]


def test_paper_aapm_split_parses():
    split = parse_split({"train": AAPM[1:], "test": ["L067"]}, "aapm.patients", known=AAPM)
    assert split == Split(train=tuple(AAPM[1:]), validation=(), test=("L067",))


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"train": ["L096", "L067"], "test": ["L067"]}, "L067 is listed in both train and test"),
        (
            {"train": ["L096"], "validation": ["L109"], "test": ["L109"]},
            "L109 is listed in both validation and test",
        ),
        ({"train": ["L096", "L096"], "test": ["L067"]}, r"\.train: patient L096 is listed twice"),
        ({"train": ["L096"], "test": []}, r"\.test: expected a non-empty list"),
        (
            {"train": ["L096"], "test": ["L999"]},
            r"\.test: patient L999 is not in the source \(its 10 patients: L067, ",
        ),
        ({"train": ["L096"], "test": ["L067"], "dev": []}, r"\.dev: unknown side"),
        ({"train": "L096", "test": ["L067"]}, r"\.train: expected a list"),
        ({"train": ["L096", 67], "test": ["L067"]}, r"\.train\[1\]: expected a patient ID"),
    ],
)
def test_bad_splits_name_the_patient_or_key(block, message):
    with pytest.raises(ConfigError, match=message):
        parse_split(block, "aapm.patients", known=AAPM)
