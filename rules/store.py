"""Storage of alert state: tracks, alerts, history, outbox and silences.

Every change to alert state (the evaluation tick, and acknowledge / resolve /
silence from Slack or the API) runs inside :meth:`AlertStore.transaction`,
which serialises them: an asyncio lock within the process and, on
PostgreSQL, a transaction-scoped advisory lock across instances. Outbox rows
are written in that same transaction, so a notification exists if and only
if the transition that caused it was committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy import delete, func, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from rules import tables as t
from rules.state import Track, Transition

STATE_LOCK_ID = 0x4C4F4F4C  # advisory lock key for alert-state changes
MAX_EPOCH = 253402300799.0  # 9999-12-31T23:59:59Z: the last second a page can show
_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _labels(raw: str) -> dict[str, str]:
    return _decode(raw) if raw else {}


class AlertStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_pg = engine.dialect.name == "postgresql"
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction that no other alert-state change runs alongside."""
        async with self._lock, self.engine.begin() as conn:
            if self.is_pg:
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": STATE_LOCK_ID})
            yield conn

    async def claim_tick(self, slot_start: float, now: float, owner: str,
                         interval: float, max_gap: float) -> float | None:
        """For exactly one caller per tick slot, across all instances: the time since
        when ticks have followed each other without a gap; None for the others.

        A last slot more than one ``interval`` ahead of ``now`` means the clock
        went back: that slot is claimable again rather than blocking evaluation
        until the clock catches up. A last tick more than ``max_gap`` before
        ``now`` (the clock jumped forward, or no instance evaluated for a while)
        starts a new gap-free stretch at ``now``.
        """
        c = t.rule_ticks.c
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(c.slot_start, c.ticked_at, c.observed_since)
                                      .where(c.id == 1))).first()
            if row is None:
                await conn.execute(insert_ignore(conn, t.rule_ticks).values(
                    id=1, slot_start=-1.0, ticked_at=0.0, owner=""))
            previous, since = (row.ticked_at, row.observed_since) if row else (0.0, None)
            if since is None or not previous <= now <= previous + max_gap:
                since = now
            result = await conn.execute(
                update(t.rule_ticks).where(c.id == 1, or_(c.slot_start < slot_start,
                                                          c.slot_start > now + interval))
                .values(slot_start=slot_start, ticked_at=now, owner=owner,
                        observed_since=since))
            return since if result.rowcount == 1 else None

    async def prune(self, before: float, outbox_before: float) -> None:
        """Forget resolved alerts (and their history) older than retention, and sent outbox rows."""
        a, h, o, s = t.alerts.c, t.alert_history.c, t.outbox.c, t.silences.c
        async with self.transaction() as conn:
            old = select(a.id).where(a.state == "resolved", a.resolved_at < before)
            await conn.execute(delete(t.alert_history).where(h.alert_id.in_(old)))
            await conn.execute(delete(t.outbox).where(o.alert_id.in_(old)))
            await conn.execute(delete(t.alerts).where(a.state == "resolved",
                                                      a.resolved_at < before))
            await conn.execute(delete(t.alert_history).where(h.alert_id.is_(None),
                                                             h.ts < before))
            await conn.execute(delete(t.outbox).where(o.status != "pending",
                                                      o.created_at < outbox_before))
            await conn.execute(delete(t.silences).where(s.ends_at < before))


def insert_ignore(conn: AsyncConnection, table: Any) -> Any:
    """INSERT that skips rows conflicting with a unique key (both dialects spell it the same)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql
        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite
    return sqlite.insert(table).on_conflict_do_nothing()


async def load_tracks(conn: AsyncConnection) -> dict[str, Track]:
    """Every pending or firing identity, with what its alert row knows (ack, notified)."""
    s, a = t.rule_state.c, t.alerts.c
    query = select(t.rule_state, a.notified_severity, a.last_notified_at,
                   a.acknowledged_by, a.acknowledged_at, a.escalated_at).select_from(
        t.rule_state.outerjoin(t.alerts, a.id == s.alert_id))
    tracks = {}
    for r in await conn.execute(query):
        tracks[r.fingerprint] = Track(
            fingerprint=r.fingerprint, rule=r.rule, labels=_labels(r.labels), state=r.state,
            severity=r.severity, value=r.value, active_since=r.active_since,
            last_true_at=r.last_true_at, fired_at=r.fired_at, alert_id=r.alert_id,
            notified_severity=r.notified_severity, last_notified_at=r.last_notified_at,
            acknowledged=r.acknowledged_by is not None, evaluated_at=r.updated_at,
            escalated_at=r.escalated_at, acknowledged_at=r.acknowledged_at)
    return tracks


async def save_track(conn: AsyncConnection, track: Track, now: float, *, new: bool) -> None:
    values = dict(rule=track.rule, labels=_encode(track.labels).decode(), state=track.state,
                  severity=track.severity, value=track.value, active_since=track.active_since,
                  last_true_at=track.last_true_at, fired_at=track.fired_at,
                  alert_id=track.alert_id, updated_at=now)
    if new:
        await conn.execute(insert(t.rule_state).values(fingerprint=track.fingerprint, **values))
    else:
        await conn.execute(update(t.rule_state).where(
            t.rule_state.c.fingerprint == track.fingerprint).values(**values))


async def fingerprints_with_alerts(conn: AsyncConnection, fingerprints: list[str]) -> set[str]:
    c = t.alerts.c
    rows = await conn.execute(select(c.fingerprint).where(c.fingerprint.in_(fingerprints)))
    return {r[0] for r in rows}


async def delete_track(conn: AsyncConnection, fingerprint: str) -> None:
    await conn.execute(delete(t.rule_state).where(t.rule_state.c.fingerprint == fingerprint))


async def create_alert(conn: AsyncConnection, track: Track, *, kind: str,
                       labels: dict[str, str], threshold: float | None,
                       channel: str | None) -> int:
    result = await conn.execute(insert(t.alerts).values(
        fingerprint=track.fingerprint, rule=track.rule, kind=kind,
        labels=_encode(labels).decode(), state="firing", severity=track.severity,
        value=track.value, threshold=threshold, active_since=track.active_since,
        fired_at=track.fired_at, channel=channel))
    return int(result.inserted_primary_key[0])


async def update_alert(conn: AsyncConnection, alert_id: int, **values: Any) -> None:
    await conn.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(**values))


async def add_history(conn: AsyncConnection, fingerprint: str, rule: str, alert_id: int | None,
                      tr: Transition, actor: str | None = None) -> None:
    await conn.execute(insert(t.alert_history).values(
        alert_id=alert_id, fingerprint=fingerprint, rule=rule, ts=tr.at,
        from_state=tr.from_state, to_state=tr.to_state, severity=tr.severity, value=tr.value,
        actor=actor, note=tr.note))


async def attach_history(conn: AsyncConnection, fingerprint: str, alert_id: int) -> None:
    """Give the pending-phase history of a new alert its id, so its history starts at pending.

    The phase is found by row order (from its latest ``inactive -> pending``), not
    by time, so a clock jump during it cannot detach or mix up its lines.
    """
    h = t.alert_history.c
    start = select(func.max(h.id)).where(
        h.fingerprint == fingerprint, h.alert_id.is_(None), h.from_state == "inactive",
        h.to_state == "pending").scalar_subquery()
    await conn.execute(update(t.alert_history).where(
        h.fingerprint == fingerprint, h.alert_id.is_(None), h.id >= start).values(
        alert_id=alert_id))


async def enqueue(conn: AsyncConnection, alert_id: int, event: str, now: float,
                  actor: str | None = None, value: float | None = None,
                  severity: str | None = None) -> None:
    """Queue ``event`` for delivery; ``value``/``severity``: the alert's at this moment."""
    await conn.execute(insert(t.outbox).values(
        alert_id=alert_id, event=event, actor=actor, created_at=now, status="pending",
        attempts=0, next_attempt_at=now, value=value, severity=severity))


