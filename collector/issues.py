"""The error write path: group events, store them, and count them on their issues.

Runs inside the writer's transaction (see :mod:`collector.store`), so an
event, its issue and the issue's counters commit together or not at all.

Steps, each one statement (or one ``executemany``) per batch:

1. fingerprint every row (:mod:`collector.grouping`, pure) with its project's
   grouping version (``projects.grouping_version``, cached for
   :data:`CONFIG_TTL` seconds);
2. find the issues for those fingerprints (``issues.fingerprint``, then the
   further fingerprints of ``issue_hashes``), creating the missing ones
   (``ON CONFLICT DO NOTHING``, then read back: another instance may have
   created one a moment ago). During a project's grouping transition
   (``grouping_fallback_until``) a fingerprint not found yet is looked up as
   the older versions computed it; when that finds an issue, the new
   fingerprint is added to the issue's hashes, for good, as Sentry does on a
   grouping config upgrade: existing issues keep their events;
3. insert the error rows with their ``issue_id`` (``ON CONFLICT DO NOTHING
   RETURNING``): only events really inserted are counted, so an SDK retrying
   an event never bumps a counter twice;
4. add the counts to the issues (additive ``UPDATE``: correct under any
   concurrency), reopening resolved issues as regressions;
5. additive upserts of hourly counts and service/release/environment/user
   tags (the user as named by :mod:`collector.users`; the number of ``user``
   tags of an issue is its "users affected");
6. one capped upsert of the custom tags (``set_tag("plan", "pro")``), one row
   per (issue, key, value) (:data:`_UPSERT_CUSTOM_TAGS`): at most
   ``TagLimits.max_keys`` keys per issue (later keys are not counted) and
   ``TagLimits.max_values`` values per key; later values are counted in the
   key's "other values" row (value ``''``, which no real value has), so a
   key's rows always add up to the events that carried it.

On PostgreSQL steps 3-5 are one statement (:data:`_PG_INSERT_AND_COUNT`):
the hot issue rows stay locked for one round trip instead of three, and a
batch of only errors can run as that statement alone, its own transaction.

Every statement touches keys in sorted order, so two PostgreSQL instances
writing overlapping issues take row locks in the same order and never
deadlock.

Speed: the steps are written once, as a generator that yields SQL and
receives results (:func:`plan`), part of the writer's whole-batch plan
(:mod:`collector.store`). On PostgreSQL each statement is awaited on the
connection; on SQLite the whole plan runs in one go on aiosqlite's thread.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from collector import grouping, tables
from lookout.db import now as wall_clock

_encode = msgspec.json.Encoder(order="deterministic").encode
TAG_KEYS = ("service", "release", "environment", "user")
# Custom tag keys not counted: the built-in ones (counted from their columns) and the
# request id (one value per request: its counts would say nothing; it is indexed anyway).
UNCOUNTED_TAGS = frozenset((*TAG_KEYS, "request_id"))
MAX_TAG_KEY_CHARS = 32  # issue_tags.key; longer keys stay on the event, not counted
MAX_TAG_VALUE_CHARS = 200  # issue_tags.value; longer values are cut
OTHER_VALUE = ""  # the "other values" row of a key: no counted value is empty


@dataclass(frozen=True, slots=True)
class TagLimits:
    """Bounds on custom tag counts per issue (``LOOKOUT_MAX_ISSUE_TAG_*``)."""

    max_keys: int = 50
    max_values: int = 100


DEFAULT_TAG_LIMITS = TagLimits()
ERROR_COLUMNS = tuple(c.name for c in tables.errors.columns if c.name != "id")
ROWS_PER_INSERT = 500  # 21 columns: far below SQLite's 32766 variables per statement

ID_CACHE_SIZE = 50_000
CONFIG_TTL = 10.0
"""Seconds a project's grouping version is cached: ``lookout project grouping`` takes
effect within this long on running servers (a restart applies it at once)."""


class IdCache(dict[tuple[int, str], int]):
    """Issue ids by (project_id, fingerprint), and the projects' grouping configs.

    Only ids read from committed rows are cached (never ones created by a
    transaction that may still roll back), and issues are never deleted, so an
    entry cannot go stale. Saves a round trip.
    """

    __slots__ = ("configs",)

    def __init__(self) -> None:
        super().__init__()
        # project_id -> (grouping version, fallback until, cached until)
        self.configs: dict[int, tuple[int, float | None, float]] = {}


_ID_CACHES: weakref.WeakKeyDictionary[Any, IdCache] = weakref.WeakKeyDictionary()

# A step of a plan: (sql with ? placeholders, parameters, "rows" | "many"), or on
# PostgreSQL (table, (columns, records), "copy") and "last": like "rows", and the
# plan's last step, which may run as a transaction of its own when no step before it
# has begun one (collector.store.asyncpg_transaction).
Step = tuple[str, Any, str]


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


def id_cache(engine: Any) -> IdCache:
    """The issue id cache of ``engine`` (a sync Engine), emptied when it grows too big."""
    cache = _ID_CACHES.get(engine)
    if cache is None:
        cache = _ID_CACHES[engine] = IdCache()
    if len(cache) > ID_CACHE_SIZE:
        cache.clear()
    return cache


def clock(now: float | None = None) -> float:
    return wall_clock() if now is None else now


_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=512)
def dollar(sql: str) -> str:
    """``?`` placeholders -> PostgreSQL's ``$1, $2, ...`` (plans repeat the same SQL)."""
    counter = iter(range(1, 100_000))
    return _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)


