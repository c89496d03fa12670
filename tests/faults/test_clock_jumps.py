"""The wall clock jumps under the rule engine: windows and ``for`` stay correct.

Semantics (docs/rules.md, "Clock jumps"): durations count *evaluated* time.
Each evaluation credits at most two evaluation intervals (at least a minute)
since the previous one, never a negative amount. So a forward jump neither
satisfies ``for`` at once nor ends ``keep_firing_for`` at once, and a
backward jump neither loses nor double-counts progress; evaluation and Slack
delivery carry on without waiting for the clock to catch up.

"Clients follow the clock" below means the records are stamped with the
jumped clock (the whole host jumped); otherwise windows right after a
forward jump are simply empty, which is a false condition, never a firing.
"""

from __future__ import annotations

from sqlalchemy import select

from rules import store
from rules import tables as t
from rules.config import parse_rules
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import SlackServer

RULE = """
rules:
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 5m
    for: 5m
    thresholds: {critical: 0.05}
"""
ABSENCE = """
rules:
  - name: checkout-silent
    kind: absence
    service: checkout
    window: 2m
    for: 2m
"""


async def minute(alerting: Alerting, clock: FakeClock, errors: int | None,
                 step: float = 60) -> None:
    """Advance the clock by ``step``, write a minute of requests stamped with it, tick, send."""
    clock.advance(step)
    if errors is not None:
        await add_requests(alerting.store.engine, clock() - 30, "checkout", 100, errors)
    await alerting.run_tick()
    assert alerting.sender is not None
    await alerting.sender.run_once()


async def alerts(alerting: Alerting) -> list:
    async with alerting.store.engine.connect() as conn:
        return (await conn.execute(select(t.alerts).order_by(t.alerts.c.id))).all()


async def test_forward_jump_does_not_satisfy_for_at_once(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULE)
    for _ in range(3):  # pending, 2 minutes of the 5 held
        await minute(alerting, clock, errors=7)
    await minute(alerting, clock, errors=7, step=3600)  # +1 h; clients follow the clock
    assert slack.posts() == [] and await alerts(alerting) == []
    await minute(alerting, clock, errors=7)  # 2 + 2 (credited for the jump) + 1 = 5 min held
    assert len(slack.posts()) == 1
    (alert,) = await alerts(alerting)
    history = await store.alert_history(alerting.store.engine, alert.id)
    assert [(h["from_state"], h["to_state"]) for h in history] == [("inactive", "pending"),
                                                                   ("pending", "firing")]


async def test_forward_jump_keeps_a_firing_alert_through_keep_firing_for(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULE.replace("for: 5m", "for: 0s\n    keep_firing_for: 5m"))
    await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1
    await minute(alerting, clock, errors=None, step=3600)  # +1 h; nothing in the new window yet
    await minute(alerting, clock, errors=7)  # the clients' data catches up
    (alert,) = await alerts(alerting)
    assert alert.state == "firing"  # not resolved and re-fired: one alert, one message
    assert len(slack.posts()) == 1 and slack.by_method("chat.update") == []
    for _ in range(6):  # clear: resolves after keep_firing_for of evaluated time
        await minute(alerting, clock, errors=0)
    (alert,) = await alerts(alerting)
    assert alert.state == "resolved"
    assert len(slack.by_method("chat.update")) == 1 and len(slack.posts()) == 1


async def test_forward_jump_empty_window_is_not_absence(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(ABSENCE)
    for _ in range(3):
        await minute(alerting, clock, errors=0)
    await minute(alerting, clock, errors=None, step=3600)  # looks silent for an hour
    await minute(alerting, clock, errors=0)  # it was not: data stamped with the new time
    for _ in range(3):
        await minute(alerting, clock, errors=0)
    assert slack.calls == [] and await alerts(alerting) == []


async def test_backward_jump_keeps_for_progress(alerting: Alerting, clock: FakeClock,
                                                slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULE)
    for _ in range(3):  # 2 minutes held
        await minute(alerting, clock, errors=7)
    await minute(alerting, clock, errors=7, step=-600)  # -10 min: evaluated, credits nothing
    assert slack.calls == []
    async with alerting.store.engine.connect() as conn:
        (track,) = (await store.load_tracks(conn)).values()
    assert track.state == "pending" and track.last_true_at - track.active_since == 120
    await minute(alerting, clock, errors=7)
    await minute(alerting, clock, errors=7)
    assert slack.calls == []  # 4 minutes held: not double-counted
    await minute(alerting, clock, errors=7)  # 5 minutes held: not lost either
    assert len(slack.posts()) == 1


async def test_backward_jump_no_duplicates_and_delivery_continues(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    alerting.ruleset.rules = parse_rules(RULE.replace("for: 5m", "for: 0s"))
    slack.down("500")
    await minute(alerting, clock, errors=7)  # fires; Slack fails, the row backs off
    (row,) = (await alerts(alerting))
    assert row.slack_ts is None
    slack.up()
    await minute(alerting, clock, errors=7, step=-600)  # the retry is "due in 10 minutes"
    assert len(slack.delivered()) == 1  # ...which cannot be a real backoff: delivered now
    for _ in range(15):
        await minute(alerting, clock, errors=7)
    assert len(slack.delivered()) == 1  # no repeat, no second alert
    for _ in range(6):
        await minute(alerting, clock, errors=0)
    (alert,) = await alerts(alerting)
    assert alert.state == "resolved"
    assert [c.method for c in slack.delivered()] == ["chat.postMessage", "chat.update",
                                                     "chat.postMessage"]
