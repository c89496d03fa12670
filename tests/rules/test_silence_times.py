"""Silence times must be real times: NaN, infinities and dates past 9999 are 400s, and a row
stored before that was checked neither mutes for ever nor breaks a page.

Through ``lookout serve`` on both databases: ``"ends_at": "nan"`` was accepted (201),
muted for ever on PostgreSQL and turned ``/silences`` into a 500.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from lookout.db import create_engine
from rules import store
from rules import tables as t
from tests.support.server import LookoutServer

pytestmark = pytest.mark.e2e

EMAIL, PASSWORD = "dev@example.com", "correct horse battery"
HOUR = 3600.0
BAD = [  # (body fields, the field the 400 must name)
    ({"ends_at": "nan"}, "ends_at"),
    ({"ends_at": "NaN"}, "ends_at"),
    ({"ends_at": "inf"}, "ends_at"),
    ({"ends_at": "-Infinity"}, "ends_at"),
    ({"ends_at": "9" * 400 + "d"}, "ends_at"),
    ({"ends_at": "9" * 400}, "ends_at"),
    ({"ends_at": "10000-01-01T00:00:00Z"}, "ends_at"),
    ({"starts_at": "nan", "duration": "1h"}, "starts_at"),
    ({"starts_at": "nan", "ends_at": "nan"}, "starts_at"),
    ({"starts_at": "0001-01-01T00:00:00+23:59", "duration": "1h"}, "starts_at"),
    ({"starts_at": "9999-12-31T23:59:59-23:59", "duration": "1h"}, "starts_at"),
    ({"starts_at": 1e300, "duration": "1h"}, "starts_at"),
    ({"duration": "9" * 400 + "s"}, "duration"),
]


def _silence(server: LookoutServer, token: str, **fields: Any) -> httpx.Response:
    return httpx.post(server.url + "/api/v1/silences",
                      headers={"Authorization": f"Bearer {token}"},
                      json={"matchers": {"service": "checkout"}, **fields})


def _logged_in(server: LookoutServer) -> httpx.Client:
    server.create_user(EMAIL, PASSWORD)
    client = httpx.Client(base_url=server.url)
    form = client.get("/login").text
    csrf = re.search(r'name="_csrf" value="([^"]*)"', form)
    assert csrf
    resp = client.post("/login", data={"_csrf": csrf.group(1), "email": EMAIL,
                                       "password": PASSWORD, "next": "/silences"})
    assert resp.status_code == 303, resp.text
    return client


def test_non_finite_and_out_of_range_times_are_400(server_factory, tmp_path: Path,
                                                   db_url: str) -> None:
    server = server_factory(db_url=db_url)
    token = server.create_token()
    for fields, name in BAD:
        resp = _silence(server, token, **fields)
        assert resp.status_code == 400, (fields, resp.status_code, resp.text)
        assert name in resp.json()["error"], (fields, resp.text)
    ahead = _silence(server, token, starts_at=str(time.time() + 400 * 86400), duration="1h")
    assert ahead.status_code == 400 and "starts_at" in ahead.json()["error"]
    listed = httpx.get(server.url + "/api/v1/silences?expired=1",
                       headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200 and listed.json()["items"] == []
    ok = _silence(server, token, duration="2h")
    assert ok.status_code == 201, ok.text
    ui = _logged_in(server)
    page = ui.get("/silences")
    assert page.status_code == 200 and "service=checkout" in page.text
    csrf = re.search(r'name="_csrf" value="([^"]*)"', page.text)
    assert csrf
    for duration in ("9" * 400 + "s", "nan", "inf", "3651d"):
        form = ui.post("/silences", data={"_csrf": csrf.group(1), "rule": "",
                                          "labels": "service=x", "duration": duration})
        assert form.status_code == 400 and "duration" in form.text, (duration, form.text[-500:])
    assert "Traceback" not in server.log()


async def _store_bad_rows(db_url: str, now: float) -> None:
    """Rows as an older Lookout let them in: NaN (PostgreSQL only; SQLite cannot store NaN)
    and a silence a million years ahead."""
    rows = [(now - HOUR, 1e15), (1e15, 1e15 + HOUR)]
    if db_url.startswith("postgresql"):
        rows += [(now - HOUR, math.nan), (math.nan, math.nan), (now - HOUR, math.inf)]
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            for starts, ends in rows:
                await conn.execute(insert(t.silences).values(
                    matchers='{"service": "checkout"}', starts_at=starts, ends_at=ends,
                    created_by="old", comment="stored before times were checked",
                    created_at=now - HOUR))
        async with engine.connect() as conn:
            assert await store.active_silences(conn, now) == []  # nothing mutes for ever
    finally:
        await engine.dispose()


def test_bad_rows_already_stored_do_not_break_pages(server_factory, tmp_path: Path,
                                                    db_url: str) -> None:
    asyncio.run(_store_bad_rows(db_url, time.time()))
    server = server_factory(db_url=db_url)
    token = server.create_token()
    listed = httpx.get(server.url + "/api/v1/silences?expired=1",
                       headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    assert all(not s["active"] for s in listed.json()["items"])
    ui = _logged_in(server)
    page = ui.get("/silences")
    assert page.status_code == 200, page.text[-500:]
    assert "(invalid time)" in page.text
    first = min(s["id"] for s in listed.json()["items"])
    csrf = re.search(r'name="_csrf" value="([^"]*)"', page.text)
    assert csrf
    expired = ui.post(f"/silences/{first}/expire", data={"_csrf": csrf.group(1)})
    assert expired.status_code == 303
    assert ui.get("/silences").status_code == 200
    assert "Traceback" not in server.log()
