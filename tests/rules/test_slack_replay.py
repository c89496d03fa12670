"""Slack request signatures: old requests are refused, a replayed one is not applied twice."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from lookout.services import Services
from rules import tables as t
from rules.notify.slack_message import ACK, SILENCE
from tests.rules.conftest import FakeClock, click_body, signed
from tests.rules.test_slack_routes import alert_row, fire
from tests.support.slack_server import SlackServer


async def changes(services: Services) -> tuple[int, int, int]:
    """(outbox rows other than the first post, silences, history lines)."""
    async with services.engine.connect() as conn:
        outbox = (await conn.execute(select(t.outbox).where(t.outbox.c.event != "fired"))).all()
        silences = (await conn.execute(select(t.silences))).all()
        history = (await conn.execute(select(t.alert_history))).all()
    return len(outbox), len(silences), len(history)


async def test_old_signed_request_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    assert services.alerting is not None
    alert_id = await fire(services.alerting, clock)
    before = await changes(services)
    for action in (ACK, SILENCE):
        body = click_body(action, alert_id)
        for age in (301, 3600, 86400 * 30):
            resp = await client.post("/slack/interactions", content=body,
                                     headers=signed(body, clock() - age))
            assert resp.status_code == 401, (action, age)
            assert resp.json() == {"error": "invalid or stale Slack signature"}
    assert await changes(services) == before
    assert (await alert_row(services.alerting, alert_id)).acknowledged_by is None


async def test_a_fresh_request_replayed_applies_once(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        slack: SlackServer) -> None:
    assert services.alerting is not None
    alert_id = await fire(services.alerting, clock)
    outbox, silences, history = await changes(services)
    body = click_body(SILENCE, alert_id)
    headers = signed(body, clock())
    for _ in range(3):  # the same signed request, captured and sent again
        resp = await client.post("/slack/interactions", content=body, headers=headers)
        assert resp.status_code == 200
    assert await changes(services) == (outbox + 1, silences + 1, history + 1)
    clock.advance(1)  # a new click (new timestamp, new signature) is a new request
    again = signed(body, clock())
    assert (await client.post("/slack/interactions", content=body,
                              headers=again)).status_code == 200
    assert (await changes(services))[1] == silences + 2
