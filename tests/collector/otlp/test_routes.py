"""OTLP/HTTP endpoints through the real app, on SQLite and PostgreSQL.

Bodies are what the real OpenTelemetry Python SDK encodes
(``tests/support/otlp_bodies.py``), posted as protobuf and as OTLP JSON.
"""

from __future__ import annotations

import gzip
import json
import time

import msgspec
import pytest
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from sqlalchemy import func, select

from collector import tables
from collector.span_queries import spans_for_request, spans_for_trace
from lookout.errors import Overloaded, StorageUnavailable
from lookout.projects import Project
from tests.support import otlp_bodies

PB = "application/x-protobuf"


def _headers(project: Project, content_type: str = PB, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {project.public_key}", "Content-Type": content_type,
            **extra}


async def _count(services, table) -> int:
    async with services.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@pytest.mark.parametrize("fmt", ["protobuf", "json", "json-gzip"])
async def test_traces_become_spans_requests_and_errors(client, project, services, auth_headers,
                                                       fmt):
    message = otlp_bodies.traces(requests=2, status=502)
    if fmt == "protobuf":
        body, content_type, extra = message.SerializeToString(), PB, {}
    else:
        body, content_type = json.dumps(otlp_bodies.otlp_json(message)).encode(), "application/json"
        extra = {}
        if fmt == "json-gzip":
            body, extra = gzip.compress(body), {"Content-Encoding": "gzip"}
    resp = await client.post(f"/api/{project.id}/integration/otlp/v1/traces/", content=body,
                             headers=_headers(project, content_type, **extra))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == content_type
    if content_type == PB:
        answer = trace_service_pb2.ExportTraceServiceResponse.FromString(resp.content)
        assert not answer.HasField("partial_success")
    else:
        assert resp.json() == {}

    # The request id comes from the x-request-id header attribute, so the request
    # page finds the request, its spans and its error by it.
    items = (await client.get("/api/v1/requests/pay-1", headers=auth_headers)).json()["items"]
    assert sorted(i["kind"] for i in items) == ["error", "request"]
    request = next(i for i in items if i["kind"] == "request")
    assert (request["method"], request["route"], request["status"]) == ("POST", "/pay", 502)
    assert (request["service"], request["environment"], request["release"], request["host"]) \
        == ("json-shop", "stage", "3.1", "box-2")
    error = next(i for i in items if i["kind"] == "error")
    assert error["message"] == "RuntimeError: card declined"
    assert error["exception"][0]["frames"][-1]["function"] == "traces"
    ok = (await client.get("/api/v1/requests/pay-0", headers=auth_headers)).json()["items"]
    assert [(i["kind"], i["status"]) for i in ok] == [("request", 201)]

    spans = (await spans_for_request(services.engine, "pay-1")).items
    assert sorted(s["name"] for s in spans) == ["POST /pay"]  # the child has only the trace id
    whole = (await spans_for_trace(services.engine, spans[0]["trace_id"])).items
    assert sorted(s["name"] for s in whole) == ["POST /pay", "charge card"]
    assert await _count(services, tables.spans) == 4


async def test_logs_protobuf_and_json(client, project, services, auth_headers):
    resp = await client.post("/v1/logs", content=otlp_bodies.logs().SerializeToString(),
                             headers=_headers(project))
    assert resp.status_code == 200, resp.text
    body = json.dumps(otlp_bodies.otlp_json(otlp_bodies.logs(("from json",)))).encode()
    resp = await client.post("/v1/logs", content=body,
                             headers=_headers(project, "application/json"))
    assert resp.status_code == 200, resp.text
    found = (await client.get("/api/v1/logs", headers=auth_headers)).json()["items"]
    by_message = {i["message"]: i for i in found}
    assert set(by_message) == {"paid", "refund failed", "from json"}
    assert by_message["refund failed"]["level"] == "error"
    assert by_message["paid"]["level"] == "info"
    assert by_message["paid"]["attributes"]["order_id"] == 0
    assert by_message["paid"]["service"] == "json-shop"
    assert by_message["paid"]["logger"].startswith("tests.otlp.")


async def test_metrics_cumulative_sum_updown_and_histogram(client, project, services):
    body = otlp_bodies.metrics().SerializeToString()
    resp = await client.post("/v1/metrics", content=body, headers=_headers(project))
    assert resp.status_code == 200, resp.text
    async with services.engine.connect() as conn:
        rows = {r.name: r for r in (await conn.execute(select(tables.metric_points))).all()}
    assert rows["jobs.done"].kind == "counter" and rows["jobs.done"].value == 5
    assert msgspec.json.decode(rows["jobs.done"].tags) == {"queue": "mail"}
    assert rows["jobs.waiting"].kind == "gauge" and rows["jobs.waiting"].value == 7
    histogram = rows["job.ms"]
    assert (histogram.kind, histogram.count, histogram.sum) == ("histogram", 3, 743)
    buckets = msgspec.json.decode(histogram.buckets)
    assert sum(buckets) == 3 and buckets[3] == 1  # 3 ms: the client's (0, 5] bucket