async def drive_async(conn: AsyncConnection, steps: Generator[Step, Any, Any]) -> Any:
    """Run a plan on PostgreSQL, one awaited statement (or COPY) per step."""
    result: Any = None
    try:
        while True:
            sql, params, mode = steps.send(result)
            if mode == "copy":
                columns, records = params
                raw = await conn.get_raw_connection()
                # COPY runs on the driver connection; make sure SQLAlchemy's transaction
                # has begun on it first so the rows commit (or roll back) with the rest.
                await conn.exec_driver_sql("SELECT 1")
                await raw.driver_connection.copy_records_to_table(sql, records=records,
                                                                  columns=columns)
                result = None
            elif mode == "many":
                await conn.exec_driver_sql(dollar(sql), list(params))
                result = None
            else:
                res = await conn.exec_driver_sql(dollar(sql), tuple(params))
                result = [tuple(r) for r in res] if res.returns_rows else []
    except StopIteration as done:
        return done.value


def plan(rows: list[dict[str, Any]], now: float, is_pg: bool,
         cache: dict[tuple[int, str], int],
         last: bool = False,
         tag_limits: TagLimits = DEFAULT_TAG_LIMITS) -> Generator[Step, Any, list[dict[str, Any]]]:
    """Steps 1-6 of the module docstring; returns the newly inserted rows.

    ``last``: nothing follows in the caller's plan, so on PostgreSQL a batch that
    fits one insert statement ends with a ``"last"`` step.
    """
    configs = yield from _grouping_configs(sorted({r["project_id"] for r in rows}), now, cache)
    groups: dict[tuple[int, str], tuple[grouping.Grouping, dict[str, Any]]] = {}
    for row in rows:
        g = grouping.group_row(row, configs[row["project_id"]][0])
        row["fingerprint"] = g.fingerprint
        key = (row["project_id"], g.fingerprint)
        known = groups.get(key)
        if known is None or row["ts"] < known[1]["ts"]:
            groups[key] = (g, row)  # the earliest event names the issue
    keys = sorted(groups)
    ids = {k: cache[k] for k in keys if k in cache}
    existing = yield from _select_ids([k for k in keys if k not in ids])
    cache.update(existing)
    ids.update(existing)
    missing = [k for k in keys if k not in ids]
    if missing:
        hashed = yield from _select_hashes(missing)
        cache.update(hashed)
        ids.update(hashed)
        missing = [k for k in keys if k not in ids]
    if missing:
        adopted = yield from _adopt_previous(missing, groups, configs, now)
        ids.update(adopted)
        missing = [k for k in keys if k not in ids]
    if missing:
        yield (_INSERT_ISSUE, [_new_issue(k, *groups[k], now) for k in missing], "many")
        ids.update((yield from _select_ids(missing)))
    for row in rows:
        row["issue_id"] = ids[(row["project_id"], row["fingerprint"])]

    ordered = sorted(rows, key=lambda r: (r["project_id"], r["event_id"]))
    # The user is not a column, so the PostgreSQL statement cannot count it; its tags
    # follow in the same transaction (the statement holds the issue rows' locks).
    has_users = is_pg and any(r.get("user") for r in rows)
    has_tags = False
    for row in rows:  # idempotent: a retried plan filters the same rows again
        if row.get("tags"):
            row["tags"] = counted_tags(row["tags"])
            has_tags = has_tags or bool(row["tags"])
    new: set[tuple[int, str]] = set()
    for start in range(0, len(ordered), ROWS_PER_INSERT):
        chunk = ordered[start:start + ROWS_PER_INSERT]
        values = ", ".join([_ERROR_VALUES] * len(chunk))
        params = [r.get(c) for r in chunk for c in ERROR_COLUMNS]
        if is_pg:
            alone = last and len(ordered) <= ROWS_PER_INSERT and not has_users
            mode = "last" if alone else "rows"
            tagged = event_tag_columns(chunk, tag_limits) if has_tags else None
            if tagged:  # step 6 in the same statement, over the events it inserted
                result = yield (_pg_insert_count_and_tag_sql(tag_limits).format(values=values),
                                [*params, now, *tagged], mode)
            else:
                result = yield (_PG_INSERT_AND_COUNT.format(values=values), [*params, now], mode)
        else:
            result = yield (_INSERT_ERRORS.format(values=values), params, "rows")
        new.update((r[0], r[1]) for r in result)
    inserted = []
    for row in ordered:
        key = (row["project_id"], row["event_id"])
        if key in new:
            new.discard(key)  # the same event twice in one batch counts once
            inserted.append(row)

    if is_pg:  # counted by the insert statement itself, but for the users
        users: dict[tuple[int, str], list[float]] = {}
        for row in inserted:
            if row.get("user"):
                slot = users.setdefault((row["issue_id"], row["user"]), [0, row["ts"], row["ts"]])
                slot[0] += 1
                slot[1], slot[2] = min(slot[1], row["ts"]), max(slot[2], row["ts"])
        yield from _chunked(_PG_UPSERT_TAGS, [(i, "user", u, int(s[0]), s[1], s[2])
                                           for (i, u), s in sorted(users.items())])
        return inserted
    deltas: dict[int, _IssueDelta] = {}
    for row in inserted:
        deltas.setdefault(row["issue_id"], _IssueDelta()).add(row)
    if deltas:
        items = sorted(deltas.items())
        yield (_UPDATE_ISSUES,
               [(d.count, d.first, d.last, d.last, d.level, d.last, d.last, d.last, now,
                 d.last, now, issue_id) for issue_id, d in items], "many")
        yield from _chunked(_UPSERT_HOURLY, [(i, h, n) for i, d in items
                                             for h, n in sorted(d.hours.items())])
        yield from _chunked(_UPSERT_TAGS, [(i, k, v, int(s[0]), s[1], s[2]) for i, d in items
                                           for (k, v), s in sorted(d.tags.items())])
    if has_tags:
        yield from _sqlite_upsert_custom_tags(inserted, tag_limits)
    return inserted


