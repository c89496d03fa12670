"""Caps on alert groups per rule: a flood of made-up services opens a bounded number of alerts."""

from __future__ import annotations

from sqlalchemy import select

from collector.normalize import RowBatch
from collector.store import write_rows
from rules import store
from rules import tables as t
from rules.config import parse_rules
from rules.groups import OVERFLOW_KIND, cap_groups, overflow_fingerprint, overflow_message
from rules.identity import fingerprint
from rules.runtime import Alerting
from rules.state import Observation
from tests.rules.conftest import FakeClock
from tests.support.slack_server import SlackServer

FLOOD_RULE = """
rules:
  - name: service-errors
    kind: log_count
    query: "level:error"
    window: 1m
    thresholds: {warning: 0, critical: 50}
"""


def _obs(rule, n: int, severity: str = "warning", value: float = 1.0):
    out = {}
    for i in range(n):
        labels = {"service": f"s{i:03d}", "environment": "production"}
        out[fingerprint(rule.name, labels)] = Observation(labels, value, severity)
    return out


def test_cap_groups_keeps_tracked_admits_room_and_counts_the_rest() -> None:
    (rule,) = parse_rules(FLOOD_RULE)
    observations = _obs(rule, 30)
    tracked = set(list(observations)[:4])
    kept = cap_groups(rule, observations, tracked, max_groups=10, max_new=3)
    overflow = kept.pop(overflow_fingerprint(rule.name))
    assert tracked <= set(kept) and len(kept) == 4 + 3  # every tracked group, 3 new ones
    assert overflow.value == 30 - 7 and overflow.severity == "warning"
    assert overflow.labels == {"overflow": "groups"}
    # The total cap: with 9 tracked, one more fits whatever max_new says.
    kept = cap_groups(rule, observations, set(list(observations)[:9]), max_groups=10, max_new=5)
    assert len(kept) == 10 + 1 and kept[overflow_fingerprint(rule.name)].value == 20
    # Under the caps nothing changes and there is no overflow.
    assert cap_groups(rule, _obs(rule, 3), set(), max_groups=10, max_new=5).keys() \
        == _obs(rule, 3).keys()


def test_cap_groups_prefers_the_most_severe_and_worst_groups() -> None:
    (rule,) = parse_rules(FLOOD_RULE)
    observations = _obs(rule, 20)  # one error each
    real = {"service": "checkout", "environment": "production"}
    observations[fingerprint(rule.name, real)] = Observation(real, 80.0, "critical")
    worse = {"service": "search", "environment": "production"}
    observations[fingerprint(rule.name, worse)] = Observation(worse, 9.0, "warning")
    kept = cap_groups(rule, observations, set(), max_groups=50, max_new=2)
    kept.pop(overflow_fingerprint(rule.name))
    assert [o.labels["service"] for o in kept.values()] == ["checkout", "search"]


def test_overflow_message_names_the_count_not_the_groups() -> None:
    alert = {"id": 7, "rule": "service-errors", "kind": OVERFLOW_KIND, "value": 590.0,
             "threshold": None, "severity": "warning", "state": "firing",
             "labels": {"overflow": "groups", "rule": "service-errors", "max_groups": "10"}}
    shown, text, summary = overflow_message(alert)
    assert text == ("[WARNING] service-errors: 590 more groups breach this rule beyond its "
                    "max_groups (10); they have no alert of their own")
    assert summary in text and shown["threshold"] is None


async def _alerts(alerting: Alerting) -> list:
    async with alerting.store.engine.connect() as conn:
        return (await conn.execute(select(t.alerts).order_by(t.alerts.c.id))).all()


async def _flood(alerting: Alerting, clock: FakeClock, services: int) -> None:
    """One error log from each of ``services`` made-up services, a few seconds ago."""
    ts = clock() - 5
    rows = [(1, ts, ts, f"made-up-{i:04d}", "production", "", "", None, None, "{}", 40, "app",
             "boom") for i in range(services)]
    async with alerting.store.engine.begin() as conn:
        await write_rows(conn, RowBatch(logs=rows))


async def test_a_flood_of_services_opens_a_bounded_number_of_alerts(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(FLOOD_RULE.replace(
        "    window: 1m", "    window: 1m\n    max_groups: 8"))
    alerting.evaluator.max_new_groups = 5
    assert alerting.sender is not None
    clock.advance(60)
    await _flood(alerting, clock, 600)
    await alerting.run_tick()
    await alerting.sender.run_once()
    rows = await _alerts(alerting)
    assert len(rows) == 5 + 1  # five new groups this tick, plus the overflow alert
    overflow = [r for r in rows if r.kind == OVERFLOW_KIND]
    assert len(overflow) == 1 and overflow[0].value == 595
    assert len(slack.posts()) == 6
    assert any("595 more groups" in p.params["text"] for p in slack.posts())

    clock.advance(60)  # the flood goes on: the rest of max_groups, never more
    await _flood(alerting, clock, 600)
    await alerting.run_tick()
    await alerting.sender.run_once()
    rows = await _alerts(alerting)
    assert len(rows) == 8 + 1 and len(slack.posts()) == 9
    assert [r.value for r in rows if r.kind == OVERFLOW_KIND] == [592]

    for _ in range(3):  # more ticks of flood: no new alert, no new message
        clock.advance(60)
        await _flood(alerting, clock, 50)
        await alerting.run_tick()
        await alerting.sender.run_once()
    assert len(await _alerts(alerting)) == 9 and len(slack.posts()) == 9

    clock.advance(120)  # the flood stops: everything resolves, the overflow alert too
    await alerting.run_tick()
    await alerting.sender.run_once()
    rows = await _alerts(alerting)
    assert {r.state for r in rows} == {"resolved"} and len(slack.posts()) == 9
    updates = [c for c in slack.by_method("chat.update")
               if c.params["text"].startswith("[RESOLVED] service-errors: no more groups")]
    assert len(updates) == 1


async def test_default_caps_come_from_settings(alerting: Alerting, clock: FakeClock,
                                               slack: SlackServer) -> None:
    assert alerting.evaluator.max_groups == alerting.settings.alert_max_groups == 50
    assert alerting.evaluator.max_new_groups == alerting.settings.alert_max_new_groups == 10
    alerting.ruleset.rules = parse_rules(FLOOD_RULE)
    for _ in range(6):
        clock.advance(60)
        await _flood(alerting, clock, 200)
        await alerting.run_tick()
    rows = await _alerts(alerting)
    assert len(rows) == 50 + 1
    assert [r.value for r in rows if r.kind == OVERFLOW_KIND] == [150]


async def test_silencing_the_overflow_alert_mutes_it_alone(alerting: Alerting, clock: FakeClock,
                                                          slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(FLOOD_RULE.replace(
        "    window: 1m", "    window: 1m\n    max_groups: 2"))
    clock.advance(60)
    await _flood(alerting, clock, 5)
    await alerting.run_tick()
    (overflow,) = [r for r in await _alerts(alerting) if r.kind == OVERFLOW_KIND]
    outcome = await alerting.actions.silence(overflow.id, "@alice", clock())
    assert outcome.result == "silenced"
    async with alerting.store.engine.connect() as conn:
        silences = await store.active_silences(conn, clock())
    assert silences == [{"rule": "service-errors", "overflow": "groups"}]
