"""What one answer shows of stored records (collector.shown)."""

from __future__ import annotations

import msgspec

from collector import bound
from collector.queries import page_of
from collector.shown import DECODE_AT_MOST, SHORT_MESSAGE, Shown


def test_values_within_the_limit_are_shown_whole_and_counted() -> None:
    shown = Shown(value_bytes=100, page_bytes=1_000)
    text = msgspec.json.encode({"a": [1, 2, 3]}).decode()
    assert shown.attributes(text) == {"a": [1, 2, 3]}
    assert shown.used == len(text)


def test_bigger_values_are_trimmed_and_huge_ones_not_decoded() -> None:
    shown = Shown(value_bytes=200, page_bytes=10**9)
    trimmed = shown.attributes(msgspec.json.encode({"l": list(range(1_000))}).decode())
    assert trimmed["l"][-1].endswith("more items]")
    huge = shown.attributes('{"l": "' + "x" * DECODE_AT_MOST + '"}')
    assert list(huge) == [bound.MORE_KEY] and "bytes not shown" in huge[bound.MORE_KEY]
    stack = shown.exception("[" + "0," * DECODE_AT_MOST + "0]")
    assert stack[0]["frames"] == [] and "not shown" in stack[0]["value"]


def test_once_the_page_is_spent_values_are_markers_and_messages_short() -> None:
    shown = Shown(value_bytes=100, page_bytes=50)
    shown.message("m" * 60)
    assert shown.full
    assert "size limit" in shown.attributes('{"a": 1}')[bound.MORE_KEY]
    assert len(shown.message("x" * 5_000)) == SHORT_MESSAGE + len(bound.TRUNCATED)


def test_a_list_page_ends_where_the_budget_runs_out() -> None:
    rows = list(range(10))

    def build(row: int, shown: Shown) -> dict[str, int]:
        shown.used += 30
        return {"n": row}

    items, last = page_of(rows, 9, build, Shown(page_bytes=100))
    assert [i["n"] for i in items] == [0, 1, 2, 3] and last == 3
    items, last = page_of(rows[:3], 9, build, Shown(page_bytes=10**6))
    assert len(items) == 3 and last is None  # no more rows: no cursor
    items, last = page_of(rows, 9, build, Shown(page_bytes=10**6))
    assert len(items) == 9 and last == 8
