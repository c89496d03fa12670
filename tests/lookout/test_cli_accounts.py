"""``lookout project|user|token`` management commands on both databases.

Token revocation runs the real ``lookout`` executable: the point is that another
process's revoke is refused at once by a running app. The user and project
commands' logic runs in-process through :func:`lookout.cli.main` (the entry point
the executable calls), with its own environment, working directory and stdio:
each subprocess imports the whole package, seconds apiece on a loaded machine,
and tests/lookout/test_cli.py runs these commands as real subprocesses.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest import mock

import httpx
from sqlalchemy import func, select

from collector import tables
from lookout.accounts import authenticate, check_token
from lookout.app import create_app
from lookout.cli import main
from lookout.db import create_engine
from lookout.services import Services
from lookout.settings import Settings
from tests.support.server import LOOKOUT
from web.sessions import create_session
from web.tables import sessions


def _cli(tmp_path: Path, db_url: str, *args: str,
         stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=db_url, LOOKOUT_BASE_URL="http://lookout.test")
    return subprocess.run([LOOKOUT, *args], cwd=tmp_path, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


def _cli_in_process(tmp_path: Path, db_url: str, *args: str,
                    stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``lookout ARGS`` through :func:`lookout.cli.main`, as :func:`_cli` sees it.

    On a thread of its own (``main`` runs its own event loop; the caller's may be
    running), with the environment, working directory and stdio of a subprocess.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    env.update(LOOKOUT_DATABASE_URL=db_url, LOOKOUT_BASE_URL="http://lookout.test")
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        try:
            return main(list(args))
        except SystemExit as exc:  # argparse: --help, usage errors
            return exc.code if isinstance(exc.code, int) else 1

    cwd = os.getcwd()
    with (mock.patch.dict(os.environ, env, clear=True),
          mock.patch.object(sys, "stdin", io.StringIO(stdin or "")),
          contextlib.redirect_stdout(out), contextlib.redirect_stderr(err),
          ThreadPoolExecutor(max_workers=1) as pool):
        os.chdir(tmp_path)
        try:
            code = pool.submit(run).result(timeout=120)
        finally:
            os.chdir(cwd)
    return subprocess.CompletedProcess(["lookout", *args], code, out.getvalue(), err.getvalue())


def _ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    return out.stdout


def _fails(out: subprocess.CompletedProcess[str], words: str) -> None:
    assert out.returncode == 1, out.stdout
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


async def test_users_roles_passwords_and_deletion(tmp_path: Path, db_url: str) -> None:
    run = lambda *a, stdin=None: _cli_in_process(tmp_path, db_url, *a, stdin=stdin)
    _ok(run("user", "create", "ann@example.com", "--password-stdin", stdin="first pass\n"))
    _ok(run("user", "create", "bob@example.com", "--password-stdin", stdin="second pass\n"))
    _ok(run("user", "create", "cy@example.com", "--admin", "--password-stdin",
            stdin="third pass\n"))
    listed = [line.split("\t") for line in _ok(run("user", "list")).splitlines()]
    assert [(row[1], row[2]) for row in listed] == [
        ("ann@example.com", "admin"), ("bob@example.com", "member"), ("cy@example.com", "admin")]

    _ok(run("user", "passwd", "BOB@example.com", "--password-stdin", stdin="a new secret\n"))
    _fails(run("user", "passwd", "nobody@example.com", "--password-stdin",
               stdin="a new secret\n"), "no user 'nobody@example.com'")
    _fails(run("user", "passwd", "bob@example.com", "--password-stdin", stdin="short\n"),
           "at least 8")
    engine = create_engine(db_url)
    try:
        assert await authenticate(engine, "bob@example.com", "second pass") is None
        bob = await authenticate(engine, "bob@example.com", "a new secret")
        assert bob is not None
        await create_session(engine, bob, "127.0.0.1", "test", time.time())
        await create_session(engine, bob, "10.0.0.1", "test", time.time())
        _ok(run("user", "delete", "bob@example.com"))
        async with engine.connect() as conn:
            left = await conn.scalar(select(func.count()).select_from(sessions)
                                     .where(sessions.c.user_id == bob))
        assert left == 0
    finally:
        await engine.dispose()
    _ok(run("user", "delete", "cy@example.com"))
    _fails(run("user", "delete", "ann@example.com"), "is the last admin")
    _fails(run("user", "delete", "bob@example.com"), "no user 'bob@example.com'")


async def test_tokens_list_and_revoke_at_once(tmp_path: Path, db_url: str) -> None:
    run = lambda *a: _cli(tmp_path, db_url, *a)
    _ok(run("migrate"))
    secret = _ok(run("token", "create", "grafana")).strip().splitlines()[-1]
    _ok(run("token", "create", "ci"))
    services = Services.build(Settings(database_url=db_url, secret_key="k"))
    app = create_app(services=services, background_jobs=False)
    await services.start(background_jobs=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://lookout.test") as client:
            headers = {"Authorization": f"Bearer {secret}"}
            assert (await client.get("/api/v1/issues", headers=headers)).status_code == 200
            listed = _ok(run("token", "list"))
            assert "grafana" in listed and "ci" in listed and secret not in listed
            token_id = next(line.split("\t")[0] for line in listed.splitlines()
                            if "\tgrafana\t" in line)
            _ok(run("token", "revoke", token_id))
            assert (await client.get("/api/v1/issues", headers=headers)).status_code == 401
    finally:
        await services.stop()
    assert "grafana" not in _ok(run("token", "list"))
    assert "Revoked 1 token." in _ok(run("token", "revoke", "ci"))
    _fails(run("token", "revoke", "ci"), "no token 'ci'")
    engine = create_engine(db_url)
    try:
        assert not await check_token(engine, secret)
    finally:
        await engine.dispose()


async def test_projects_keys_rename_and_delete_with_data(tmp_path: Path, db_url: str) -> None:
    run = lambda *a: _cli_in_process(tmp_path, db_url, *a)
    _ok(run("migrate"))
    first_dsn = _ok(run("project", "create", "shop")).strip().splitlines()[-1]
    _ok(run("project", "create", "other"))
    second_dsn = _ok(run("project", "key", "add", "shop")).strip().splitlines()[-1]
    old_key, new_key = (d.split("//")[1].split("@")[0] for d in (first_dsn, second_dsn))
    keys = _ok(run("project", "key", "list", "shop"))
    assert f"{old_key}\tactive" in keys and f"{new_key}\tactive" in keys

    services = Services.build(Settings(database_url=db_url, secret_key="k"))
    app = create_app(services=services, background_jobs=False)
    await services.start(background_jobs=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://lookout.test") as client:
            project_id = first_dsn.rsplit("/", 1)[1]
            for key in (old_key, new_key):  # both keys work during the rotation
                resp = await client.post(
                    f"/api/{project_id}/ingest", headers={"X-Lookout-Key": key},
                    json={"logs": [{"message": f"via {key}"}],
                          "errors": [{"message": "boom", "event_id": key[:32].ljust(32, "0")}],
                          "requests": [{"request_id": f"r-{key}", "method": "GET", "route": "/",
                                        "status": 200, "duration_ms": 1}]})
                assert resp.status_code == 202, resp.text
    finally:
        await services.stop()

    assert "1 active key left" in _ok(run("project", "key", "revoke", "shop", old_key))
    assert f"{old_key}\trevoked" in _ok(run("project", "key", "list", "shop"))
    _fails(run("project", "key", "revoke", "shop", old_key), "has no active key")
    listed = _ok(run("project", "list"))
    assert new_key in listed and old_key not in listed

    _ok(run("project", "rename", "shop", "store"))
    _fails(run("project", "rename", "store", "other"), "a project named 'other' already exists")
    _fails(run("project", "delete", "store"), "add --yes to confirm")
    done = _ok(run("project", "delete", "store", "--yes"))
    assert "2 logs" in done and "2 errors" in done and "2 request_records" in done, done
    assert "store" not in _ok(run("project", "list"))
    _fails(run("project", "delete", "store", "--yes"), "no project named 'store'")
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            for table in (tables.logs, tables.errors, tables.request_records):
                assert await conn.scalar(select(func.count()).select_from(table)) == 0
    finally:
        await engine.dispose()


async def test_project_retention_show_set_clear(tmp_path: Path, db_url: str) -> None:
    run = lambda *a: _cli(tmp_path, db_url, *a)
    _ok(run("project", "create", "shop"))
    shown = _ok(run("project", "retention", "shop"))
    assert "logs\t30 days\t(LOOKOUT_RETENTION_DAYS)" in shown, shown
    shown = _ok(run("project", "retention", "shop", "--logs", "14", "--errors", "90"))
    assert "logs\t14 days\t(this project)" in shown and "errors\t90 days\t(this project)" in shown
    assert "metrics\t30 days\t(LOOKOUT_RETENTION_DAYS)" in shown
    shown = _ok(_cli(tmp_path, db_url, "project", "retention", "shop", "--logs", "default"))
    assert "logs\t30 days" in shown and "errors\t90 days\t(this project)" in shown
    _fails(run("project", "retention", "shop", "--logs", "0"), "whole number of days from 1")
    _fails(run("project", "retention", "shop", "--errors", "x"), "errors retention must be")
    _fails(run("project", "retention", "nope"), "no project named 'nope'")
    # Deleting the project takes its overrides with it.
    assert "project_retention" in _ok(run("project", "delete", "shop", "--yes"))
