"""The request page and ``/api/v1/requests/{id}`` with spans, on SQLite and PostgreSQL.

Two services of one trace arrive over OTLP/JSON (``/v1/traces``, ``/v1/logs``)
and a third record through ``/ingest``: the page and the API show one
waterfall (parent/child across services, bars to scale), the logs and the
error on their spans, and find it all by either request id or the trace id.
Then the search terms ``trace:`` and ``span:``, the span cap, and the
overview fed by an OTLP SERVER span and a real sentry-sdk transaction.
"""

from __future__ import annotations

import html
import re
import time

import pytest
import sentry_sdk

from lookout.settings import Settings
from tests.support.sentry_envelopes import sdk_envelopes
from tests.web.conftest import ingest

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
G1, G2, I1, I2 = "a1a1a1a1a1a1a1a1", "a2a2a2a2a2a2a2a2", "b1b1b1b1b1b1b1b1", "b2b2b2b2b2b2b2b2"
EVIL = '<img src=x onerror=alert(1)>'
CAP = 50


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret", max_waterfall_spans=CAP)


def _attr(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v}
                                                               for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def _resource(service: str) -> dict:
    return {"attributes": [_attr("service.name", service),
                           _attr("deployment.environment", "prod")]}


def _ns(t0: float, ms: float) -> str:
    return str(int((t0 + ms / 1000) * 1e9))


def _span(t0, sid, parent, name, kind, start_ms, end_ms, attrs=(), events=(), error=False):
    body = {"traceId": TRACE, "spanId": sid, "name": name, "kind": kind,
            "startTimeUnixNano": _ns(t0, start_ms), "endTimeUnixNano": _ns(t0, end_ms),
            "attributes": [_attr(k, v) for k, v in attrs], "events": list(events),
            "status": {"code": 2 if error else 1}}
    if parent:
        body["parentSpanId"] = parent
    return body


def _traces(t0: float, extra_spans: int = 0) -> dict:
    gateway = [
        _span(t0, G1, None, "POST /checkout", 2, 0, 300,
              [("http.request.method", "POST"), ("http.route", "/checkout"),
               ("http.response.status_code", 500),
               ("http.request.header.x-request-id", ["req-gw-1"])], error=True),
        _span(t0, G2, G1, "POST inventory", 3, 20, 220, [("http.request.method", "POST")]),
    ]
    boom = {"name": "exception", "timeUnixNano": _ns(t0, 150),
            "attributes": [_attr("exception.type", "OutOfStock"),
                           _attr("exception.message", "sku 12 is gone"),
                           _attr("exception.stacktrace", "Traceback (most recent call last):\n"
                                 '  File "stock.py", line 8, in reserve\n'
                                 "OutOfStock: sku 12 is gone")]}
    inventory = [
        _span(t0, I1, G2, "POST /reserve", 2, 30, 210,
              [("http.request.method", "POST"), ("http.route", "/reserve"),
               ("http.response.status_code", 503),
               ("http.request.header.x-request-id", ["req-inv-1"])], [boom], error=True),
        _span(t0, I2, I1, EVIL, 3, 40, 120, [("db.system", "postgresql")]),
    ] + [_span(t0, f"{0xc000000000000000 + i:016x}", I1, "cache get", 1, 130 + i * .1,
               130.05 + i * .1) for i in range(extra_spans)]
    return {"resourceSpans": [
        {"resource": _resource("gateway"), "scopeSpans": [{"spans": gateway}]},
        {"resource": _resource("inventory"), "scopeSpans": [{"spans": inventory}]}]}


def _logs(t0: float) -> dict:
    def record(ms, sid, severity, text):
        return {"timeUnixNano": _ns(t0, ms), "severityNumber": severity,
                "body": {"stringValue": text}, "traceId": TRACE, "spanId": sid}
    return {"resourceLogs": [
        {"resource": _resource("gateway"),
         "scopeLogs": [{"logRecords": [record(5, G1, 9, "checkout started")]}]},
        {"resource": _resource("inventory"),
         "scopeLogs": [{"logRecords": [record(100, I2, 13, "stock query slow " + EVIL)]}]}]}


async def _send(client, project, t0: float, extra_spans: int = 0) -> None:
    headers = {"Authorization": f"Bearer {project.public_key}",
               "Content-Type": "application/json"}
    for path, body in (("/v1/traces", _traces(t0, extra_spans)), ("/v1/logs", _logs(t0))):
        resp = await client.post(path, json=body, headers=headers)
        assert resp.status_code == 200, resp.text
        assert "partialSuccess" not in resp.json(), resp.text
    # A Lookout SDK log of the gateway's request: no span id, placed by its time.
    await ingest(client, project, {"logs": [
        {"message": "charging card", "service": "gateway", "request_id": "req-gw-1",
         "ts": t0 + 0.250}]})