def counted_tags(tags: Any) -> dict[str, str]:
    """The custom tags of an event that are counted on its issue (a pure filter).

    Built-in keys and ``request_id`` are left out (see :data:`UNCOUNTED_TAGS`), as
    are keys longer than the column and empty values; values are cut to the column.
    """
    if not isinstance(tags, dict):
        return {}
    return {k: v[:MAX_TAG_VALUE_CHARS] for k, v in tags.items()
            if isinstance(k, str) and isinstance(v, str) and k and v
            and len(k) <= MAX_TAG_KEY_CHARS and k not in UNCOUNTED_TAGS}


def custom_tag_counts(rows: list[dict[str, Any]], limits: TagLimits
                      ) -> list[tuple[int, str, str, int, float, float]]:
    """``(issue_id, key, value, count, first, last)`` of a batch, sorted, already capped.

    Capped as far as the batch alone can tell: per issue at most ``max_keys`` keys
    (the most used), per key at most ``max_values`` values (the most used), the rest
    of a key's values merged into its :data:`OTHER_VALUE` row. What the issue
    already has is taken into account by the statement (:data:`_UPSERT_CUSTOM_TAGS`).
    """
    slots: dict[tuple[int, str, str], list[float]] = {}
    for row in rows:
        tags = row.get("tags")
        if not tags:
            continue
        ts, issue_id = row["ts"], row["issue_id"]
        for key, value in tags.items():
            slot = slots.get((issue_id, key, value))
            if slot is None:
                slots[(issue_id, key, value)] = [1, ts, ts]
            else:
                slot[0] += 1
                if ts < slot[1]:
                    slot[1] = ts
                elif ts > slot[2]:
                    slot[2] = ts
    values_of = Counter(k[:2] for k in slots)
    if not values_of or (max(values_of.values()) <= limits.max_values
                         and max(Counter(i for i, _ in values_of).values()) <= limits.max_keys):
        # The usual case: the batch alone reaches no cap.
        return sorted([(i, k, v, int(s[0]), s[1], s[2]) for (i, k, v), s in slots.items()])
    by_key: dict[tuple[int, str], list[tuple[str, list[float]]]] = {}
    for (issue_id, key, value), slot in slots.items():
        by_key.setdefault((issue_id, key), []).append((value, slot))
    keys_of: dict[int, list[tuple[float, str]]] = {}
    for (issue_id, key), values in by_key.items():
        keys_of.setdefault(issue_id, []).append((-sum(s[0] for _, s in values), key))
    out: list[tuple[int, str, str, int, float, float]] = []
    for issue_id, keys in keys_of.items():
        for _, key in sorted(keys)[:limits.max_keys]:
            values = sorted(by_key[(issue_id, key)], key=lambda vs: (-vs[1][0], vs[0]))
            for value, s in values[:limits.max_values]:
                out.append((issue_id, key, value, int(s[0]), s[1], s[2]))
            rest = [s for _, s in values[limits.max_values:]]
            if rest:
                out.append((issue_id, key, OTHER_VALUE, int(sum(s[0] for s in rest)),
                            min(s[1] for s in rest), max(s[2] for s in rest)))
    out.sort()
    return out


