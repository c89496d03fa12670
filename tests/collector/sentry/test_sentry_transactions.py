"""End to end: Flask and FastAPI apps traced by the real ``sentry-sdk`` (``traces_sample_rate=1.0``).

Their transactions become spans and request records in ``lookout serve``;
an ``error_rate`` rule fires on the 5xx answers; and an envelope sent twice
(the app's transport is made to send every envelope again, byte for byte,
as a retrying transport or proxy would) stores nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from collector.rollup_queries import request_rates, request_series
from collector.span_queries import spans_for_request, spans_for_trace
from lookout.db import create_engine
from tests.support.sentry_app import run_app

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: {service}-errors
    kind: error_rate
    service: {service}
    window: 5m
    for: 0s
    min_requests: 4
    thresholds: {{critical: 0.2}}
"""

# Every envelope goes out twice: the second copy is a retry of the first.
SEND_TWICE = """
from sentry_sdk.transport import HttpTransport
_send = HttpTransport._send_envelope
def _twice(self, envelope):
    _send(self, envelope)
    _send(self, envelope)
HttpTransport._send_envelope = _twice
"""

FLASK_APP = SEND_TWICE + """
sentry_sdk.set_tag("service", "flask-shop")
from flask import Flask
app = Flask(__name__)

@app.route("/orders/<int:order_id>")
def order(order_id):
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders"):
        pass
    if order_id % 2:
        raise RuntimeError(f"order {order_id} failed")
    return "ok"

client = app.test_client()
for i in range(6):
    client.get(f"/orders/{i}", headers={"X-Request-ID": f"flask-{i}"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""

FASTAPI_APP = SEND_TWICE + """
sentry_sdk.set_tag("service", "fastapi-shop")
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
app = FastAPI()

@app.get("/orders/{order_id}")
async def order(order_id: int):
    with sentry_sdk.start_span(op="db.query", name="SELECT * FROM orders"):
        pass
    if order_id % 2:
        raise HTTPException(status_code=503, detail="try later")
    return {"ok": True}

with TestClient(app, raise_server_exceptions=False) as client:
    for i in range(6):
        client.get(f"/orders/{i}", headers={"X-Request-ID": f"fastapi-{i}"})
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""


def _wait(fetch, ready, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


async def _spans(db_url: str, request_id: str) -> tuple[list[dict], list[dict], list, list]:
    engine = create_engine(db_url)
    now = time.time()
    try:
        by_request = (await spans_for_request(engine, request_id)).items
        trace_id = by_request[0]["trace_id"] if by_request else ""
        by_trace = (await spans_for_trace(engine, trace_id)).items
        rates = await request_rates(engine, now - 3600, now + 60)
        series = await request_series(engine, now - 3600, now + 60, 12)
    finally:
        await engine.dispose()
    return by_request, by_trace, rates, series


@pytest.mark.parametrize(("framework", "code", "route", "error_status"), [
    ("flask", FLASK_APP, "order", 500),
    ("fastapi", FASTAPI_APP, "/orders/{order_id}", 503),
])
def test_sentry_sdk_transactions_become_requests_spans_and_alerts(
        server_factory, db_url, tmp_path: Path, framework, code, route, error_status):
    service = f"{framework}-shop"
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.format(service=service))
    server = server_factory(db_url=db_url, env={"LOOKOUT_RULES_FILE": str(rules),
                                                "LOOKOUT_EVAL_INTERVAL": "1"})
    dsn = server.create_project(framework)
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})

    out = run_app(tmp_path / framework, dsn, code, options={"traces_sample_rate": 1.0})
    assert "flushed" in out.stdout, out.stdout + out.stderr

    # flush() returned: every envelope (and its copy) was answered, hence committed.
    for i in range(6):
        items = api.get(f"/api/v1/requests/{framework}-{i}").json()["items"]
        requests = [item for item in items if item["kind"] == "request"]
        assert len(requests) == 1, items  # the retried envelope stored nothing twice
        (record,) = requests
        assert record["method"] == "GET" and record["route"] == route
        assert record["status"] == (error_status if i % 2 else 200)
        assert record["service"] == service and record["environment"] == "test"
        assert record["duration_ms"] > 0 and record["attributes"]["sample_rate"] == 1.0
    errors = [i for i in api.get(f"/api/v1/requests/{framework}-1").json()["items"]
              if i["kind"] == "error"]
    if framework == "flask":  # the unhandled exception's event joins its request
        assert len(errors) == 1 and errors[0]["message"] == "RuntimeError: order 1 failed"

    by_request, by_trace, rates, series = asyncio.run(_spans(db_url, f"{framework}-2"))
    # The rollups the rules and the overview read count the requests once each.
    assert [(r.service, r.environment, r.count, r.errors) for r in rates] == [
        (service, "test", 6, 3)]
    assert [s.service for s in series] == [service]
    assert by_request == by_trace  # one request, one trace
    root = next(s for s in by_request if s["parent_span_id"] is None)
    assert root["op"] == "http.server" and root["status"] == "ok" and root["sample_rate"] == 1.0
    children = [s for s in by_request if s["parent_span_id"] is not None]
    assert [c["op"] for c in children if c["op"] == "db.query"] == ["db.query"]
    query = next(c for c in children if c["op"] == "db.query")
    assert query["name"] == "SELECT * FROM orders"
    assert root["ts"] <= query["ts"] and query["duration_ms"] <= root["duration_ms"]

    # A tick may have fired on part of the requests (2 errors of 5): the next tick, with
    # every request stored (checked above), gives the alert its full-window value.
    alerts = _wait(lambda: api.get("/api/v1/alerts", params={"state": "firing"}).json(),
                   lambda body: len(body["items"]) == 1
                   and body["items"][0]["value"] == pytest.approx(0.5))
    (alert,) = alerts["items"]
    assert alert["rule"] == f"{service}-errors" and alert["severity"] == "critical", alert
    assert alert["value"] == pytest.approx(0.5)
