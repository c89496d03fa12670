"""Slack down for a while, then back: every due notification delivered once, in order per alert.

The real evaluator and outbox sender run against the Slack mimic with a fake
clock; data goes in through the collector's write path. While Slack is down
alerts fire, escalate, get acknowledged and resolve; when it is back each
alert gets exactly one message and then one update (+ thread reply) per
queued event, in the order the transitions happened.

The sender's client here has slack-sdk's in-call retries turned off: they
sleep real seconds, and what is under test is the sender's own backoff and
pause (the end-to-end test in ``test_slack_outage_serve.py`` keeps them).
"""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from lookout.settings import Settings
from rules import tables as t
from rules.config import parse_rules
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import Call, SlackServer

RULES = """
rules:
  - name: errors
    kind: error_rate
    window: 1m
    for: 0s
    thresholds: {warning: 0.02, critical: 0.05}
    min_requests: 20
"""


def without_retries(alerting: Alerting, slack: SlackServer) -> None:
    assert alerting.sender is not None
    alerting.sender.client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url, timeout=5,
                                            retry_handlers=[])


async def minute(alerting: Alerting, clock: FakeClock, error_pct: dict[str, int],
                 step: float = 60) -> None:
    """Advance the clock, write each service's requests for that minute, tick, deliver."""
    clock.advance(step)
    for service, pct in error_pct.items():
        await add_requests(alerting.store.engine, clock() - 1, service, 100, pct)
    await alerting.run_tick()
    assert alerting.sender is not None
    await alerting.sender.run_once()


async def outbox(alerting: Alerting) -> list[Any]:
    async with alerting.store.engine.connect() as conn:
        return (await conn.execute(select(t.outbox).order_by(t.outbox.c.id))).all()


async def alerts_by_service(alerting: Alerting) -> dict[str, Any]:
    async with alerting.store.engine.connect() as conn:
        rows = (await conn.execute(select(t.alerts).order_by(t.alerts.c.id))).all()
    from rules.store import alert_dict

    return {alert_dict(r)["labels"]["service"]: r for r in rows}


def calls_for(slack: SlackServer, ts: str) -> list[Call]:
    """Accepted calls about one message: its post, updates, and replies in its thread."""
    return [c for c in slack.delivered() if c.result.get("ts") == ts and not c.params.get(
        "thread_ts") or c.params.get("ts") == ts or c.params.get("thread_ts") == ts]


def shape(calls: list[Call]) -> list[str]:
    """``post`` / ``update`` / ``reply:<first words>`` for each call, in order."""
    out = []
    for c in calls:
        if c.method == "chat.update":
            out.append("update")
        elif c.params.get("thread_ts"):
            out.append("reply:" + c.params["text"].split(":", 2)[-1].strip().split(" ")[0])
        else:
            out.append("post")
    return out


async def drain(alerting: Alerting, clock: FakeClock) -> None:
    """Deliver until nothing is pending (each pass past every backoff), with a bound."""
    assert alerting.sender is not None
    for _ in range(20):
        if not [r for r in await outbox(alerting) if r.status == "pending"]:
            return
        clock.advance(61)
        await alerting.sender.run_once()
    raise AssertionError(f"still pending: {await outbox(alerting)}")


@pytest.mark.parametrize("outage", ["500", "429", "refuse"])
async def test_outage_then_every_notification_once_in_order(
        alerting: Alerting, clock: FakeClock, slack: SlackServer, settings: Settings,
        outage: str) -> None:
    alerting.ruleset.rules = parse_rules(RULES)
    without_retries(alerting, slack)
    slack.down(outage)
    await minute(alerting, clock, {"a": 3, "b": 7, "c": 3})  # a, c warning; b critical
    await minute(alerting, clock, {"a": 8, "b": 7, "c": 0})  # a escalates; c resolves
    a_id = (await alerts_by_service(alerting))["a"].id
    outcome = await alerting.actions.acknowledge(a_id, "@bob", clock())
    assert outcome.result == "acknowledged"
    await minute(alerting, clock, {"a": 8, "b": 0})  # b resolves
    # A long outage: far past the attempts a row used to get before being dropped.
    for _ in range(12):
        await minute(alerting, clock, {"a": 8, "d": 0}, step=300)
    await minute(alerting, clock, {"a": 0, "d": 9})  # a resolves; d fires
    assert slack.delivered() == []
    rows = await outbox(alerting)
    failing = sum(r.attempts for r in rows)
    assert 0 < failing < 30, "the sender must pause during an outage, not hammer Slack"
    assert {r.status for r in rows} == {"pending"}
    assert max(r.attempts for r in rows) > 10  # more than MAX_ATTEMPTS: outages never drop

    # The process restarts while Slack is still down: a fresh Alerting on the same database.
    await alerting.sender.run_once()  # type: ignore[union-attr]
    second = Alerting(settings, alerting.store.engine, clock=clock)
    second.ruleset.rules = alerting.ruleset.rules
    without_retries(second, slack)
    assert second.sender is not None
    clock.advance(61)
    await second.sender.run_once()
    assert slack.delivered() == []

    slack.up()
    await drain(second, clock)
    rows = await outbox(second)
    assert {r.status for r in rows} == {"sent"}
    alerts = await alerts_by_service(second)
    assert sorted(alerts) == ["a", "b", "c", "d"]
    expected = {
        "a": ["post", "update", "reply:Escalated", "update", "reply:Acknowledged",
              "update", "reply:Resolved"],
        "b": ["post", "update", "reply:Resolved"],
        "c": ["post", "update", "reply:Resolved"],
        "d": ["post"],
    }
    for service, events in expected.items():
        alert = alerts[service]
        assert alert.slack_ts is not None, service
        queued = [r.event for r in rows if r.alert_id == alert.id]
        assert len(queued) == 1 + (len(events) - 1) // 2, (service, queued)
        got = shape(calls_for(slack, alert.slack_ts))
        assert got == events, (service, got, queued)
    assert len(slack.delivered("chat.postMessage")) == 4 + 5  # 4 messages, 5 thread replies
    # A resolved alert's message, posted late, shows it resolved (never a stale "firing").
    (b_post,) = [c for c in slack.delivered() if c.result.get("ts") == alerts["b"].slack_ts
                 and c.method == "chat.postMessage" and not c.params.get("thread_ts")]
    assert b_post.params["text"].startswith("[RESOLVED]")

    before = len(slack.calls)  # nothing more goes out: each notification exactly once
    for _ in range(3):
        await minute(second, clock, {"d": 9})
    assert len(slack.calls) == before