async def test_api_shows_the_waterfall_by_request_id_and_by_trace_id(client, project,
                                                                     auth_headers):
    t0 = time.time() - 60
    await _send(client, project, t0)
    bodies = {}
    for key in ("req-gw-1", TRACE, TRACE.upper(), "req-inv-1"):
        resp = await client.get(f"/api/v1/requests/{key}", headers=auth_headers)
        assert resp.status_code == 200, (key, resp.text)
        bodies[key] = resp.json()
    body = bodies["req-gw-1"]
    assert body["trace_id"] == TRACE
    fall = body["waterfall"]
    assert [(s["span_id"], s["depth"], s["service"]) for s in fall["spans"]] == [
        (G1, 0, "gateway"), (G2, 1, "gateway"), (I1, 2, "inventory"), (I2, 3, "inventory")]
    assert fall["services"] == ["gateway", "inventory"]
    assert (fall["total"], fall["shown"], fall["not_shown"]) == (4, 4, 0)
    assert fall["duration_ms"] == pytest.approx(300, abs=0.01)
    i1 = fall["spans"][2]
    assert i1["offset_pct"] == pytest.approx(10, abs=0.01)
    assert i1["width_pct"] == pytest.approx(60, abs=0.01)

    by_kind: dict[str, list] = {}
    for item in body["items"]:
        by_kind.setdefault(item["kind"], []).append(item)
    # Both services' request records, their logs and the inventory's error: one page.
    assert sorted(r["request_id"] for r in by_kind["request"]) == ["req-gw-1", "req-inv-1"]
    logs = {i["message"]: i for i in by_kind["log"]}
    assert set(logs) == {"checkout started", "stock query slow " + EVIL, "charging card"}
    (error,) = by_kind["error"]
    assert error["message"] == "OutOfStock: sku 12 is gone" and error["issue_id"] is not None
    spans = {s["span_id"]: s for s in fall["spans"]}
    assert spans[G1]["logs"] == sorted([logs["checkout started"]["id"],
                                        logs["charging card"]["id"]])
    assert spans[I2]["logs"] == [logs["stock query slow " + EVIL]["id"]]
    assert spans[I1]["errors"] == [error["id"]] and error["on_span"] == I1
    # The same trace whichever id was pasted (upper-case hex too).
    for key in (TRACE, TRACE.upper(), "req-inv-1"):
        assert [s["span_id"] for s in bodies[key]["waterfall"]["spans"]] == [G1, G2, I1, I2]
        assert len(bodies[key]["items"]) == len(body["items"])

    missing = await client.get("/api/v1/requests/" + "0" * 32, headers=auth_headers)
    assert missing.status_code == 404 and "trace ID" in missing.json()["error"]
    plain = await client.get("/api/v1/requests/no-spans-here", headers=auth_headers)
    assert plain.status_code == 404


async def test_a_request_without_spans_has_no_waterfall(client, project, auth_headers):
    await ingest(client, project, {"requests": [
        {"request_id": "plain-1", "method": "GET", "route": "/", "status": 200,
         "duration_ms": 3}]})
    body = (await client.get("/api/v1/requests/plain-1", headers=auth_headers)).json()
    assert "waterfall" not in body and body["trace_id"] is None
    assert [i["kind"] for i in body["items"]] == ["request"]


async def test_the_cap_counts_spans_not_shown(client, project, auth_headers, ui):
    t0 = time.time() - 60
    await _send(client, project, t0, extra_spans=CAP + 26)  # 4 + 76 spans
    fall = (await client.get(f"/api/v1/requests/{TRACE}", headers=auth_headers)).json()[
        "waterfall"]
    assert (fall["total"], fall["shown"], fall["not_shown"]) == (CAP + 30, CAP, 30)
    page = await ui.get(f"/requests/{TRACE}")
    assert page.status_code == 200
    assert "30 more spans not shown" in page.text and "LOOKOUT_MAX_WATERFALL_SPANS" in page.text


