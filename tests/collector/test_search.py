"""Log search (collector.queries.search_logs / count_logs) on SQLite and PostgreSQL.

Covers the full-text indexes from migration 0601 (FTS5 trigram / pg_trgm),
both phases of SQLite's adaptive strategy, attribute filters and counts.
"""

from __future__ import annotations

import base64
import time

import pytest
from sqlalchemy import delete, text

from collector import queries, search
from collector import tables as t
from collector.queries import LogQuery

NOW = time.time()


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """Each test's "now" is when it starts: a module-level stamp goes stale in a long run,
    and the data it ingests falls out of the pages' time ranges."""
    global NOW
    NOW = time.time()


async def _insert(engine, rows):
    async with engine.begin() as conn:
        await conn.execute(t.logs.insert(), [
            dict(project_id=1, ts=r.get("ts", NOW), received_at=NOW, service=r.get("service", "api"),
                 environment="prod", release="", host="", request_id=r.get("request_id"),
                 trace_id=None, attributes=r.get("attributes", "{}"), level=r.get("level", 20),
                 logger=r.get("logger", "app"), message=r["message"]) for r in rows])


async def _messages(engine, q):
    items, cursor = await queries.search_logs(engine, q)
    return [i["message"] for i in items], cursor


async def test_terms_are_case_insensitive_substrings_all_required(engine):
    await _insert(engine, [
        {"message": "Payment TIMEOUT after 30s", "ts": NOW - 3},
        {"message": "payment ok", "ts": NOW - 2},
        {"message": "db timeout", "ts": NOW - 1},
        {"message": "100% of 5_000 done", "ts": NOW - 4},
    ])
    assert (await _messages(engine, LogQuery(terms=("timeout",))))[0] == [
        "db timeout", "Payment TIMEOUT after 30s"]
    assert (await _messages(engine, LogQuery(terms=("payment", "out"))))[0] == [
        "Payment TIMEOUT after 30s"]
    # LIKE metacharacters are literal; short terms (< 3 chars) still work.
    assert (await _messages(engine, LogQuery(terms=("0%",))))[0] == ["100% of 5_000 done"]
    assert (await _messages(engine, LogQuery(terms=("5_0",))))[0] == ["100% of 5_000 done"]
    assert (await _messages(engine, LogQuery(text="db", terms=("time",))))[0] == ["db timeout"]
    assert (await _messages(engine, LogQuery(terms=('"quoted"',))))[0] == []


async def test_filters_and_attributes(engine):
    await _insert(engine, [
        {"message": "a", "service": "checkout", "level": 40, "attributes": '{"user_id": 42}'},
        {"message": "b", "service": "checkout", "level": 20, "attributes": '{"user_id": "42"}'},
        {"message": "c", "service": "gateway", "level": 40, "logger": "gw",
         "attributes": '{"plan": "pro", "user_id": 7}'},
    ])
    got = lambda q: _messages(engine, q)
    assert sorted((await got(LogQuery(attributes=(("user_id", "42"),))))[0]) == ["a", "b"]
    assert (await got(LogQuery(attributes=(("user_id", "42"),), min_level=40)))[0] == ["a"]
    assert (await got(LogQuery(attributes=(("plan", "pro"), ("user_id", "7")))))[0] == ["c"]
    assert (await got(LogQuery(attributes=(("missing", "x"),))))[0] == []
    assert (await got(LogQuery(service="gateway", logger="gw")))[0] == ["c"]


async def test_pagination_is_stable_and_complete(engine):
    await _insert(engine, [{"message": f"tick {i}", "ts": NOW - i % 7} for i in range(25)])
    seen, cursor = [], None
    while True:
        items, cursor = await queries.search_logs(engine, LogQuery(terms=("tick",), limit=10,
                                                                   cursor=cursor))
        seen.extend(items)
        if cursor is None:
            break
    assert len(seen) == 25 and len({i["id"] for i in seen}) == 25
    keys = [(i["ts"], i["id"]) for i in seen]
    assert keys == sorted(keys, reverse=True)


