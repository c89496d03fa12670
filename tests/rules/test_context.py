"""The evidence under an alert's number: data in through the real ingest endpoint,
the message out through slack-sdk to the Slack mimic."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import httpx
import msgspec
import pytest

from collector import evidence_queries
from lookout.projects import Project
from lookout.services import Services
from rules.config import parse_rules
from tests.rules.conftest import FakeClock
from tests.support.slack_server import SlackServer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())  # records are stamped with the server's real clock


async def ingest(client: httpx.AsyncClient, project: Project, **batch: Any) -> None:
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(batch),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202 and not resp.json()["rejected"], resp.text


def request(route: str, status: int) -> dict[str, Any]:
    return {"method": "POST", "route": route, "status": status, "duration_ms": 12.0,
            "request_id": uuid.uuid4().hex, "service": "api", "environment": "prod"}


def error(type_: str, value: str, release: str = "") -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "service": "api", "environment": "prod",
            "release": release, "exception": [{"type": type_, "value": value, "frames": [
                {"filename": "lib/http.py", "function": "send", "lineno": 90, "in_app": False},
                {"filename": "api/pay.py", "function": "charge", "lineno": 41, "in_app": True},
                {"filename": "lib/retry.py", "function": "call", "lineno": 12,
                 "in_app": False}]}]}


async def first_message(services: Services, clock: FakeClock, slack: SlackServer,
                        rules: str) -> str:
    """Tick once with ``rules`` and return the context section's text of the one post."""
    assert services.alerting is not None and services.alerting.sender is not None
    services.alerting.ruleset.rules = parse_rules(rules)
    clock.advance(10)
    await services.alerting.run_tick()
    await services.alerting.sender.run_once()
    (post,) = slack.posts()
    sections = [b["text"]["text"] for b in post.params["blocks"]
                if b["type"] == "section" and "text" in b]
    assert len(sections) == 2, sections  # the headline, then the context
    return sections[1]


async def test_error_rate_shows_failing_routes_and_the_top_issue(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        slack: SlackServer) -> None:
    await ingest(client, project, requests=[
        *[request("/checkout", 500 if i < 10 else 200) for i in range(20)],
        *[request("/cart/<!channel>", 500 if i < 2 else 200) for i in range(10)],
        *[request("/health", 200) for _ in range(10)]])
    await ingest(client, project, errors=[error("PaymentError", "declined <@U1>") for _ in range(3)]
                 + [error("KeyError", "'sku'")])
    text = await first_message(services, clock, slack, """
rules:
  - name: api-errors
    kind: error_rate
    service: api
    window: 5m
    thresholds: {warning: 0.05}
""")
    lines = text.split("\n")
    assert lines[0] == "*Failing routes*"
    assert lines[1] == "`/checkout` 10 errors of 20 (50.0%)"
    assert lines[2] == "`/cart/&lt;!channel&gt;` 2 errors of 10 (20.0%)"
    assert "/health" not in text  # no errors, not a failing route
    assert lines[3].startswith("*Top issue* <http://lookout.test/issues/")
    assert lines[3].endswith("|PaymentError: declined &lt;@U1&gt;> (3 events)")


async def test_new_issue_shows_the_exception_its_in_app_frame_and_release(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        slack: SlackServer) -> None:
    await ingest(client, project, errors=[error("TimeoutError", "db slow", release="1.4.2")])
    text = await first_message(services, clock, slack, """
rules:
  - name: new-errors
    kind: new_issue
    window: 5m
""")
    assert text.split("\n") == ["*TimeoutError*: db slow", "in `api/pay.py:41` charge",
                                "*Release* 1.4.2"]


async def test_log_count_shows_recent_matching_lines(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        slack: SlackServer) -> None:
    await ingest(client, project, logs=[
        {"message": f"card declined {i} " + "x" * 300, "level": "error", "service": "api",
         "request_id": f"req-{i}", "ts": time.time() - 30 + i} for i in range(5)]
        + [{"message": "all fine", "level": "info", "service": "api"}])
    text = await first_message(services, clock, slack, """
rules:
  - name: declines
    kind: log_count
    query: "level:error service:api declined"
    window: 5m
    thresholds: {warning: 2}
""")
    lines = text.split("\n")
    assert lines[0] == "*Recent lines*" and len(lines) == 4  # the newest three
    assert lines[1].startswith("`error` card declined 4 xxx") and "…" in lines[1]
    assert lines[1].endswith(" · <http://lookout.test/requests/req-4|request>")
    assert "all fine" not in text and len(lines[1]) < 250


async def test_metric_shows_recent_values(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        slack: SlackServer) -> None:
    now = time.time()
    await ingest(client, project, metrics=[
        {"name": "queue.depth", "kind": "gauge", "value": v, "service": "api", "ts": now - age}
        for v, age in ((3, 130), (9, 70), (12, 5))])
    text = await first_message(services, clock, slack, """
rules:
  - name: queue
    kind: metric
    metric: queue.depth
    aggregate: max
    window: 5m
    thresholds: {warning: 10}
""")
    assert text == "*max(queue.depth) per minute*, oldest first: 3 → 9 → 12"


async def test_a_failing_context_read_leaves_the_context_out_not_the_alert(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        slack: SlackServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise RuntimeError("database went away")

    monkeypatch.setattr(evidence_queries, "failing_routes", broken)
    await ingest(client, project, requests=[request("/checkout", 500) for _ in range(5)])
    assert services.alerting is not None and services.alerting.sender is not None
    services.alerting.ruleset.rules = parse_rules("""
rules:
  - name: api-errors
    kind: error_rate
    window: 5m
    thresholds: {warning: 0.05}
""")
    clock.advance(10)
    with caplog.at_level(logging.WARNING, logger="lookout.rules"):
        await services.alerting.run_tick()
        await services.alerting.sender.run_once()
    (post,) = slack.posts()
    assert post.params["text"].startswith("[WARNING] api-errors")
    assert len([b for b in post.params["blocks"] if b["type"] == "section"]) == 2  # no context
    assert any("alert context left out" in r.getMessage() for r in caplog.records)