def event_tag_columns(rows: list[dict[str, Any]], limits: TagLimits
                      ) -> list[list[Any]] | None:
    """Step 6 on PostgreSQL: each event's counted tags as four arrays (project ids, event
    ids, keys, values), capped as :func:`custom_tag_counts` caps the batch: a key beyond
    the cap is left out, a value beyond it becomes :data:`OTHER_VALUE`.

    Per event, not per (issue, key, value), so the statement counts only the events its
    insert really stored (a retried event is not counted twice). None when none has tags.
    """
    counts = custom_tag_counts(rows, limits)
    if not counts:
        return None
    kept = {(i, k, v) for i, k, v, *_ in counts}
    keys = {(i, k) for i, k, *_ in counts}
    columns: list[list[Any]] = [[], [], [], []]
    events: set[tuple[int, str]] = set()
    for row in rows:
        tags = row.get("tags")
        event = (row["project_id"], row["event_id"])
        if not tags or event in events:
            continue
        events.add(event)
        issue_id = row["issue_id"]
        for key, value in tags.items():
            if (issue_id, key) in keys:
                columns[0].append(event[0])
                columns[1].append(event[1])
                columns[2].append(key)
                columns[3].append(value if (issue_id, key, value) in kept else OTHER_VALUE)
    return columns if columns[0] else None


def _sqlite_upsert_custom_tags(inserted: list[dict[str, Any]], limits: TagLimits
                               ) -> Generator[Step, Any, None]:
    """Step 6 on SQLite: the capped upsert of a batch's custom tags, as one statement.

    The tuples travel as one JSON text, so the statement's text never changes and is
    prepared once per connection: a text per batch size would be prepared again and
    again (about 4 ms each).
    """
    tuples = custom_tag_counts(inserted, limits)
    if tuples:
        yield (_sqlite_custom_tags_sql(limits), [_encode(tuples).decode()], "rows")


