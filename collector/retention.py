"""Remove collector data older than its retention, per kind and per project, in batches.

Each kind of data (:data:`lookout.settings.RETENTION_KINDS`) has its own period
(``LOOKOUT_RETENTION_<KIND>_DAYS``), and a project may override any of them
(:mod:`lookout.project_retention`). Each DELETE removes at most ``batch_rows``
rows in its own short transaction, so retention never holds the SQLite write
lock (or PostgreSQL row locks) long enough to stall ingest.

Rows older than the longest period in force (nobody keeps them) go first, by
the ``ts`` (or ``minute``) index alone. Then each shorter period removes its
own projects' rows between the two cutoffs, walking that index forward with
a cursor so rows kept for other projects are read once per run, not once per
batch.

Issues outlive their events: the ``issues`` rows (totals, first and last seen)
and ``issue_tags`` (services, releases, user counts) are never aged out, only
the events and the issue's hourly counts, with the project's error retention.
Ids of stored SDK batches are kept only a day
(:data:`collector.batch_ids.KEEP_SECONDS`), whatever the retention period.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, and_, delete, or_, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import batch_ids, tables
from collector.issue_tables import issue_hourly, issues
from lookout import metrics
from lookout.db import now
from lookout.project_retention import overrides
from lookout.settings import RETENTION_KINDS

DAY = 86400


def _by_project(table: Table) -> Callable[[Sequence[int]], ColumnElement[bool]]:
    return lambda ids: table.c.project_id.in_(ids)


def _hourly_by_project(ids: Sequence[int]) -> ColumnElement[bool]:
    return issue_hourly.c.issue_id.in_(select(issues.c.id).where(issues.c.project_id.in_(ids)))


# Per kind: (table, its time column, "rows of these projects") for every table it covers.
KIND_TABLES: dict[str, tuple[tuple[Table, str, Callable[[Sequence[int]], ColumnElement[bool]]],
                             ...]] = {
    "logs": ((tables.logs, "ts", _by_project(tables.logs)),
             (tables.log_rollups, "minute", _by_project(tables.log_rollups))),
    # Hourly issue counts age out like the events they count; issues themselves stay.
    "errors": ((tables.errors, "ts", _by_project(tables.errors)),
               (issue_hourly, "hour", _hourly_by_project)),
    "metrics": ((tables.metric_points, "ts", _by_project(tables.metric_points)),
                (tables.metric_rollups, "minute", _by_project(tables.metric_rollups))),
    "requests": ((tables.request_records, "ts", _by_project(tables.request_records)),
                 (tables.spans, "ts", _by_project(tables.spans)),
                 (tables.request_rollups, "minute", _by_project(tables.request_rollups))),
}
assert set(KIND_TABLES) == set(RETENTION_KINDS)
assert {t for pairs in KIND_TABLES.values() for t, _, _ in pairs} >= {
    *tables.RAW_TABLES, *tables.ROLLUP_TABLES}, "a raw or rollup table has no retention kind"


@dataclass(frozen=True)
class KindCutoffs:
    """Rows before ``default`` go, except those of projects with a cutoff of their own."""

    default: float
    projects: Mapping[int, float] = field(default_factory=dict)

    def passes(self) -> list[tuple[float, list[int], bool]]:
        """Oldest first: (cutoff, its overriding projects, whether the rest of them too)."""
        groups: dict[float, list[int]] = {}
        for project_id, cutoff in self.projects.items():
            groups.setdefault(cutoff, []).append(project_id)
        groups.setdefault(self.default, [])
        return [(cutoff, sorted(ids), cutoff == self.default)
                for cutoff, ids in sorted(groups.items())]


async def purge_expired(engine: AsyncEngine, days: Mapping[str, int], at: float | None = None,
                        batch_rows: int = 5000, max_batches: int = 10_000) -> dict[str, int]:
    """Apply retention as of ``at`` (default: now): ``days`` per kind, project overrides from
    the database. Returns rows deleted per table."""
    at = now() if at is None else at
    async with engine.connect() as conn:
        own = await overrides(conn)
    cutoffs = {kind: KindCutoffs(at - days[kind] * DAY,
                                 {p: at - k[kind] * DAY for p, k in own.items() if kind in k})
               for kind in RETENTION_KINDS}
    return await _purge_all(engine, cutoffs, at - batch_ids.KEEP_SECONDS, batch_rows,
                            max_batches)


async def purge_older_than(engine: AsyncEngine, cutoff: float, batch_rows: int = 5000,
                           max_batches: int = 10_000, batch_ids_before: float | None = None
                           ) -> dict[str, int]:
    """Delete rows of every kind and project with ``ts`` (or ``minute``) before ``cutoff``.

    Batch ids go when older than ``batch_ids_before`` (default: a day ago).
    """
    if batch_ids_before is None:
        batch_ids_before = now() - batch_ids.KEEP_SECONDS
    return await _purge_all(engine, {kind: KindCutoffs(cutoff) for kind in RETENTION_KINDS},
                            batch_ids_before, batch_rows, max_batches)


async def _purge_all(engine: AsyncEngine, cutoffs: Mapping[str, KindCutoffs],
                     batch_ids_before: float, batch_rows: int, max_batches: int
                     ) -> dict[str, int]:
    deleted: dict[str, int] = {}
    batches = tables.ingest_batches
    deleted[batches.name] = await _purge(engine, batches, batches.c.received_at, None,
                                         batch_ids_before, None, batch_rows, max_batches)
    for kind, pairs in KIND_TABLES.items():
        for table, column, owned in pairs:
            deleted[table.name] = await _purge_kind(engine, table, table.c[column], owned,
                                                    cutoffs[kind], batch_rows, max_batches)
    for name, count in deleted.items():
        if count:
            metrics.RETENTION_DELETED.labels(name).inc(count)
    return deleted


async def _purge_kind(engine: AsyncEngine, table: Table, column, owned, plan: KindCutoffs,
                      batch_rows: int, max_batches: int) -> int:
    passes = plan.passes()
    floor = passes[0][0]
    # Older than the longest period in force: nobody keeps it, whoever it belongs to.
    total = await _purge(engine, table, column, None, floor, None, batch_rows, max_batches)
    overridden = list(plan.projects)
    for cutoff, ids, with_default in passes[1:]:
        rows: list[ColumnElement[bool]] = [owned(ids)] if ids else []
        if with_default:
            rows.append(~owned(overridden) if overridden else true())
        total += await _purge(engine, table, column, or_(*rows), cutoff, floor, batch_rows,
                              max_batches)
    return total


async def _purge(engine: AsyncEngine, table: Table, column, condition, cutoff: float,
                 start: float | None, batch_rows: int, max_batches: int) -> int:
    """Delete rows matching ``condition`` with ``start <= column < cutoff``, oldest first.

    The cursor moves to the newest row each batch deleted: rows before it that are
    kept (other projects') are not read again.
    """
    total = 0
    for _ in range(max_batches):
        where = [column < cutoff]
        if start is not None:
            where.append(column >= start)
        if condition is not None:
            where.append(condition)
        oldest = (select(table.c.id).where(and_(*where)).order_by(column).limit(batch_rows)
                  .scalar_subquery())
        async with engine.begin() as conn:
            done = (await conn.execute(delete(table).where(table.c.id.in_(oldest))
                                       .returning(column))).scalars().all()
        total += len(done)
        if len(done) < batch_rows:
            break
        start = max(done)
    return total
