"""Custom tags counted per issue: values, caps, the "other values" row (both databases).

Events are serialized by the real sentry-sdk (``set_tag``) and by the Lookout ingest
format, and sent through the real app's HTTP endpoints.
"""

from __future__ import annotations

import uuid

import httpx
import msgspec
import pytest
import sentry_sdk
from sqlalchemy import func, select

from collector import tables
from collector.issue_tables import issue_tags
from collector.issues import OTHER_VALUE, TagLimits, custom_tag_counts, event_tag_columns
from lookout.projects import Project
from lookout.settings import Settings
from tests.support.sentry_envelopes import sdk_envelopes

MAX_KEYS, MAX_VALUES = 3, 4


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret",
                    max_issue_tag_keys=MAX_KEYS, max_issue_tag_values=MAX_VALUES)


def _dsn(project: Project) -> str:
    return f"http://{project.public_key}@lookout.test/{project.id}"


def _bug() -> None:
    raise ValueError("plan limit reached")


def _capture(tags: dict[str, str]) -> None:
    with sentry_sdk.new_scope() as scope:
        for key, value in tags.items():
            scope.set_tag(key, value)
        try:
            _bug()
        except ValueError:
            sentry_sdk.capture_exception()


async def _send_sdk(client: httpx.AsyncClient, project: Project,
                    events: list[dict[str, str]]) -> list[bytes]:
    """One event per envelope, as the SDK sends them; returns the envelopes."""
    def act() -> None:
        for tags in events:
            _capture(tags)

    envelopes = sdk_envelopes(_dsn(project), act)
    for envelope in envelopes:
        await _post(client, project, envelope)
    return envelopes


async def _post(client: httpx.AsyncClient, project: Project, envelope: bytes) -> None:
    resp = await client.post(f"/api/{project.id}/envelope/", content=envelope, headers={
        "X-Sentry-Auth": f"Sentry sentry_key={project.public_key}, sentry_version=7"})
    assert resp.status_code == 200, resp.text


async def _issue(client: httpx.AsyncClient, headers: dict[str, str]) -> dict:
    (item,) = (await client.get("/api/v1/issues", headers=headers)).json()["items"]
    return (await client.get(f"/api/v1/issues/{item['id']}", headers=headers)).json()


async def _key_totals(services, issue_id: int) -> dict[str, int]:
    t = issue_tags.c
    async with services.engine.connect() as conn:
        rows = await conn.execute(select(t.key, func.sum(t.count)).where(t.issue_id == issue_id)
                                  .group_by(t.key))
        return {k: int(v) for k, v in rows}


async def test_set_tag_values_are_counted_on_the_issue(client, project, auth_headers, services):
    events = [{"plan": "pro", "region": "eu"}] * 3 + [{"plan": "free", "region": "eu"},
                                                       {"plan": "free"}, {}]
    sent = await _send_sdk(client, project, events)
    issue = await _issue(client, auth_headers)
    assert issue["count"] == 6
    plan = issue["tags"]["plan"]
    assert [(v["value"], v["count"], v["share"]) for v in plan] == [("pro", 3, 0.6),
                                                                    ("free", 2, 0.4)]
    assert issue["tag_stats"]["plan"] == {"total": 5, "values": 2, "other": 0}
    assert [(v["value"], v["count"]) for v in issue["tags"]["region"]] == [("eu", 4)]
    # The SDK's own built-in keys are counted from their columns, once.
    assert [v["value"] for v in issue["tags"]["environment"]] == ["staging"]
    assert issue["tag_stats"]["environment"]["total"] == 6
    # The list carries only the built-in keys (cheap for 100 issues at a time).
    (listed,) = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    assert set(listed["tags"]) == {"environment", "release"}

    # A retried envelope is not counted twice (the events are deduplicated first).
    await _post(client, project, sent[0])
    totals = await _key_totals(services, issue["id"])
    async with services.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(tables.errors))).scalar()
    assert stored == 6
    assert totals["plan"] == 5 and totals["region"] == 4


async def test_values_beyond_the_cap_go_to_other_and_keys_beyond_it_are_not_counted(
        client, project, auth_headers, services):
    # One batch: 6 values of "plan" (cap 4), in one request after another.
    await _send_sdk(client, project, [{"plan": f"p{i % 6}"} for i in range(12)])
    await _send_sdk(client, project, [{"plan": "p0"}, {"plan": "late-new-value"}])
    # Keys: "plan" plus "a".."d": only MAX_KEYS keys per issue are counted.
    await _send_sdk(client, project, [{"a": "1", "b": "1"}, {"c": "1", "d": "1"}])
    issue = await _issue(client, auth_headers)
    # p0-p3 came first (2 each), p4 and p5 (2 each) and late-new-value went to "other".
    assert issue["tag_stats"]["plan"] == {"total": 14, "values": MAX_VALUES, "other": 5}
    shown = {v["value"]: v["count"] for v in issue["tags"]["plan"]}
    assert shown == {"p0": 3, "p1": 2, "p2": 2, "p3": 2}  # known values keep counting
    custom = set(issue["tag_stats"]) - {"environment", "release", "service"}
    assert custom == {"plan", "a", "b"}  # c and d came after the cap
    totals = await _key_totals(services, issue["id"])
    assert totals["plan"] == 14 and totals["a"] == 1 and "c" not in totals
    # The events keep every tag they had.
    events = (await client.get(f"/api/v1/issues/{issue['id']}/events",
                               headers=auth_headers)).json()["items"]
    assert any(e["extra"]["tags"].get("d") == "1" for e in events)