@functools.lru_cache(maxsize=8)
def _pg_insert_count_and_tag_sql(limits: TagLimits) -> str:
    """:data:`_PG_INSERT_AND_COUNT` with step 6 as more CTEs: the custom tags of the
    events ``ins`` inserted, written after ``counted`` holds their issues' row locks
    (one round trip per batch instead of two)."""
    upsert = (_UPSERT_CUSTOM_TAGS.format(rows=_PG_EVENT_TAG_ROWS, max_keys=int(limits.max_keys),
                                         max_values=int(limits.max_values))
              .replace("MIN(", "LEAST(").replace("MAX(", "GREATEST("))
    ctes, insert = upsert.removeprefix("WITH ").split("INSERT INTO issue_tags", 1)
    insert = "INSERT INTO issue_tags" + insert.replace(
        "WHERE true", "WHERE (SELECT count(*) FROM counted) >= 0")
    head, tail = _PG_INSERT_AND_COUNT.rsplit("SELECT project_id, event_id FROM ins", 1)
    assert head.endswith(") ") and not tail
    return (f"{head[:-1]}, {ctes.rstrip()}, custom AS ({insert}) "
            "SELECT project_id, event_id FROM ins")


@functools.lru_cache(maxsize=8)
def _sqlite_custom_tags_sql(limits: TagLimits) -> str:
    return _UPSERT_CUSTOM_TAGS.format(rows=_SQLITE_TAG_ROWS, max_keys=int(limits.max_keys),
                                      max_values=int(limits.max_values))


def _chunked(sql: str, tuples: list[tuple[Any, ...]]) -> Generator[Step, Any, None]:
    """One statement per ``ROWS_PER_INSERT`` tuples, with ``{values}`` as a VALUES list."""
    for start in range(0, len(tuples), ROWS_PER_INSERT):
        chunk = tuples[start:start + ROWS_PER_INSERT]
        values = ", ".join([f"({', '.join('?' * len(chunk[0]))})"] * len(chunk))
        yield (sql.format(values=values), [v for t in chunk for v in t], "rows")


def _select_ids(keys: list[tuple[int, str]]) -> Generator[Step, Any, dict[tuple[int, str], int]]:
    """Issues by their fingerprint."""
    return (yield from _lookup(keys, "SELECT id, fingerprint FROM issues "
                                     "WHERE project_id = ? AND fingerprint IN"))


def _select_hashes(keys: list[tuple[int, str]]
                   ) -> Generator[Step, Any, dict[tuple[int, str], int]]:
    """Issues by one of their further fingerprints (``issue_hashes``)."""
    return (yield from _lookup(keys, "SELECT issue_id, hash FROM issue_hashes "
                                     "WHERE project_id = ? AND hash IN"))


def _lookup(keys: list[tuple[int, str]], select: str
            ) -> Generator[Step, Any, dict[tuple[int, str], int]]:
    found: dict[tuple[int, str], int] = {}
    by_project: dict[int, list[str]] = {}
    for project_id, fingerprint in keys:
        by_project.setdefault(project_id, []).append(fingerprint)
    for project_id, fingerprints in sorted(by_project.items()):
        for start in range(0, len(fingerprints), 500):
            chunk = fingerprints[start:start + 500]
            sql = f"{select} ({', '.join('?' * len(chunk))})"
            result = yield (sql, [project_id, *chunk], "rows")
            found.update({(project_id, r[1]): r[0] for r in result})
    return found


def _grouping_configs(project_ids: list[int], now: float, cache: dict[Any, int]
                      ) -> Generator[Step, Any, dict[int, tuple[int, float | None]]]:
    """Each project's (grouping version, fallback until); cached for CONFIG_TTL seconds."""
    known: dict[int, tuple[int, float | None, float]] = getattr(cache, "configs", {})
    # Expired, or cached "in the future" (the clock was set back): read again.
    wanted = [p for p in project_ids
              if p not in known or not now <= known[p][2] <= now + CONFIG_TTL]
    if wanted:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            sql = ("SELECT id, grouping_version, grouping_fallback_until FROM projects "
                   f"WHERE id IN ({', '.join('?' * len(chunk))})")
            result = yield (sql, chunk, "rows")
            for project_id, version, until in result:
                known[project_id] = (int(version), until, now + CONFIG_TTL)
        if len(known) > ID_CACHE_SIZE:
            known.clear()
    # A project that is not in the table (rows written by tests or tools): version 1.
    return {p: (known[p][0], known[p][1]) if p in known else (1, None) for p in project_ids}


