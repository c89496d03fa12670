"""The Slack sender's order: most severe first, then oldest, chosen afresh after each delivery."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from collector.normalize import RowBatch
from collector.store import write_rows
from rules import tables as t
from rules.config import parse_rules
from rules.notify import lease as leases
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import SlackServer

RULES = """
rules:
  - name: service-errors
    kind: log_count
    query: "level:error"
    window: 1m
    max_groups: 30
    thresholds: {warning: 0}
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    thresholds: {critical: 0.05}
"""


async def _flood(alerting: Alerting, clock: FakeClock, services: int) -> None:
    ts = clock() - 5
    rows = [(1, ts, ts, f"made-up-{i:04d}", "production", "", "", None, None, "{}", 40, "app",
             "boom") for i in range(services)]
    async with alerting.store.engine.begin() as conn:
        await write_rows(conn, RowBatch(logs=rows))


def _post_rules(slack: SlackServer) -> list[str]:
    return [p.params["text"].split("]", 1)[1].split()[0] for p in slack.posts()]


async def test_a_critical_alert_raised_after_a_flood_is_posted_first(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULES)
    alerting.evaluator.max_new_groups = 30
    clock.advance(60)
    await _flood(alerting, clock, 25)
    assert (await alerting.evaluator.tick()).notifications == 25  # queued, not yet sent
    clock.advance(60)
    await _flood(alerting, clock, 25)
    await add_requests(alerting.store.engine, clock() - 5, "checkout", 100, 40)
    result = await alerting.evaluator.tick()
    assert result is not None and result.notifications >= 1
    assert alerting.sender is not None
    assert await alerting.sender.run_once() >= 26
    rules = _post_rules(slack)
    assert rules[0] == "checkout-errors" and rules.count("service-errors") == 25


async def test_a_critical_alert_raised_during_a_run_goes_next(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULES)
    alerting.evaluator.max_new_groups = 30
    clock.advance(60)
    await _flood(alerting, clock, 12)
    await alerting.evaluator.tick()
    assert alerting.sender is not None
    slack.latency = 0.1  # Slack paces a channel: a flood takes a while to go out
    run = asyncio.create_task(alerting.sender.run_once())
    await slack.wait_for(lambda: len(slack.posts()) >= 2)
    clock.advance(60)
    await _flood(alerting, clock, 12)
    await add_requests(alerting.store.engine, clock() - 5, "checkout", 100, 40)
    await alerting.evaluator.tick()
    queued_at = len(slack.posts())
    await asyncio.wait_for(run, 30)
    rules = _post_rules(slack)
    assert rules.index("checkout-errors") <= queued_at + 1, rules  # not behind the whole flood
    assert len(rules) == 13


async def test_a_lease_is_renewed_by_its_holder_and_fenced_once_taken_over(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULES)
    clock.advance(60)
    await add_requests(alerting.store.engine, clock() - 5, "checkout", 100, 40)
    await alerting.evaluator.tick()
    async with alerting.store.engine.connect() as conn:
        alert_id = (await conn.execute(select(t.alerts.c.id))).scalar_one()
    engine = alerting.store.engine
    first = await leases.take(engine, alert_id, "first", 10, clock)
    assert first is not None and await leases.take(engine, alert_id, "second", 10, clock) is None
    clock.advance(8)
    await first.confirm()  # renewed: good for another 10 s from now
    clock.advance(8)
    assert await leases.take(engine, alert_id, "second", 10, clock) is None
    assert alerting.sender is not None
    assert await alerting.sender.run_once() == 0 and slack.calls == []  # held elsewhere
    clock.advance(11)  # the holder stopped renewing: another sender may take over
    second = await leases.take(engine, alert_id, "second", 10, clock)
    assert second is not None
    with pytest.raises(leases.LeaseLost):
        await first.confirm()  # the old holder makes no further Slack call
    await first.release()  # and cannot free what it no longer holds
    assert await leases.take(engine, alert_id, "third", 10, clock) is None
