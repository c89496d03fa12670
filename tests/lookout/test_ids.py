"""Ids from URLs: ASCII digits within the column's range, else None."""

from __future__ import annotations

import pytest

from lookout.ids import MAX_PROJECT_ID, MAX_ROW_ID, parse_id


@pytest.mark.parametrize(("text", "maximum", "expected"), [
    ("1", MAX_ROW_ID, 1),
    ("007", MAX_ROW_ID, 7),
    (str(MAX_ROW_ID), MAX_ROW_ID, MAX_ROW_ID),
    (str(MAX_ROW_ID + 1), MAX_ROW_ID, None),
    (str(MAX_PROJECT_ID + 1), MAX_PROJECT_ID, None),
    ("0", MAX_ROW_ID, None),
    ("", MAX_ROW_ID, None),
    ("-1", MAX_ROW_ID, None),
    ("1 ", MAX_ROW_ID, None),
    ("¹5", MAX_ROW_ID, None),      # isdigit() is true, int() raised ValueError (a 500)
    ("٣", MAX_ROW_ID, None),       # int() accepts it; a URL id is ASCII
    ("1" * 400, MAX_ROW_ID, None),
])
def test_parse_id(text, maximum, expected):
    assert parse_id(text, maximum) == expected