def _adopt_previous(missing: list[tuple[int, str]],
                    groups: dict[tuple[int, str], tuple[grouping.Grouping, dict[str, Any]]],
                    configs: dict[int, tuple[int, float | None]], now: float
                    ) -> Generator[Step, Any, dict[tuple[int, str], int]]:
    """During a grouping transition: attach new fingerprints to issues of older versions.

    The fingerprints of the older versions are computed (only for fingerprints no
    issue has yet: rare, new groups), the newest first, since a project may have
    skipped a version (1 -> 3); when an issue has one of them, the new fingerprint
    becomes one of that issue's hashes. Several new fingerprints may land on one old
    issue (the new version would have split it): they all stay with it, as in Sentry.
    """
    previous: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for key in missing:
        version, until = configs[key[0]]
        if version <= 1 or until is None or now >= until:
            continue
        olds: list[tuple[int, str]] = []
        for older in range(version - 1, 0, -1):
            old = (key[0], grouping.group_row(groups[key][1], older).fingerprint)
            if old[1] != key[1] and old not in olds:
                olds.append(old)
        if olds:
            previous[key] = olds
    if not previous:
        return {}
    wanted = sorted({old for olds in previous.values() for old in olds})
    found = yield from _select_ids(wanted)
    found.update((yield from _select_hashes([k for k in wanted if k not in found])))
    links = []
    for key, olds in previous.items():
        old = next((o for o in olds if o in found), None)
        if old is not None:
            links.append((key[0], key[1], found[old], configs[key[0]][0], now))
    if not links:
        return {}
    links.sort()
    yield (_INSERT_HASH, links, "many")
    # Read back (not cached: uncommitted); another instance may have linked it first.
    return (yield from _select_hashes([(p, h) for p, h, *_ in links]))


_INSERT_HASH = (
    "INSERT INTO issue_hashes (project_id, hash, issue_id, grouping_version, created_at) "
    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, hash) DO NOTHING")


def _new_issue(key: tuple[int, str], g: grouping.Grouping, row: dict[str, Any],
               now: float) -> tuple[Any, ...]:
    return (key[0], key[1], g.method, _encode(g.inputs).decode(), g.title, g.culprit,
            row["level"], row["ts"], row["ts"], now)


_INSERT_ISSUE = (
    "INSERT INTO issues (project_id, fingerprint, grouping_method, grouping_inputs, title, "
    "culprit, level, status, first_seen, last_seen, event_count, created_at, regressed) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, 'unresolved', ?, ?, 0, ?, false) "
    "ON CONFLICT (project_id, fingerprint) DO NOTHING")
_ERROR_VALUES = f"({', '.join('?' * len(ERROR_COLUMNS))})"
_INSERT_ERRORS = (
    f"INSERT INTO errors ({', '.join(ERROR_COLUMNS)}) VALUES {{values}} "
    "ON CONFLICT (project_id, event_id) DO NOTHING RETURNING project_id, event_id")
# A new event on a resolved issue reopens it (a regression) when it happened after
# the resolve; late retries of older events are only counted. SQLite: one execution
# per issue, in id order; PostgreSQL: the same in _PG_INSERT_AND_COUNT.
_REGRESSES = "(status = 'resolved' AND ? >= COALESCE(resolved_at, 0))"
_UPDATE_ISSUES = (
    "UPDATE issues SET event_count = event_count + ?, first_seen = MIN(first_seen, ?), "
    "last_seen = MAX(last_seen, ?), "
    "level = CASE WHEN ? >= last_seen THEN ? ELSE level END, "
    f"status = CASE WHEN {_REGRESSES} THEN 'unresolved' ELSE status END, "
    f"regressed = CASE WHEN {_REGRESSES} THEN true ELSE regressed END, "
    f"regressed_at = CASE WHEN {_REGRESSES} THEN ? ELSE regressed_at END, "
    f"status_changed_at = CASE WHEN {_REGRESSES} THEN ? ELSE status_changed_at END "
    "WHERE id = ?")
