"""The waterfall's tree, scale and placement (web.waterfall), without a database."""

from __future__ import annotations

import itertools

import pytest

from web import waterfall as w

_ids = itertools.count(1)


def span(sid: str, parent: str | None, ts: float, ms: float, service: str = "api", **kw):
    return {"id": kw.pop("id", next(_ids)), "span_id": sid,
            "parent_span_id": parent, "ts": ts, "duration_ms": ms, "service": service,
            "name": kw.pop("name", f"span {sid}"), "status": kw.pop("status", "ok"), **kw}


def ids(rows):
    return [(r.span["span_id"], r.depth) for r in rows]


def test_children_sit_under_their_parent_ordered_by_start():
    spans = [span("c2", "a1", 100.050, 10), span("a1", None, 100.0, 100),
             span("c1", "a1", 100.010, 20), span("d1", "c1", 100.015, 5)]
    rows = w.tree_rows(spans)
    assert ids(rows) == [("a1", 0), ("c1", 1), ("d1", 2), ("c2", 1)]
    root = rows[0]
    assert (root.children, root.descendants, root.orphan) == (2, 3, False)
    # Groups: a1 and c1 open; d1 closes c1; c2 (last) closes a1.
    assert [r.opens for r in rows] == [True, True, False, False]
    assert [r.closes for r in rows] == [0, 0, 1, 1]


def test_every_group_opened_is_closed_exactly_once():
    spans = [span("r", None, 0, 10)] + [span(f"n{i}", "r" if i < 3 else f"n{i % 3}", i * .001, 1)
                                       for i in range(12)]
    rows = w.tree_rows(spans)
    assert sum(r.opens for r in rows) == sum(r.closes for r in rows)
    depth_open = 0
    for row in rows:
        depth_open += row.opens - row.closes
        assert depth_open >= 0
    assert depth_open == 0


def test_missing_parent_makes_an_orphan_root_and_cycles_do_not_loop():
    spans = [span("a1", "ff", 1.0, 5), span("b1", "b2", 1.1, 1), span("b2", "b1", 1.2, 1),
             span("s1", "s1", 1.3, 1)]
    rows = w.tree_rows(spans)
    assert sorted(r.span["span_id"] for r in rows) == ["a1", "b1", "b2", "s1"]
    orphan = next(r for r in rows if r.span["span_id"] == "a1")
    assert orphan.depth == 0 and orphan.orphan
    assert next(r for r in rows if r.span["span_id"] == "s1").orphan is False  # its own parent


def test_duplicate_span_ids_are_each_shown_once():
    spans = [span("a1", None, 1.0, 5, id=1), span("a1", None, 1.0, 5, id=2),
             span("b1", "a1", 1.001, 1, id=3)]
    rows = w.tree_rows(spans)
    assert [r.span["id"] for r in rows] == [1, 3, 2]


def test_deep_chains_stop_nesting_groups_but_keep_depth():
    spans = [span(f"{i:04x}", f"{i - 1:04x}" if i else None, i * .001, 1) for i in range(100)]
    rows = w.tree_rows(spans)
    assert [r.depth for r in rows] == list(range(100))
    assert sum(r.opens for r in rows) == w.MAX_NESTING
    assert sum(r.closes for r in rows) == w.MAX_NESTING


def test_bars_are_to_scale_on_one_axis():
    spans = [span("a1", None, 10.0, 200, "gw"), span("b1", "a1", 10.05, 100, "inv"),
             span("c1", "b1", 10.1, 0, "inv")]
    f = w.build(spans, [], total=3)
    a, b, c = f.rows
    assert f.duration_ms == pytest.approx(200)
    assert (a.offset_pct, a.width_pct) == (pytest.approx(0), pytest.approx(100))
    assert (b.offset_pct, b.width_pct) == (pytest.approx(25), pytest.approx(50))
    assert c.offset_pct == pytest.approx(50) and c.width_pct == w.MIN_WIDTH_PCT  # 0 ms stays seen
    assert f.services == ["gw", "inv"] and (a.lane, b.lane, c.lane) == (0, 1, 1)
    assert f.not_shown == 0


def test_a_bar_never_runs_past_the_axis():
    f = w.build([span("a1", None, 0.0, 100), span("b1", "a1", 0.0999, 0)], [])
    b = f.rows[1]
    assert b.offset_pct + b.width_pct <= 100.0 + 1e-9


