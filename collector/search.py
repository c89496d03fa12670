"""SQL for log search: filters, full-text conditions and the scan strategy.

Full text uses an index on both databases (see migration ``0601``):
PostgreSQL's ``pg_trgm`` GIN index serves ``ILIKE '%term%'`` directly; on
SQLite an FTS5 ``trigram`` table ``logs_fts`` serves ``MATCH``. Both give
case-insensitive substring matching, the meaning the API always had.

SQLite's planner cannot tell a rare term from a common one, so newest-first
search on SQLite is adaptive: it first checks the newest ``SCAN_FIRST`` rows
of the range with LIKE (fast when the term is common: the page fills up
early); only when that does not fill the page does it ask the FTS index for
every match (fast when the term is rare). Terms shorter than 3 characters
cannot use a trigram index and are always matched with LIKE.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, String, cast, func, literal, literal_column, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector import tables as t
from collector.search_budget import DEFAULT_LIMITS, time_budget

if TYPE_CHECKING:
    from collector.queries import LogQuery

SCAN_FIRST = 20_000
LIKE_SCAN_LIMIT = 100_000
MIN_FTS_TERM = 3


def like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like(dialect: str, term: str) -> Any:
    pattern = f"%{like_escape(term)}%"
    if dialect == "postgresql":
        return t.logs.c.message.ilike(pattern, escape="\\")
    # SQLite's LIKE already ignores (ASCII) case; ilike would add lower() per row.
    return t.logs.c.message.like(pattern, escape="\\")


def fts_expression(terms: tuple[str, ...]) -> str:
    """An FTS5 MATCH string: each term a quoted phrase (no operators), all required."""
    return " AND ".join('"' + term.replace('"', '""') + '"' for term in terms)


def text_conditions(dialect: str, terms: tuple[str, ...], mode: str) -> list[Any]:
    """Message conditions; ``mode`` is "like" (scan) or "fts" (index, SQLite only)."""
    if dialect == "postgresql" or mode == "like":
        return [_like(dialect, term) for term in terms]
    long_terms = tuple(x for x in terms if len(x) >= MIN_FTS_TERM)
    conds = [_like(dialect, x) for x in terms if len(x) < MIN_FTS_TERM]
    if long_terms:
        matching = text("SELECT rowid FROM logs_fts WHERE logs_fts MATCH :fts").bindparams(
            fts=fts_expression(long_terms)).columns(rowid=Integer)
        conds.append(t.logs.c.id.in_(select(matching.subquery().c.rowid)))
    return conds


def attribute_condition(dialect: str, name: str, value: str) -> Any:
    """One attribute's value, compared as text (``attr.order_id:42`` matches 42 and "42")."""
    column = t.logs.c.attributes
    if dialect == "postgresql":
        return cast(column, JSONB).op("->>")(name) == value
    path = '$."' + name.replace('"', "") + '"'
    return cast(func.json_extract(column, path), String) == value


def filter_conditions(dialect: str, q: LogQuery) -> list[Any]:
    """Every condition of ``q`` except the text and the cursor."""
    c = t.logs.c
    conds: list[Any] = []
    if q.min_level is not None:
        conds.append(c.level >= q.min_level)
    if q.service:
        conds.append(c.service == q.service)
    if q.environment:
        conds.append(c.environment == q.environment)
    if q.logger:
        conds.append(c.logger == q.logger)
    if q.request_id:
        conds.append(c.request_id == q.request_id)
    if q.trace_id:
        conds.append(c.trace_id == q.trace_id)
    if q.span:
        spans = span_matches(q.span, q.since, q.until)
        conds.append(or_(c.trace_id.in_(select(spans.c.trace_id)),
                         c.request_id.in_(select(spans.c.request_id))))
    if q.since is not None:
        conds.append(c.ts >= q.since)
    if q.until is not None:
        conds.append(c.ts < q.until)
    conds.extend(attribute_condition(dialect, name, value) for name, value in q.attributes)
    return conds


