"""Titles, culprits and stacks of Sentry events through the real app, on SQLite and PostgreSQL.

Events come from the real sentry-sdk where it can make them (``attach_stacktrace``,
a transaction name), else in the shapes older SDKs send (``logentry`` without
``formatted``, raven's ``sentry.interfaces.Message``, a top-level ``stacktrace``,
a JavaScript synthetic exception, an explicit ``culprit``).
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import sentry_sdk

from lookout.projects import Project
from tests.support.sentry_envelopes import sdk_envelopes


def _auth(project: Project) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}, sentry_version=7"}


async def _store(client, project: Project, **event: Any) -> str:
    event_id = uuid.uuid4().hex
    resp = await client.post(f"/api/{project.id}/store/", headers=_auth(project),
                             content=msgspec.json.encode({"event_id": event_id,
                                                          "platform": "python", **event}))
    assert resp.status_code == 200, resp.text
    return event_id


async def _envelopes(client, project: Project, action, **options: Any) -> None:
    dsn = f"http://{project.public_key}@lookout.test/{project.id}"
    for body in sdk_envelopes(dsn, action, **options):
        resp = await client.post(f"/api/{project.id}/envelope/", content=body,
                                 headers=_auth(project))
        assert resp.status_code == 200, resp.text


async def _issues(client, project: Project, auth_headers) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/issues", params={"project": project.id},
                            headers=auth_headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


async def _issue_of(client, project: Project, auth_headers, event_id: str) -> dict[str, Any]:
    for issue in await _issues(client, project, auth_headers):
        resp = await client.get(f"/api/v1/issues/{issue['id']}/events", headers=auth_headers)
        if any(e["event_id"] == event_id for e in resp.json()["items"]):
            return (await client.get(f"/api/v1/issues/{issue['id']}",
                                     headers=auth_headers)).json()
    raise AssertionError(f"event {event_id} is in no issue")


async def test_logentry_params_fill_the_title_and_message_not_the_group(client, project,
                                                                        auth_headers):
    """sentry-sdk before 2.26 sends no ``formatted``; raven names it differently."""
    first = await _store(client, project, logger="shop.jobs", logentry={
        "message": "cleanup of %s failed: %s", "params": ["cache", "disk full"]})
    second = await _store(client, project, logger="shop.jobs", logentry={
        "message": "cleanup of %s failed: %s", "params": ["sessions", "timeout"]})
    issue = await _issue_of(client, project, auth_headers, first)
    assert issue["title"] == "cleanup of cache failed: disk full"
    assert issue["grouping"]["inputs"] == {"template": "cleanup of %s failed: %s"}
    assert (await _issue_of(client, project, auth_headers, second))["id"] == issue["id"]
    events = (await client.get(f"/api/v1/issues/{issue['id']}/events",
                               headers=auth_headers)).json()["items"]
    assert {e["message"] for e in events} == {"cleanup of cache failed: disk full",
                                              "cleanup of sessions failed: timeout"}
    braces = await _store(client, project, platform="java", logentry={
        "message": "order {} for {}", "params": ["A-17", "ann"]})
    assert (await _issue_of(client, project, auth_headers, braces))["title"] == \
        "order A-17 for ann"
    raven = await _store(client, project, message="payment %s declined",
                         **{"sentry.interfaces.Message": {"message": "payment %s declined",
                                                          "params": ["'4242'"]}})
    assert (await _issue_of(client, project, auth_headers, raven))["title"] == \
        "payment '4242' declined"
    # A mismatch is no error: the template is shown as it is.
    odd = await _store(client, project, logentry={"message": "%s and %s %d", "params": ["a"]})
    assert (await _issue_of(client, project, auth_headers, odd))["title"] == "%s and %s %d"


async def test_js_synthetic_exception_is_titled_by_its_message(client, project, auth_headers):
    event_id = await _store(client, project, platform="javascript", level="info",
                            message="cache warmed for 120 keys", exception={"values": [{
                                "value": "cache warmed for 120 keys",
                                "mechanism": {"type": "generic", "synthetic": True},
                                "stacktrace": {"frames": [{
                                    "filename": "/srv/app/jobs.js", "module": "jobs",
                                    "function": "warmCache", "in_app": True}]}}]})
    issue = await _issue_of(client, project, auth_headers, event_id)
    assert issue["title"] == "cache warmed for 120 keys"
    assert issue["culprit"] == "jobs in warmCache"


async def test_attach_stacktrace_messages_are_grouped_by_their_stack(client, project,
                                                                     auth_headers):
    """The real sentry-sdk sends the stack of ``capture_message`` in ``threads``."""
    def warm_cache() -> None:
        sentry_sdk.capture_message("cache warmed")

    def rebuild_index() -> None:
        sentry_sdk.capture_message("cache warmed")  # the same text, from elsewhere

    def act() -> None:
        for _ in range(2):
            warm_cache()
        rebuild_index()

    await _envelopes(client, project, act, attach_stacktrace=True)
    issues = await _issues(client, project, auth_headers)
    assert sorted(i["count"] for i in issues) == [1, 2]
    culprits = {i["culprit"] for i in issues}
    assert any(c.endswith("in warm_cache") for c in culprits), culprits
    assert any(c.endswith("in rebuild_index") for c in culprits), culprits
    detail = (await client.get(f"/api/v1/issues/{issues[0]['id']}", headers=auth_headers)).json()
    assert detail["title"] == "cache warmed"
    assert detail["grouping"]["method"] in ("in_app_frames", "system_frames")
    stack = detail["latest_event"]["extra"]["stacktrace"]
    assert stack["source"] == "thread"
    assert stack["frames"][-1]["function"] in ("warm_cache", "rebuild_index")


async def test_a_top_level_stacktrace_is_kept_and_grouped_on(client, project, auth_headers):
    """sentry-elixir and older SDKs send the stack at the top level (and a culprit)."""
    def frames(function: str) -> list[dict[str, Any]]:
        return [{"module": "Oban.Queue.Executor", "function": "perform/1", "in_app": False},
                {"module": "Shop.PaymentWorker", "function": function, "in_app": True,
                 "context_line": "Sentry.capture_message(msg, stacktrace: trace)"}]

    first = await _store(client, project, platform="elixir", culprit="Shop.PaymentWorker",
                         message="job stalled for order 17",
                         stacktrace={"frames": frames("perform/1")})
    again = await _store(client, project, platform="elixir", message="job stalled for order 42",
                         stacktrace={"frames": frames("perform/1")})
    other = await _store(client, project, platform="elixir", message="job stalled for order 17",
                         stacktrace={"frames": frames("retry/1")})
    issue = await _issue_of(client, project, auth_headers, first)
    assert issue["culprit"] == "Shop.PaymentWorker"  # the client's culprit wins
    assert (await _issue_of(client, project, auth_headers, again))["id"] == issue["id"]
    assert (await _issue_of(client, project, auth_headers, other))["id"] != issue["id"]
    assert issue["latest_event"]["extra"]["stacktrace"]["frames"][-1]["function"] in (
        "perform/1",)
    # A lone exception without frames takes the top-level stack (as Relay moves it).
    error = await _store(client, project, platform="elixir",
                         exception={"values": [{"type": "ArithmeticError",
                                                "value": "bad argument"}]},
                         stacktrace={"frames": frames("average/1")})
    crash = await _issue_of(client, project, auth_headers, error)
    assert crash["grouping"]["method"] == "in_app_frames"
    assert crash["culprit"] == "Shop.PaymentWorker in average/1"


async def test_the_transaction_is_the_culprit(client, project, auth_headers):
    """Sentry's order: the client's culprit, else its transaction, else the top frame."""
    def act() -> None:
        with sentry_sdk.new_scope() as scope:
            scope.set_transaction_name("POST /checkout")
            try:
                {}["sku"]
            except KeyError:
                sentry_sdk.capture_exception()

    await _envelopes(client, project, act)
    (issue,) = await _issues(client, project, auth_headers)
    assert issue["culprit"] == "POST /checkout"
    explicit = await _store(client, project, transaction="POST /pay", culprit="shop.pay",
                            exception={"values": [{"type": "ValueError", "value": "x"}]})
    assert (await _issue_of(client, project, auth_headers, explicit))["culprit"] == "shop.pay"
