"""What fills the disk: rows and bytes per table, per day and per project.

A periodic job (:meth:`StorageStats.refresh`, every ``LOOKOUT_STORAGE_INTERVAL``)
computes the figures; the storage page and the ``lookout_storage_*`` gauges only
read its last snapshot, so neither a scrape nor a page view ever runs a query.

Cost is bounded on purpose:

- Totals come from what the database already keeps: PostgreSQL's
  ``pg_total_relation_size`` and ``pg_class.reltuples`` (an estimate kept by
  ANALYZE); SQLite's ``dbstat`` (one walk of the pages; without it, no bytes per
  table, only the file's page count) and ``count(*)``.
- Per day and per project: one ``GROUP BY project_id`` over one day's range of
  the ``ts`` index. A finished day is counted once and remembered; each refresh
  counts today, the oldest day (retention nibbles at it) and at most
  ``LOOKOUT_STORAGE_DAYS_PER_REFRESH`` further days not counted yet (or made
  stale by a retention run), so the first refreshes after start fill the table in
  over a few intervals instead of scanning everything at once.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field

from sqlalchemy import Table, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector import tables
from collector.issue_tables import issue_hourly, issue_tags, issues
from lookout import metrics
from lookout.db import now

DAY = 86400
# Tables shown with totals; those with a ``ts`` column are also counted per day and project.
TIME_COLUMNS: dict[str, str] = {
    **{t.name: "ts" for t in tables.RAW_TABLES},
    **{t.name: "minute" for t in tables.ROLLUP_TABLES},
    issue_hourly.name: "hour",
}
TOTAL_TABLES: tuple[Table, ...] = (*tables.RAW_TABLES, *tables.ROLLUP_TABLES, issues,
                                   issue_hourly, issue_tags)
DAILY_TABLES: tuple[Table, ...] = tables.RAW_TABLES


def day_of(ts: float) -> float:
    """UTC midnight (epoch seconds) of the day ``ts`` falls in."""
    return math.floor(ts / DAY) * DAY


@dataclass(frozen=True, slots=True)
class TableFigures:
    table: str
    rows: int
    bytes: int | None  # None: the database cannot say (SQLite without dbstat)
    oldest_day: float | None  # None: the table is empty or has no time column

    @property
    def bytes_per_row(self) -> float:
        return (self.bytes or 0) / self.rows if self.rows else 0.0


@dataclass
class _DayCount:
    by_project: dict[int, int]
    counted_at: float
    final: bool  # counted after the day ended and not touched by retention since


@dataclass
class Snapshot:
    """One refresh's figures; ``days`` only holds days counted so far."""

    taken_at: float
    tables: list[TableFigures]
    days: dict[str, dict[float, dict[int, int]]] = field(default_factory=dict)
    pending_days: int = 0  # days still to be counted (or recounted) by later refreshes
    file_bytes: int | None = None  # SQLite: the whole file

    def table(self, name: str) -> TableFigures | None:
        return next((t for t in self.tables if t.table == name), None)

    def per_project(self) -> dict[int, dict[str, int]]:
        """project id -> table -> rows, over the counted days."""
        out: dict[int, dict[str, int]] = {}
        for name, days in self.days.items():
            for counts in days.values():
                for project_id, rows in counts.items():
                    mine = out.setdefault(project_id, {})
                    mine[name] = mine.get(name, 0) + rows
        return out

    def per_day(self) -> dict[float, dict[str, int]]:
        """day -> table -> rows, newest day first."""
        out: dict[float, dict[str, int]] = {}
        for name, days in self.days.items():
            for day, counts in days.items():
                out.setdefault(day, {})[name] = sum(counts.values())
        return dict(sorted(out.items(), reverse=True))

    def estimated_bytes(self, name: str, rows: int) -> int:
        """Bytes ``rows`` rows of ``name`` take at the table's average row size."""
        figures = self.table(name)
        return round(rows * figures.bytes_per_row) if figures else 0


