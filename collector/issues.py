"""The error write path: group events, store them, and count them on their issues.

Runs inside the writer's transaction (see :mod:`collector.store`), so an
event, its issue and the issue's counters commit together or not at all.

Steps, each one statement (executemany) on a batch:

1. fingerprint every row (:mod:`collector.grouping`, pure);
2. find the issues for those fingerprints, creating the missing ones
   (``ON CONFLICT DO NOTHING``, then read back: another instance may have
   created it a moment ago);
3. insert the error rows with their ``issue_id`` (``ON CONFLICT DO NOTHING
   RETURNING``): only events that were really inserted are counted, so an SDK
   retrying an event never bumps a counter twice;
4. add the counts to the issues (additive ``UPDATE``: correct under any
   concurrency), reopening resolved issues as regressions;
5. additive upserts of the hourly counts and the service/release/environment
   tags.

Every statement touches keys in sorted order, so two PostgreSQL instances
writing overlapping issues take row locks in the same order and never
deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy import and_, bindparam, case, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from collector import grouping, tables
from collector.issue_tables import issue_hourly, issue_tags, issues
from lookout.db import now as wall_clock

_encode = msgspec.json.Encoder(order="deterministic").encode
TAG_KEYS = ("service", "release", "environment")
_ERROR_COLUMNS = tuple(c.name for c in tables.errors.columns if c.name != "id")


@dataclass(slots=True)
class _IssueDelta:
    """What one batch adds to one issue."""

    count: int = 0
    first: float = float("inf")
    last: float = float("-inf")
    level: int = 0
    hours: dict[int, int] = field(default_factory=dict)
    tags: dict[tuple[str, str], list[float]] = field(default_factory=dict)  # -> [n, first, last]

    def add(self, row: dict[str, Any]) -> None:
        ts = row["ts"]
        self.count += 1
        self.first = min(self.first, ts)
        if ts >= self.last:
            self.last, self.level = ts, row["level"]
        hour = int(ts // 3600) * 3600
        self.hours[hour] = self.hours.get(hour, 0) + 1
        for key in TAG_KEYS:
            value = row.get(key)
            if value:
                slot = self.tags.get((key, value))
                if slot is None:
                    self.tags[(key, value)] = [1, ts, ts]
                else:
                    slot[0] += 1
                    slot[1] = min(slot[1], ts)
                    slot[2] = max(slot[2], ts)


async def store_errors(conn: AsyncConnection, rows: list[dict[str, Any]],
                       now: float | None = None) -> list[dict[str, Any]]:
    """Group, insert and count ``rows``; return the rows that were new (not duplicates)."""
    if not rows:
        return []
    now = wall_clock() if now is None else now
    groups: dict[tuple[int, str], tuple[grouping.Grouping, dict[str, Any]]] = {}
    for row in rows:
        g = grouping.group_row(row)
        row["fingerprint"] = g.fingerprint
        key = (row["project_id"], g.fingerprint)
        known = groups.get(key)
        if known is None or row["ts"] < known[1]["ts"]:
            groups[key] = (g, row)  # the earliest event names the issue
    ids = await _issue_ids(conn, groups, now)
    for row in rows:
        row["issue_id"] = ids[(row["project_id"], row["fingerprint"])]
    inserted = await _insert_new(conn, rows)
    deltas: dict[int, _IssueDelta] = {}
    for row in inserted:
        deltas.setdefault(row["issue_id"], _IssueDelta()).add(row)
    await _count(conn, deltas, now)
    return inserted


async def _issue_ids(conn: AsyncConnection,
                     groups: dict[tuple[int, str], tuple[grouping.Grouping, dict[str, Any]]],
                     now: float) -> dict[tuple[int, str], int]:
    keys = sorted(groups)
    found = await _select_ids(conn, keys)
    missing = [k for k in keys if k not in found]
    if missing:
        values = []
        for key in missing:
            g, row = groups[key]
            values.append(dict(
                project_id=key[0], fingerprint=key[1], grouping_method=g.method,
                grouping_inputs=_encode(g.inputs).decode(), title=g.title, culprit=g.culprit,
                level=row["level"], status="unresolved", first_seen=row["ts"],
                last_seen=row["ts"], event_count=0, created_at=now, regressed=False))
        await conn.execute(_insert(conn, issues).on_conflict_do_nothing(
            index_elements=["project_id", "fingerprint"]), values)
        found.update(await _select_ids(conn, missing))
    return found


async def _select_ids(conn: AsyncConnection,
                      keys: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    out: dict[tuple[int, str], int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        result = await conn.execute(
            select(issues.c.id, issues.c.project_id, issues.c.fingerprint)
            .where(tuple_(issues.c.project_id, issues.c.fingerprint).in_(chunk)))
        out.update({(r.project_id, r.fingerprint): r.id for r in result})
    return out


async def _insert_new(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda r: (r["project_id"], r["event_id"]))
    params = [{c: r[c] for c in _ERROR_COLUMNS if c in r} for r in ordered]
    stmt = (_insert(conn, tables.errors)
            .on_conflict_do_nothing(index_elements=["project_id", "event_id"])
            .returning(tables.errors.c.project_id, tables.errors.c.event_id))
    result = await conn.execute(stmt, params)
    new = {(r.project_id, r.event_id) for r in result}
    inserted = []
    for row in ordered:
        key = (row["project_id"], row["event_id"])
        if key in new:
            new.discard(key)  # the same event twice in one batch counts once
            inserted.append(row)
    return inserted


async def _count(conn: AsyncConnection, deltas: dict[int, _IssueDelta], now: float) -> None:
    if not deltas:
        return
    is_pg = conn.dialect.name == "postgresql"
    lo, hi = (func.least, func.greatest) if is_pg else (func.min, func.max)
    c = issues.c
    regresses = and_(c.status == "resolved", bindparam("d_last") >= func.coalesce(c.resolved_at, 0))
    stmt = (update(issues).where(c.id == bindparam("d_id")).values(
        event_count=c.event_count + bindparam("d_count"),
        first_seen=lo(c.first_seen, bindparam("d_first")),
        last_seen=hi(c.last_seen, bindparam("d_last")),
        level=case((bindparam("d_last") >= c.last_seen, bindparam("d_level")), else_=c.level),
        status=case((regresses, "unresolved"), else_=c.status),
        regressed=case((regresses, True), else_=c.regressed),
        regressed_at=case((regresses, bindparam("d_now")), else_=c.regressed_at),
        status_changed_at=case((regresses, bindparam("d_now")), else_=c.status_changed_at),
    ))
    await conn.execute(stmt, [
        dict(d_id=issue_id, d_count=d.count, d_first=d.first, d_last=d.last, d_level=d.level,
             d_now=now)
        for issue_id, d in sorted(deltas.items())])
    hourly = [dict(issue_id=issue_id, hour=hour, count=n)
              for issue_id, d in sorted(deltas.items()) for hour, n in sorted(d.hours.items())]
    ins = _insert(conn, issue_hourly)
    await conn.execute(ins.on_conflict_do_update(
        index_elements=["issue_id", "hour"],
        set_={"count": issue_hourly.c.count + ins.excluded["count"]}), hourly)
    tags = [dict(issue_id=issue_id, key=k, value=v, count=int(s[0]), first_seen=s[1],
                 last_seen=s[2])
            for issue_id, d in sorted(deltas.items()) for (k, v), s in sorted(d.tags.items())]
    if tags:
        ins = _insert(conn, issue_tags)
        t = issue_tags.c
        await conn.execute(ins.on_conflict_do_update(
            index_elements=["issue_id", "key", "value"],
            set_={"count": t.count + ins.excluded["count"],
                  "first_seen": lo(t.first_seen, ins.excluded.first_seen),
                  "last_seen": hi(t.last_seen, ins.excluded.last_seen)}), tags)


def _insert(conn: AsyncConnection, table: Any) -> Any:
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))
