"""``POST /slack/interactions`` via the real app: signatures, Ack/Resolve/Silence, idempotency."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from lookout.services import Services
from rules import tables as t
from rules.config import parse_rules
from rules.notify.slack_message import ACK, RESOLVE, SILENCE
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, action_body, add_requests, click_body, signed
from tests.support.slack_server import SlackServer

RULE = """
rules:
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    for: 0s
    repeat_interval: 10m
    thresholds: {warning: 0.02, critical: 0.05}
"""


async def fire(alerting: Alerting, clock: FakeClock) -> int:
    alerting.ruleset.rules = parse_rules(RULE)
    await tick(alerting, clock, errors=7)
    async with alerting.store.engine.connect() as conn:
        (alert_id,) = (await conn.execute(select(t.alerts.c.id))).one()
    return int(alert_id)


async def tick(alerting: Alerting, clock: FakeClock, errors: int) -> None:
    clock.advance(60)
    await add_requests(alerting.store.engine, clock() - 30, "checkout", 100, errors)
    await alerting.run_tick()
    assert alerting.sender is not None
    await alerting.sender.run_once()


async def alert_row(alerting: Alerting, alert_id: int):
    async with alerting.store.engine.connect() as conn:
        return (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).one()


async def click(client: httpx.AsyncClient, clock: FakeClock, action: str, alert_id: int,
                user: str = "alice", response_url: str | None = None) -> httpx.Response:
    body = click_body(action, alert_id, user, response_url)
    return await client.post("/slack/interactions", content=body, headers=signed(body, clock()))


async def test_signed_ack_acknowledges_updates_message_and_stops_repeats(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    alerting = services.alerting
    assert alerting is not None and alerting.sender is not None
    alert_id = await fire(alerting, clock)
    assert len(slack.posts()) == 1
    resp = await click(client, clock, ACK, alert_id)
    assert resp.status_code == 200
    row = await alert_row(alerting, alert_id)
    assert row.acknowledged_by == "@alice" and row.acknowledged_at == clock()
    await alerting.sender.run_once()
    update = slack.by_method("chat.update")[-1].params
    assert update["ts"] == row.slack_ts
    assert "Acknowledged by @alice" in str(update["blocks"])
    assert ACK not in str(update["blocks"])  # the button is gone; Resolve stays
    assert RESOLVE in str(update["blocks"])
    assert [r.params["text"] for r in slack.replies()] == [":eyes: Acknowledged by @alice"]
    for _ in range(25):  # well past repeat_interval (10m): no repeats once acknowledged
        await tick(alerting, clock, errors=7)
    assert len(slack.posts()) == 1 and len(slack.replies()) == 1

    # Clicking again is harmless and says so on the response_url.
    resp = await click(client, clock, ACK, alert_id, user="bob",
                       response_url=slack.url + "/response/1")
    assert resp.status_code == 200
    assert (await alert_row(alerting, alert_id)).acknowledged_by == "@alice"
    await slack.wait_for(lambda: slack.responses)
    assert "already acknowledged by @alice" in slack.responses[0].params["text"]
    assert slack.responses[0].params["response_type"] == "ephemeral"


async def test_unacknowledged_alert_repeats(client: httpx.AsyncClient, services: Services,
                                            clock: FakeClock, slack: SlackServer) -> None:
    alerting = services.alerting
    assert alerting is not None
    await fire(alerting, clock)
    for _ in range(10):
        await tick(alerting, clock, errors=7)
    assert [r.params["text"].split(":")[1] for r in slack.replies()] == ["repeat"]


async def test_forged_and_stale_signatures_are_401_and_change_nothing(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    alerting = services.alerting
    assert alerting is not None
    alert_id = await fire(alerting, clock)
    body = click_body(ACK, alert_id)
    forged = signed(body, clock(), secret="not-the-secret")
    stale = signed(body, clock() - 301)
    tampered = signed(body, clock())
    for headers, content in ((forged, body), (stale, body), (tampered, body + b"x"),
                             ({"Content-Type": "application/x-www-form-urlencoded"}, body)):
        resp = await client.post("/slack/interactions", content=content, headers=headers)
        assert resp.status_code == 401
        assert resp.json() == {"error": "invalid or stale Slack signature"}
    row = await alert_row(alerting, alert_id)
    assert row.acknowledged_by is None and row.state == "firing"
    async with alerting.store.engine.connect() as conn:
        assert (await conn.execute(select(t.outbox).where(t.outbox.c.event != "fired"))).all() == []


async def test_resolve_then_click_again(client: httpx.AsyncClient, services: Services,
                                        clock: FakeClock, slack: SlackServer) -> None:
    alerting = services.alerting
    assert alerting is not None and alerting.sender is not None
    alert_id = await fire(alerting, clock)
    assert (await click(client, clock, RESOLVE, alert_id, user="carol")).status_code == 200
    row = await alert_row(alerting, alert_id)
    assert row.state == "resolved" and row.resolved_by == "@carol"
    await alerting.sender.run_once()
    update = slack.by_method("chat.update")[-1].params
    assert "Resolved by @carol" in str(update["blocks"]) and "actions" not in str(
        [b["type"] for b in update["blocks"]])
    resp = await click(client, clock, ACK, alert_id, response_url=slack.url + "/response/2")
    assert resp.status_code == 200
    await slack.wait_for(lambda: slack.responses)
    assert "already resolved" in slack.responses[0].params["text"]
    assert (await alert_row(alerting, alert_id)).acknowledged_by is None


async def test_silence_1h_mutes_then_notifications_resume(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    alerting = services.alerting
    assert alerting is not None and alerting.sender is not None
    alert_id = await fire(alerting, clock)
    assert (await click(client, clock, SILENCE, alert_id)).status_code == 200
    async with alerting.store.engine.connect() as conn:
        (silence,) = (await conn.execute(select(t.silences))).all()
    assert silence.ends_at - silence.starts_at == 3600 and silence.created_by == "@alice"
    await alerting.sender.run_once()
    assert any("Silenced for 1h by @alice" in r.params["text"] for r in slack.replies())
    replies = len(slack.replies())
    for _ in range(50):  # repeat_interval (10m) passes many times while silenced
        await tick(alerting, clock, errors=7)
    assert len(slack.replies()) == replies
    for _ in range(11):  # the silence has ended; the alert still fires: a repeat is due
        await tick(alerting, clock, errors=7)
    assert len(slack.replies()) == replies + 1
    assert "Still firing" in slack.replies()[-1].params["text"]
    assert len(slack.posts()) == 1


async def test_bad_payloads_are_400(client: httpx.AsyncClient, clock: FakeClock) -> None:
    for body in (b"payload=not-json", b"nothing=here", b"payload=%7B%22type%22%3A%22x%22%7D"):
        resp = await client.post("/slack/interactions", content=body, headers=signed(body, clock()))
        assert resp.status_code == 400
        assert "error" in resp.json()


def control(blocks: list[dict], action_id: str) -> dict:
    """The one element of the message's actions block with ``action_id``."""
    (found,) = [e for b in blocks if b["type"] == "actions" for e in b["elements"]
                if e.get("action_id") == action_id]
    return found


