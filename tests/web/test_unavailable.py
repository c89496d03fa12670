"""With the database gone, every page and API route answers 503 (and logs one line).

Logged-in users got a 500 with a traceback from ``/search`` and ``/issues``
(the pages' own error handler did not know the database classifier), while
``docs/security.md`` promises ``503 {"error": "database unavailable; retry
later"}``. PostgreSQL: a real ``lookout serve`` behind a TCP proxy that is
cut. SQLite: the app in-process, its database file moved away under it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from lookout.http import _Unavailable
from lookout.services import Services
from lookout.settings import Settings
from tests.support.tcp_proxy import TcpProxy
from tests.web.conftest import EMAIL, PASSWORD, csrf_from, login

# No database is needed to answer these.
WITHOUT_DATABASE = {"/healthz", "/metrics", "/schema/openapi.json", "/schema/openapi.yaml"}


def _urls(app_routes) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """One plausible request per route and method (path ids are 1)."""
    out = []
    for route in app_routes:
        if route.path.startswith("/static") or route.path in ("/logout", "/logout/everywhere"):
            continue
        path = route.path_format
        for name in route.path_parameters:
            path = path.replace("{" + name + "}", "resolve" if name == "action" else "1")
        out += [(m, path) for m in sorted(set(route.methods) - {"OPTIONS", "HEAD"})]
    return out


def _check(answers: list[tuple[str, str, int, str, str]]) -> None:
    wrong = [a for a in answers if a[2] >= 500 and a[2] != 503]
    assert not wrong, wrong
    for method, path, status, retry_after, body in answers:
        if path in WITHOUT_DATABASE:
            continue
        if path == "/login":  # GET looks the session up; this POST has no login CSRF token
            assert status == (503 if method == "GET" else 403), (method, path, status)
            continue
        if path == "/slack/interactions":
            assert status < 500 or status == 503, (method, path, status)  # unsigned: refused
            continue
        assert status == 503 and retry_after, (method, path, status, body[:200])
        assert "Traceback" not in body
        if path == "/readyz":
            assert "database unreachable" in body
        elif path.startswith("/api/"):
            assert "database unavailable" in body
        else:
            assert "Database unavailable" in body


async def test_sqlite_every_route_answers_503_when_the_database_is_gone(
        tmp_path: Path, caplog: pytest.LogCaptureFixture):
    from lookout.accounts import create_token, create_user
    from lookout.app import create_app
    from lookout.db import create_engine
    from lookout.migrate import upgrade

    home = tmp_path / "data"
    home.mkdir()
    url = f"sqlite+aiosqlite:///{home / 'lookout.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    services = Services.build(Settings(database_url=url, secret_key="test-secret"))
    app = create_app(services=services, background_jobs=False)
    await services.start(background_jobs=False)
    try:
        await create_user(services.engine, EMAIL, PASSWORD)
        token = await create_token(services.engine, "t")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://lookout.test") as client:
            assert (await login(client)).status_code == 303
            csrf = csrf_from((await client.get("/")).text)
            anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                          base_url="http://lookout.test")
            login_csrf = csrf_from((await anonymous.get("/login")).text)
            shutil.move(home, tmp_path / "gone")  # the file's directory disappears
            await services.engine.dispose()  # pooled connections held the old file open
            caplog.clear()
            _Unavailable.quiet_until = 0.0  # an earlier test's line would silence this one
            answers = []
            with caplog.at_level(logging.WARNING):
                for method, path in _urls(app.app.routes):
                    headers = {"Authorization": f"Bearer {token}"} if path.startswith(
                        "/api/") else {}
                    resp = await client.request(method, path, headers=headers,
                                                data={"_csrf": csrf} if method == "POST"
                                                else None)
                    answers.append((method, path, resp.status_code,
                                    resp.headers.get("retry-after", ""), resp.text))
                resp = await anonymous.post("/login", data={"_csrf": login_csrf, "email": EMAIL,
                                                            "password": PASSWORD})
                answers.append(("POST", "/login (a real attempt)", resp.status_code,
                                resp.headers.get("retry-after", ""), resp.text))
                await anonymous.aclose()
        _check(answers)
        assert "request failed: database unavailable" in caplog.text
        assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    finally:
        shutil.move(tmp_path / "gone", home)
        await services.stop()


def test_postgres_every_route_answers_503_when_the_database_is_gone(
        server_factory, pg_databases):
    if pg_databases is None:
        pytest.skip("LOOKOUT_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    from lookout.app import create_app

    db_url = asyncio.run(pg_databases.create())
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        proxied = url.set(port=proxy.port).render_as_string(hide_password=False)
        server = server_factory(db_url=proxied)
        server.create_user(EMAIL, PASSWORD)
        token = server.create_token()
        routes = create_app(Settings(database_url=proxied, secret_key="x")).app.routes
        with httpx.Client(base_url=server.url, timeout=60) as client:
            form = client.get("/login")
            assert client.post("/login", data={"_csrf": csrf_from(form.text), "email": EMAIL,
                                               "password": PASSWORD}).status_code == 303
            csrf = csrf_from(client.get("/").text)
            anonymous = httpx.Client(base_url=server.url, timeout=60)
            login_csrf = csrf_from(anonymous.get("/login").text)
            proxy.cut()
            answers = []
            for method, path in _urls(routes):
                headers = {"Authorization": f"Bearer {token}"} if path.startswith(
                    "/api/") else {}
                resp = client.request(method, path, headers=headers,
                                      data={"_csrf": csrf} if method == "POST" else None)
                answers.append((method, path, resp.status_code,
                                resp.headers.get("retry-after", ""), resp.text))
            resp = anonymous.post("/login", data={"_csrf": login_csrf, "email": EMAIL,
                                                  "password": PASSWORD})
            answers.append(("POST", "/login (a real attempt)", resp.status_code,
                            resp.headers.get("retry-after", ""), resp.text))
            anonymous.close()
        _check(answers)
        server.stop()
        log = server.log_path.read_text(errors="replace")
        assert "request failed: database unavailable" in log
        assert "Traceback" not in log
    finally:
        proxy.stop()
        asyncio.run(pg_databases.drop(db_url))
