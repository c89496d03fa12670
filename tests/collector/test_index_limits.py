"""Labels over PostgreSQL's b-tree row limit (2704 bytes, counted in bytes) are answered.

Before, a request record with a service and environment of 200 and a route of
500 four-byte characters passed every character limit, failed its write for
ever ("index row size ... exceeds btree version 4 maximum 2704"), was
answered 503, and the real SDK retried it for ever, holding back everything
captured after it. The characters are varied: PostgreSQL compresses a long
run of one character, which then fits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import urllib.parse
import urllib.request
from typing import Any

import httpx
import lookout_sdk
import pytest
from lookout_sdk.asgi import LookoutMiddleware
from sqlalchemy import select

from collector import tables
from collector.normalize import LOG_COLUMNS, REQUEST_COLUMNS, RowBatch
from collector.writer import BatchWriter
from lookout.db import create_engine
from lookout.projects import create_project
from tests.support.server import LookoutServer

pytestmark = pytest.mark.e2e


def four_byte(n: int, seed: int) -> str:
    """``n`` varied characters of 4 bytes each in UTF-8 (incompressible, unlike '𝄞' * n)."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randrange(0x1D100, 0x1F600)) for _ in range(n))


SERVICE, ENVIRONMENT, ROUTE = four_byte(200, 1), four_byte(200, 2), four_byte(500, 3)


def _key(dsn: str) -> tuple[str, str]:
    parsed = urllib.parse.urlsplit(dsn)
    return str(parsed.username), parsed.path.rsplit("/", 1)[1]


def _api(server: LookoutServer, token: str, path: str) -> Any:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def test_over_long_labels_are_rejected_with_the_reason_and_the_rest_stored(server_factory,
                                                                          db_url: str) -> None:
    server = server_factory(db_url=db_url)
    key, project = _key(server.create_project())
    token = server.create_token()
    body = {
        "requests": [
            {"request_id": "bad-1", "method": "GET", "route": ROUTE, "status": 200,
             "duration_ms": 1, "service": "checkout"},
            {"request_id": "bad-2", "method": "GET", "route": "/ok", "status": 200,
             "duration_ms": 1, "service": SERVICE, "environment": ENVIRONMENT},
            {"request_id": "good-1", "method": "GET", "route": "/ok", "status": 200,
             "duration_ms": 1, "service": "checkout"},
        ],
        "logs": [{"message": "kept", "request_id": "good-1", "logger": four_byte(200, 4),
                  "host": four_byte(200, 5)}],
        "metrics": [{"name": four_byte(200, 6), "kind": "counter", "value": 1}],
    }
    resp = httpx.post(f"{server.url}/api/{project}/ingest", json=body,
                      headers={"X-Lookout-Key": key}, timeout=30)
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["accepted"] == 2
    rejected = {(r["kind"], r["index"]): r["error"] for r in answer["rejected"]}
    assert set(rejected) == {("request", 0), ("request", 1), ("metric", 0)}
    assert "route: 2000 bytes in UTF-8" in rejected[("request", 0)]
    assert "service: 800 bytes" in rejected[("request", 1)]
    assert "name: 800 bytes" in rejected[("metric", 0)]
    items = _api(server, token, "/api/v1/requests/good-1")["items"]
    assert sorted(i["kind"] for i in items) == ["log", "request"]
    log_item = next(i for i in items if i["kind"] == "log")
    assert len(log_item["logger"].encode()) <= 512  # display-only labels are cut instead
    assert len(log_item["host"].encode()) <= 512