def snooze_body(alert_id: int, choice: str, user_id: str = "UALICE") -> bytes:
    from rules.notify.slack_message import SNOOZE

    return action_body({"action_id": SNOOZE, "type": "static_select",
                        "selected_option": {"value": f"{alert_id}:{choice}"}}, user_id=user_id)


async def test_the_snooze_menu_offers_three_choices_and_snoozes_until_9_tomorrow(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    """"Until 09:00 tomorrow" is in the clicking user's time zone (users.info tz_offset)."""
    from rules.notify.slack_message import SNOOZE

    alerting = services.alerting
    assert alerting is not None and alerting.sender is not None
    alert_id = await fire(alerting, clock)
    (post,) = slack.posts()
    menu = control(post.params["blocks"], SNOOZE)
    assert menu["type"] == "static_select"
    assert [(o["text"]["text"], o["value"]) for o in menu["options"]] == [
        ("Snooze 1 hour", f"{alert_id}:1h"), ("Snooze 4 hours", f"{alert_id}:4h"),
        ("Snooze until 09:00 tomorrow", f"{alert_id}:morning")]
    slack.tz_offsets = {"UALICE": -8 * 3600}  # Pacific time
    now = clock()
    body = snooze_body(alert_id, "morning")
    resp = await client.post("/slack/interactions", content=body, headers=signed(body, now))
    assert resp.status_code == 200
    async with alerting.store.engine.connect() as conn:
        (silence,) = (await conn.execute(select(t.silences))).all()
    local = silence.ends_at - 8 * 3600  # 09:00 of the next local day
    assert local % 86400 == 9 * 3600 and 0 < silence.ends_at - now <= 86400 + 9 * 3600
    assert (local - 9 * 3600) // 86400 == (now - 8 * 3600) // 86400 + 1
    assert silence.created_by == "@alice"
    await alerting.sender.run_once()
    (reply,) = [r.params["text"] for r in slack.replies() if ":zzz:" in r.params["text"]]
    assert reply.startswith(f":zzz: Snoozed until <!date^{int(silence.ends_at)}^")
    assert reply.endswith("by @alice")
    assert slack.by_method("users.info")[0].params["user"] == "UALICE"


async def test_snooze_4h_and_a_user_slack_does_not_know_snoozes_in_utc(
        client: httpx.AsyncClient, services: Services, clock: FakeClock) -> None:
    alerting = services.alerting
    assert alerting is not None
    alert_id = await fire(alerting, clock)
    for choice in ("4h", "morning"):  # users.info answers user_not_found: UTC
        body = snooze_body(alert_id, choice, user_id="UNOBODY")
        resp = await client.post("/slack/interactions", content=body,
                                 headers=signed(body, clock()))
        assert resp.status_code == 200
        clock.advance(1)
    async with alerting.store.engine.connect() as conn:
        four, morning = (await conn.execute(select(t.silences).order_by(t.silences.c.id))).all()
    assert four.ends_at - four.starts_at == 4 * 3600
    assert morning.ends_at % 86400 == 9 * 3600
    for bad in (f"{alert_id}:forever", "x:1h", f"{alert_id}"):
        body = snooze_body(alert_id, "1h").replace(
            f"{alert_id}%3A1h".encode(), bad.replace(":", "%3A").encode())
        resp = await client.post("/slack/interactions", content=body,
                                 headers=signed(body, clock()))
        assert resp.status_code == 400 and "snooze option" in resp.text
        clock.advance(1)


def assign_body(alert_id: int, user: str, block: str | None = None) -> bytes:
    from rules.notify.slack_message import ASSIGN

    return action_body({"action_id": ASSIGN, "type": "users_select",
                        "block_id": block or f"alert-{alert_id}", "selected_user": user})


async def test_assign_to_a_slack_user_shows_in_the_message_thread_and_alert(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    from rules.notify.slack_message import ASSIGN

    alerting = services.alerting
    assert alerting is not None and alerting.sender is not None
    alert_id = await fire(alerting, clock)
    (post,) = slack.posts()
    picker = control(post.params["blocks"], ASSIGN)
    assert picker["type"] == "users_select" and "initial_user" not in picker
    slack.user_names = {"U0BOB": "bob"}
    body = assign_body(alert_id, "U0BOB")
    resp = await client.post("/slack/interactions", content=body, headers=signed(body, clock()))
    assert resp.status_code == 200
    row = await alert_row(alerting, alert_id)
    assert (row.assigned_to, row.assigned_slack_id) == ("@bob", "U0BOB")
    await alerting.sender.run_once()
    assert ":bust_in_silhouette: Assigned to <@U0BOB> by @alice" in [
        r.params["text"] for r in slack.replies()]
    update = slack.by_method("chat.update")[-1].params
    assert "assigned to <@U0BOB>" in str(update["blocks"])
    picker = control(update["blocks"], ASSIGN)
    assert picker["initial_user"] == "U0BOB"
    clock.advance(1)  # the same choice again changes nothing
    body = assign_body(alert_id, "U0BOB")
    resp = await client.post("/slack/interactions", content=body, headers=signed(body, clock()))
    assert resp.status_code == 200
    async with alerting.store.engine.connect() as conn:
        notes = (await conn.execute(select(t.alert_history.c.note))).scalars().all()
    assert notes.count("assigned to @bob") == 1
    for bad in (assign_body(alert_id, "<!channel>"), assign_body(alert_id, "U0BOB", "x-1"),
                assign_body(alert_id, "U0BOB", "alert-99999999999999999999")):
        clock.advance(1)
        resp = await client.post("/slack/interactions", content=bad, headers=signed(bad, clock()))
        assert resp.status_code == 400 and "assign needs" in resp.text
