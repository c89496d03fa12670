"""Issue pages through the real app: list, detail with stack trace, resolve with CSRF."""

from __future__ import annotations

import re
import time
import uuid

from tests.web.conftest import csrf_from, ingest


def _error(value: str, **extra) -> dict:
    return {"event_id": uuid.uuid4().hex, "service": "checkout", "ts": time.time() - 5,
            "request_id": "req-issue-1",
            "exception": [{"type": "KeyError", "value": value, "frames": [
                {"filename": "lib/http.py", "function": "dispatch", "lineno": 10,
                 "in_app": False, "context_line": "return handler()"},
                {"filename": "shop/cart.py", "function": "total", "lineno": 42, "in_app": True,
                 "pre_context": ["def total(cart):", "    items = cart.items"],
                 "context_line": "    return prices[items[0]]",
                 "post_context": ["", "def other():"],
                 "vars": {"cart": "<Cart 7>", "secret_token": "<b>x</b>"}}]}], **extra}


async def _issue_id(ui) -> int:
    page = await ui.get("/issues")
    match = re.search(r'href="/issues/(\d+)"', page.text)
    assert match, page.text
    return int(match.group(1))


async def test_issue_list_and_detail(ui, project):
    await ingest(ui, project, {"errors": [_error("'sku-1'"), _error("'sku-2'")]})
    listing = await ui.get("/issues")
    assert listing.status_code == 200
    assert listing.text.count('class="issue lvl-error"') == 1  # both events grouped
    assert "KeyError" in listing.text and '<svg class="spark"' in listing.text
    assert "<strong>2</strong><span class=\"sub\">events</span>" in listing.text
    issue_id = await _issue_id(ui)
    detail = await ui.get(f"/issues/{issue_id}")
    html = detail.text
    assert detail.status_code == 200
    assert html.index("shop/cart.py") < html.index("lib/http.py")  # most recent call first
    assert '<li class="current">    return prices[items[0]]</li>' in html
    assert "2 local variables" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'href="/requests/req-issue-1"' in html
    assert "occurrences, last 14 days (2)" in html
    assert (await ui.get("/issues/999999")).status_code == 404
    assert (await ui.get("/issues/abc")).status_code == 404


async def test_resolve_ignore_reopen_need_csrf(ui, project):
    await ingest(ui, project, {"errors": [_error("'x'")]})
    issue_id = await _issue_id(ui)
    detail = await ui.get(f"/issues/{issue_id}")
    forged = await ui.post(f"/issues/{issue_id}/resolve", data={})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert "st-unresolved" in (await ui.get(f"/issues/{issue_id}")).text
    done = await ui.post(f"/issues/{issue_id}/resolve", data={"_csrf": csrf_from(detail.text)})
    assert done.status_code == 303 and done.headers["location"] == f"/issues/{issue_id}"
    after = await ui.get(f"/issues/{issue_id}")
    assert "st-resolved" in after.text and f'action="/issues/{issue_id}/reopen"' in after.text
    assert "No unresolved issues" in (await ui.get("/issues")).text
    assert f"/issues/{issue_id}" in (await ui.get("/issues?status=resolved")).text
    bad = await ui.post(f"/issues/{issue_id}/explode", data={"_csrf": csrf_from(after.text)})
    assert bad.status_code == 404
    assert (await ui.get("/issues?status=weird")).status_code == 400


async def test_timeline_errors_link_to_their_issue(ui, project):
    await ingest(ui, project, {"errors": [_error("'y'")]})
    issue_id = await _issue_id(ui)
    timeline = await ui.get("/requests/req-issue-1")
    assert f'href="/issues/{issue_id}">issue #{issue_id}</a>' in timeline.text


async def test_users_affected_on_list_and_detail(ui, project):
    await ingest(ui, project, {"errors": [
        _error("'a'", attributes={"user.id": "u-1"}), _error("'b'", attributes={"user.id": "u-2"}),
        _error("'c'", attributes={"user.id": "u-1"}), _error("'d'")]})
    listing = (await ui.get("/issues")).text
    assert '<strong>4</strong><span class="sub">events</span>' in listing
    assert '<strong>2</strong><span class="sub">users</span>' in listing
    detail = (await ui.get(f"/issues/{await _issue_id(ui)}")).text
    assert '<span class="sub">users</span><strong>2</strong>' in detail
    assert "u-1" not in detail.split('class="card tags"')[1]  # counted, not listed as tags


async def test_a_stack_sent_outside_the_exceptions_is_shown(ui, project):
    """attach_stacktrace messages (a thread's stack) and a top-level ``stacktrace``."""
    frames = [{"module": "Oban.Queue.Executor", "function": "perform/1", "in_app": False},
              {"module": "Shop.PaymentWorker", "function": "perform/1", "in_app": True,
               "lineno": 31, "pre_context": ["def perform(job) do"],
               "context_line": "  Sentry.capture_message(msg, stacktrace: trace)"}]
    for event in ({"platform": "elixir", "message": "job stalled",
                   "tags": {"request_id": "req-stack-1"}, "stacktrace": {"frames": frames}},
                  {"platform": "python", "message": "cache warmed",
                   "threads": {"values": [
                       {"id": 1, "name": "MainThread", "current": False,
                        "stacktrace": {"frames": frames[:1]}},
                       {"id": 2, "name": "worker-2", "current": True,
                        "stacktrace": {"frames": [frames[0], {**frames[1],
                                                              "function": "warm/1"}]}}]}}):
        resp = await ui.post(f"/api/{project.id}/store/", json={"event_id": uuid.uuid4().hex,
                                                                **event},
                             headers={"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}"})
        assert resp.status_code == 200, resp.text
    listing = (await ui.get("/issues")).text
    ids = [int(i) for i in re.findall(r'href="/issues/(\d+)"', listing)]
    assert len(set(ids)) == 2
    pages = {}
    for issue_id in set(ids):
        html = (await ui.get(f"/issues/{issue_id}")).text
        pages["thread" if "cache warmed" in html else "top"] = html
    for html in pages.values():
        assert "<strong>Stack trace</strong>" in html
        assert '<li class="current">  Sentry.capture_message(msg, stacktrace: trace)</li>' in html
        # most recent call first
        assert html.index("Shop.PaymentWorker") < html.index("Oban.Queue.Executor")
    assert "of thread worker-2" in pages["thread"] and "of thread" not in pages["top"]
    timeline = (await ui.get("/requests/req-stack-1")).text  # the request's timeline too
    assert "<summary>stack trace</summary>" in timeline and "Shop.PaymentWorker" in timeline


async def test_issue_whose_events_retention_removed(ui, project, services):
    """Retention removes every event of an issue; the issue, its count and users stay and
    its page says the events are gone instead of failing."""
    old = time.time() - 100 * 86400
    await ingest(ui, project, {"errors": [_error("'x'", ts=old, attributes={"user.id": "u-1"}),
                                          _error("'y'", ts=old + 1)]})
    deleted = await services.run_retention()
    assert deleted["errors"] == 2 and deleted["issue_hourly"] == 1
    detail = await ui.get(f"/issues/{await _issue_id(ui)}")
    assert detail.status_code == 200
    assert "No event is stored any more" in detail.text
    assert '<span class="sub">users</span><strong>1</strong>' in detail.text
    listing = (await ui.get("/issues")).text
    assert '<strong>2</strong><span class="sub">events</span>' in listing
