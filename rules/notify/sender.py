"""Delivers outbox rows to Slack: one message per alert, updated in place, replies in its thread.

Exactly one message per alert, across crashes and instances:

- a sender first takes a lease on the *alert* (``alerts.send_owner`` /
  ``send_until``, a conditional UPDATE, so only one sender in any instance
  delivers that alert's rows, in order), renews it before every Slack call
  and while one runs, and stops if it was lost (:mod:`rules.notify.lease`);
- ``chat.postMessage`` is called only while the alert has no ``slack_ts``,
  and the returned channel+ts are committed *before* the outbox row is marked
  sent, so a retry after a crash updates that message instead of posting
  another. (A crash in the instant between Slack accepting the post and the
  commit of its ts can still duplicate it: Slack offers no idempotency key.)

Slack calls retry on connection errors and 5xx (slack-sdk retry handlers). A
429 is not waited out inside the call (slack-sdk would sleep ``Retry-After``
while holding the lease): its ``Retry-After`` is recorded on the row as the
next attempt, the sender pauses as long, and the lease is released. A row
that fails is retried later with backoff. What happens next depends on the
failure:

- Slack unreachable, timing out, 5xx or 429 (an outage): the row stays
  ``pending`` however long it lasts (backoff capped at ``OUTAGE_BACKOFF_CAP``,
  so delivery resumes within about a minute of Slack's return), and the run
  stops there: every other alert would fail the same way, and trying each one
  would keep a run busy for minutes. The sender pauses for the same backoff.
- anything else (``channel_not_found``, ``invalid_auth``, no channel set): Slack
  will not fix it by itself; the row is marked ``failed`` after ``MAX_ATTEMPTS``.

Alerts are delivered most severe first, then oldest first, and the next one
is chosen afresh after each delivery: a critical alert queued behind a flood
of warnings (or raised while a run is busy) goes next, not last.

No wait is ever longer than ``BACKOFF_CAP``: a retry time or pause further
ahead than that means the clock went back, and it is treated as due.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import case, func, or_, select, update

from lookout import metrics
from rules import store
from rules import tables as t
from rules.config import Rule
from rules.context import alert_context
from rules.groups import OVERFLOW_KIND, overflow_message
from rules.notify import lease as leases
from rules.notify.slack_message import alert_blocks, escape, summary_text, thread_text

log = logging.getLogger("lookout.slack")

LEASE_SECONDS = 120.0  # default of LOOKOUT_SLACK_LEASE_SECONDS
MAX_ATTEMPTS = 10
CALL_TIMEOUT = 10
BATCH_ALERTS = 50  # most alerts one run tries
CANDIDATES = 10  # alerts read per choice of the next one
BACKOFF_CAP = 300.0
OUTAGE_BACKOFF_CAP = 60.0
OUTAGE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                           "request_timeout"})


def is_outage(exc: BaseException) -> bool:
    """True when Slack itself is unavailable (it will come back), not when the request is wrong."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 0) or 0
        return status == 429 or status >= 500 or exc.response.get("error") in OUTAGE_ERRORS
    return isinstance(exc, (aiohttp.ClientError, OSError, TimeoutError))


def make_client(token: str, api_url: str | None, timeout: int = CALL_TIMEOUT) -> AsyncWebClient:
    kwargs: dict[str, Any] = {}
    if api_url:
        kwargs["base_url"] = api_url
    # No rate-limit handler: a 429 is recorded on the outbox row, not slept on (see above).
    return AsyncWebClient(token=token, timeout=timeout, retry_handlers=[
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ], **kwargs)