def test_sentry_event_labels_are_cut_to_fit(server_factory, db_url: str) -> None:
    server = server_factory(db_url=db_url)
    key, project = _key(server.create_project())
    event = {"event_id": "a" * 32, "message": "four-byte labels",
             "environment": ENVIRONMENT, "release": four_byte(200, 7),
             "tags": {"service": SERVICE}}
    resp = httpx.post(f"{server.url}/api/{project}/store/", json=event,
                      headers={"X-Sentry-Auth": f"Sentry sentry_key={key}"}, timeout=30)
    assert resp.status_code == 200, resp.text
    token = server.create_token()
    issues = _api(server, token, "/api/v1/issues")["items"]
    assert [i["title"] for i in issues] == ["four-byte labels"]
    event = _api(server, token, f"/api/v1/issues/{issues[0]['id']}")["latest_event"]
    for label, full in (("service", SERVICE), ("environment", ENVIRONMENT)):
        assert len(event[label].encode()) <= 512 and full.startswith(event[label])


async def _call(app: Any, path: str) -> None:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "headers": [], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict[str, Any]) -> None:
        return None

    await app(scope, receive, send)


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    lookout_sdk.set_route(scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def root_info():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_the_real_sdk_is_not_held_back_by_a_record_the_database_cannot_index(
        server_factory, db_url: str, root_info) -> None:
    server = server_factory(db_url=db_url)
    dsn = server.create_project()
    token = server.create_token()
    assert lookout_sdk.init(dsn, service=SERVICE, environment=ENVIRONMENT, flush_interval=0.1)
    try:
        lookout_sdk.capture_message("from a service named in four-byte characters")
        assert lookout_sdk.flush(15)  # answered (rejected), not retried for ever
        assert lookout_sdk.init(dsn, service="checkout", flush_interval=0.1, shutdown_timeout=5)
        asyncio.run(_call(LookoutMiddleware(_endpoint), ROUTE))
        for n in range(3):
            logging.getLogger("after").warning("captured after the long route %d", n)
        assert lookout_sdk.flush(15)
    finally:
        lookout_sdk.init(None)
    found = _api(server, token, "/api/v1/logs?q=captured+after")["items"]
    assert sorted(i["message"] for i in found) == [f"captured after the long route {n}"
                                                  for n in range(3)]
    assert _api(server, token, "/api/v1/issues?q=four-byte")["items"] == []


async def test_a_record_postgresql_refuses_is_rejected_not_retried(db_url: str) -> None:
    """Behind the byte checks: whatever the database refuses for good (here an index row
    over 2704 bytes, built past the checks) is refused alone; the batch commits."""
    engine = create_engine(db_url)
    project = await create_project(engine, "p")
    writer = BatchWriter(engine, timeout=20)
    writer.start()
    now = time.time()

    def request(route: str, rid: str) -> tuple[Any, ...]:
        values = dict(project_id=project.id, ts=now, received_at=now, service=SERVICE,
                      environment=ENVIRONMENT, release="", host="", request_id=rid,
                      trace_id=None, attributes="{}", method="GET", route=route, status=200,
                      duration_ms=1.0, unhandled=False)
        return tuple(values[c] for c in REQUEST_COLUMNS)

    def log(message: str) -> tuple[Any, ...]:
        values = dict(project_id=project.id, ts=now, received_at=now, service="s",
                      environment="", release="", host="", request_id=None, trace_id=None,
                      attributes="{}", level=20, logger="", message=message)
        return tuple(values[c] for c in LOG_COLUMNS)

    refused: list[tuple[str, int, str]] = []
    rows = RowBatch(logs=[log(f"m{i}") for i in range(20)],
                    requests=[request("/ok", "ok-1"), request(ROUTE, "bad"),
                              request("/ok", "ok-2")])
    try:
        await writer.submit(rows, refuse=lambda *r: refused.append(r))
    finally:
        await writer.stop()
    async with engine.connect() as conn:
        stored = sorted((await conn.execute(select(tables.request_records.c.request_id)))
                        .scalars())
        logs = (await conn.execute(select(tables.logs.c.id))).all()
    await engine.dispose()
    assert len(logs) == 20
    if db_url.startswith("postgresql"):
        assert stored == ["ok-1", "ok-2"]
        assert [(kind, at) for kind, at, _ in refused] == [("requests", 1)]
        assert "index row size" in refused[0][2]
    else:  # SQLite has no such limit: everything is stored
        assert stored == ["bad", "ok-1", "ok-2"] and refused == []
