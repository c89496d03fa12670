"""The evaluation tick end to end: rollups in, alerts and Slack calls out (mimic server)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from lookout.settings import Settings
from rules import tables as t
from rules.config import parse_rules
from rules.notify.slack_message import ACK, ASSIGN, RESOLVE, SNOOZE
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import Failure, SlackServer

RULE = """
rules:
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 5m
    for: 5m
    thresholds: {warning: 0.02, critical: 0.05}
    min_requests: 20
    runbook: https://wiki.example.com/checkout
"""


async def minute(alerting: Alerting, clock: FakeClock, errors: int | None, total: int = 100,
                 service: str = "checkout") -> None:
    """Advance one minute, write that minute's requests, tick and deliver."""
    clock.advance(60)
    if errors is not None:
        await add_requests(alerting.store.engine, clock() - 30, service, total, errors)
    await alerting.run_tick()
    assert alerting.sender is not None
    await alerting.sender.run_once()


async def alerts(alerting: Alerting) -> list:
    async with alerting.store.engine.connect() as conn:
        return (await conn.execute(select(t.alerts).order_by(t.alerts.c.id))).all()


def use(alerting: Alerting, text: str) -> None:
    alerting.ruleset.rules = parse_rules(text)


async def test_critical_error_rate_posts_once_after_for(alerting: Alerting, clock: FakeClock,
                                                        slack: SlackServer) -> None:
    use(alerting, RULE)
    for _ in range(5):  # 4 minutes pending: nothing yet
        await minute(alerting, clock, errors=7)
    assert slack.calls == []
    assert [a.state for a in await alerts(alerting)] == []
    await minute(alerting, clock, errors=7)  # for (5m) has now elapsed since the first breach
    posts = slack.posts()
    assert len(posts) == 1
    p = posts[0].params
    assert p["channel"] == "#alerts"
    assert "[CRITICAL] checkout-errors (checkout): 7.0% > 5.0%" == p["text"]
    (alert,) = await alerts(alerting)
    assert alert.state == "firing" and alert.severity == "critical"
    assert alert.slack_ts is not None and alert.slack_channel.startswith("C")
    blob = str(p["blocks"])
    assert "7.0% &gt; 5.0%" in blob and "https://wiki.example.com/checkout" in blob
    assert f"http://lookout.test/alerts/{alert.id}" in blob
    assert "http://lookout.test/search?q=service%3Acheckout%20environment%3Aproduction" in blob
    controls = [b for blk in p["blocks"] if blk["type"] == "actions" for b in blk["elements"]]
    assert [(b["action_id"], b["value"], b["text"]["text"]) for b in controls[:2]] == [
        (ACK, str(alert.id), "Acknowledge"), (RESOLVE, str(alert.id), "Resolve")]
    assert [(c["type"], c["action_id"], c["placeholder"]["text"]) for c in controls[2:]] == [
        ("static_select", SNOOZE, "Snooze…"), ("users_select", ASSIGN, "Assign to…")]
    for _ in range(10):  # still firing: no second message within repeat_interval
        await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1 and slack.by_method("chat.update") == []


async def test_three_percent_is_a_warning(alerting: Alerting, clock: FakeClock,
                                          slack: SlackServer) -> None:
    use(alerting, RULE)
    for _ in range(6):
        await minute(alerting, clock, errors=3)
    (post,) = slack.posts()
    assert post.params["text"] == "[WARNING] checkout-errors (checkout): 3.0% > 2.0%"


async def test_escalation_updates_same_message(alerting: Alerting, clock: FakeClock,
                                               slack: SlackServer) -> None:
    use(alerting, RULE)
    for _ in range(6):
        await minute(alerting, clock, errors=3)
    for _ in range(6):  # the 5-minute window fills with 8% errors
        await minute(alerting, clock, errors=8)
    assert len(slack.posts()) == 1
    update = slack.by_method("chat.update")[-1].params
    assert update["ts"] == (await alerts(alerting))[0].slack_ts
    assert update["text"].startswith("[CRITICAL]")
    assert any("Escalated to CRITICAL" in r.params["text"] for r in slack.replies())
    assert len(await alerts(alerting)) == 1


