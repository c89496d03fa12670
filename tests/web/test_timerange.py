"""The time range picker (web.timerange), pure."""

from __future__ import annotations

import pytest

from collector.queries import QueryError
from web.timerange import parse_range

NOW = 1_800_000_000.0


def test_presets_and_default():
    assert parse_range(None, None, None, NOW).since == NOW - 3600
    r = parse_range("7d", None, None, NOW)
    assert (r.since, r.until, r.name, r.params()) == (NOW - 7 * 86400, NOW, "7d", {"range": "7d"})


def test_custom_range_keeps_what_was_typed():
    r = parse_range("custom", "2027-01-15T08:00", "2027-01-15T09:30:00Z", NOW)
    assert r.until - r.since == 5400
    assert r.params() == {"range": "custom", "from": "2027-01-15T08:00",
                          "to": "2027-01-15T09:30:00Z"}
    assert parse_range("custom", "2h", "", NOW).until == NOW


@pytest.mark.parametrize("name, lo, hi, message", [
    ("3y", None, None, "range: use one of"),
    ("custom", None, None, "from: a custom range needs a start"),
    ("custom", "1h", "2h", "to: must be after from"),
    ("custom", "yesterday", None, "from: use epoch seconds"),
    ("custom", "200d", None, "at most 90 days"),
])
def test_bad_ranges(name, lo, hi, message):
    with pytest.raises(QueryError, match=message):
        parse_range(name, lo, hi, NOW)


def test_duration_filter():
    from web.ui import duration

    assert [duration(v) for v in (300, 300.0, 14400, 86400 * 2, 0, 90, "x")] == [
        "5m", "5m", "4h", "2d", "0s", "90s", "x"]