class SlackSender:
    def __init__(self, alert_store: store.AlertStore, client: AsyncWebClient, *, base_url: str,
                 rule_lookup: Callable[[str], Rule | None], clock: Callable[[], float] = time.time,
                 owner: str | None = None, lease_seconds: float = LEASE_SECONDS) -> None:
        self.store = alert_store
        self.client = client
        self.base_url = base_url
        self.rule_lookup = rule_lookup
        self.clock = clock
        self.owner = owner or uuid.uuid4().hex[:16]
        self.lease_seconds = lease_seconds
        self.running = asyncio.Lock()  # one delivery run at a time in this process
        self.paused_until = 0.0  # Slack is down: no calls before this (clock time)
        self.outage_failures = 0  # consecutive outage failures, for the pause's backoff
        self._group_ids: dict[str, str] = {}  # user group handle -> id (usergroups.list)

    async def run_once(self) -> int:
        """Deliver every due outbox row this instance can lease; returns rows sent."""
        async with self.running:
            now = self.clock()
            if self.paused_until - now > BACKOFF_CAP:
                self.paused_until = 0.0  # the clock went back
            tried: list[int] = []
            sent = 0
            while len(tried) < BATCH_ALERTS and now >= self.paused_until:
                # Chosen afresh after every delivery: what was queued meanwhile competes too.
                candidates = await self._due_alerts(now, tried)
                if not candidates:
                    break
                for alert_id in candidates:
                    tried.append(alert_id)
                    held = await leases.take(self.store.engine, alert_id, self.owner,
                                             self.lease_seconds, self.clock)
                    if held is not None:
                        async with leases.holding(held):
                            sent += await self._deliver(held)
                        break
                now = self.clock()
            return sent

    async def _due_alerts(self, now: float, exclude: list[int]) -> list[int]:
        """Alerts with due rows, most severe first, then the oldest waiting row first."""
        o, a = t.outbox.c, t.alerts.c
        rank = case((a.severity == "critical", 0), (a.severity == "warning", 1), else_=2)
        query = (select(o.alert_id).select_from(t.outbox.outerjoin(t.alerts, a.id == o.alert_id))
                 .where(o.status == "pending",
                        or_(o.next_attempt_at <= now, o.next_attempt_at > now + BACKOFF_CAP))
                 .group_by(o.alert_id, a.severity)
                 .order_by(rank, func.min(o.created_at), o.alert_id).limit(CANDIDATES))
        if exclude:
            query = query.where(o.alert_id.not_in(exclude))
        async with self.store.engine.connect() as conn:
            return [r[0] for r in await conn.execute(query)]

    async def _deliver(self, held: leases.Lease) -> int:
        o = t.outbox.c
        async with self.store.engine.connect() as conn:
            rows = (await conn.execute(select(t.outbox).where(
                o.alert_id == held.alert_id, o.status == "pending").order_by(o.id))).all()
        sent = 0
        for row in rows:
            now = self.clock()
            if now < row.next_attempt_at <= now + BACKOFF_CAP:
                break  # keep this alert's notifications in order
            try:
                await self._send(row, held)
            except leases.LeaseLost:
                log.warning("slack delivery lease lost; another instance delivers this alert",
                            extra={"alert_id": row.alert_id})
                break
            except Exception as exc:  # noqa: BLE001 - recorded on the row and retried later
                await self._failed(row, exc)
                break
            await self._mark(row.id, status="sent", sent_at=self.clock())
            if self.outage_failures:
                log.info("slack reachable again; delivering queued notifications",
                         extra={"failed_calls": self.outage_failures})
                self.outage_failures = 0
            sent += 1
        return sent

    async def _send(self, row: Any, held: leases.Lease) -> None:
        async with self.store.engine.connect() as conn:
            alert = await store.get_alert(conn, row.alert_id)
        if alert is None:
            return
        rule = self.rule_lookup(alert["rule"])
        if rule is not None:
            alert["comparison"] = rule.thresholds.comparison
        runbook, summary = (rule.runbook, rule.summary) if rule is not None else (None, None)
        if alert["kind"] == OVERFLOW_KIND:
            alert, text, summary = overflow_message(alert)
        else:
            text = summary_text(alert)
        context = await alert_context(self.store.engine, alert, rule, self.clock(),
                                      self.base_url) if alert["kind"] != OVERFLOW_KIND else []
        blocks = alert_blocks(alert, self.base_url, runbook, summary, context)
        if alert["slack_ts"] is None:
            if row.event in ("fired", "escalated", "repeat", "paged"):
                await self._post(held, alert, text, blocks)
            # Nothing was ever posted (silenced or acknowledged before the first
            # message): an update or reply has nothing to attach to.
            return
        await self._call(held, "chat.update", channel=alert["slack_channel"],
                         ts=alert["slack_ts"], text=text, blocks=blocks)
        mentions = await self._mentions(held, rule.escalate_to) \
            if row.event == "paged" and rule is not None else None
        reply = thread_text(row.event, _as_queued(alert, row), row.actor, mentions,
                            row.created_at) if row.event != "fired" else None
        if reply:
            await self._call(held, "chat.postMessage", channel=alert["slack_channel"],
                             thread_ts=alert["slack_ts"], text=reply,
                             reply_broadcast=row.event in ("escalated", "paged",
                                                           "unacknowledged"))

    async def _mentions(self, held: leases.Lease, targets: tuple[str, ...]) -> list[str]:
        """Slack's mention syntax for a rule's ``escalate_to``: ``<@U…>`` for users,
        ``<!subteam^S…>`` for user groups; an ``@handle`` is looked up with
        ``usergroups.list`` while unknown (a handle Slack does not know, or a failed
        lookup, is shown as plain text: the page still goes out)."""
        if any(x.startswith("@") and x[1:] not in self._group_ids for x in targets):
            try:
                listed = await self._call(held, "usergroups.list")
                self._group_ids = {str(g.get("handle")): str(g.get("id"))
                                   for g in listed.get("usergroups") or []
                                   if isinstance(g, dict) and g.get("handle") and g.get("id")}
            except leases.LeaseLost:
                raise
            except Exception as exc:  # noqa: BLE001 - the page goes out, the handle as text
                log.warning("slack usergroups.list failed; paging by handle as plain text",
                            extra={"error": f"{type(exc).__name__}: {exc}"[:300]})
        out = []
        for target in targets:
            if target.startswith("@"):
                group = self._group_ids.get(target[1:])
                out.append(f"<!subteam^{group}>" if group else escape(target))
            elif target.startswith("S"):
                out.append(f"<!subteam^{target}>")
            else:
                out.append(f"<@{target}>")
        return out

    async def _post(self, held: leases.Lease, alert: dict[str, Any], text: str,
                    blocks: list[Any]) -> None:
        channel = alert.get("channel")
        if not channel:
            raise RuntimeError("no channel: set the rule's channel or LOOKOUT_SLACK_CHANNEL")
        response = await self._call(held, "chat.postMessage", channel=channel, text=text,
                                    blocks=blocks, unfurl_links=False)
        a = t.alerts.c
        async with self.store.engine.begin() as conn:
            await conn.execute(update(t.alerts).where(a.id == alert["id"], a.slack_ts.is_(None))
                               .values(slack_channel=response["channel"], slack_ts=response["ts"]))

    async def _call(self, held: leases.Lease, method: str, **kwargs: Any) -> Any:
        await held.confirm()  # never call Slack for an alert another sender may own now
        try:
            response = await self.client.api_call(method, json=kwargs)
        except SlackApiError as exc:
            metrics.SLACK_CALLS.labels(method, exc.response.get("error", "error")).inc()
            raise
        except Exception:
            metrics.SLACK_CALLS.labels(method, "unreachable").inc()
            raise
        metrics.SLACK_CALLS.labels(method, "ok").inc()
        return response

    async def _failed(self, row: Any, exc: Exception) -> None:
        attempts = row.attempts + 1
        retry_after = 0.0
        if isinstance(exc, SlackApiError):
            headers = getattr(exc.response, "headers", {}) or {}
            try:
                retry_after = float(headers.get("Retry-After") or headers.get("retry-after") or 0)
            except (TypeError, ValueError):
                retry_after = 0.0
        outage = is_outage(exc)
        cap = OUTAGE_BACKOFF_CAP if outage else BACKOFF_CAP
        retry_after = min(retry_after, BACKOFF_CAP)
        delay = max(retry_after, min(cap, 5.0 * 2 ** (attempts - 1)))
        status = "failed" if attempts >= MAX_ATTEMPTS and not outage else "pending"
        message = f"{type(exc).__name__}: {exc}"[:500]
        if outage:
            self.outage_failures += 1
            pause = min(OUTAGE_BACKOFF_CAP, 5.0 * 2 ** (self.outage_failures - 1))
            self.paused_until = self.clock() + max(retry_after, pause)
        if not outage or self.outage_failures == 1:  # one line per outage, not one per retry
            log.warning("slack delivery failed", extra={
                "alert_id": row.alert_id, "event": row.event, "attempt": attempts,
                "error": message, "retrying": status == "pending"})
        await self._mark(row.id, status=status, attempts=attempts, last_error=message,
                         next_attempt_at=self.clock() + delay)

    async def _mark(self, row_id: int, **values: Any) -> None:
        async with self.store.engine.begin() as conn:
            await conn.execute(update(t.outbox).where(t.outbox.c.id == row_id).values(**values))


def _as_queued(alert: dict[str, Any], row: Any) -> dict[str, Any]:
    """``alert`` with the value and severity it had when ``row`` was queued (rows
    queued before those were kept show the current ones)."""
    snapshot = {k: v for k, v in (("value", row.value), ("severity", row.severity))
                if v is not None}
    return {**alert, **snapshot} if snapshot else alert