async def test_keep_firing_for_then_one_resolved_update(alerting: Alerting, clock: FakeClock,
                                                        slack: SlackServer) -> None:
    use(alerting, RULE.replace("min_requests: 20", "min_requests: 20\n    keep_firing_for: 10m"))
    for _ in range(6):
        await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1
    for _ in range(6):  # 4%: below critical, above warning: still firing, no new page
        await minute(alerting, clock, errors=4)
    (alert,) = await alerts(alerting)
    assert alert.state == "firing" and alert.severity == "warning"
    assert len(slack.posts()) == 1 and slack.replies() == []
    for _ in range(14):  # clear; must stay firing for keep_firing_for (10m) after last breach
        await minute(alerting, clock, errors=0)
        if (await alerts(alerting))[0].state == "resolved":
            break
    (alert,) = await alerts(alerting)
    assert alert.state == "resolved" and alert.resolved_by == "lookout"
    # Fired at minute 6; the 5-minute window last breached 2% at minute 14 (three 4%
    # minutes of five); keep_firing_for 10m later, at minute 24, it resolves.
    assert alert.resolved_at - alert.fired_at == 18 * 60
    updates = slack.by_method("chat.update")
    assert len(updates) == 1 and updates[0].params["text"].startswith("[RESOLVED]")
    assert "actions" not in str([b["type"] for b in updates[0].params["blocks"]])
    (reply,) = slack.replies()
    assert "Resolved" in reply.params["text"]
    assert reply.params["thread_ts"] == alert.slack_ts
    for _ in range(3):
        await minute(alerting, clock, errors=0)
    assert len(slack.by_method("chat.update")) == 1 and len(slack.replies()) == 1


async def test_flapping_input_does_not_storm(alerting: Alerting, clock: FakeClock,
                                             slack: SlackServer) -> None:
    use(alerting, """
rules:
  - name: flappy
    kind: error_rate
    window: 1m
    for: 0s
    keep_firing_for: 10m
    thresholds: {critical: 0.05}
""")
    for i in range(30):
        await minute(alerting, clock, errors=10 if i % 2 == 0 else 0)
    assert len(slack.posts()) == 1
    assert slack.by_method("chat.update") == []
    assert len(await alerts(alerting)) == 1


async def test_pending_that_clears_is_silent(alerting: Alerting, clock: FakeClock,
                                             slack: SlackServer) -> None:
    use(alerting, RULE.replace("window: 5m", "window: 1m"))
    for _ in range(3):
        await minute(alerting, clock, errors=9)
    for _ in range(6):
        await minute(alerting, clock, errors=0)
    assert slack.calls == [] and await alerts(alerting) == []
    async with alerting.store.engine.connect() as conn:
        history = (await conn.execute(select(t.alert_history))).all()
    assert [(h.from_state, h.to_state) for h in history] == [("inactive", "pending"),
                                                             ("pending", "inactive")]


async def test_slack_429_retried_after_retry_after(alerting: Alerting, clock: FakeClock,
                                                   slack: SlackServer) -> None:
    """A 429's Retry-After is recorded on the row (not slept on inside the call) and honoured."""
    use(alerting, RULE)
    slack.fail_next("chat.postMessage", Failure("429", retry_after=30))
    for _ in range(6):
        await minute(alerting, clock, errors=7)
    calls = slack.by_method("chat.postMessage")
    assert len(calls) == 1 and calls[0].status == 429  # answered at once, not retried in-call
    async with alerting.store.engine.connect() as conn:
        (row,) = (await conn.execute(select(t.outbox))).all()
    assert row.status == "pending" and row.attempts == 1 and "ratelimited" in row.last_error
    assert row.next_attempt_at == clock() + 30
    alert = (await alerts(alerting))[0]
    assert alert.send_owner is None and alert.slack_ts is None  # the lease was released
    assert alerting.sender is not None
    clock.advance(29)
    assert await alerting.sender.run_once() == 0 and len(slack.by_method("chat.postMessage")) == 1
    clock.advance(1)
    assert await alerting.sender.run_once() == 1
    assert len(slack.delivered("chat.postMessage")) == 1
    assert (await alerts(alerting))[0].slack_ts is not None
    await minute(alerting, clock, errors=7)
    assert len(slack.by_method("chat.postMessage")) == 2


