"""The HTML pages through the real app (SQLite and PostgreSQL), without a browser."""

from __future__ import annotations

import re
import time

import pytest

from tests.web.conftest import ingest
from web import views

NOW = time.time()


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    """Each test's "now" is when it starts: a module-level stamp goes stale in a long run,
    and the data it ingests falls out of the pages' time ranges."""
    global NOW
    NOW = time.time()


def _texts(html: str, css_class: str) -> list[str]:
    return re.findall(rf'<span class="{css_class}">(.*?)</span>', html, re.DOTALL)


async def test_empty_installation_shows_how_to_start(ui, project, services):
    page = await ui.get("/")
    assert page.status_code == 200
    assert "No data yet" in page.text and f"/{project.id}" in page.text
    assert project.public_key in page.text and "lookout_sdk.init(dsn=" in page.text
    search = await ui.get("/search?q=anything")
    assert "No data yet" in search.text


async def test_overview_charts_per_service(ui, project):
    await ingest(ui, project, {"requests": [
        {"request_id": f"r{i}", "method": "GET", "route": "/pay", "status": 500 if i < 2 else 200,
         "duration_ms": 10 + i, "service": "checkout", "ts": NOW - 120 + i} for i in range(10)] + [
        {"request_id": "g1", "method": "GET", "route": "/", "status": 200, "duration_ms": 2,
         "service": "gateway<b>", "ts": NOW - 30}]})
    page = await ui.get("/?range=15m")
    assert page.status_code == 200
    assert page.text.index("checkout") < page.text.index("gateway&lt;b&gt;")
    assert "gateway<b>" not in page.text
    assert page.text.count('<svg class="chart') == 6
    assert "20%" in page.text  # checkout's error rate
    assert 'aria-pressed="true">15m' in page.text
    assert (await ui.get("/?range=3y")).status_code == 400
    assert "No unresolved issues" in page.text


async def test_overview_lists_recent_unresolved_issues(ui, project):
    await ingest(ui, project, {"errors": [{"message": f"boom {i} <x>", "service": "api",
                                           "ts": NOW - 10 + i,
                                           "fingerprint": [f"f{i}"]} for i in range(7)]})
    page = await ui.get("/")
    assert page.text.count('<li class="lvl-error"><a href="/issues/') == 5
    assert "boom 6 &lt;x&gt;" in page.text and "boom 0" not in page.text


async def test_request_id_search_goes_to_the_timeline(ui, project):
    rid = "7c1f0e9a-2b44-4c1e-9b7e-5f3d2a1c0b9e"
    await ingest(ui, project, {
        "logs": [{"message": "charging card", "service": "checkout", "request_id": rid,
                  "ts": NOW - 9.8, "attributes": {"amount": 12.5}},
                 {"message": "card declined", "level": "warning", "service": "payments",
                  "request_id": rid, "ts": NOW - 9.7}],
        "errors": [{"message": "payment failed", "service": "checkout", "request_id": rid,
                    "ts": NOW - 9.6, "exception": [{"type": "CardError", "value": "declined",
                                                    "frames": [{"filename": "pay.py",
                                                                "function": "charge",
                                                                "lineno": 7, "in_app": True,
                                                                "context_line": "raise X"}]}]}],
        "requests": [{"request_id": rid, "method": "POST", "route": "/checkout", "status": 502,
                      "duration_ms": 412.0, "service": "gateway", "ts": NOW - 10}],
    })
    jump = await ui.get("/search", params={"q": f"  {rid} "})
    assert jump.status_code == 303 and jump.headers["location"] == f"/requests/{rid}"
    page = await ui.get(jump.headers["location"])
    assert page.status_code == 200
    html = page.text
    order = [html.index(s) for s in ("/checkout", "charging card", "card declined",
                                     "payment failed")]
    assert order == sorted(order)
    assert "4 records from 3 services" in html and "502" in html and "412.0 ms" in html
    assert "<details class=\"attrs\"><summary>1 attribute</summary>" in html
    assert "CardError" in html and "<code>pay.py</code><span class=\"lineno\">:7</span>" in html