async def active_silences(conn: AsyncConnection, now: float) -> list[dict[str, str]]:
    c = t.silences.c
    # The upper bound keeps out NaN and Infinity, which PostgreSQL sorts above every number:
    # a row stored before times were checked must not mute its alerts for ever.
    rows = await conn.execute(select(c.matchers).where(c.starts_at <= now, c.ends_at > now,
                                                       c.ends_at <= MAX_EPOCH))
    return [_labels(r.matchers) for r in rows]


async def get_alert(conn: AsyncConnection, alert_id: int) -> dict[str, Any] | None:
    row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
    return alert_dict(row) if row is not None else None


def alert_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["labels"] = _labels(data["labels"])
    data.pop("send_owner", None)
    data.pop("send_until", None)
    return data


async def list_alerts(engine: AsyncEngine, state: str | None, limit: int) -> list[dict[str, Any]]:
    c = t.alerts.c
    query = select(t.alerts).order_by(c.fired_at.desc(), c.id.desc()).limit(limit)
    if state == "acknowledged":
        query = query.where(c.state == "firing", c.acknowledged_by.is_not(None))
    elif state is not None:
        query = query.where(c.state == state)
    async with engine.connect() as conn:
        return [alert_dict(r) for r in await conn.execute(query)]


async def alert_history(engine: AsyncEngine, alert_id: int) -> list[dict[str, Any]]:
    c = t.alert_history.c
    async with engine.connect() as conn:
        rows = await conn.execute(select(t.alert_history).where(c.alert_id == alert_id)
                                  .order_by(c.ts, c.id))
        return [dict(r._mapping) for r in rows]


async def create_silence(conn: AsyncConnection, matchers: dict[str, str], starts_at: float,
                         ends_at: float, created_by: str, comment: str, now: float) -> int:
    result = await conn.execute(insert(t.silences).values(
        matchers=_encode(matchers).decode(), starts_at=starts_at, ends_at=ends_at,
        created_by=created_by, comment=comment, created_at=now))
    return int(result.inserted_primary_key[0])


async def expire_silence(conn: AsyncConnection, silence_id: int,
                         now: float) -> tuple[str, dict[str, Any] | None]:
    """End a silence at ``now``: (``expired`` | ``already_expired``, the silence or None)."""
    c = t.silences.c
    row = (await conn.execute(select(t.silences).where(c.id == silence_id))).first()
    if row is None:
        return "not_found", None
    if row.ends_at <= now:
        return "already_expired", _silence_dict(row, now)
    await conn.execute(update(t.silences).where(c.id == silence_id).values(
        ends_at=now, starts_at=min(now, row.starts_at)))  # now first: NaN gives now
    row = (await conn.execute(select(t.silences).where(c.id == silence_id))).one()
    return "expired", _silence_dict(row, now)


def _silence_dict(row: Any, now: float) -> dict[str, Any]:
    data = dict(row._mapping)
    data["matchers"] = _labels(data["matchers"])
    data["active"] = data["starts_at"] <= now < data["ends_at"] <= MAX_EPOCH  # NaN: False
    return data


async def list_silences(engine: AsyncEngine, now: float,
                        include_expired: bool = False) -> list[dict[str, Any]]:
    c = t.silences.c
    query = select(t.silences).order_by(c.ends_at.desc(), c.id.desc()).limit(1000)
    if not include_expired:
        query = query.where(c.ends_at > now)
    async with engine.connect() as conn:
        return [_silence_dict(r, now) for r in await conn.execute(query)]