# Steps 3-5 in one PostgreSQL statement: the insert, and the counters of the events
# it really inserted (RETURNING), so the hot issue rows stay locked for one round
# trip and, run on its own, the statement is a whole transaction (no BEGIN/COMMIT
# round trips). ``locked`` takes the issue rows' locks in id order before anything
# is counted (the ``count(*)`` sub-queries make each part run to completion before
# the next starts), so concurrent writers never deadlock; hourly and tag rows are
# only written by a transaction holding their issue's lock. The level of the
# latest event wins, ties going to the larger event id, as in _IssueDelta.
_PG_REGRESSES = "(i.status = 'resolved' AND d.last >= COALESCE(i.resolved_at, 0))"
_PG_INSERT_AND_COUNT = (
    f"WITH ins AS (INSERT INTO errors ({', '.join(ERROR_COLUMNS)}) VALUES {{values}} "
    "ON CONFLICT (project_id, event_id) DO NOTHING "
    "RETURNING project_id, event_id, issue_id, ts, level, service, release, environment), "
    "now AS (SELECT ?::float8 AS at), "
    "d AS (SELECT issue_id AS id, count(*) AS n, min(ts) AS first, max(ts) AS last, "
    "(array_agg(level ORDER BY ts DESC, event_id DESC))[1] AS level "
    "FROM ins GROUP BY issue_id), "
    "locked AS (SELECT id FROM issues WHERE id IN (SELECT id FROM d) ORDER BY id FOR UPDATE), "
    "counted AS (UPDATE issues AS i SET event_count = i.event_count + d.n, "
    "first_seen = LEAST(i.first_seen, d.first), last_seen = GREATEST(i.last_seen, d.last), "
    "level = CASE WHEN d.last >= i.last_seen THEN d.level ELSE i.level END, "
    f"status = CASE WHEN {_PG_REGRESSES} THEN 'unresolved' ELSE i.status END, "
    f"regressed = CASE WHEN {_PG_REGRESSES} THEN true ELSE i.regressed END, "
    f"regressed_at = CASE WHEN {_PG_REGRESSES} THEN now.at ELSE i.regressed_at END, "
    f"status_changed_at = CASE WHEN {_PG_REGRESSES} THEN now.at ELSE i.status_changed_at END "
    "FROM d, now WHERE i.id = d.id AND (SELECT count(*) FROM locked) >= 0 RETURNING i.id), "
    "hourly AS (INSERT INTO issue_hourly (issue_id, hour, count) "
    "SELECT issue_id, (floor(ts / 3600) * 3600)::bigint, count(*) FROM ins "
    "WHERE (SELECT count(*) FROM counted) >= 0 GROUP BY 1, 2 "
    "ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count), "
    "tagged AS (INSERT INTO issue_tags (issue_id, key, value, count, first_seen, last_seen) "
    "SELECT issue_id, t.key, t.value, count(*), min(ts), max(ts) FROM ins, LATERAL (VALUES "
    "('service', ins.service), ('release', ins.release), ('environment', ins.environment)) "
    "AS t(key, value) WHERE t.value <> '' AND (SELECT count(*) FROM counted) >= 0 "
    "GROUP BY 1, 2, 3 ON CONFLICT (issue_id, key, value) DO UPDATE SET "
    "count = issue_tags.count + excluded.count, "
    "first_seen = LEAST(issue_tags.first_seen, excluded.first_seen), "
    "last_seen = GREATEST(issue_tags.last_seen, excluded.last_seen)) "
    "SELECT project_id, event_id FROM ins")
_UPSERT_HOURLY = (
    "INSERT INTO issue_hourly (issue_id, hour, count) VALUES {values} "
    "ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count")
_UPSERT_TAGS = (
    "INSERT INTO issue_tags (issue_id, key, value, count, first_seen, last_seen) "
    "VALUES {values} ON CONFLICT (issue_id, key, value) DO UPDATE SET "
    "count = issue_tags.count + excluded.count, "
    "first_seen = MIN(issue_tags.first_seen, excluded.first_seen), "
    "last_seen = MAX(issue_tags.last_seen, excluded.last_seen)")