async def test_rare_term_beyond_the_scan_window_is_found_through_the_index(engine, monkeypatch):
    monkeypatch.setattr(search, "SCAN_FIRST", 5)
    await _insert(engine, [{"message": "needle in the haystack", "ts": NOW - 100}] +
                  [{"message": f"hay {i}", "ts": NOW - i} for i in range(20)])
    msgs, cursor = await _messages(engine, LogQuery(terms=("needle",), limit=5))
    assert msgs == ["needle in the haystack"] and cursor is None
    common, cursor = await _messages(engine, LogQuery(terms=("hay",), limit=3))
    assert common == ["hay 0", "hay 1", "hay 2"] and cursor is not None


async def test_index_stays_in_sync_with_deletes(engine):
    await _insert(engine, [{"message": "retained line"}, {"message": "expired line", "ts": 1.0}])
    async with engine.begin() as conn:
        await conn.execute(delete(t.logs).where(t.logs.c.ts < 10))
    assert (await _messages(engine, LogQuery(terms=("line",))))[0] == ["retained line"]
    if engine.dialect.name == "sqlite":
        async with engine.connect() as conn:
            hits = await conn.execute(text(
                "SELECT count(*) FROM logs_fts WHERE logs_fts MATCH '\"expired\"'"))
            assert hits.scalar_one() == 0


async def test_counts_per_bucket(engine):
    await _insert(engine, [{"message": "x", "ts": NOW - 50}, {"message": "x", "ts": NOW - 40},
                           {"message": "x", "ts": NOW - 5}, {"message": "y", "ts": NOW - 5},
                           {"message": "x", "ts": NOW - 500}])
    counts = await queries.count_logs(engine, LogQuery(terms=("x",)), NOW - 60, NOW, 6)
    assert counts.counts == [0, 1, 1, 0, 0, 1] and counts.total == 3 and not counts.capped
    assert (await queries.count_logs(engine, LogQuery(), NOW - 60, NOW, 3)).total == 4


@pytest.mark.parametrize("terms, expected", [(("a",), '"a"'), (('x"y', "z"), '"x""y" AND "z"')])
def test_fts_expression_quotes_terms(terms, expected):
    assert search.fts_expression(terms) == expected


async def test_counts_agree_whichever_way_sqlite_scans(engine, monkeypatch):
    await _insert(engine, [{"message": f"item {i} {'odd' if i % 2 else 'even'}",
                            "ts": NOW - i} for i in range(30)])
    query = LogQuery(terms=("odd",))
    small = await queries.count_logs(engine, query, NOW - 100, NOW + 1, 4)
    monkeypatch.setattr(search, "LIKE_SCAN_LIMIT", 5)  # the range now counts as big
    big = await queries.count_logs(engine, query, NOW - 100, NOW + 1, 4)
    assert small == big and small.total == 15


@pytest.mark.parametrize("range_is_big", [False, True])
@pytest.mark.parametrize("terms", [("odd",), ("od",), ()])
async def test_count_stops_at_the_cap_newest_first(engine, monkeypatch, terms, range_is_big):
    # Inserted oldest first, as ingest does: arrival order is time order.
    start = NOW - 60
    await _insert(engine, [{"message": f"item {i} {'odd' if i % 2 else 'even'}",
                            "ts": start + i + 0.5} for i in range(60)])
    if range_is_big:
        monkeypatch.setattr(search, "LIKE_SCAN_LIMIT", 5)  # SQLite: walk the FTS index
    query = LogQuery(terms=terms)
    matching = sorted((start + i + 0.5 for i in range(60) if not terms or i % 2), reverse=True)
    exact = await queries.count_logs(engine, query, start, NOW, 6)
    assert exact.total == len(matching) and not exact.capped
    assert exact == await queries.count_logs(engine, query, start, NOW, 6, cap=len(matching))

    capped = await queries.count_logs(engine, query, start, NOW, 6, cap=7)
    assert capped.capped and capped.total == 8  # one past the cap proves there are more
    assert capped.counted_from == pytest.approx(matching[7])
    newest = [0] * 6  # only the newest eight were counted, each in its own slice
    for ts in matching[:8]:
        newest[int((ts - start) // 10)] += 1
    assert capped.counts == newest


@pytest.mark.parametrize("raw", [b"1:99999999999999999999999", b"inf:1", b"nan:1", b"1:-1"])
def test_cursor_out_of_range_is_a_query_error(raw):
    # A row id past 64 bits made the drivers fail the query: once a 500.
    with pytest.raises(queries.QueryError, match="cursor"):
        queries.decode_cursor(base64.urlsafe_b64encode(raw).decode())
