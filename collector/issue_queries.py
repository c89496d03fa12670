"""Issues for other modules: list, detail, latest event, counts, status changes.

The read API, the web UI and the rule engine call these functions instead of
reading the issue tables, which stay private to the collector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from collector import tables
from collector.issue_tables import STATUSES, issue_hourly, issue_tags, issues
from collector.issues import OTHER_VALUE
from collector.queries import (
    QueryError,
    _like_escape,
    decode_cursor,
    encode_cursor,
    error_item,
    level_name,
    page_of,
)
from collector.shown import Shown

_decode = msgspec.json.decode
SPARKLINE_HOURS = 24


@dataclass(frozen=True, slots=True)
class IssueQuery:
    status: str | None = None
    """One of ``unresolved``, ``resolved``, ``ignored``; ``None`` for all."""
    text: str | None = None
    """Case-insensitive substring of the title or culprit."""
    project_id: int | None = None
    limit: int = 100
    cursor: str | None = None


USER_TAG = "user"
BUILTIN_TAGS = ("environment", "release", "service")  # every value shown, in lists too
TOP_TAG_VALUES = 10
"""Values shown per custom tag key (the most frequent); ``tag_stats`` counts the rest."""


def issue_item(row: Any, tags: dict[str, list[dict[str, Any]]] | None = None,
               hourly: list[dict[str, Any]] | None = None, users: int = 0,
               tag_stats: dict[str, dict[str, int]] | None = None) -> dict[str, Any]:
    """The public JSON shape of an issue; ``users`` is how many distinct users it hit.

    ``tags``: values per key, most frequent first, each with its ``share`` of the
    key's events; ``tag_stats``: per key, ``total`` (events that carried it),
    ``values`` (distinct values counted) and ``other`` (events counted together
    once the key had ``LOOKOUT_MAX_ISSUE_TAG_VALUES`` values).
    """
    tags = tags or {}
    return {
        "id": row.id,
        "project_id": row.project_id,
        "title": row.title,
        "culprit": row.culprit,
        "level": level_name(row.level),
        "status": row.status,
        "regression": bool(row.regressed) and row.status == "unresolved",
        "count": row.event_count,
        "users": users,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "created_at": row.created_at,
        "regressed_at": row.regressed_at,
        "resolved_at": row.resolved_at,
        "fingerprint": row.fingerprint,
        "grouping": {"method": row.grouping_method, "inputs": _decode(row.grouping_inputs)},
        "services": [t["value"] for t in tags.get("service", [])],
        "releases": [t["value"] for t in tags.get("release", [])],
        "environments": [t["value"] for t in tags.get("environment", [])],
        "tags": tags,
        "tag_stats": tag_stats or {},
        "hourly": hourly or [],
    }


def check_status(status: str | None) -> str | None:
    if status in (None, "", "all"):
        return None
    if status not in STATUSES:
        raise QueryError(f"status: must be one of {', '.join(STATUSES)} (got {status[:20]!r})")
    return status


async def list_issues(engine: AsyncEngine, q: IssueQuery,
                      now: float) -> tuple[list[dict[str, Any]], str | None]:
    """Issues newest (by last event) first, each with its tags and 24 h of hourly counts."""
    c = issues.c
    conds = []
    if q.status:
        conds.append(c.status == check_status(q.status))
    if q.project_id is not None:
        conds.append(c.project_id == q.project_id)
    if q.text:
        pattern = f"%{_like_escape(q.text)}%"
        conds.append(or_(c.title.ilike(pattern, escape="\\"),
                         c.culprit.ilike(pattern, escape="\\")))
    if q.cursor:
        ts, row_id = decode_cursor(q.cursor)
        conds.append(or_(c.last_seen < ts, and_(c.last_seen == ts, c.id < row_id)))
    query = select(issues).where(*conds).order_by(c.last_seen.desc(), c.id.desc()).limit(
        q.limit + 1)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        page = rows[: q.limit]
        ids = [r.id for r in page]
        tags = await _tags(conn, ids)
        users = await _user_counts(conn, ids)
        hourly = await _hourly(conn, ids, now - SPARKLINE_HOURS * 3600)
    items = [issue_item(r, tags.get(r.id), hourly.get(r.id), users.get(r.id, 0)) for r in page]
    cursor = encode_cursor(page[-1].last_seen, page[-1].id) if len(rows) > q.limit else None
    return items, cursor


async def get_issue(engine: AsyncEngine, issue_id: int, now: float,
                    shown: Shown | None = None) -> dict[str, Any] | None:
    """One issue with its tags, 14 days of hourly counts and its latest event."""
    async with engine.connect() as conn:
        row = (await conn.execute(select(issues).where(issues.c.id == issue_id))).first()
        if row is None:
            return None
        tags, stats = await _all_tags(conn, issue_id)
        users = await _user_counts(conn, [issue_id])
        hourly = await _hourly(conn, [issue_id], now - 14 * 86400)
        event = (await conn.execute(
            select(tables.errors).where(tables.errors.c.issue_id == issue_id)
            .order_by(tables.errors.c.ts.desc(), tables.errors.c.id.desc()).limit(1))).first()
    item = issue_item(row, tags, hourly.get(issue_id), users.get(issue_id, 0), stats)
    item["latest_event"] = error_item(event, shown) if event is not None else None
    return item


async def latest_event(engine: AsyncEngine, issue_id: int) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        event = (await conn.execute(
            select(tables.errors).where(tables.errors.c.issue_id == issue_id)
            .order_by(tables.errors.c.ts.desc(), tables.errors.c.id.desc()).limit(1))).first()
    return error_item(event) if event is not None else None


async def issue_events(engine: AsyncEngine, issue_id: int, limit: int = 50,
                       cursor: str | None = None, shown: Shown | None = None
                       ) -> tuple[list[dict[str, Any]], str | None]:
    """The events of an issue, newest first, with the cursor of the next page (or None);
    the page ends early when it has carried what ``shown`` allows."""
    e = tables.errors.c
    conds = [e.issue_id == issue_id]
    if cursor:
        ts, row_id = decode_cursor(cursor)
        conds.append(or_(e.ts < ts, and_(e.ts == ts, e.id < row_id)))
    async with engine.connect() as conn:
        rows = (await conn.execute(select(tables.errors).where(*conds)
                                   .order_by(e.ts.desc(), e.id.desc()).limit(limit + 1))).all()
    items, last = page_of(rows, limit, error_item, shown or Shown())
    return items, encode_cursor(last.ts, last.id) if last is not None else None


async def hourly_counts(engine: AsyncEngine, issue_ids: list[int],
                        since: float) -> dict[int, list[dict[str, Any]]]:
    """``{issue_id: [{"hour": epoch, "count": n}, ...]}`` for hours starting at or after ``since``."""
    async with engine.connect() as conn:
        return await _hourly(conn, issue_ids, since)


async def new_or_regressed_since(engine: AsyncEngine, since: float,
                                 project_id: int | None = None) -> list[dict[str, Any]]:
    """Issues created or reopened by a new event at or after ``since`` (server clock).

    For the rule engine's ``new_issue`` rules: each item is an issue plus
    ``reason`` (``new`` or ``regressed``). Ignored issues are left out.
    """
    c = issues.c
    conds = [or_(c.created_at >= since, and_(c.regressed.is_(True), c.regressed_at >= since)),
             c.status != "ignored", c.event_count > 0]
    if project_id is not None:
        conds.append(c.project_id == project_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(issues).where(*conds).order_by(c.id))).all()
        tags = await _tags(conn, [r.id for r in rows])
        users = await _user_counts(conn, [r.id for r in rows])
    out = []
    for row in rows:
        item = issue_item(row, tags.get(row.id), users=users.get(row.id, 0))
        regressed = bool(row.regressed) and (row.regressed_at or 0) >= since
        item["reason"] = "regressed" if regressed and row.created_at < since else "new"
        out.append(item)
    return out


async def set_status(engine: AsyncEngine, issue_id: int, status: str,
                     now: float) -> dict[str, Any] | None:
    """Resolve, ignore or reopen an issue; ``None`` when there is no such issue."""
    status = check_status(status) or "unresolved"
    values: dict[str, Any] = {"status": status, "status_changed_at": now, "regressed": False}
    if status == "resolved":
        values["resolved_at"] = now
    async with engine.begin() as conn:
        result = await conn.execute(update(issues).where(issues.c.id == issue_id).values(values))
        if not result.rowcount:
            return None
    return await get_issue(engine, issue_id, now)


async def _all_tags(conn: Any, issue_id: int
                    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, int]]]:
    """Every tag key of one issue: built-in keys with all values, custom keys with the
    :data:`TOP_TAG_VALUES` most frequent; and each key's ``tag_stats`` (see issue_item).

    Users are only counted (:func:`_user_counts`): there can be many.
    """
    t = issue_tags.c
    rows = await conn.execute(select(issue_tags).where(t.issue_id == issue_id, t.key != USER_TAG)
                              .order_by(t.key, t.count.desc(), t.value))
    tags: dict[str, list[dict[str, Any]]] = {}
    stats: dict[str, dict[str, int]] = {}
    for r in rows:
        shown = tags.setdefault(r.key, [])
        stat = stats.setdefault(r.key, {"total": 0, "values": 0, "other": 0})
        stat["total"] += r.count
        if r.value == OTHER_VALUE:
            stat["other"] += r.count
            continue
        stat["values"] += 1
        if r.key in BUILTIN_TAGS or len(shown) < TOP_TAG_VALUES:
            shown.append({"value": r.value, "count": r.count, "first_seen": r.first_seen,
                          "last_seen": r.last_seen})
    for key, shown in tags.items():
        total = stats[key]["total"] or 1
        for value in shown:
            value["share"] = round(value["count"] / total, 4)
    return tags, stats


async def _tags(conn: Any, ids: list[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Service, release and environment tags of many issues (custom keys: get_issue)."""
    out: dict[int, dict[str, list[dict[str, Any]]]] = {}
    if not ids:
        return out
    t = issue_tags.c
    rows = await conn.execute(select(issue_tags).where(t.issue_id.in_(ids),
                                                       t.key.in_(BUILTIN_TAGS))
                              .order_by(t.issue_id, t.key, t.count.desc(), t.value))
    for r in rows:
        out.setdefault(r.issue_id, {}).setdefault(r.key, []).append(
            {"value": r.value, "count": r.count, "first_seen": r.first_seen,
             "last_seen": r.last_seen})
    return out


async def _user_counts(conn: Any, ids: list[int]) -> dict[int, int]:
    """Distinct users per issue: its ``user`` tag rows, counted on the unique index."""
    if not ids:
        return {}
    t = issue_tags.c
    rows = await conn.execute(select(t.issue_id, func.count()).where(
        t.issue_id.in_(ids), t.key == USER_TAG).group_by(t.issue_id))
    return {issue_id: count for issue_id, count in rows}


async def _hourly(conn: Any, ids: list[int], since: float) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    if not ids:
        return out
    h = issue_hourly.c
    rows = await conn.execute(select(h.issue_id, h.hour, h.count)
                              .where(h.issue_id.in_(ids), h.hour >= int(since // 3600) * 3600)
                              .order_by(h.issue_id, h.hour))
    for r in rows:
        out.setdefault(r.issue_id, []).append({"hour": r.hour, "count": r.count})
    return out