async def test_page_draws_bars_to_scale_with_logs_errors_and_links(client, project, ui):
    t0 = time.time() - 60
    await _send(client, project, t0)
    resp = await ui.get("/requests/req-gw-1")
    assert resp.status_code == 200, resp.text
    page = resp.text
    # Subtrees collapse without JavaScript: every span with children opens a <details>.
    assert page.count("<details open><summary") == 3
    for sid in (G1, G2, I1, I2):
        assert f'id="span-{sid}"' in page
    # The inventory's server span: 30..210 ms of a 300 ms axis.
    row = page[page.index(f'id="span-{I1}"'):]
    bar = re.search(r'<rect class="bar bad" x="([\d.]+)%" y="3" width="([\d.]+)%"', row)
    assert bar and float(bar.group(1)) == pytest.approx(10, abs=.01)
    assert float(bar.group(2)) == pytest.approx(60, abs=.01)
    # Log lines and the error sit on their spans and link both ways, and to the issue.
    (issue_id,) = set(re.findall(r'href="/issues/(\d+)"', page))
    assert re.search(r'id="w-error-\d+"', row)
    assert re.search(r'href="#span-' + I1 + '">on span POST /reserve', page)
    assert re.search(r'href="#rec-log-\d+" title="the full record below">checkout started', page)
    assert f'href="/issues/{issue_id}"' in row
    # Ingested names and messages are escaped everywhere.
    assert EVIL not in page and html.escape(EVIL, quote=False) in page
    # Service colours: both lanes drawn and named.
    assert 'class="lane lane0">gateway' in page and 'class="lane lane1">inventory' in page

    by_trace = await ui.get(f"/requests/{TRACE}")
    assert by_trace.status_code == 200 and f'id="span-{I2}"' in by_trace.text
    jump = await ui.get("/search", params={"q": TRACE})
    assert jump.status_code == 303 and jump.headers["location"] == f"/requests/{TRACE}"


async def test_trace_and_span_search_terms(client, project, auth_headers, ui):
    t0 = time.time() - 60
    await _send(client, project, t0)
    await ingest(client, project, {"logs": [
        {"message": "unrelated", "service": "gateway", "trace_id": "f" * 32, "ts": t0}]})

    async def api(q: str) -> list[str]:
        resp = await client.get("/api/v1/logs", params={"q": q, "since": "1h"},
                                headers=auth_headers)
        assert resp.status_code == 200, resp.text
        return sorted(i["message"] for i in resp.json()["items"])

    both = ["checkout started", "stock query slow " + EVIL]
    assert await api(f"trace:{TRACE}") == both
    assert await api(f"trace:{TRACE.upper()} level:warning") == ["stock query slow " + EVIL]
    assert await api(f'span:"{EVIL}"') == both  # the logs of traces that ran that span
    assert await api('span:"POST /res*"') == both
    assert await api("span:nothing-like-this") == []
    # A q without a filter is still one substring, as before.
    assert await api("query slow <img") == ["stock query slow " + EVIL]
    bad = await client.get("/api/v1/logs", params={"q": "trace:" + "a" * 65},
                           headers=auth_headers)
    assert bad.status_code == 400 and "trace" in bad.json()["error"]

    page = await ui.get("/search", params={"q": f"trace:{TRACE}", "range": "1h"})
    assert page.status_code == 200
    assert "checkout started" in page.text and f'href="/requests/{TRACE}"' in page.text
    assert "unrelated" not in page.text


def _sentry_transaction(dsn: str) -> bytes:
    def act() -> None:
        sentry_sdk.set_tag("service", "sentry-shop")
        with sentry_sdk.start_transaction(op="http.server", name="GET /cart") as tx:
            tx.set_http_status(503)
    (envelope,) = sdk_envelopes(dsn, act, traces_sample_rate=1.0)
    return envelope


async def test_overview_rows_from_otlp_server_spans_and_sentry_transactions(client, project,
                                                                          ui, services):
    t0 = time.time() - 60
    await _send(client, project, t0)
    dsn = f"http://{project.public_key}@lookout.test/{project.id}"
    resp = await client.post(f"/api/{project.id}/envelope/", content=_sentry_transaction(dsn),
                             headers={"X-Sentry-Auth": f"Sentry sentry_key={project.public_key},"
                                                       " sentry_version=7"})
    assert resp.status_code == 200, resp.text
    page = (await ui.get("/", params={"range": "1h"})).text
    rows = dict(re.findall(r'title="errors of ([^"]+)">.*?<b>([^<]+)</b> <span class="sub">'
                           r'errors \(5xx\)', page, re.DOTALL))
    assert rows == {"gateway": "100%", "inventory": "100%", "sentry-shop": "100%"}, rows
    latency = dict(re.findall(r'title="errors of ([^"]+)">.*?errors \(5xx\).*?<b>([^<]+)</b> '
                              r'<span class="sub">p95', page, re.DOTALL))
    assert set(latency) == set(rows) and "–" not in latency.values(), latency
    assert latency["gateway"].endswith(" ms") and latency["inventory"].endswith(" ms")
    assert "computed from the sampled data" in page and "sample rate below 1" in page
