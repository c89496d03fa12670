"""End to end: the real ``sentry-cli`` (npm ``@sentry/cli``) reports to ``lookout serve``.

``sentry-cli send-event`` is what shell scripts and cron jobs use: a ``logentry``
with ``message`` and ``params`` but no ``formatted``, tags, a release, an
environment, a fingerprint, breadcrumbs from a log file, or an event read from a
JSON file. The app is the one that captured ``tests/data/sentry/sentry-cli``
(``tests/data/sentry/tools/app_sentry_cli.py``), run here against the real server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / "js" / "node_modules" / ".bin" / "sentry-cli"
APP = ROOT / "data" / "sentry" / "tools" / "app_sentry_cli.py"
if not CLI.exists():
    pytest.skip("needs the npm packages of tests/js (npm ci --prefix tests/js)",
                allow_module_level=True)


def test_sentry_cli_events_are_titled_grouped_and_tagged(server_factory, db_url, tmp_path):
    server = server_factory(db_url=db_url)
    dsn = server.create_project("cron")
    project = dsn.rsplit("/", 1)[1]
    subprocess.run([sys.executable, str(APP), dsn, "app"], cwd=tmp_path, check=True,
                   timeout=120, env={**os.environ, "SENTRY_CLI": str(CLI)})
    api = httpx.Client(base_url=server.url, timeout=30,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    items = api.get("/api/v1/issues", params={"project": project}).json()["items"]
    by_title = {i["title"]: i for i in items}
    # Titles filled in from the params; grouped on the template, a fingerprint apart.
    assert sorted(by_title) == ["cleanup of /srv failed: EIO",
                                "cleanup of /var/backups/a failed: disk full",
                                "nightly backup finished",
                                "quota check failed for tenant 42"], items
    cleanup = by_title["cleanup of /var/backups/a failed: disk full"]
    events = api.get(f"/api/v1/issues/{cleanup['id']}/events").json()["items"]
    assert sorted(e["message"] for e in events) == ["cleanup of /var/backups/a failed: disk full",
                                                     "cleanup of /var/tmp failed: timeout"]
    detail = api.get(f"/api/v1/issues/{cleanup['id']}").json()
    tags = {(key, v["value"]): v["count"] for key, values in detail["tags"].items()
            for v in values}
    assert tags[("plan", "pro")] == 2 and tags[("release", "backup@2.1.0")] == 2
    assert tags[("environment", "production")] == 2
    assert by_title["quota check failed for tenant 42"]["level"] == "warning"
    backup = api.get(f"/api/v1/issues/{by_title['nightly backup finished']['id']}").json()
    crumbs = [c.get("message") for c in backup["latest_event"]["extra"]["breadcrumbs"]]
    assert crumbs == ["starting backup", "copying 120 files", "upload retried"]
    assert backup["latest_event"]["level"] == "info"
