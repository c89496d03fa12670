"""Wrong device clocks: drift correction and the time window, through ``/envelope/`` and
``/store/`` of the real app on SQLite and PostgreSQL (the real sentry-sdk with a wrong
clock: ``test_clock_sdk.py``)."""

from __future__ import annotations

import time
import uuid

import httpx
import msgspec
import pytest

from collector import normalize as n
from collector.sentry import clock
from lookout.projects import Project

HOUR = 3600.0
Y2001 = 1_000_000_000.0  # 2001-09-09T01:46:40Z


def _event(ts: float | str, bug: str = "checkout") -> dict:
    return {"event_id": uuid.uuid4().hex, "timestamp": ts, "platform": "python",
            "level": "error", "environment": "prod",
            "exception": {"values": [{"type": "ValueError", "value": f"{bug} failed",
                                      "stacktrace": {"frames": [
                                          {"module": "shop.views", "function": bug,
                                           "context_line": f"{bug}()", "in_app": True}]}}]}}


def _auth(project: Project, sent_at: float | None = None) -> dict[str, str]:
    stamp = f", sentry_timestamp={sent_at:.3f}" if sent_at is not None else ""
    return {"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}, sentry_version=7"
                             + stamp}


async def _envelope(client: httpx.AsyncClient, project: Project, event: dict,
                    sent_at: float | None) -> None:
    header = {"event_id": event["event_id"]}
    if sent_at is not None:
        header["sent_at"] = clock.iso(sent_at)
    payload = msgspec.json.encode(event)
    body = b"\n".join([msgspec.json.encode(header),
                       msgspec.json.encode({"type": "event", "length": len(payload)}), payload])
    resp = await client.post(f"/api/{project.id}/envelope/", content=body,
                             headers=_auth(project))
    assert resp.status_code == 200, resp.text