async def test_slack_500_then_outage_is_retried_later_without_duplicate(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    use(alerting, RULE)
    slack.fail_next("chat.postMessage", *[Failure("500")] * 3)  # exhausts in-call retries
    for _ in range(6):
        await minute(alerting, clock, errors=7)
    assert (await alerts(alerting))[0].slack_ts is None
    async with alerting.store.engine.connect() as conn:
        (row,) = (await conn.execute(select(t.outbox))).all()
    assert row.status == "pending" and row.attempts == 1 and "internal_error" in row.last_error
    clock.advance(10)  # past the backoff
    assert alerting.sender is not None
    assert await alerting.sender.run_once() == 1
    ok_posts = [c for c in slack.posts()][3:]
    assert len(ok_posts) == 1 and (await alerts(alerting))[0].slack_ts is not None


async def test_restart_mid_for_fires_on_time_without_duplicate(
        settings: Settings, clock: FakeClock, slack: SlackServer) -> None:
    from lookout.db import create_engine

    first = Alerting(settings, create_engine(settings.database_url), clock=clock)
    use(first, RULE)
    for _ in range(3):
        await minute(first, clock, errors=7)
    await first.store.engine.dispose()  # "crash": a new process picks up
    second = Alerting(settings, create_engine(settings.database_url), clock=clock)
    use(second, RULE)
    try:
        await minute(second, clock, errors=7)
        await minute(second, clock, errors=7)
        assert slack.calls == []
        await minute(second, clock, errors=7)  # 5 minutes after the first breach
        assert len(slack.posts()) == 1
        for _ in range(3):
            await minute(second, clock, errors=7)
        third = Alerting(settings, second.store.engine, clock=clock)
        use(third, RULE)
        await minute(third, clock, errors=7)
        assert len(slack.posts()) == 1
    finally:
        await second.store.engine.dispose()


async def test_two_instances_one_message(settings: Settings, clock: FakeClock,
                                         slack: SlackServer) -> None:
    await two_instances(settings, clock, RULE, 8)
    assert len(slack.posts()) == 1


async def two_instances(settings: Settings, clock: FakeClock, rules: str, minutes: int) -> None:
    """Two instances on one database, ticking and delivering side by side each minute."""
    from lookout.db import create_engine

    a = Alerting(settings, create_engine(settings.database_url), clock=clock)
    b = Alerting(settings, create_engine(settings.database_url), clock=clock)
    use(a, rules)
    use(b, rules)
    assert a.sender is not None and b.sender is not None
    try:
        for _ in range(minutes):
            clock.advance(60)
            await add_requests(a.store.engine, clock() - 30, "checkout", 100, 7)
            results = await asyncio.gather(a.evaluator.tick(), b.evaluator.tick())
            assert sum(r is not None for r in results) == 1  # one evaluation per tick
            await asyncio.gather(a.sender.run_once(), b.sender.run_once())
    finally:
        await a.store.engine.dispose()
        await b.store.engine.dispose()


async def test_failing_rule_does_not_stop_others(alerting: Alerting, clock: FakeClock,
                                                 slack: SlackServer) -> None:
    use(alerting, RULE.replace("for: 5m", "for: 0s"))
    good = alerting.ruleset.rules[0]

    class Broken:
        name, kind = "broken", "error_rate"

    alerting.ruleset.rules = [Broken(), good]  # type: ignore[list-item]
    await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1
    from lookout import metrics

    assert b'lookout_rule_evaluation_failures_total{rule="broken"}' in metrics.render()


async def test_changing_the_interval_keeps_ticking(alerting: Alerting, clock: FakeClock) -> None:
    use(alerting, RULE)
    assert await alerting.evaluator.tick() is not None
    assert await alerting.evaluator.tick() is None  # same slot: already evaluated
    alerting.evaluator.interval = 15  # e.g. LOOKOUT_EVAL_INTERVAL 60 -> 15 after a restart
    clock.advance(15)
    assert await alerting.evaluator.tick() is not None
    alerting.evaluator.interval = 600
    clock.advance(600)
    assert await alerting.evaluator.tick() is not None


async def test_prune_forgets_old_resolved_alerts(alerting: Alerting, clock: FakeClock,
                                                 slack: SlackServer) -> None:
    use(alerting, RULE.replace("window: 5m", "window: 1m").replace("for: 5m", "for: 0s"))
    await minute(alerting, clock, errors=9)
    await minute(alerting, clock, errors=0)
    (alert,) = await alerts(alerting)
    assert alert.state == "resolved"
    await alerting.run_prune()
    assert len(await alerts(alerting)) == 1  # younger than the retention
    clock.advance(31 * 86400)
    await alerting.run_prune()
    assert await alerts(alerting) == []
    async with alerting.store.engine.connect() as conn:
        assert (await conn.execute(select(t.outbox))).all() == []
        assert (await conn.execute(select(t.alert_history))).all() == []


async def test_slack_hang_times_out_and_is_retried(alerting: Alerting, clock: FakeClock,
                                                   slack: SlackServer) -> None:
    from rules.notify.sender import make_client

    assert alerting.sender is not None
    alerting.sender.client = make_client("xoxb-test", slack.api_url, timeout=1)
    use(alerting, RULE.replace("for: 5m", "for: 0s"))
    slack.fail_next("chat.postMessage", Failure("hang", hang_seconds=3))
    await minute(alerting, clock, errors=7)  # the call times out; the tick itself completes
    async with alerting.store.engine.connect() as conn:
        (row,) = (await conn.execute(select(t.outbox))).all()
    assert row.status == "pending" and row.attempts == 1
    assert (await alerts(alerting))[0].slack_ts is None
    clock.advance(10)
    assert await alerting.sender.run_once() == 1
    (alert,) = await alerts(alerting)
    assert alert.slack_ts is not None


async def test_removed_rule_resolves_its_alerts(alerting: Alerting, clock: FakeClock,
                                                slack: SlackServer) -> None:
    use(alerting, RULE.replace("for: 5m", "for: 0s"))
    await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1
    use(alerting, RULE.replace("checkout-errors", "other-rule").replace("for: 5m", "for: 0s")
        .replace("service: checkout", "service: nothing-here"))
    await minute(alerting, clock, errors=7)
    (alert,) = await alerts(alerting)
    assert alert.state == "resolved" and alert.resolved_by == "lookout (rule removed)"
    assert slack.by_method("chat.update")[-1].params["text"].startswith("[RESOLVED]")


async def test_a_tick_cut_off_at_shutdown_ends_quietly(alerting, monkeypatch, caplog):
    """Shutdown cancels a tick stuck on an unreachable database: one log line, no traceback."""
    caplog.set_level(logging.INFO)
    started = asyncio.Event()

    async def stuck_tick():
        started.set()
        await asyncio.Event().wait()

    monkeypatch.setattr(alerting.evaluator, "tick", stuck_tick)
    task = asyncio.create_task(alerting.run_tick())
    await asyncio.wait_for(started.wait(), 10)
    alerting._stopping = True  # what stop() sets before it waits for running jobs
    task.cancel()
    assert await task is None
    assert "evaluation tick cut off at shutdown" in caplog.text
    assert "Traceback" not in caplog.text


async def test_a_tick_cancelled_while_running_normally_still_cancels(alerting, monkeypatch):
    async def stuck_tick():
        await asyncio.Event().wait()

    monkeypatch.setattr(alerting.evaluator, "tick", stuck_tick)
    task = asyncio.create_task(alerting.run_tick())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_late_escalated_reply_quotes_the_value_at_escalation(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    """Delivered after a delay (a Slack outage), the reply still says what escalated."""
    use(alerting, RULE)
    for _ in range(6):
        await minute(alerting, clock, errors=3)
    assert len(slack.posts()) == 1
    queued = None
    for _ in range(12):  # ticks without deliveries: the 5-minute rate climbs past 5%
        clock.advance(60)
        await add_requests(alerting.store.engine, clock() - 30, "checkout", 100, 40)
        await alerting.run_tick()
        async with alerting.store.engine.connect() as conn:
            queued = queued or (await conn.execute(
                select(t.outbox).where(t.outbox.c.event == "escalated"))).first()
    assert queued is not None and queued.severity == "critical"
    current = (await alerts(alerting))[0].value
    assert current > queued.value  # the rate kept climbing after the escalation
    assert alerting.sender is not None
    await alerting.sender.run_once()
    (reply,) = [r.params["text"] for r in slack.replies() if "Escalated" in r.params["text"]]
    assert f"{queued.value * 100:.1f}%" in reply and f"{current * 100:.1f}%" not in reply


async def test_absence_after_a_forward_clock_jump_waits_one_window(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    """With ``for: 0`` a jump larger than the window made every service silent at once."""
    use(alerting, """
rules:
  - name: heartbeat
    kind: absence
    service: checkout
    window: 5m
    for: 0s
""")
    for _ in range(3):
        await minute(alerting, clock, errors=0)
    clock.advance(20 * 60)  # the clock jumps forward 20 minutes (less than the look-back)
    await minute(alerting, clock, errors=None)
    assert slack.posts() == [] and await alerts(alerting) == []
    for _ in range(5):  # real silence: after one window from the jump it fires
        await minute(alerting, clock, errors=None)
    assert len(slack.posts()) == 1
    (alert,) = await alerts(alerting)
    assert alert.kind == "absence" and alert.state == "firing"


ESCALATING = RULE.replace("    runbook:", """    escalate_after: 15m
    escalate_to: ["@oncall", "U0BOB", "S0DBA"]
    repeat_interval: 20m
    runbook:""")


def _pages(slack: SlackServer) -> list[dict]:
    return [r.params for r in slack.replies() if r.params["text"].startswith(":rotating_light:")]


async def test_unacknowledged_alert_pages_escalate_to_until_acknowledged(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    slack.usergroups = [{"id": "S0ONCALL", "handle": "oncall"}]
    use(alerting, ESCALATING)
    for _ in range(6):  # fires after for: 5m
        await minute(alerting, clock, errors=7)
    assert len(slack.posts()) == 1 and _pages(slack) == []
    for _ in range(14):  # 14 minutes unacknowledged: not yet
        await minute(alerting, clock, errors=7)
    assert _pages(slack) == []
    await minute(alerting, clock, errors=7)  # 15 minutes
    (page,) = _pages(slack)
    assert page["text"] == (":rotating_light: <!subteam^S0ONCALL> <@U0BOB> <!subteam^S0DBA> "
                            "[CRITICAL] checkout-errors (checkout): 7.0% > 5.0% "
                            "— not acknowledged for 15m")
    assert page["reply_broadcast"] is True  # in the thread and the channel
    assert page["thread_ts"] == (await alerts(alerting))[0].slack_ts
    assert len(slack.by_method("usergroups.list")) == 1
    for _ in range(15):  # again after another escalate_after; the page stands in for a
        await minute(alerting, clock, errors=7)  # repeat due at 20m
    pages = _pages(slack)
    assert len(pages) == 2 and "for 30m" in pages[1]["text"]
    assert not [r for r in slack.replies() if r.params["text"].startswith(":repeat:")]
    assert len(slack.by_method("usergroups.list")) == 1  # the handle is remembered
    (alert,) = await alerts(alerting)
    outcome = await alerting.actions.acknowledge(alert.id, "@bob", clock())
    assert outcome.result == "acknowledged"
    for _ in range(40):  # acknowledged: no more pages, no repeats
        await minute(alerting, clock, errors=7)
    assert len(_pages(slack)) == 2
    assert not [r for r in slack.replies() if r.params["text"].startswith(":repeat:")]
    assert len(slack.posts()) == 1


async def test_a_page_survives_a_restart_without_paging_again(
        settings: Settings, clock: FakeClock, slack: SlackServer) -> None:
    """The escalation anchor is on the alert: a new process (or instance) goes on counting."""
    from lookout.services import Services

    async def run(minutes: int) -> None:
        services = Services.build(settings)
        services.alerting = Alerting(settings, services.engine, clock=clock)
        await services.alerting.start(services.jobs, background_jobs=False)
        try:
            use(services.alerting, ESCALATING)
            for _ in range(minutes):
                await minute(services.alerting, clock, errors=7)
        finally:
            await services.alerting.stop()
            await services.engine.dispose()

    await run(6 + 15)  # fired, then paged once
    assert len(_pages(slack)) == 1
    await run(10)  # a restart: 10 more minutes, no page yet
    assert len(_pages(slack)) == 1
    await run(5)  # 15 minutes after the first page
    assert len(_pages(slack)) == 2


async def test_two_instances_page_once(settings: Settings, clock: FakeClock,
                                       slack: SlackServer) -> None:
    """Two instances on one database: one message, each page delivered exactly once."""
    await two_instances(settings, clock, ESCALATING, 6 + 30)
    assert len(slack.posts()) == 1
    assert [p["text"].rsplit(" for ", 1)[1] for p in _pages(slack)] == ["15m", "30m"]


async def test_an_acknowledgement_times_out_while_still_firing(
        alerting: Alerting, clock: FakeClock, slack: SlackServer) -> None:
    use(alerting, ESCALATING.replace("    escalate_after:", "    ack_timeout: 30m\n"
                                                          "    escalate_after:"))
    for _ in range(6):
        await minute(alerting, clock, errors=7)
    (alert,) = await alerts(alerting)
    assert (await alerting.actions.acknowledge(alert.id, "@bob", clock())).result == \
        "acknowledged"
    await alerting.sender.run_once()
    for _ in range(29):  # acknowledged: quiet
        await minute(alerting, clock, errors=7)
    assert (await alerts(alerting))[0].acknowledged_by == "@bob"
    await minute(alerting, clock, errors=7)  # 30 minutes after the acknowledgement
    (alert,) = await alerts(alerting)
    assert alert.acknowledged_by is None and alert.acknowledged_at is None
    lapsed = [r.params for r in slack.replies() if r.params["text"].startswith(":alarm_clock:")]
    assert len(lapsed) == 1 and lapsed[0]["reply_broadcast"] is True
    assert "[CRITICAL] checkout-errors (checkout)" in lapsed[0]["text"]
    update = slack.by_method("chat.update")[-1].params  # the Acknowledge button is back
    buttons = [b["action_id"] for blk in update["blocks"] if blk["type"] == "actions"
               for b in blk["elements"]]
    assert ACK in buttons
    assert _pages(slack) == []
    for _ in range(15):  # unacknowledged again: escalation starts over
        await minute(alerting, clock, errors=7)
    assert len(_pages(slack)) == 1
    async with alerting.store.engine.connect() as conn:
        notes = (await conn.execute(select(t.alert_history.c.note))).scalars().all()
    assert "acknowledgement timed out" in notes