def test_cap_counts_spans_not_shown():
    f = w.build([span("a1", None, 0.0, 1)], [], total=2500)
    assert (f.total, f.not_shown) == (2500, 2499)


def test_ticks_are_round_and_within_the_axis():
    assert w.nice_step(1000) == 200 and w.nice_step(7) == 2 and w.nice_step(0.4) == 0.1
    ticks = w.axis_ticks(1234)
    assert [t.label for t in ticks] == ["0 ms", "500 ms", "1 s"]
    assert [t.label for t in w.axis_ticks(1000)] == ["0 ms", "200 ms", "400 ms", "600 ms",
                                                      "800 ms", "1 s"]
    assert all(0 <= t.pct <= 100 for t in ticks)
    assert w.fmt_ms(0.42) == "0.42 ms" and w.fmt_ms(1500) == "1.5 s" and w.fmt_ms(90_000) == \
        "1.5 min"


def test_logs_and_errors_go_on_their_span_else_the_open_span_of_their_service():
    """...or, for a service with no spans in the trace, on the innermost span open then."""
    spans = [span("a1", None, 10.0, 100, "gw"), span("b1", "a1", 10.02, 50, "inv"),
             span("b2", "b1", 10.03, 10, "inv")]
    items = [
        {"kind": "log", "id": 1, "ts": 10.01, "service": "gw", "level": "info",
         "message": "by id", "attributes": {"span_id": "B1"}},  # ids compare in lower case
        {"kind": "error", "id": 2, "ts": 10.035, "service": "inv", "level": "error",
         "message": "sentry", "attributes": {}, "extra": {"contexts": {"trace": {"span_id": "a1"}}}},
        {"kind": "error", "id": 3, "ts": 10.035, "service": "inv", "level": "error",
         "message": "otlp", "attributes": {}, "extra": {"span": {"span_id": "b2"}}},
        {"kind": "log", "id": 4, "ts": 10.035, "service": "inv", "level": "warning",
         "message": "by time: innermost open span of inv", "attributes": {}},
        {"kind": "log", "id": 5, "ts": 10.09, "service": "other", "level": "info",
         "message": "a service without spans: the span open then", "attributes": {}},
        {"kind": "log", "id": 6, "ts": 10.09, "service": "inv", "level": "info",
         "message": "its service's spans had ended", "attributes": {}},
        {"kind": "request", "id": 9, "ts": 10.0, "service": "gw"},
    ]
    f = w.build(spans, items)
    on = {r.span["span_id"]: [i["id"] for i in r.items] for r in f.rows}
    assert on == {"a1": [2, 5], "b1": [1], "b2": [3, 4]}
    assert [i["id"] for i in f.unplaced] == [6]
    mark = next(m for r in f.rows for m in r.marks if m.id == 4)
    assert (mark.kind, mark.level) == ("log", "warning") and mark.pct == pytest.approx(35)
    assert items[0]["on_span"] == "b1" and items[0]["on_span_name"] == "span b1"


def test_items_outside_the_spans_widen_the_axis():
    f = w.build([span("a1", None, 10.0, 100)],
                [{"kind": "log", "id": 1, "ts": 10.2, "service": "x", "attributes": {}}])
    assert f.duration_ms == pytest.approx(200) and f.unplaced_marks[0].pct == pytest.approx(100)


def test_json_form_lists_spans_in_tree_order_with_layout():
    f = w.build([span("b1", "a1", 1.5, 10, "inv"), span("a1", None, 1.0, 1000, "gw")],
                [{"kind": "log", "id": 7, "ts": 1.505, "service": "inv", "attributes": {}}],
                total=5)
    body = w.as_json(f)
    assert [(s["span_id"], s["depth"], s["logs"]) for s in body["spans"]] == [
        ("a1", 0, []), ("b1", 1, [7])]
    assert body["spans"][1]["offset_pct"] == pytest.approx(50)
    assert (body["total"], body["shown"], body["not_shown"]) == (5, 2, 3)


def test_empty_and_broken_values_do_not_raise():
    f = w.build([span("a1", None, float("nan"), float("inf"))], [])
    assert f.rows[0].width_pct == w.MIN_WIDTH_PCT and f.duration_ms > 0
    assert w.build([], []).rows == []
