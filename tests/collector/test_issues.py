"""Issues in the write path: counters, duplicates, regressions, concurrency (both databases)."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import msgspec
import sentry_sdk
from sqlalchemy import func, select

from collector import issue_queries, tables
from collector.issue_tables import issue_hourly, issue_tags, issues
from lookout.app import create_app
from lookout.services import Services
from tests.support.sentry_envelopes import sdk_envelopes


def _error(bug: str, service: str = "shop", event_id: str | None = None,
           ts: float | None = None) -> dict:
    frames = [{"module": "shop.views", "function": bug, "context_line": f"{bug}()",
               "lineno": 3, "in_app": True}]
    record = {"event_id": event_id or uuid.uuid4().hex, "service": service,
              "release": "1.0", "environment": "prod",
              "exception": [{"type": "ValueError", "value": f"{bug} failed", "frames": frames}]}
    if ts is not None:
        record["ts"] = ts
    return record


async def _send(client: httpx.AsyncClient, project, errors: list[dict]) -> None:
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": errors}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text


async def _consistent(engine) -> dict[int, int]:
    """Every issue's counters agree with its stored events; returns {issue_id: count}."""
    async with engine.connect() as conn:
        counted = dict((await conn.execute(select(issues.c.id, issues.c.event_count))).all())
        actual = dict((await conn.execute(
            select(tables.errors.c.issue_id, func.count()).group_by(tables.errors.c.issue_id)
        )).all())
        hourly = dict((await conn.execute(
            select(issue_hourly.c.issue_id, func.sum(issue_hourly.c.count))
            .group_by(issue_hourly.c.issue_id))).all())
        services = dict((await conn.execute(
            select(issue_tags.c.issue_id, func.sum(issue_tags.c.count))
            .where(issue_tags.c.key == "service").group_by(issue_tags.c.issue_id))).all())
    assert None not in actual, "an error was stored without an issue"
    assert counted == actual
    assert {k: int(v) for k, v in hourly.items()} == actual
    assert {k: int(v) for k, v in services.items()} == actual
    return counted


async def test_same_bug_counts_duplicates_do_not(client, project, services, auth_headers):
    again = _error("pay")
    await _send(client, project, [_error("pay"), again, again, _error("refund")])
    await _send(client, project, [again])  # an SDK retry
    counts = await _consistent(services.engine)
    assert sorted(counts.values()) == [1, 2]
    listing = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    assert {i["title"]: i["count"] for i in listing} == {"ValueError: pay failed": 2,
                                                         "ValueError: refund failed": 1}


async def test_events_without_tags_are_counted_and_tags_keep_first_and_last_seen(
        client, project, services):
    bare = _error("pay")
    for key in ("service", "release", "environment"):
        del bare[key]
    await _send(client, project, [bare])
    now = time.time()
    await _send(client, project, [_error("pay", ts=now - 50), _error("pay", ts=now - 100)])
    await _send(client, project, [_error("pay", ts=now - 10, service="other")])
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(issues.c.event_count))).scalar_one() == 4
        tags = {(r.key, r.value): (r.count, r.first_seen, r.last_seen) for r in
                (await conn.execute(select(issue_tags))).all()}
        hourly = (await conn.execute(select(func.sum(issue_hourly.c.count)))).scalar()
    assert int(hourly) == 4
    assert tags[("service", "shop")] == (2, now - 100, now - 50)
    assert tags[("service", "other")] == (1, now - 10, now - 10)
    assert tags[("release", "1.0")][0] == tags[("environment", "prod")][0] == 3


async def test_regression_reopens_only_for_newer_events(client, project, services,
                                                        auth_headers):
    await _send(client, project, [_error("pay")])
    (issue,) = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    resp = await client.post(f"/api/v1/issues/{issue['id']}/resolve", headers=auth_headers)
    assert resp.json()["status"] == "resolved"
    since = time.time()
    # A late retry of something that happened before the resolve is counted, nothing more.
    await _send(client, project, [_error("pay", ts=since - 60)])
    late = (await client.get(f"/api/v1/issues/{issue['id']}", headers=auth_headers)).json()
    assert late["status"] == "resolved" and late["count"] == 2
    assert await issue_queries.new_or_regressed_since(services.engine, since) == []

    await _send(client, project, [_error("pay"), _error("refund")])
    reopened = (await client.get(f"/api/v1/issues/{issue['id']}", headers=auth_headers)).json()
    assert reopened["status"] == "unresolved" and reopened["regression"] is True
    assert reopened["count"] == 3 and reopened["regressed_at"] >= since
    changed = await issue_queries.new_or_regressed_since(services.engine, since)
    assert {(i["title"], i["reason"]) for i in changed} == {
        ("ValueError: pay failed", "regressed"), ("ValueError: refund failed", "new")}
    listing = (await client.get("/api/v1/issues?status=unresolved", headers=auth_headers))
    assert len(listing.json()["items"]) == 2


