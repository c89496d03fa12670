"""The ``lookout`` CLI as users run it: a subprocess, one-line errors, DSN last."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.support.server import LOOKOUT


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    full.update(env or {})
    return subprocess.run([LOOKOUT, *args], cwd=tmp_path, env=full, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_commands_other_than_serve_and_migrate_never_create_a_database(tmp_path):
    for args in (("project", "list"), ("project", "create", "shop"), ("token", "create", "ci"),
                 ("user", "create", "a@example.com", "--password-stdin")):
        out = run(tmp_path, *args, stdin="correct horse\n")
        assert out.returncode == 1, (args, out.stdout)
        assert out.stderr.strip() == (
            f"lookout: error: no Lookout database at {tmp_path / 'lookout.db'}; "
            "run `lookout migrate` or set LOOKOUT_DATABASE_URL"), out.stderr
        assert not (tmp_path / "lookout.db").exists()
    created = run(tmp_path, "migrate")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"created a new Lookout database at {tmp_path / 'lookout.db'}"
    again = run(tmp_path, "migrate")
    assert again.stdout.strip() == f"database at {tmp_path / 'lookout.db'} is up to date"


def test_a_missing_postgresql_database_is_not_created(tmp_path):
    url = os.environ.get("LOOKOUT_TEST_DATABASE_URL")
    if not url:
        pytest.skip("LOOKOUT_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    missing = url.rsplit("/", 1)[0] + "/lookout_no_such_db_" + uuid.uuid4().hex[:8]
    out = run(tmp_path, "project", "list", env={"LOOKOUT_DATABASE_URL": missing})
    assert out.returncode == 1
    assert "no Lookout database at 127.0.0.1:5432/lookout_no_such_db_" in out.stderr, out.stderr


def test_project_user_token_on_a_fresh_directory(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    out = run(tmp_path, "project", "create", "shop",
              env={"LOOKOUT_BASE_URL": "https://lookout.example.com/base"})
    assert out.returncode == 0, out.stderr
    dsn = out.stdout.strip().splitlines()[-1]
    assert dsn.startswith("https://") and dsn.endswith("@lookout.example.com/base/1")

    again = run(tmp_path, "project", "create", "shop")
    assert again.returncode == 1
    assert again.stderr.strip() == "lookout: error: a project named 'shop' already exists"

    user = run(tmp_path, "user", "create", "Ann@Example.com", "--password-stdin",
               stdin="correct horse\n")
    assert user.returncode == 0 and "ann@example.com" in user.stdout
    short = run(tmp_path, "user", "create", "bob@example.com", "--password-stdin", stdin="x\n")
    assert short.returncode == 1 and "at least 8" in short.stderr

    token = run(tmp_path, "token", "create", "ci")
    assert token.returncode == 0 and token.stdout.strip().splitlines()[-1].startswith("lkt_")
    listed = run(tmp_path, "project", "list")
    assert "shop" in listed.stdout and dsn.split("@")[0].split("//")[1] in listed.stdout


def test_errors_are_one_line_without_traceback(tmp_path):
    cases = [
        (("serve", "--port", "99999"), {}, "--port must be between"),
        (("migrate",), {"LOOKOUT_DATABASE_URL": "mysql://nope"}, "LOOKOUT_DATABASE_URL"),
        (("migrate",), {"LOOKOUT_DATABASE_URL":
                        "postgresql+asyncpg://postgres:pw@127.0.0.1:1/x"},
         "cannot use the database at LOOKOUT_DATABASE_URL (127.0.0.1:1/x)"),
        (("project", "list"), {"LOOKOUT_SLACK_BOT_TOKEN": "xoxp-user-token"},
         "LOOKOUT_SLACK_BOT_TOKEN must be a bot token (xoxb-...); this one starts with 'xoxp'"),
        (("project", "list"), {"LOOKOUT_SLACK_BOT_TOKEN": "xoxb-1",
                               "LOOKOUT_SLACK_APP_TOKEN": "xoxb-2"},
         "LOOKOUT_SLACK_APP_TOKEN must be an app-level token"),
        (("project", "list"), {"LOOKOUT_SLACK_APP_TOKEN": "xapp-1"},
         "LOOKOUT_SLACK_APP_TOKEN is set without LOOKOUT_SLACK_BOT_TOKEN"),
        (("project",), {}, "error"),
        (("frobnicate",), {}, "invalid choice"),
    ]
    for args, env, words in cases:
        out = run(tmp_path, *args, env=env)
        assert out.returncode != 0, args
        assert "Traceback" not in out.stderr, out.stderr
        assert words in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "pw@" not in out.stderr and "xoxp-user" not in out.stderr


def test_module_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lookout.cli", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("lookout ")
