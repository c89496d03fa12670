"""Durations: finite and bounded, whether written as text or as a YAML number."""

from __future__ import annotations

import math

import pytest

from rules.durations import MAX_DURATION, DurationError, parse_duration


def test_ordinary_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration(90) == 90
    assert parse_duration("3650d") == MAX_DURATION


@pytest.mark.parametrize("value", [math.nan, math.inf, 1e300, "9" * 400 + "s", "3651d",
                                   "99999999999w"])
def test_non_finite_and_huge_durations_are_refused(value: object) -> None:
    with pytest.raises(DurationError, match="finite and at most 10 years"):
        parse_duration(value)
