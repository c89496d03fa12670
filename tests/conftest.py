"""Shared fixtures: databases (SQLite and PostgreSQL), the app, projects, a real server.

``db_url`` is parametrised over both databases. PostgreSQL tests use
``LOOKOUT_TEST_DATABASE_URL``; unset, they skip with the reason; set but
unreachable, they fail. Each test gets a fresh database cloned from a template
migrated once per session (per xdist worker): PostgreSQL with ``CREATE DATABASE
... TEMPLATE``, SQLite by copying the file. Migrating costs most of a second per
database; a clone costs milliseconds and is the same schema, with no state
shared between tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from lookout.accounts import create_token
from lookout.app import create_app
from lookout.db import create_engine
from lookout.migrate import upgrade
from lookout.projects import Project, create_project
from lookout.services import Services
from lookout.settings import Settings
from tests.support.server import LookoutServer, start_server
from tests.support.tools import MISSING_TOOL

PG_ENV = "LOOKOUT_TEST_DATABASE_URL"

# Property tests are derandomized by default, so CI runs the same cases every time;
# HYPOTHESIS_PROFILE=explore searches new ones (and more of them) on a developer machine.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                                     print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=2000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


async def _pg_admin(url: str):  # -> asyncpg.Connection
    import asyncpg

    u = make_url(url)
    return await asyncpg.connect(user=u.username or "postgres", password=u.password,
                                 host=u.host or "127.0.0.1", port=u.port or 5432,
                                 database="postgres")


class PgDatabases:
    """Creates per-test PostgreSQL databases from a migrated template."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.prefix = (make_url(base_url).database or "lookout_test").replace("-", "_")
        self.template = f"{self.prefix}_tmpl_{os.getpid()}"
        self._ready = False

    def _url(self, name: str) -> str:
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    async def _ensure_template(self) -> None:
        if self._ready:
            return
        admin = await _pg_admin(self.base_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.template}"')
            await admin.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await admin.close()
        engine = create_engine(self._url(self.template))
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
        self._ready = True

    async def create(self) -> str:
        await self._ensure_template()
        name = f"{self.prefix}_{uuid.uuid4().hex[:10]}"
        admin = await _pg_admin(self.base_url)
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await admin.close()
        return self._url(name)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        admin = await _pg_admin(self.base_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    async def drop_template(self) -> None:
        if self._ready:
            admin = await _pg_admin(self.base_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            finally:
                await admin.close()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases | None]:
    base = pg_base_url()
    if base is None:
        yield None
        return
    dbs = PgDatabases(base)
    yield dbs
    asyncio.run(dbs.drop_template())


class SqliteTemplate:
    """A migrated, empty SQLite file, made on first use, that ``db_url`` copies per test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False

    async def copy_to(self, target: Path) -> None:
        if not self._ready:
            engine = create_engine(f"sqlite+aiosqlite:///{self.path}")
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
            # Fold the write-ahead log into the file so a plain copy is the whole database.
            conn = sqlite3.connect(self.path)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()
            self._ready = True
        shutil.copyfile(self.path, target)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template") / "lookout.db")


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path,
                 pg_databases: PgDatabases | None,
                 sqlite_template: SqliteTemplate) -> AsyncIterator[str]:
    """A migrated, empty database URL, once per backend."""
    if request.param == "sqlite":
        path = tmp_path / "lookout.db"
        await sqlite_template.copy_to(path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if pg_databases is None:
        pytest.skip(f"{PG_ENV} is not set; PostgreSQL tests skipped")
    url = await pg_databases.create()
    yield url
    await pg_databases.drop(url)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret")


@pytest.fixture
def services(settings: Settings) -> Services:
    return Services.build(settings)


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The real app in-process over ASGI, on the test's event loop, lifespan hooks run.

    (Litestar's AsyncTestClient runs the app on another loop, which asyncpg
    connections created by fixtures cannot follow.)
    """
    app = create_app(services=services, background_jobs=False)
    # app.lifespan() uses anyio cancel scopes that cannot span a fixture's setup and
    # teardown tasks; the app's hooks are exactly services.start()/stop().
    await services.start(background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lookout.test") as c:
            yield c
    finally:
        await services.stop()


@pytest.fixture
async def project(services: Services) -> Project:
    return await create_project(services.engine, f"proj-{uuid.uuid4().hex[:6]}")


@pytest.fixture
async def api_token(services: Services) -> str:
    return await create_token(services.engine, "tests")


@pytest.fixture
def auth_headers(api_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    """Start real ``lookout serve`` subprocesses; all are stopped after the test."""
    started: list[LookoutServer] = []

    def factory(db_url: str | None = None, env: dict[str, str] | None = None,
                workdir: Path | None = None,
                nofile: tuple[int, int] | None = None) -> LookoutServer:
        server = start_server(workdir or tmp_path, db_url=db_url, env=env, nofile=nofile)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line naming what was skipped for want of a database or tool, and how to enable it."""
    counts = {"postgres": 0, "chromium": 0, "nginx": 0}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        if f"{PG_ENV} is not set" in reason:
            counts["postgres"] += 1
        elif reason.startswith((f"Skipped: {MISSING_TOOL}", MISSING_TOOL)):
            counts["chromium" if "chromium" in reason else "nginx"] += 1
    hints = {
        "postgres": (f"PostgreSQL tests (set {PG_ENV}, or run ./run-tests with a local "
                     "PostgreSQL on 127.0.0.1:5432)"),
        "chromium": "browser tests (apt-get install -y chromium, or ./run-tests as root)",
        "nginx": "nginx cluster tests (apt-get install -y nginx, or ./run-tests as root)",
    }
    parts = [f"{n} {hints[k]}" for k, n in counts.items() if n]
    if parts:
        terminalreporter.write_line("not run for want of a tool: " + "; ".join(parts), yellow=True)
