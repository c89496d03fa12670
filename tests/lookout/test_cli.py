"""The ``lookout`` CLI as users run it: a subprocess, one-line errors, DSN last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import LOOKOUT


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    full.update(env or {})
    return subprocess.run([LOOKOUT, *args], cwd=tmp_path, env=full, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_project_user_token_on_a_fresh_directory(tmp_path):
    out = run(tmp_path, "project", "create", "shop",
              env={"LOOKOUT_BASE_URL": "https://lookout.example.com/base"})
    assert out.returncode == 0, out.stderr
    dsn = out.stdout.strip().splitlines()[-1]
    assert dsn.startswith("https://") and dsn.endswith("@lookout.example.com/base/1")
    assert (tmp_path / "lookout.db").exists()

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
                        "postgresql+asyncpg://postgres@127.0.0.1:1/x"}, "error"),
        (("project",), {}, "error"),
        (("frobnicate",), {}, "invalid choice"),
    ]
    for args, env, words in cases:
        out = run(tmp_path, *args, env=env)
        assert out.returncode != 0, args
        assert "Traceback" not in out.stderr, out.stderr
        assert words in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_module_entry_point(tmp_path):
    out = subprocess.run([sys.executable, "-m", "lookout.cli", "--version"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("lookout ")
