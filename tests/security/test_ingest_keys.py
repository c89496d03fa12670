"""A project's DSN key writes to that project only, wherever the key is put.

Two projects, A and B. Every way a client can present a key (Lookout's
``X-Lookout-Key``; Sentry's ``X-Sentry-Auth``, ``Authorization: Sentry``,
``?sentry_key=`` and the ``dsn`` in the envelope header) is tried with A's
key against B's endpoints: each answer is 401 naming the problem, and
nothing is stored for either project.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.tables import errors, logs
from lookout.projects import Project, create_project
from lookout.services import Services


@pytest.fixture
async def two(services: Services) -> tuple[Project, Project]:
    a = await create_project(services.engine, f"a-{uuid.uuid4().hex[:6]}")
    b = await create_project(services.engine, f"b-{uuid.uuid4().hex[:6]}")
    return a, b


async def stored(engine: AsyncEngine) -> dict[int, int]:
    """Rows per project across the log and error tables."""
    out: dict[int, int] = {}
    async with engine.connect() as conn:
        for table in (logs, errors):
            for pid, n in await conn.execute(select(table.c.project_id, func.count())
                                             .group_by(table.c.project_id)):
                out[pid] = out.get(pid, 0) + n
    return out


def envelope(dsn: str | None = None) -> bytes:
    header = {"event_id": uuid.uuid4().hex, **({"dsn": dsn} if dsn else {})}
    event = {"event_id": header["event_id"], "message": "hello", "level": "error"}
    return b"\n".join([json.dumps(header).encode(), json.dumps({"type": "event"}).encode(),
                       json.dumps(event).encode()]) + b"\n"


def sentry_auth(key: str) -> str:
    return f"Sentry sentry_key={key}, sentry_version=7"


def dsn(project: Project) -> str:
    return f"http://{project.public_key}@lookout.test/{project.id}"


async def test_a_key_cannot_write_to_another_project(client: httpx.AsyncClient, services: Services,
                                                     two: tuple[Project, Project]) -> None:
    a, b = two
    ka = a.public_key
    attempts = [
        ("ingest X-Lookout-Key", f"/api/{b.id}/ingest", {"X-Lookout-Key": ka}, None,
         json.dumps({"logs": [{"message": "x"}]}).encode()),
        ("envelope X-Sentry-Auth", f"/api/{b.id}/envelope/", {"X-Sentry-Auth": sentry_auth(ka)},
         None, envelope()),
        ("envelope Authorization: Sentry", f"/api/{b.id}/envelope/",
         {"Authorization": sentry_auth(ka)}, None, envelope()),
        ("envelope ?sentry_key=", f"/api/{b.id}/envelope/", {}, {"sentry_key": ka}, envelope()),
        ("envelope dsn header", f"/api/{b.id}/envelope/", {}, None, envelope(dsn(a))),
        ("envelope dsn of A, key of B's path", f"/api/{b.id}/envelope/", {}, None,
         envelope(f"http://{ka}@lookout.test/{b.id}")),
        # The header wins over a valid key elsewhere: no mixing and matching.
        ("header A, query B", f"/api/{b.id}/envelope/", {"X-Sentry-Auth": sentry_auth(ka)},
         {"sentry_key": b.public_key}, envelope(dsn(b))),
        ("store X-Sentry-Auth", f"/api/{b.id}/store/", {"X-Sentry-Auth": sentry_auth(ka)}, None,
         json.dumps({"message": "x"}).encode()),
        ("store ?sentry_key=", f"/api/{b.id}/store/", {}, {"sentry_key": ka},
         json.dumps({"message": "x"}).encode()),
    ]
    for name, path, headers, params, body in attempts:
        resp = await client.post(path, content=body, params=params,
                                 headers={"Content-Type": "application/json", **headers})
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert resp.json() == {"error": f"this key is not valid for project {b.id}"}, name
    assert await stored(services.engine) == {}


async def test_unknown_and_missing_keys_are_401(client: httpx.AsyncClient, services: Services,
                                                two: tuple[Project, Project]) -> None:
    _a, b = two
    cases = [
        (f"/api/{b.id}/ingest", {"X-Lookout-Key": "0" * 32}, "unknown or revoked project key"),
        (f"/api/{b.id}/ingest", {}, "missing project key"),
        (f"/api/{b.id}/envelope/", {"X-Sentry-Auth": sentry_auth("f" * 32)},
         "unknown or revoked project key"),
        (f"/api/{b.id}/envelope/", {}, "missing sentry_key"),
    ]
    for path, headers, error in cases:
        body = envelope() if "envelope" in path else b'{"logs": [{"message": "x"}]}'
        resp = await client.post(path, content=body, headers=headers)
        assert resp.status_code == 401 and error in resp.json()["error"], (path, resp.text)
    assert await stored(services.engine) == {}


async def test_the_path_decides_the_project_not_the_envelope(
        client: httpx.AsyncClient, services: Services, two: tuple[Project, Project]) -> None:
    """A's key on A's endpoint with B's DSN in the envelope header stores into A only."""
    a, b = two
    resp = await client.post(f"/api/{a.id}/envelope/", content=envelope(dsn(b)),
                             headers={"X-Sentry-Auth": sentry_auth(a.public_key)})
    assert resp.status_code == 200, resp.text
    resp = await client.post(f"/api/{a.id}/ingest", headers={"X-Lookout-Key": a.public_key},
                             json={"logs": [{"message": "mine", "project_id": b.id}]})
    assert resp.status_code == 202, resp.text
    assert await stored(services.engine) == {a.id: 2}
