"""The ingest endpoint through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import time
import uuid
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select

from collector import tables
from lookout.projects import Project


def _headers(project: Project, **extra: str) -> dict[str, str]:
    return {"X-Lookout-Key": project.public_key, "Content-Type": "application/json", **extra}


async def _count(services, table) -> int:
    async with services.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_round_trip_all_kinds(client, project, services, auth_headers):
    event_id = uuid.uuid4().hex
    body = {
        "resource": {"service": "checkout", "environment": "prod", "release": "1.2"},
        "logs": [{"message": "order placed", "level": "warning", "request_id": "req-1",
                  "attributes": {"order_id": 42}, "ts": datetime.fromtimestamp(time.time() - 60, UTC).isoformat()}],
        "errors": [{"event_id": event_id, "request_id": "req-1", "exception": [
            {"type": "ValueError", "value": "bad", "frames": [
                {"filename": "app.py", "function": "pay", "lineno": 3, "in_app": True}]}]}],
        "metrics": [{"name": "orders", "kind": "counter", "value": 1, "tags": {"plan": "pro"}}],
        "requests": [{"request_id": "req-1", "method": "POST", "route": "/pay", "status": 500,
                      "duration_ms": 12.5, "service": "gateway"}],
    }
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(body),
                             headers=_headers(project))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 4, "rejected": []}

    timeline = await client.get("/api/v1/requests/req-1", headers=auth_headers)
    assert timeline.status_code == 200
    items = timeline.json()["items"]
    assert [i["kind"] for i in items] == ["log", "request", "error"]  # log has the oldest ts
    log = items[0]
    assert log["service"] == "checkout" and log["environment"] == "prod"
    assert log["level"] == "warning" and log["attributes"] == {"order_id": 42}
    assert items[1]["service"] == "gateway" and items[1]["status"] == 500
    assert items[2]["event_id"] == event_id
    assert items[2]["exception"][0]["frames"][0]["function"] == "pay"
    assert items[2]["message"] == "ValueError: bad"


async def test_partial_success_names_bad_records(client, project, services):
    body = {"logs": [{"message": "ok"}, {"level": "info"}, {"message": "x", "level": "loud"}],
            "requests": [{"request_id": "a b", "method": "GET", "route": "/", "status": 200,
                          "duration_ms": 1}]}
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(body),
                             headers=_headers(project))
    assert resp.status_code == 202
    data = resp.json()
    assert data["accepted"] == 1
    errors = {(r["kind"], r["index"]): r["error"] for r in data["rejected"]}
    assert "message" in errors[("log", 1)]
    assert "unknown level" in errors[("log", 2)]
    assert "request_id" in errors[("request", 0)]
    assert await _count(services, tables.logs) == 1


async def test_duplicate_event_id_stored_once(client, project, services):
    event = {"event_id": uuid.uuid4().hex, "message": "boom"}
    for _ in range(3):
        resp = await client.post(f"/api/{project.id}/ingest", headers=_headers(project),
                                 content=msgspec.json.encode({"errors": [event, event]}))
        assert resp.status_code == 202
    assert await _count(services, tables.errors) == 1


async def test_gzip_body(client, project, services):
    body = gzip.compress(msgspec.json.encode({"logs": [{"message": "zipped"}] * 10}))
    resp = await client.post(f"/api/{project.id}/ingest", content=body,
                             headers=_headers(project, **{"Content-Encoding": "gzip"}))
    assert resp.status_code == 202 and resp.json()["accepted"] == 10
    assert await _count(services, tables.logs) == 10


async def test_rejections_have_status_and_reason(client, project, services):
    url = f"/api/{project.id}/ingest"
    ok = msgspec.json.encode({"logs": [{"message": "x"}]})
    cases = [
        (dict(headers={"Content-Type": "application/json"}, content=ok), 401, "missing"),
        (dict(headers=_headers(project) | {"X-Lookout-Key": "f" * 32}, content=ok), 401,
         "unknown"),
        (dict(headers=_headers(project), content=b"{not json"), 400, "not valid JSON"),
        (dict(headers=_headers(project), content=b"[1,2]"), 400, "invalid batch"),
        (dict(headers=_headers(project), content=b'{"logs": 5}'), 400, "logs"),
        (dict(headers=_headers(project, **{"Content-Type": "text/xml"}), content=ok), 415,
         "Content-Type"),
        (dict(headers=_headers(project, **{"Content-Encoding": "zstd"}), content=ok), 415,
         "Content-Encoding"),
        (dict(headers=_headers(project, **{"Content-Encoding": "gzip"}), content=b"garbage"),
         400, "gzip"),
        (dict(headers=_headers(project, **{"Content-Encoding": "gzip"}),
              content=gzip.compress(ok)[:-8]), 400, "truncated"),
    ]
    for kwargs, status, words in cases:
        resp = await client.post(url, **kwargs)
        assert resp.status_code == status, (kwargs, resp.text)
        assert words in resp.json()["error"], resp.json()
    other = await client.post(f"/api/{project.id + 1}/ingest", headers=_headers(project),
                              content=ok)
    assert other.status_code == 401 and "not valid for project" in other.json()["error"]
    assert (await client.get("/healthz")).status_code == 200
    assert await _count(services, tables.logs) == 0


async def test_gzip_bomb_refused_without_inflating(client, project, settings):
    bomb = gzip.compress(b"0" * (settings.max_decompressed_bytes * 4))
    assert len(bomb) < settings.max_body_bytes
    resp = await client.post(f"/api/{project.id}/ingest", content=bomb,
                             headers=_headers(project, **{"Content-Encoding": "gzip"}))
    assert resp.status_code == 413
    assert "decompressed" in resp.json()["error"]


async def test_body_and_batch_limits(client, project, settings):
    too_big = b" " * (settings.max_body_bytes + 1)
    resp = await client.post(f"/api/{project.id}/ingest", content=too_big,
                             headers=_headers(project))
    assert resp.status_code == 413
    many = msgspec.json.encode({"logs": [{"message": "m"}] * (settings.max_batch_records + 1)})
    resp = await client.post(f"/api/{project.id}/ingest", content=many, headers=_headers(project))
    assert resp.status_code == 413 and "limit" in resp.json()["error"]


async def test_nul_characters_are_stored_as_replacement_characters(client, project, services,
                                                                   auth_headers):
    # PostgreSQL text cannot hold U+0000: such a record once failed its insert (503).
    body = {"logs": [{"message": "a\x00b", "service": "s\x00", "logger": "\x00",
                      "request_id": "nul-1", "attributes": {"k\x00": "v\x00"}}],
            "errors": [{"message": "boom\x00", "request_id": "nul-1",
                        "exception": [{"type": "E\x00", "value": "\x00"}]}]}
    resp = await client.post(f"/api/{project.id}/ingest", content=msgspec.json.encode(body),
                             headers=_headers(project))
    assert resp.status_code == 202, resp.text
    assert resp.json() == {"accepted": 2, "rejected": []}
    items = (await client.get("/api/v1/requests/nul-1", headers=auth_headers)).json()["items"]
    log = next(i for i in items if i["kind"] == "log")
    assert log["message"] == "a\ufffdb" and log["service"] == "s\ufffd"
    assert log["attributes"] == {"k\ufffd": "v\ufffd"}
    error = next(i for i in items if i["kind"] == "error")
    assert error["exception"][0]["type"] == "E\ufffd"


async def test_unicode_digit_project_ids_are_404(client, project):
    # "¹".isdigit() is true and int("¹") raised ValueError: once a 500.
    for path in ("/api/%C2%B9/ingest", "/api/%D9%A3/ingest", "/api/%C2%B9/envelope/",
                 "/api/9999999999/store/"):
        resp = await client.post(path, content=b"{}", headers=_headers(project))
        assert resp.status_code == 404, (path, resp.text)
        assert "project ids are numbers" in resp.json()["error"]


async def test_unknown_top_level_key_is_a_400_naming_it(client, project, services):
    resp = await client.post(f"/api/{project.id}/ingest", json={"log": [{"message": "lost?"}]},
                             headers=_headers(project))
    assert resp.status_code == 400, resp.text
    assert "unknown field `log`" in resp.json()["error"]
    assert await _count(services, tables.logs) == 0
