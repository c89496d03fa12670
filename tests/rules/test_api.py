"""Read API for rules, alerts and silences (Bearer token), and the same actions as Slack."""

from __future__ import annotations

import httpx

from lookout.services import Services
from rules.config import parse_rules
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import SlackServer

RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    window: 1m
    for: 2m
    thresholds: {warning: 0.02, critical: 0.05}
  - name: quiet
    kind: absence
    window: 10m
"""


async def step(services: Services, clock: FakeClock, errors: int) -> None:
    assert services.alerting is not None and services.alerting.sender is not None
    clock.advance(60)
    await add_requests(services.engine, clock() - 30, "checkout", 100, errors)
    await services.alerting.run_tick()
    await services.alerting.sender.run_once()


async def test_rules_alerts_ack_resolve(client: httpx.AsyncClient, services: Services,
                                        clock: FakeClock, auth_headers: dict[str, str],
                                        slack: SlackServer) -> None:
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules(RULES)
    assert (await client.get("/api/v1/rules")).status_code == 401
    await step(services, clock, errors=7)
    body = (await client.get("/api/v1/rules", headers=auth_headers)).json()
    states = {r["name"]: r["state"] for r in body["rules"]}
    assert states == {"checkout-errors": "pending", "quiet": "ok"}
    first = body["rules"][0]
    assert first["thresholds"] == {"warning": 0.02, "critical": 0.05, "comparison": "above",
                                   "resolve": None}
    assert first["window"] == 60 and first["for"] == 120 and first["repeat_interval"] == 14400
    assert first["max_groups"] == 50  # resolved: LOOKOUT_ALERT_MAX_GROUPS
    assert first["alerts"][0]["labels"] == {"service": "checkout", "environment": "production"}
    await step(services, clock, errors=7)
    await step(services, clock, errors=7)
    body = (await client.get("/api/v1/rules", headers=auth_headers)).json()
    assert body["rules"][0]["state"] == "firing"

    firing = (await client.get("/api/v1/alerts?state=firing", headers=auth_headers)).json()
    (alert,) = firing["items"]
    assert alert["rule"] == "checkout-errors" and alert["severity"] == "critical"
    assert alert["labels"] == {"rule": "checkout-errors", "service": "checkout",
                               "environment": "production"}
    resp = await client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth_headers,
                             json={"by": "dave"})
    assert resp.status_code == 200 and resp.json()["result"] == "acknowledged"
    assert resp.json()["alert"]["acknowledged_by"] == "dave"
    again = await client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=auth_headers)
    assert again.status_code == 200 and again.json()["result"] == "already_acknowledged"
    acked = (await client.get("/api/v1/alerts?state=acknowledged", headers=auth_headers)).json()
    assert [a["id"] for a in acked["items"]] == [alert["id"]]

    resp = await client.post(f"/api/v1/alerts/{alert['id']}/resolve", headers=auth_headers)
    assert resp.json()["result"] == "resolved" and resp.json()["alert"]["resolved_by"] == "api"
    detail = (await client.get(f"/api/v1/alerts/{alert['id']}", headers=auth_headers)).json()
    assert [(h["from_state"], h["to_state"], h["note"]) for h in detail["history"]] == [
        ("inactive", "pending", ""), ("pending", "firing", ""),
        ("firing", "firing", "acknowledged"), ("firing", "resolved", "resolved by hand")]
    assert detail["history"][2]["actor"] == "dave"
    resolved = (await client.get("/api/v1/alerts?state=resolved", headers=auth_headers)).json()
    assert [a["id"] for a in resolved["items"]] == [alert["id"]]


async def test_api_errors(client: httpx.AsyncClient, auth_headers: dict[str, str]) -> None:
    cases = [
        ("get", "/api/v1/alerts?state=bogus", None, 400, "state"),
        ("get", "/api/v1/alerts?limit=0", None, 400, "limit"),
        ("get", "/api/v1/alerts/999", None, 404, "no alert"),
        ("post", "/api/v1/alerts/999/ack", None, 404, "no alert"),
        ("post", "/api/v1/alerts/999/resolve", None, 404, "no alert"),
        # Past 64 bits: once a 500 (the drivers overflow), now no such alert.
        ("get", f"/api/v1/alerts/{2**64}", None, 404, "no alert"),
        ("post", f"/api/v1/alerts/{2**64}/ack", None, 404, "no alert"),
        ("post", f"/api/v1/alerts/{2**64}/resolve", None, 404, "no alert"),
        ("post", f"/api/v1/silences/{2**64}/expire", None, 404, "no silence"),
        ("post", "/api/v1/silences", {"matchers": {}}, 400, "matchers"),
        ("post", "/api/v1/silences", {"matchers": {"rule": "x"}}, 400, "duration"),
        ("post", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "soon"}, 400,
         "not a duration"),
        ("post", "/api/v1/silences", {"matchers": {"rule": 1}, "duration": "1h"}, 400,
         "invalid silence"),
        ("post", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1h", "x": 1}, 400,
         "invalid silence"),
        ("post", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1000d"}, 400,
         "90 days"),
        # NUL characters: PostgreSQL cannot store them (once a 500).
        ("post", "/api/v1/silences", {"matchers": {"rule\x00": "x"}, "duration": "1h"}, 400,
         "NUL"),
        ("post", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1h",
                                      "comment": "\x00"}, 400, "NUL"),
        ("post", "/api/v1/alerts/1/ack", {"by": "a\x00"}, 400, "by"),
    ]
    for method, url, body, status, text in cases:
        resp = await client.request(method.upper(), url, headers=auth_headers, json=body)
        assert resp.status_code == status, (url, body, resp.text)
        assert text in resp.json()["error"], (url, body, resp.text)
    resp = await client.post("/api/v1/alerts/1/ack", headers=auth_headers, content=b"{nope")
    assert resp.status_code == 400


async def test_silence_created_via_api_mutes_matching_alerts(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        auth_headers: dict[str, str], slack: SlackServer) -> None:
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules(RULES)
    resp = await client.post("/api/v1/silences", headers=auth_headers, json={
        "matchers": {"service": "checkout"}, "duration": "30m", "comment": "deploy",
        "by": "erin"})
    assert resp.status_code == 201, resp.text
    silence = resp.json()
    assert silence["ends_at"] - silence["starts_at"] == 1800
    listed = (await client.get("/api/v1/silences", headers=auth_headers)).json()["items"]
    assert [(s["id"], s["active"], s["matchers"]) for s in listed] == [
        (silence["id"], True, {"service": "checkout"})]
    for _ in range(10):
        await step(services, clock, errors=7)
    firing = (await client.get("/api/v1/alerts?state=firing", headers=auth_headers)).json()
    assert len(firing["items"]) == 1  # the alert fires (state kept) ...
    assert slack.calls == []  # ... but nothing is sent while silenced
    for _ in range(25):
        await step(services, clock, errors=7)
    assert len(slack.posts()) == 1  # silence over, still firing: the first message goes out


async def test_expiring_a_silence_early_lets_the_alert_notify(
        client: httpx.AsyncClient, services: Services, clock: FakeClock,
        auth_headers: dict[str, str], slack: SlackServer) -> None:
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules(RULES)
    resp = await client.post("/api/v1/silences", headers=auth_headers, json={
        "matchers": {"rule": "checkout-errors"}, "duration": "4h", "comment": "maintenance"})
    silence_id = resp.json()["id"]
    for _ in range(4):
        await step(services, clock, errors=7)
    assert slack.calls == []  # firing, but silenced
    resp = await client.post(f"/api/v1/silences/{silence_id}/expire", headers=auth_headers)
    assert resp.status_code == 200 and resp.json()["result"] == "expired"
    assert resp.json()["silence"]["ends_at"] == clock() and not resp.json()["silence"]["active"]
    again = await client.post(f"/api/v1/silences/{silence_id}/expire", headers=auth_headers)
    assert again.status_code == 200 and again.json()["result"] == "already_expired"
    missing = await client.post("/api/v1/silences/9999/expire", headers=auth_headers)
    assert missing.status_code == 404 and "no silence 9999" in missing.json()["error"]
    assert (await client.get("/api/v1/silences", headers=auth_headers)).json()["items"] == []
    listed = (await client.get("/api/v1/silences?expired=1", headers=auth_headers)).json()
    assert [s["id"] for s in listed["items"]] == [silence_id]
    await step(services, clock, errors=7)
    assert len(slack.posts()) == 1  # no longer muted: the alert's message goes out