# A span starts before the logs written in it: a span up to this long before the range
# still counts for ``span:`` (requests longer than an hour are rare).
SPAN_LEAD_SECONDS = 3600.0


def span_matches(name: str, since: float | None, until: float | None) -> Any:
    """Trace and request ids of the spans named ``name`` (``"x*"``: starting with ``x``) in
    the range, a subquery for ``span:`` (it walks the spans' ``ts`` index over the range):
    a log matches when it is of such a trace or such a request."""
    s = t.spans.c
    if name.endswith("*"):
        cond = s.name.like(like_escape(name[:-1]) + "%", escape="\\")
    else:
        cond = s.name == name
    conds = [cond]
    if since is not None:
        conds.append(s.ts >= since - SPAN_LEAD_SECONDS)
    if until is not None:
        conds.append(s.ts < until)
    return select(s.trace_id, s.request_id).where(*conds).subquery("named_spans")


async def prefer_custom_plans(conn: AsyncConnection) -> None:
    """Plan this transaction's searches for their actual values (PostgreSQL).

    asyncpg prepares statements; after five runs PostgreSQL may switch to a
    generic plan that ignores the time range and filters, and the same search
    then takes twice as long (measured: 50 -> 105 ms for a one-hour search).
    """
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")


async def newest(conn: AsyncConnection, dialect: str, terms: tuple[str, ...],
                 filters: list[Any], n: int) -> list[Any]:
    """Up to ``n`` rows matching ``filters`` and containing every term, newest first."""
    c = t.logs.c
    order = (c.ts.desc(), c.id.desc())
    if dialect == "postgresql" or not any(len(x) >= MIN_FTS_TERM for x in terms):
        conds = filters + text_conditions(dialect, terms, "like")
        return list(await conn.execute(select(t.logs).where(*conds).order_by(*order).limit(n)))
    # Phase 1: LIKE over the newest SCAN_FIRST rows that pass the other filters.
    window = select(c.id).where(*filters).order_by(*order).limit(SCAN_FIRST).subquery()
    rows = list(await conn.execute(
        select(t.logs).where(c.id.in_(select(window.c.id)),
                             *text_conditions(dialect, terms, "like"))
        .order_by(*order).limit(n)))
    if len(rows) >= n:
        return rows
    more = await conn.execute(select(c.id).where(*filters).order_by(*order).limit(1)
                              .offset(SCAN_FIRST))
    if more.first() is None:
        return rows  # the whole range was checked
    # Phase 2: the terms are rare here; let the FTS index find every match.
    fts = text_conditions(dialect, terms, "fts")
    return list(await conn.execute(select(t.logs).where(*filters, *fts).order_by(*order)
                                   .limit(n)))


async def _range_is_small(conn: AsyncConnection, q: LogQuery, since: float,
                          until: float) -> bool:
    """Whether at most LIKE_SCAN_LIMIT rows lie in the range (and service): an index-only probe."""
    c = t.logs.c
    probe = [c.ts >= since, c.ts < until] + ([c.service == q.service] if q.service else [])
    sub = select(literal(1)).where(*probe).limit(LIKE_SCAN_LIMIT).subquery()
    count = (await conn.execute(select(func.count()).select_from(sub))).scalar_one()
    return count < LIKE_SCAN_LIMIT


@dataclasses.dataclass(frozen=True, slots=True)
class MatchCounts:
    """Matches per slice of [since, until), and whether counting stopped at the cap.

    When ``capped``, only the newest matches were counted (more than the cap
    exist): slices older than ``counted_from`` (the oldest counted match) were
    not counted at all and the slice holding it only partly.
    """

    counts: list[int]
    capped: bool = False
    counted_from: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts)


