"""``new_issue`` rules: one alert per new issue and one per regression, never repeated."""

from __future__ import annotations

import time
import uuid

import httpx
import msgspec
import pytest

from lookout.projects import Project
from lookout.services import Services
from rules.config import parse_rules
from tests.rules.conftest import FakeClock
from tests.support.slack_server import SlackServer

RULES = """
rules:
  - name: new-errors
    kind: new_issue
    window: 5m
    repeat_interval: 1m
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())  # issues are stamped with the server's real clock


async def send(client: httpx.AsyncClient, project: Project, type_: str, value: str,
               function: str) -> None:
    error = {"event_id": uuid.uuid4().hex, "service": "api", "environment": "prod",
             "exception": [{"type": type_, "value": value, "frames": [
                 {"module": "api.handlers", "function": function, "context_line": "do()",
                  "lineno": 7, "in_app": True}]}]}
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": [error]}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text


async def tick(services: Services, clock: FakeClock, seconds: float = 10) -> None:
    assert services.alerting is not None and services.alerting.sender is not None
    clock.advance(seconds)
    await services.alerting.run_tick()
    await services.alerting.sender.run_once()


async def test_new_issue_fires_once_per_issue_and_on_regression(
        client: httpx.AsyncClient, services: Services, project: Project, clock: FakeClock,
        auth_headers: dict[str, str], slack: SlackServer) -> None:
    assert services.alerting is not None
    services.alerting.ruleset.rules = parse_rules(RULES)
    services.alerting.evaluator.interval = 1  # tick every (fake) 10 s, close to real time
    await send(client, project, "TimeoutError", "db slow", "orders")
    await tick(services, clock)
    (post,) = slack.posts()
    assert post.params["text"] == "[WARNING] new-errors (api): New issue: TimeoutError: db slow"
    issues = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    issue_id = issues[0]["id"]
    assert f"http://lookout.test/issues/{issue_id}|View issue" in str(post.params["blocks"])

    for _ in range(3):  # more events of the same issue, more ticks: nothing new
        await send(client, project, "TimeoutError", "db slow", "orders")
        await tick(services, clock)
    assert len(slack.posts()) == 1

    await send(client, project, "KeyError", "'sku'", "cart")
    await tick(services, clock)
    assert [p.params["text"] for p in slack.posts()][1] == \
        "[WARNING] new-errors (api): New issue: KeyError: 'sku'"

    resp = await client.post(f"/api/v1/issues/{issue_id}/resolve", headers=auth_headers)
    assert resp.status_code == 200
    await send(client, project, "TimeoutError", "db slow", "orders")
    await tick(services, clock)
    posts = [p.params["text"] for p in slack.posts()]
    assert len(posts) == 3
    assert posts[2].startswith("[WARNING] new-errors (api): Regression: TimeoutError: db slow")

    # Resolving an alert by hand while its issue is still "new" does not re-announce it.
    alerts = (await client.get("/api/v1/alerts?state=firing", headers=auth_headers)).json()
    assert len(alerts["items"]) == 3
    first = alerts["items"][-1]["id"]
    resp = await client.post(f"/api/v1/alerts/{first}/resolve", headers=auth_headers)
    assert resp.json()["result"] == "resolved"
    for seconds in (10, 10, 400, 4000):  # past the window and the repeat interval
        await tick(services, clock, seconds)
    assert len(slack.posts()) == 3
    (reply,) = slack.replies()  # only the hand-resolved alert's thread; no repeats
    assert "Resolved by api" in reply.params["text"]
    firing = (await client.get("/api/v1/alerts?state=firing", headers=auth_headers)).json()
    assert len(firing["items"]) == 2  # announced issues stay open until someone resolves them