class StorageStats:
    """The storage figures of one database, refreshed by a job and read by the page."""

    def __init__(self, engine: AsyncEngine, days_per_refresh: int = 7) -> None:
        self.engine = engine
        self.days_per_refresh = days_per_refresh
        self.snapshot: Snapshot | None = None
        self._counts: dict[str, dict[float, _DayCount]] = {}

    def mark_stale(self) -> None:
        """Retention removed rows: every remembered day may hold fewer; recount in turn."""
        for days in self._counts.values():
            for count in days.values():
                count.final = False

    async def refresh(self, at: float | None = None) -> Snapshot:
        at = now() if at is None else at
        async with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                totals, file_bytes = await _pg_totals(conn), None
            else:
                totals, file_bytes = await _sqlite_totals(conn)
            oldest = {name: await _oldest(conn, name) for name in TIME_COLUMNS}
        pending = 0
        for table in DAILY_TABLES:
            pending += await self._count_days(table, oldest[table.name], at)
        figures = [TableFigures(t.name, *totals.get(t.name, (0, None)),
                                day_of(oldest[t.name]) if oldest.get(t.name) is not None
                                else None)
                   for t in TOTAL_TABLES]
        days = {name: {d: dict(c.by_project) for d, c in sorted(counts.items())}
                for name, counts in self._counts.items()}
        self.snapshot = Snapshot(at, figures, days, pending, file_bytes)
        for f in figures:
            metrics.STORAGE_ROWS.labels(f.table).set(f.rows)
            if f.bytes is not None:
                metrics.STORAGE_BYTES.labels(f.table).set(f.bytes)
            if f.oldest_day is not None:
                metrics.STORAGE_OLDEST_DAY.labels(f.table).set(f.oldest_day)
            else:
                with contextlib.suppress(KeyError):  # emptied: no oldest day to report
                    metrics.STORAGE_OLDEST_DAY.remove(f.table)
        return self.snapshot

    async def _count_days(self, table: Table, oldest: float | None, at: float) -> int:
        """Count the days due this refresh; returns how many are left for later ones.

        Each day is counted in its own short transaction: a long-lived snapshot would hold
        back PostgreSQL's vacuum and SQLite's WAL checkpoints.
        """
        known = self._counts.setdefault(table.name, {})
        today = day_of(at)
        if oldest is None:
            known.clear()
            return 0
        first = day_of(oldest)
        for day in [d for d in known if d < first or d > today]:
            del known[day]
        all_days = [today - i * DAY for i in range(int((today - first) / DAY) + 1)]
        due = [d for d in all_days if d not in known or not known[d].final]
        chosen = {today, first}
        # Days never counted first (newest first), then those made stale (longest ago).
        fresh = [d for d in due if d not in known and d not in chosen]
        stale = sorted((d for d in due if d in known and d not in chosen),
                       key=lambda d: known[d].counted_at)
        chosen.update((fresh + stale)[:self.days_per_refresh])
        for day in chosen:
            async with self.engine.connect() as conn:
                counts = await _count_day(conn, table, day)
            known[day] = _DayCount(counts, at, at >= day + DAY)
        return sum(1 for d in due if d not in chosen)


async def _count_day(conn: AsyncConnection, table: Table, day: float) -> dict[int, int]:
    column = table.c.ts
    rows = (await conn.execute(select(table.c.project_id, func.count()).where(
        column >= day, column < day + DAY).group_by(table.c.project_id))).all()
    return {project_id: count for project_id, count in rows if count}


async def _oldest(conn: AsyncConnection, name: str) -> float | None:
    table = next(t for t in TOTAL_TABLES if t.name == name)
    value = (await conn.execute(select(func.min(table.c[TIME_COLUMNS[name]])))).scalar()
    return None if value is None else float(value)


async def _pg_totals(conn: AsyncConnection) -> dict[str, tuple[int, int | None]]:
    """Planner row estimates and on-disk size (heap, indexes, TOAST) per table."""
    names = [t.name for t in TOTAL_TABLES]
    rows = (await conn.execute(text(
        "SELECT c.relname, c.reltuples, pg_total_relation_size(c.oid) FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND c.relname = ANY(:names)"), {"names": names})).all()
    out: dict[str, tuple[int, int | None]] = {}
    for name, reltuples, size in rows:
        if reltuples < 0:  # never analysed (a new table): count it, it is small or young
            table = next(t for t in TOTAL_TABLES if t.name == name)
            reltuples = (await conn.execute(select(func.count()).select_from(table))).scalar()
        out[name] = (int(reltuples), int(size))
    return out


async def _sqlite_totals(conn: AsyncConnection
                         ) -> tuple[dict[str, tuple[int, int | None]], int | None]:
    """Exact row counts; bytes per table and its indexes from ``dbstat`` when compiled in."""
    owners = dict((await conn.execute(text(
        "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))).all())
    sizes: dict[str, int] | None = {}
    try:
        for name, size in (await conn.execute(text(
                "SELECT name, pgsize FROM dbstat WHERE aggregate = TRUE"))).all():
            owner = owners.get(name, name)
            sizes[owner] = sizes.get(owner, 0) + int(size)
    except DBAPIError:  # no dbstat in this SQLite build: only the file's page count
        sizes = None
    page_size = (await conn.execute(text("PRAGMA page_size"))).scalar() or 0
    page_count = (await conn.execute(text("PRAGMA page_count"))).scalar() or 0
    out: dict[str, tuple[int, int | None]] = {}
    for table in TOTAL_TABLES:
        rows = (await conn.execute(select(func.count()).select_from(table))).scalar() or 0
        out[table.name] = (int(rows), None if sizes is None else sizes.get(table.name, 0))
    return out, int(page_size) * int(page_count)