async def histogram(engine: AsyncEngine, q: LogQuery, since: float, until: float,
                    buckets: int, cap: int | None = None,
                    budget: float = DEFAULT_LIMITS.time_budget) -> MatchCounts:
    """Match counts in ``buckets`` equal slices of [since, until), at most ``cap + 1`` of them.

    An exact count needs every match: a common word over 7 days is a few
    hundred thousand rows (2.7 s on SQLite, 3.5 s on PostgreSQL at 5M rows).
    With ``cap``, counting stops after ``cap + 1`` matches, newest first, the
    way big search UIs say "10,000+": 9 ms on SQLite (the FTS index walked
    newest row first) and 0.27 s on PostgreSQL (the ``ts`` index walked
    backwards) for that word. Rare terms cost what they did.

    Exact counts on SQLite: scanning the range with LIKE is cheaper than the
    FTS index when the range holds few rows (an FTS lookup of a common word
    visits all its matches in the whole table); for big ranges the index wins.
    Measured on 5M rows: common word, last hour, one service: LIKE 39 ms vs
    FTS 2.2 s; rare word over 7 days: LIKE 2.4 s vs FTS 11 ms.

    Raises SearchTooExpensive after ``budget`` seconds (collector.search_budget).
    """
    if until <= since or buckets < 1:
        return MatchCounts([0] * max(buckets, 0))
    dialect = engine.dialect.name
    ranged = dataclasses.replace(q, since=since, until=until, cursor=None)
    width = (until - since) / buckets
    counts = [0] * buckets
    async with engine.connect() as conn:
        await prefer_custom_plans(conn)
        async with time_budget(conn, budget):
            mode = "fts"
            if dialect != "postgresql" and q.all_terms and await _range_is_small(conn, q, since,
                                                                                   until):
                mode = "like"
            filters = filter_conditions(dialect, ranged)
            if cap is None:
                matches = select(t.logs.c.ts).where(
                    *filters, *text_conditions(dialect, q.all_terms, mode)).subquery()
            else:
                matches = _newest_matches(dialect, q.all_terms, filters, mode, cap + 1)
            bucket = cast(func.floor((matches.c.ts - since) / width), Integer).label("b")
            query = select(bucket, func.count().label("n"), func.min(matches.c.ts)).group_by(
                literal_column("b"))
            rows = (await conn.execute(query)).all()
    oldest = until
    for b, n, first in rows:
        if b is not None and 0 <= int(b) < buckets:
            counts[int(b)] += n
            oldest = min(oldest, first)
    if cap is not None and sum(counts) > cap:
        return MatchCounts(counts, capped=True, counted_from=oldest)
    return MatchCounts(counts)


def _newest_matches(dialect: str, terms: tuple[str, ...], filters: list[Any], mode: str,
                    n: int) -> Any:
    """The ``ts`` of the newest ``n`` matches, as a subquery.

    On SQLite with the FTS index, "newest" is the highest row id (the order of
    arrival, which is the order of ``ts`` up to clock skew and late batches):
    FTS5 hands out matches in descending rowid order without a sort, so
    counting stops after ``n`` lookups instead of one per match in the table.
    """
    c = t.logs.c
    if dialect == "postgresql" or mode == "like" or not any(
            len(x) >= MIN_FTS_TERM for x in terms):
        conds = filters + text_conditions(dialect, terms, "like")
        return select(c.ts).where(*conds).order_by(c.ts.desc(), c.id.desc()).limit(n).subquery()
    long_terms = tuple(x for x in terms if len(x) >= MIN_FTS_TERM)
    short = [_like(dialect, x) for x in terms if len(x) < MIN_FTS_TERM]
    found = text("SELECT rowid AS id FROM logs_fts WHERE logs_fts MATCH :fts").bindparams(
        fts=fts_expression(long_terms)).columns(id=Integer).subquery("fts_match")
    return (select(c.ts).select_from(found.join(t.logs, c.id == found.c.id))
            .where(*filters, *short).order_by(found.c.id.desc()).limit(n).subquery())