async def _store(client: httpx.AsyncClient, project: Project, event: dict,
                 sent_at: float | None) -> None:
    resp = await client.post(f"/api/{project.id}/store/", content=msgspec.json.encode(event),
                             headers={**_auth(project, sent_at),
                                      "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text


SEND = {"envelope": _envelope, "store": _store}


async def _only_issue(client: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    (item,) = (await client.get("/api/v1/issues?status=all", headers=headers)).json()["items"]
    detail = await client.get(f"/api/v1/issues/{item['id']}", headers=headers)
    assert detail.status_code == 200
    return detail.json()


def test_drift_needs_the_threshold_and_the_window_clamps() -> None:
    limits = n.Limits(clock_drift_seconds=300, max_past_seconds=30 * 86400,
                      max_future_seconds=300)
    now = 2_000_000_000.0
    assert clock.drift_of(clock.iso(now - 299), now, limits) is None  # latency: left alone
    assert clock.drift_of("not a time", now, limits) is None
    slow = clock.drift_of(f"{now - 2 * HOUR}", now, limits)  # /store/: epoch text
    assert slow is not None and slow.seconds == pytest.approx(2 * HOUR)
    ts, meta = clock.event_time(now - 2 * HOUR - 7, now, limits, slow)
    assert ts == pytest.approx(now - 7)
    assert meta == {"error": "clock_drift", "original": clock.iso(now - 2 * HOUR - 7),
                    "reason": "clock drift: all timestamps adjusted by +2h",
                    "sdk_time": clock.iso(now - 2 * HOUR), "server_time": clock.iso(now)}
    fast = clock.drift_of(clock.iso(now + 3 * 86400), now, limits)
    assert clock.event_time(now + 3 * 86400 - 60, now, limits, fast)[0] == pytest.approx(now - 60)
    assert clock.event_time(now - 60, now, limits, None) == (now - 60, None)
    assert clock.event_time(None, now, limits, None) == (now, None)
    past = clock.event_time(Y2001, now, limits, None)
    assert past == (now, {"error": "past_timestamp", "original": "2001-09-09T01:46:40Z",
                          "reason": "too far in the past: set to the time it was received"})
    assert clock.event_time(now + 301, now, limits, None)[1]["error"] == "future_timestamp"
    # A correction that still lands outside the window is clamped too.
    assert clock.event_time(Y2001, now, limits, slow)[0] == now


@pytest.mark.parametrize("endpoint", ["envelope", "store"])
async def test_slow_device_event_after_resolve_reopens_the_issue(client, project, auth_headers,
                                                                 endpoint):
    send = SEND[endpoint]
    now = time.time()
    await send(client, project, _event(now - 30), now - 30)  # a good clock
    issue = await _only_issue(client, auth_headers)
    resolved = await client.post(f"/api/v1/issues/{issue['id']}/resolve", headers=auth_headers)
    assert resolved.json()["status"] == "resolved"

    # A late event that happened before the resolve (a good clock, sent now) only counts.
    await send(client, project, _event(now - 20), time.time())
    late = await _only_issue(client, auth_headers)
    assert late["status"] == "resolved" and late["count"] == 2

    # A device two hours slow sends an event that happens now: it reopens the issue.
    slow = time.time() - 2 * HOUR
    await send(client, project, _event(slow), slow)
    reopened = await _only_issue(client, auth_headers)
    assert reopened["status"] == "unresolved" and reopened["regression"] is True
    assert reopened["count"] == 3
    event = reopened["latest_event"]
    assert event["ts"] == pytest.approx(time.time(), abs=30)
    fixed = event["extra"]["_meta"]["timestamp"]
    assert fixed["error"] == "clock_drift" and fixed["original"] == clock.iso(slow)
    assert clock.parse_time(fixed["sdk_time"]) == pytest.approx(slow, abs=0.001)


@pytest.mark.parametrize("endpoint", ["envelope", "store"])
async def test_event_stamped_2001_is_kept_at_its_arrival(client, project, auth_headers,
                                                         services, endpoint):
    started = time.time()
    # The clock is right (sent_at is now, or absent on /store/), the event says 2001.
    await SEND[endpoint](client, project, _event(Y2001),
                         time.time() if endpoint == "envelope" else None)
    issue = await _only_issue(client, auth_headers)
    assert issue["first_seen"] >= started - 1 and issue["last_seen"] >= started - 1
    fixed = issue["latest_event"]["extra"]["_meta"]["timestamp"]
    assert fixed == {"error": "past_timestamp", "original": "2001-09-09T01:46:40Z",
                     "reason": "too far in the past: set to the time it was received"}

    deleted = await services.run_retention()
    assert deleted.get("errors", 0) == 0
    events = await client.get(f"/api/v1/issues/{issue['id']}/events", headers=auth_headers)
    assert len(events.json()["items"]) == 1


async def test_future_events_and_small_drift(client, project, auth_headers):
    now = time.time()
    await _envelope(client, project, _event(now + 86400, "tomorrow"), now)  # clock right
    await _envelope(client, project, _event(now - 120, "slightly"), now - 120)  # latency-sized
    resp = await client.get("/api/v1/issues", headers=auth_headers)
    items = {i["title"]: i for i in resp.json()["items"]}
    tomorrow = (await client.get(f"/api/v1/issues/{items['ValueError: tomorrow failed']['id']}",
                                 headers=auth_headers)).json()["latest_event"]
    assert tomorrow["ts"] <= time.time()
    assert tomorrow["extra"]["_meta"]["timestamp"]["error"] == "future_timestamp"
    slight = (await client.get(f"/api/v1/issues/{items['ValueError: slightly failed']['id']}",
                               headers=auth_headers)).json()["latest_event"]
    assert slight["ts"] == pytest.approx(now - 120, abs=0.01)  # under the threshold: kept
    assert "_meta" not in slight["extra"]


async def test_logs_of_a_drifted_envelope_are_shifted_too(client, project, auth_headers):
    now = time.time()
    sent = now - 5 * HOUR
    logs = msgspec.json.encode({"items": [{"timestamp": sent - 2, "level": "info",
                                           "body": "drifted log line", "attributes": {}}]})
    body = b"\n".join([msgspec.json.encode({"sent_at": clock.iso(sent)}),
                       msgspec.json.encode({"type": "log", "length": len(logs),
                                            "item_count": 1}), logs])
    resp = await client.post(f"/api/{project.id}/envelope/", content=body, headers=_auth(project))
    assert resp.status_code == 200, resp.text
    found = (await client.get("/api/v1/logs", params={"q": "drifted log line"},
                              headers=auth_headers)).json()["items"]
    assert found and found[0]["ts"] == pytest.approx(now - 2, abs=30)


async def test_issue_page_shows_the_corrected_time(client, project, services):
    from lookout.accounts import create_user
    from tests.web.conftest import login

    await create_user(services.engine, "t@example.com", "correct horse battery")
    assert (await login(client, "t@example.com", "correct horse battery")).status_code == 303
    await _store(client, project, _event(Y2001), None)
    listing = await client.get("/issues")
    issue_id = listing.text.split('href="/issues/', 1)[1].split('"', 1)[0]
    html = (await client.get(f"/issues/{issue_id}")).text
    assert "time corrected: too far in the past" in html
    assert "the event said 2001-09-09T01:46:40Z" in html
