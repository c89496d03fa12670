"""End to end with the real JavaScript clients from npm: ``@sentry/node`` with tracing,
and the OpenTelemetry JS SDK with its OTLP/HTTP protobuf exporters.

The packages live in ``tests/js`` (``npm ci --prefix tests/js``; ``.ci/run`` does
it). Each app runs under Node against ``lookout serve``: its requests appear as
request records, an ``error_rate`` rule fires on their 5xx answers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.e2e

JS = Path(__file__).resolve().parent.parent / "js"
NODE = shutil.which("node")
if NODE is None or not (JS / "node_modules").is_dir():
    pytest.skip("needs node and the npm packages of tests/js (npm ci --prefix tests/js)",
                allow_module_level=True)

RULES = """
rules:
  - name: {name}-errors
    kind: error_rate
{service}
    window: 5m
    for: 0s
    min_requests: 4
    thresholds: {{critical: 0.2}}
"""


def _node(script: str, *args: str) -> str:
    result = subprocess.run([NODE, str(JS / script), *args], cwd=JS, capture_output=True,
                            text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _server(server_factory, db_url: str, tmp_path: Path, service: str):
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES.format(name=service or "all",
                                  service=f"    service: {service}" if service else ""))
    server = server_factory(db_url=db_url, env={"LOOKOUT_RULES_FILE": str(rules),
                                                "LOOKOUT_EVAL_INTERVAL": "1"})
    dsn = server.create_project(service or "node")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    return server, dsn, api


def _firing(api: httpx.Client, value: float, timeout: float = 20.0) -> list[dict]:
    """The firing alerts once one shows ``value``: a tick may have fired on part of the
    requests, and the next one, with all of them stored, gives the full-window value."""
    deadline = time.monotonic() + timeout
    while True:
        items = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
        if any(i["value"] == pytest.approx(value) for i in items) \
                or time.monotonic() > deadline:
            return items
        time.sleep(0.1)


def test_sentry_node_streamed_spans(server_factory, db_url, tmp_path: Path):
    """@sentry/node 11 sends streamed ``span`` items (span v2), not transactions.

    Its spans carry no tags, so the requests have no service: the rule is not
    filtered by one. Without a framework the server span is named ``GET``.
    """
    _, dsn, api = _server(server_factory, db_url, tmp_path, "")
    assert "flushed" in _node("sentry_app.mjs", dsn, "6")
    for i in range(6):
        items = api.get(f"/api/v1/requests/node-{i}").json()["items"]
        requests = [item for item in items if item["kind"] == "request"]
        assert len(requests) == 1, items
        assert (requests[0]["method"], requests[0]["route"]) == ("GET", "GET")
        assert requests[0]["status"] == (500 if i % 2 else 200)
        assert requests[0]["environment"] == "test" and requests[0]["release"] == "node-1"
    (alert,) = _firing(api, 0.5)
    assert alert["rule"] == "all-errors" and alert["value"] == pytest.approx(0.5)


def test_opentelemetry_js_logs_traces_metrics(server_factory, db_url, tmp_path: Path):
    server, dsn, api = _server(server_factory, db_url, tmp_path, "node-otel")
    key = urlsplit(dsn).username or ""
    out = _node("otel_app.mjs", f"{server.url}/v1", key, "6")
    trace_ids = json.loads(next(line for line in out.splitlines()
                                if line.startswith("TRACES "))[len("TRACES "):])
    for i, trace_id in enumerate(trace_ids):
        items = api.get(f"/api/v1/requests/{trace_id}").json()["items"]
        kinds = sorted(item["kind"] for item in items)
        assert kinds == (["error", "log", "request"] if i % 2 else ["log", "request"]), items
        record = next(item for item in items if item["kind"] == "request")
        assert (record["route"], record["status"]) == ("/orders/:id", 500 if i % 2 else 200)
        assert (record["service"], record["environment"], record["release"]) == \
            ("node-otel", "prod", "9.1")
        line = next(item for item in items if item["kind"] == "log")
        assert line["message"] == f"order {i} looked up" and line["level"] == "warning"
    issues = api.get("/api/v1/issues").json()["items"]
    # One issue of the three failed orders; its title is that of the event that created it,
    # which depends on which export arrived first.
    assert [i["count"] for i in issues] == [3]
    assert issues[0]["title"] in {f"TypeError: order {n} is broken" for n in (1, 3, 5)}
    (alert,) = _firing(api, 0.5)
    assert alert["rule"] == "node-otel-errors" and alert["value"] == pytest.approx(0.5)


def test_opentelemetry_js_retry_after_503_stores_nothing_twice(server_factory, db_url,
                                                              tmp_path: Path):
    """The JS trace exporter retries an export answered 503 (after Lookout committed it);
    the retry stores nothing again."""
    import threading

    from tests.support.retry_front import RetryFront

    server, dsn, api = _server(server_factory, db_url, tmp_path, "node-otel")
    front = RetryFront(server.url)
    threading.Thread(target=front.serve_forever, daemon=True).start()
    try:
        out = _node("otel_app.mjs", f"http://127.0.0.1:{front.server_port}/v1",
                    urlsplit(dsn).username or "", "4")
    finally:
        front.shutdown()
    assert front.replaced == 1 and front.trace_posts >= 2  # answered 503 once, then retried
    trace_ids = json.loads(next(line for line in out.splitlines()
                                if line.startswith("TRACES "))[len("TRACES "):])
    for trace_id in trace_ids:
        body = api.get(f"/api/v1/requests/{trace_id}").json()
        assert [i["kind"] for i in body["items"]].count("request") == 1, body["items"]
        spans = body["waterfall"]["spans"]
        assert len({s["span_id"] for s in spans}) == len(spans)  # no span stored twice
