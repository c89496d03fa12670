"""End to end: an app using the real OpenTelemetry Python SDK and OTLP/HTTP exporters.

Logs, traces and metrics go to ``lookout serve`` as the SDK sends them
(protobuf; traces gzip): SERVER spans become request records that an
``error_rate`` rule fires on, exception events become grouped issues, logs
carry their trace, cumulative counters count their increase once. Both
auth styles are used: ``Authorization: Bearer`` on ``/v1/...`` and
sentry-python's ``X-Sentry-Auth`` on ``/api/{id}/integration/otlp/v1/...``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from collector.rollup_queries import metric_aggregates
from collector.span_queries import spans_for_trace
from lookout.db import create_engine
from tests.support.otel_app import run_otel_app

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: otel-errors
    kind: error_rate
    service: otel-shop
    window: 5m
    for: 0s
    min_requests: 4
    thresholds: {critical: 0.2}
"""


def _wait(fetch, ready, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


async def _stored(db_url: str, trace_id: str) -> tuple[list[dict], dict[str, tuple[int, float]]]:
    engine = create_engine(db_url)
    try:
        spans = (await spans_for_trace(engine, trace_id)).items
        now = time.time()
        sums = {}
        for name in ("orders.created", "checkout.duration"):
            aggregates = await metric_aggregates(engine, name, now - 3600, now + 60)
            sums[name] = (sum(a.count for a in aggregates), sum(a.sum for a in aggregates))
    finally:
        await engine.dispose()
    return spans, sums


@pytest.mark.parametrize("auth", ["bearer", "sentry"])
def test_otel_sdk_logs_traces_metrics(server_factory, db_url, tmp_path: Path, auth):
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    server = server_factory(db_url=db_url, env={"LOOKOUT_RULES_FILE": str(rules),
                                                "LOOKOUT_EVAL_INTERVAL": "1"})
    dsn = urlsplit(server.create_project("otel"))
    key, project_id = dsn.username or "", dsn.path.strip("/")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    if auth == "bearer":
        base, headers = f"{server.url}/v1", {"Authorization": f"Bearer {key}"}
    else:  # exactly what sentry-python's OTLPIntegration sends (trailing slash and all)
        base = f"{server.url}/api/{project_id}/integration/otlp/v1"
        headers = {"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7, "
                                    "sentry_client=sentry.python/2.75.0"}

    trace_ids = run_otel_app(tmp_path / "app", base, headers)

    # force_flush() returned after each export was answered: everything is committed.
    for i, trace_id in enumerate(trace_ids):
        items = api.get(f"/api/v1/requests/{trace_id}").json()["items"]
        kinds = sorted(item["kind"] for item in items)
        assert kinds == (["error", "log", "request"] if i % 2 else ["log", "request"]), items
        record = next(item for item in items if item["kind"] == "request")
        assert (record["method"], record["route"]) == ("GET", "/orders/{id}")
        assert record["status"] == (500 if i % 2 else 200)
        assert record["unhandled"] is bool(i % 2)
        assert (record["service"], record["environment"], record["release"], record["host"]) \
            == ("otel-shop", "prod", "2.0.1", "web-1")
        line = next(item for item in items if item["kind"] == "log")
        assert line["message"] == f"order {i} looked up" and line["level"] == "warning"
        assert line["logger"] == "shop.orders" and line["trace_id"] == trace_id

    spans, sums = asyncio.run(_stored(db_url, trace_ids[1]))
    assert sorted((s["name"], s["span_kind"], s["op"]) for s in spans) == [
        ("GET /orders/{id}", "server", "http.server"), ("SELECT orders", "client", "db")]
    server_span = next(s for s in spans if s["span_kind"] == "server")
    child = next(s for s in spans if s["span_kind"] == "client")
    assert child["parent_span_id"] == server_span["span_id"] and server_span["status"] == "error"
    assert server_span["source"] == "otlp" and server_span["parent_span_id"] is None
    # Counter: 6 in the first cumulative export, 8 in the second -> 6 + 2 stored.
    assert sums["orders.created"][1] == 8
    assert sums["checkout.duration"] == (6, sum(10 + 100 * i for i in range(6)))

    issues = api.get("/api/v1/issues").json()["items"]
    (issue,) = [i for i in issues if i["title"].startswith("ValueError")]
    assert issue["count"] == 3 and issue["title"] == "ValueError: order 1 is broken"
    assert issue["grouping"]["method"] == "in_app_frames"

    # A tick may have fired on part of the requests; the next one gives the full value.
    alerts = _wait(lambda: api.get("/api/v1/alerts", params={"state": "firing"}).json(),
                   lambda body: len(body["items"]) == 1
                   and body["items"][0]["value"] == pytest.approx(0.5))
    (alert,) = alerts["items"]
    assert alert["rule"] == "otel-errors" and alert["value"] == pytest.approx(0.5)