async def test_unknown_request_id_and_plain_words_search_logs(ui, project):
    await ingest(ui, project, {"logs": [{"message": "timeout talking to db"}]})
    resp = await ui.get("/search?q=timeout")
    assert resp.status_code == 200 and "timeout talking to db" in resp.text
    missing = await ui.get("/requests/no-such-request")
    assert missing.status_code == 404 and "Nothing recorded with this request ID" in missing.text
    bad = await ui.get("/requests/has%20space")
    assert bad.status_code == 400


async def test_search_filters_count_histogram_and_pages(ui, project):
    logs = [{"message": f"job {i} finished", "service": "worker" if i % 2 else "api",
             "level": "error" if i % 3 == 0 else "info", "ts": NOW - 600 + i,
             "attributes": {"tenant": "acme" if i < 40 else "globex"}} for i in range(120)]
    await ingest(ui, project, {"logs": logs})
    # service:worker level:error -> odd i divisible by 3 -> i in {3, 9, 15, ...}: 20 lines
    first = await ui.get("/search", params={"q": "finished service:worker level:error",
                                            "range": "1h"})
    assert first.status_code == 200
    assert "<strong>20</strong> matching log lines" in first.text
    assert '<svg class="histogram"' in first.text
    messages = _texts(first.text, "msg")
    assert len(messages) == 20 and messages[0] == "job 117 finished"
    tenant = await ui.get("/search", params={"q": "attr.tenant:acme service:api", "range": "1h"})
    assert "<strong>20</strong> matching" in tenant.text
    # Pagination: 120 lines, 50 per page, newest first, no overlaps.
    seen: list[str] = []
    url = "/search?q=finished&range=1h"
    while url:
        page = await ui.get(url.replace("&amp;", "&"))
        seen.extend(_texts(page.text, "msg"))
        match = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        url = match.group(1) if match else None
    assert len(seen) == 120 and len(set(seen)) == 120 and seen[0] == "job 119 finished"
    assert "← Newest" in page.text


async def test_bad_queries_are_explained(ui):
    resp = await ui.get("/search", params={"q": "levl:error"})
    assert resp.status_code == 400 and "unknown filter" in resp.text
    assert "Filters:" in resp.text
    resp = await ui.get("/search", params={"q": "x", "range": "custom", "from": "never"})
    assert resp.status_code == 400 and "from:" in resp.text
    resp = await ui.get("/search", params={"q": "x", "cursor": "garbage!"})
    assert resp.status_code == 400 and "cursor" in resp.text


async def test_hostile_text_is_escaped_everywhere(ui, project):
    evil = '<script>alert(1)</script> "><img src=x onerror=alert(2)>'
    await ingest(ui, project, {"logs": [{"message": evil, "request_id": "req-evil-1",
                                         "logger": "<b>log</b>", "service": "<i>svc</i>",
                                         "attributes": {"<k>": "<v>"}}]})
    for url in ("/search?q=script", "/requests/req-evil-1"):
        html = (await ui.get(url)).text
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<i>svc</i>" not in html and "<k>" not in html
    q = (await ui.get("/search", params={"q": '"\\"><script>x</script>"'})).text
    assert "<script>x" not in q


async def test_search_count_stops_at_the_cap(ui, project, monkeypatch):
    await ingest(ui, project, {"logs": [{"message": f"tick {i}", "ts": NOW - 3000 + i * 50}
                                        for i in range(60)]})
    monkeypatch.setattr(views, "COUNT_CAP", 10)
    page = (await ui.get("/search", params={"q": "tick", "range": "1h"})).text
    assert "<strong>10+</strong> matching log lines" in page
    assert "counting stops at 10" in page and "back to <time" in page
    assert 'class="uncounted"' in page  # older slices drawn as not counted, not as zeros
    assert len(_texts(page, "msg")) == 50  # the results themselves are not capped
    monkeypatch.setattr(views, "COUNT_CAP", 60)
    exact = (await ui.get("/search", params={"q": "tick", "range": "1h"})).text
    assert "<strong>60</strong> matching log lines" in exact
    assert "counting stops" not in exact and 'class="uncounted"' not in exact