_PG_UPSERT_TAGS = _UPSERT_TAGS.replace("MIN(", "LEAST(").replace("MAX(", "GREATEST(")
# Step 6. The batch's (issue_id, key, value, count, first, last) tuples: on PostgreSQL
# counted from the inserted events (``ins``) and their tags (four arrays, see
# event_tag_columns), on SQLite a JSON list of lists.
_PG_EVENT_TAG_ROWS = (
    "SELECT ins.issue_id, u.key, u.value, count(*), min(ins.ts), max(ins.ts) "
    "FROM unnest(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]), "
    "CAST(? AS TEXT[])) AS u (project_id, event_id, key, value) "
    "JOIN ins ON ins.project_id = u.project_id AND ins.event_id = u.event_id "
    "GROUP BY ins.issue_id, u.key, u.value")
_SQLITE_TAG_ROWS = ("SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), "
                    "json_extract(j.value, '$[2]'), json_extract(j.value, '$[3]'), "
                    "json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]') "
                    "FROM json_each(?) AS j")
# Each (issue, key, value) of the batch, once, capped against what the issue has:
# - ``ka``: the keys that are counted: known to the issue already, or new and within
#   ``max_keys`` (the issue's custom keys are counted only for a new key, over the two
#   index ranges beside ``user``, whose rows can be many);
# - ``c``: the value, or '' (the key's "other values" row) for a new value beyond
#   ``max_values``; new values are ranked most frequent first within the batch.
# Tag rows are written only under their issue's row lock (see _PG_INSERT_AND_COUNT;
# SQLite has one writer), so the counts read here cannot change before the insert.
_UPSERT_CUSTOM_TAGS = (
    "WITH v (issue_id, key, value, n, first_seen, last_seen) AS ({rows}), "
    "k AS (SELECT issue_id, key, EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = d.issue_id "
    "AND t.key = d.key) AS known FROM (SELECT DISTINCT issue_id, key FROM v) AS d), "
    "ka AS (SELECT issue_id, key FROM (SELECT issue_id, key, known, "
    "row_number() OVER (PARTITION BY issue_id, known ORDER BY key) AS r, "
    "CASE WHEN known THEN 0 ELSE "
    "(SELECT count(DISTINCT t.key) FROM issue_tags t WHERE t.issue_id = k.issue_id "
    "AND t.key < 'user' AND t.key NOT IN ('environment', 'release', 'service')) + "
    "(SELECT count(DISTINCT t.key) FROM issue_tags t WHERE t.issue_id = k.issue_id "
    "AND t.key > 'user') END AS have FROM k) AS kr WHERE known OR have + r <= {max_keys}), "
    "s AS (SELECT v.issue_id, v.key, v.value, v.n, v.first_seen, v.last_seen, "
    "(v.value = '' OR EXISTS (SELECT 1 FROM issue_tags t WHERE t.issue_id = v.issue_id "
    "AND t.key = v.key AND t.value = v.value)) AS seen "
    "FROM v JOIN ka ON ka.issue_id = v.issue_id AND ka.key = v.key), "
    "c AS (SELECT issue_id, key, n, first_seen, last_seen, CASE WHEN seen THEN value "
    "WHEN (SELECT count(*) FROM issue_tags t WHERE t.issue_id = s.issue_id AND t.key = s.key "
    "AND t.value <> '') + row_number() OVER (PARTITION BY issue_id, key, seen "
    "ORDER BY n DESC, value) <= {max_values} THEN value ELSE '' END AS value FROM s) "
    "INSERT INTO issue_tags (issue_id, key, value, count, first_seen, last_seen) "
    "SELECT issue_id, key, value, sum(n), min(first_seen), max(last_seen) FROM c WHERE true "
    "GROUP BY issue_id, key, value ON CONFLICT (issue_id, key, value) DO UPDATE SET "
    "count = issue_tags.count + excluded.count, "
    "first_seen = MIN(issue_tags.first_seen, excluded.first_seen), "
    "last_seen = MAX(issue_tags.last_seen, excluded.last_seen)")