async def test_counters_stay_correct_under_concurrent_ingest(settings, project):
    """Two instances (own engine and writer each) on one database, many requests at once."""
    instances = [Services.build(settings) for _ in range(2)]
    clients = []
    for svc in instances:
        await svc.start(background_jobs=False)
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(
            app=create_app(services=svc, background_jobs=False)), base_url="http://test"))
    try:
        shared = [_error("pay", event_id=uuid.uuid4().hex) for _ in range(20)]
        jobs = []
        for n in range(60):
            batch = [_error(("pay", "refund", "ship")[n % 3], service=f"svc{n % 4}"),
                     _error("pay"), shared[n % 20]]  # shared events arrive many times
            jobs.append(_send(clients[n % 2], project, batch))
        await asyncio.gather(*jobs)
        counts = await _consistent(instances[0].engine)
        assert sum(counts.values()) == 60 * 2 + 20
        assert len(counts) == 3
    finally:
        for c in clients:
            await c.aclose()
        for svc in instances:
            await svc.stop()


async def test_retention_drops_old_hourly_counts_keeps_issues(client, project, services):
    old = time.time() - 40 * 86400
    await _send(client, project, [_error("pay", ts=old), _error("pay")])
    deleted = await services.run_retention()
    assert deleted["issue_hourly"] == 1 and deleted["errors"] == 1
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(issues.c.event_count))).scalar_one() == 2
        assert (await conn.execute(select(func.count()).select_from(issue_hourly))).scalar() == 1


def _sentry_error_with_user(project, user: dict) -> bytes:
    """A real sentry-sdk event for the same bug each time, sent as ``user``."""
    def act() -> None:
        sentry_sdk.set_user(user)
        try:
            {}["missing"]
        except KeyError:
            sentry_sdk.capture_exception()

    dsn = f"http://{project.public_key}@lookout.test/{project.id}"
    (envelope,) = sdk_envelopes(dsn, act)
    return envelope


async def test_users_affected_counts_distinct_users(client, project, services, auth_headers):
    retried = {**_error("checkout"), "attributes": {"user.id": "u3"}}
    await _send(client, project, [
        {**_error("checkout"), "attributes": {"user.id": "u1", "plan": "pro"}},
        {**_error("checkout"), "attributes": {"user.id": "u1"}},  # the same user again
        {**_error("checkout"), "attributes": {"user": {"email": "b@example.com"}}},
        _error("checkout"),  # nobody named: an event, not a user
        {**_error("refund"), "attributes": {"user": "u1"}},
        retried,
    ])
    await _send(client, project, [retried])  # an SDK retry counts neither event nor user
    for user in ({"id": "s1", "email": "s1@example.com"}, {"username": "s2"}, {"id": "s1"},
                 {"ip_address": "{{auto}}"}):
        resp = await client.post(f"/api/{project.id}/envelope/",
                                 content=_sentry_error_with_user(project, user),
                                 headers={"X-Sentry-Auth": "Sentry sentry_key="
                                                           f"{project.public_key}"})
        assert resp.status_code == 200, resp.text

    listed = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    by_culprit = {i["culprit"]: (i["count"], i["users"]) for i in listed}
    assert by_culprit["shop.views in checkout"] == (5, 3)
    assert by_culprit["shop.views in refund"] == (1, 1)
    sentry_issue = next(i for i in listed if i["title"].startswith("KeyError"))
    assert (sentry_issue["count"], sentry_issue["users"]) == (4, 2)
    detail = (await client.get(f"/api/v1/issues/{sentry_issue['id']}",
                               headers=auth_headers)).json()
    assert detail["users"] == 2 and "user" not in detail["tags"]
    async with services.engine.connect() as conn:
        per_user = dict((await conn.execute(
            select(issue_tags.c.value, issue_tags.c.count)
            .where(issue_tags.c.issue_id == sentry_issue["id"], issue_tags.c.key == "user")
        )).all())
    assert {k: int(v) for k, v in per_user.items()} == {"s1": 2, "s2": 1}
