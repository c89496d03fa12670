"""Rendering helpers (web.ui): folding a record's JSON values for a page."""

from __future__ import annotations

from web.ui import fold


def test_small_objects_are_shown_whole_in_key_order() -> None:
    assert fold({"b": "x", "A": [1]}, 1_000) == [("A", "[\n  1\n]"), ("b", "x")]


def test_pretty_printed_text_is_cut_past_the_limit_with_a_marker() -> None:
    deep: object = list(range(100))
    for _ in range(20):
        deep = [deep]  # pretty-printing indents every line: far bigger than the JSON
    pairs = fold({"deep": deep, "more": 1, "rest": 2}, 2_000)
    assert pairs[0][0] == "deep" and "more characters not shown]" in pairs[0][1]
    assert len(pairs[0][1]) < 2_100
    assert pairs[-1][0] == "…" and "2 more not shown" in pairs[-1][1]


def test_a_non_object_is_shown_as_one_value() -> None:
    assert fold("text", 100) == [("value", "text")]