async def test_uncounted_keys_and_the_lookout_sdk_format(client, project, auth_headers,
                                                         services):
    long_key = "k" * 33
    await _send_sdk(client, project, [{"request_id": "req-1", long_key: "x", "plan": "pro",
                                       "service": "shop", "empty": ""}])
    error = {"event_id": uuid.uuid4().hex, "service": "shop", "tags": {"plan": "team"},
             "exception": [{"type": "ValueError", "value": "plan limit reached", "frames": []}]}
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": [error]}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text
    items = (await client.get("/api/v1/issues", headers=auth_headers)).json()["items"]
    plans = []
    for item in items:
        detail = (await client.get(f"/api/v1/issues/{item['id']}", headers=auth_headers)).json()
        assert "request_id" not in detail["tags"] and long_key not in detail["tags"]
        assert "empty" not in detail["tags"]
        assert detail["tag_stats"]["service"]["total"] == detail["count"]  # not twice
        plans += [v["value"] for v in detail["tags"].get("plan", [])]
    assert sorted(plans) == ["pro", "team"]


async def test_issue_page_shows_top_values_escaped(client, project, services, auth_headers):
    from lookout.accounts import create_user
    from tests.web.conftest import login

    await create_user(services.engine, "t@example.com", "correct horse battery")
    assert (await login(client, "t@example.com", "correct horse battery")).status_code == 303
    evil = "<script>alert(1)</script>"
    await _send_sdk(client, project, [{"plan": "pro"}] * 3 + [{"plan": evil}]
                    + [{"plan": f"v{i}"} for i in range(4)])
    issue = await _issue(client, auth_headers)
    html = (await client.get(f"/issues/{issue['id']}")).text
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<span>pro</span><span class="sub">3 · 38%</span>' in html
    assert "8 events" in html
    assert '<li class="tag-other"><span>other values</span>' in html


def test_batch_counts_are_capped_before_the_statement() -> None:
    rows = [{"issue_id": 1, "ts": float(i), "tags": {"plan": f"p{i % 5}", "k1": "x", "k2": "y"}}
            for i in range(10)] + [{"issue_id": 1, "ts": 99.0, "tags": {"k3": "z"}}]
    counts = custom_tag_counts(rows, TagLimits(max_keys=3, max_values=2))
    keys = {key for _, key, *_ in counts}
    assert keys == {"plan", "k1", "k2"}  # the least used key (k3) is left out
    plan = {value: n for _, key, value, n, _, _ in counts if key == "plan"}
    assert plan == {"p0": 2, "p1": 2, OTHER_VALUE: 6}
    assert sum(plan.values()) == 10


def test_postgresql_gets_each_events_tags_capped_as_the_batch_is() -> None:
    """The PostgreSQL statement counts tags per inserted event: the arrays name each event
    once (the same event twice in a batch is stored once), with the batch's caps applied."""
    rows = [{"project_id": 1, "event_id": f"e{i}", "issue_id": 1, "ts": float(i),
             "tags": {"plan": f"p{i % 5}", "k1": "x", "k2": "y"}} for i in range(10)]
    rows += [{"project_id": 1, "event_id": "e0", "issue_id": 1, "ts": 0.0,  # a duplicate
              "tags": {"plan": "p0", "k1": "x", "k2": "y"}},
             {"project_id": 1, "event_id": "e99", "issue_id": 1, "ts": 99.0, "tags": {"k3": "z"}},
             {"project_id": 1, "event_id": "e100", "issue_id": 1, "ts": 9.0, "tags": {}}]
    projects, events, keys, values = event_tag_columns(rows, TagLimits(max_keys=3,
                                                                       max_values=2))
    assert set(projects) == {1} and len(events) == 30  # 10 events x 3 keys, k3 left out
    assert "e99" not in events and "e100" not in events
    plan = [v for k, v in zip(keys, values) if k == "plan"]
    assert sorted(set(plan)) == sorted({"p0", "p1", OTHER_VALUE})
    assert plan.count(OTHER_VALUE) == 6
    assert event_tag_columns([{"project_id": 1, "event_id": "e", "issue_id": 1, "ts": 0.0,
                               "tags": {}}], TagLimits(3, 2)) is None


async def _ingest(client: httpx.AsyncClient, project: Project, tags: list[dict[str, str]]) -> None:
    """Lookout ingest: every error of one request is written in one batch (one statement)."""
    errors = [{"event_id": uuid.uuid4().hex, "service": "shop", "tags": t,
               "exception": [{"type": "ValueError", "value": "plan limit reached",
                              "frames": []}]} for t in tags]
    resp = await client.post(f"/api/{project.id}/ingest",
                             content=msgspec.json.encode({"errors": errors}),
                             headers={"X-Lookout-Key": project.public_key})
    assert resp.status_code == 202, resp.text


async def test_caps_hold_within_one_batch(client, project, auth_headers, services):
    await _ingest(client, project, [{"plan": "a", "k1": "x"}, {"plan": "z"}])
    # The issue has 2 values of "plan" and 2 keys: 2 more values and 1 more key fit. The
    # batch alone would admit 4 values (c, a, b, d; e is cut before the statement).
    await _ingest(client, project, [{"plan": "c"}] * 3 + [{"plan": v} for v in "bde"]
                  + [{"plan": "a", "k3": "1", "k2": "1", "k4": "1"}])
    issue = await _issue(client, auth_headers)
    shown = {v["value"]: v["count"] for v in issue["tags"]["plan"]}
    # New values ranked most frequent first, then by value: c (3), then b; d and e: other.
    assert shown == {"a": 2, "z": 1, "c": 3, "b": 1}
    assert issue["tag_stats"]["plan"] == {"total": 9, "values": MAX_VALUES, "other": 2}
    # New keys ranked by name: k2 fits, k3 and k4 do not.
    assert set(issue["tag_stats"]) == {"service", "plan", "k1", "k2"}