async def test_partial_success_counts_rejected_records(client, project, services):
    message = otlp_bodies.logs(("now", "far future"))
    future = int((time.time() + 86_400) * 1e9)
    message.resource_logs[0].scope_logs[0].log_records[1].time_unix_nano = future
    resp = await client.post("/v1/logs", content=message.SerializeToString(),
                             headers=_headers(project))
    assert resp.status_code == 200, resp.text
    answer = logs_service_pb2.ExportLogsServiceResponse.FromString(resp.content)
    assert answer.partial_success.rejected_log_records == 1
    assert "in the future" in answer.partial_success.error_message
    assert await _count(services, tables.logs) == 1


async def test_retry_after_503_and_lost_answer_store_once(client, project, services,
                                                          monkeypatch):
    body = otlp_bodies.traces(requests=1).SerializeToString()
    submit = services.writer.submit

    async def refuse(*args, **kwargs):
        raise StorageUnavailable("database unavailable: test", retry_after=3)

    async def full(*args, **kwargs):
        raise Overloaded("write queue is full", retry_after=1)

    monkeypatch.setattr(services.writer, "submit", refuse)
    resp = await client.post("/v1/traces", content=body, headers=_headers(project))
    assert resp.status_code == 503 and resp.headers["retry-after"] == "3"
    monkeypatch.setattr(services.writer, "submit", full)
    resp = await client.post("/v1/traces", content=body, headers=_headers(project))
    assert resp.status_code == 429 and resp.headers["retry-after"] == "1"
    monkeypatch.setattr(services.writer, "submit", submit)
    for _ in range(2):  # the exporter's retry, then a retry whose answer was lost
        resp = await client.post("/v1/traces", content=body, headers=_headers(project))
        assert resp.status_code == 200, resp.text
    assert await _count(services, tables.spans) == 2
    assert await _count(services, tables.request_records) == 1
    assert await _count(services, tables.errors) == 1


async def test_keys_and_projects(client, project):
    body = otlp_bodies.logs(("x",)).SerializeToString()
    sentry = {"X-Sentry-Auth": f"Sentry sentry_key={project.public_key}, sentry_version=7",
              "Content-Type": PB}
    lookout = {"X-Lookout-Key": project.public_key, "Content-Type": PB}
    assert (await client.post("/v1/logs", content=body, headers=lookout)).status_code == 200
    assert (await client.post(f"/api/{project.id}/integration/otlp/v1/logs", content=body,
                              headers=sentry)).status_code == 200
    cases = [
        ("/v1/logs", {"Content-Type": PB}, 401, "missing project key"),
        ("/v1/logs", {"Authorization": "Bearer nope", "Content-Type": PB}, 401, "unknown"),
        (f"/api/{project.id + 1}/integration/otlp/v1/logs", sentry, 401, "not valid"),
        ("/api/abc/integration/otlp/v1/logs", sentry, 404, "project ids are numbers"),
    ]
    for path, headers, status, text in cases:
        resp = await client.post(path, content=body, headers=headers)
        assert resp.status_code == status, (path, resp.text)
        assert text in resp.json()["error"]
    assert (await client.get("/v1/logs")).status_code == 405


async def test_bad_bodies_get_the_otlp_4xx(client, project, settings):
    good = otlp_bodies.logs(("x",)).SerializeToString()
    bomb = gzip.compress(b"\0" * (settings.max_decompressed_bytes * 2))
    too_big = b"\0" * (settings.max_body_bytes + 1)
    bad_id = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "not-hex!", "spanId": "00f067aa0ba902b7"}]}]}]}).encode()
    nested = b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": ' + \
        b'{"kvlistValue": {"values": [{"key": "a", "value": ' * 200 + b"1" + b"}]}}" * 200 + \
        b"}]}]}]}"
    cases = [
        ("/v1/logs", good[: len(good) // 2], PB, {}, 400, "not a valid OTLP logs protobuf"),
        ("/v1/traces", b"\x0a\xff\xff\xff\xff\x0f", PB, {}, 400, "not a valid OTLP traces"),
        ("/v1/traces", b"{not json", "application/json", {}, 400, "not valid JSON"),
        ("/v1/traces", b"[1, 2]", "application/json", {}, 400, "JSON object"),
        ("/v1/traces", bad_id, "application/json", {}, 400, "not a hex id"),
        ("/v1/logs", b'{"resourceLogs": 5}', "application/json", {}, 400, "not a valid OTLP"),
        ("/v1/logs", nested, "application/json", {}, 400, "not a valid OTLP"),
        ("/v1/logs", good, "text/plain", {}, 415, "application/x-protobuf"),
        ("/v1/logs", good, PB, {"Content-Encoding": "zstd"}, 415, "Content-Encoding"),
        ("/v1/logs", bomb, PB, {"Content-Encoding": "gzip"}, 413, "decompressed"),
        ("/v1/logs", too_big, PB, {}, 413, "limit"),
        ("/v1/logs", gzip.compress(good)[:-8], PB, {"Content-Encoding": "gzip"}, 400,
         "truncated"),
    ]
    for path, body, content_type, extra, status, text in cases:
        resp = await client.post(path, content=body,
                                 headers=_headers(project, content_type, **extra))
        assert resp.status_code == status, (text, resp.status_code, resp.text)
        assert text in resp.json()["error"], resp.text


async def test_too_many_items_is_413(client, project, services):
    settings = services.settings
    message = otlp_bodies.logs(("x",) * 3)
    object.__setattr__(settings, "max_batch_records", 2)
    resp = await client.post("/v1/logs", content=message.SerializeToString(),
                             headers=_headers(project))
    assert resp.status_code == 413 and "the limit is 2" in resp.json()["error"]
