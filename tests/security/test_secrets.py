"""Secrets never appear in logs, error messages or response bodies.

A real ``lookout serve`` runs with every secret set (Slack bot token, signing
secret, secret key, and a PostgreSQL password in the database URL, through a
cuttable proxy). The test provokes what tends to print configuration: bad
requests of every kind, Slack failing, the database going away, bad
configuration at start. Then it greps everything the process wrote and every
body it answered for the secret values.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PgDatabases
from tests.rules.conftest import signed
from tests.support.server import LOOKOUT, LookoutServer
from tests.support.slack_server import SlackServer
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: errors
    kind: error_rate
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
"""


def requests_body(n: int = 40) -> dict:
    now = time.time()
    return {"resource": {"service": "pay"}, "requests": [
        {"request_id": f"r{i}", "method": "GET", "route": "/", "status": 500 if i % 2 else 200,
         "duration_ms": 3, "ts": now} for i in range(n)]}


def test_secrets_stay_out_of_logs_and_answers(
        pg_databases: PgDatabases | None, server_factory, tmp_path: Path) -> None:
    if pg_databases is None:
        pytest.skip("LOOKOUT_TEST_DATABASE_URL is not set; PostgreSQL tests skipped")
    db_url = asyncio.run(pg_databases.create())
    url = make_url(db_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    slack = SlackServer().start()
    slack.down("500")
    password = "pw" + secrets.token_hex(12)
    secret_values = {
        "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-" + secrets.token_hex(16),
        "LOOKOUT_SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "LOOKOUT_SECRET_KEY": secrets.token_hex(24),
    }
    # Trust authentication ignores the password, so the server runs with it in its URL.
    proxied = url.set(port=proxy.port, password=password).render_as_string(hide_password=False)
    rules = tmp_path / "rules.yml"
    rules.write_text(RULES)
    env = {**secret_values, "LOOKOUT_DATABASE_URL": proxied, "LOOKOUT_RULES_FILE": str(rules),
           "LOOKOUT_EVAL_INTERVAL": "1", "LOOKOUT_SLACK_API_URL": slack.api_url,
           "LOOKOUT_SLACK_CHANNEL": "#ops"}
    forbidden = [password, *secret_values.values()]
    bodies: list[str] = []
    outputs: list[str] = []
    try:
        server: LookoutServer = server_factory(db_url=proxied, env=env)
        dsn = urlsplit(server.create_project())
        token = server.create_token()
        ingest = f"{server.url}/api{dsn.path}/ingest"
        key = {"X-Lookout-Key": dsn.username or ""}

        def hit(method: str, path: str, **kwargs) -> httpx.Response:
            resp = httpx.request(method, path if path.startswith("http") else server.url + path,
                                 timeout=30, **kwargs)
            bodies.append(f"{resp.status_code} {resp.headers} {resp.text}")
            return resp

        # Bad requests of many kinds.
        hit("POST", ingest, headers=key, content=b"{not json")
        hit("POST", ingest, headers={"X-Lookout-Key": "nope"}, json={})
        hit("POST", ingest, headers={**key, "Content-Encoding": "gzip"}, content=b"\x1f\x8b junk")
        hit("POST", f"/api{dsn.path}/envelope/", content=b"\xff\xfe garbage\n\n")
        hit("GET", "/api/v1/logs", headers={"Authorization": "Bearer wrong"})
        hit("GET", "/api/v1/logs?limit=-5", headers={"Authorization": f"Bearer {token}"})
        hit("POST", "/login", data={"email": "x@y.z", "password": "p", "_csrf": "forged"})
        body = b"payload=%7B%22type%22%3A%22block_actions%22%7D"
        hit("POST", "/slack/interactions", content=body,
            headers=signed(body, time.time(), secret="not-the-secret"))
        hit("POST", "/slack/interactions", content=b"payload=not-json",
            headers=signed(b"payload=not-json", time.time(),
                           secret=secret_values["LOOKOUT_SLACK_SIGNING_SECRET"]))
        # Slack failing: an alert fires and its delivery fails.
        assert hit("POST", ingest, headers=key, json=requests_body()).status_code == 202
        wait_until(lambda: "slack delivery failed" in server.log(), timeout=60)
        # The database goes away, then comes back.
        proxy.cut()
        down = hit("POST", ingest, headers=key, json=requests_body(2))
        assert down.status_code == 503
        assert hit("GET", "/readyz").status_code == 503
        read = hit("GET", "/api/v1/logs", headers={"Authorization": f"Bearer {token}"})
        assert read.status_code == 503 and read.headers["retry-after"], read.text  # not a 500
        assert hit("GET", "/issues").status_code in (303, 503)
        migrate = subprocess.run([LOOKOUT, "migrate"], env=server.env, capture_output=True,
                                 text=True, timeout=60)
        assert migrate.returncode != 0
        outputs.append(migrate.stdout + migrate.stderr)
        proxy.restore()
        wait_until(lambda: hit("POST", ingest, headers=key, json=requests_body(2)
                               ).status_code == 202, timeout=60)
        server.stop()
        # Bad configuration at start, with every secret still set.
        for bad in ({"LOOKOUT_EVAL_INTERVAL": "soon"}, {"LOOKOUT_BASE_URL": "ftp://x"},
                    {"LOOKOUT_RULES_FILE": str(tmp_path / "missing.yml")}):
            out = subprocess.run([LOOKOUT, "serve", "--port", "1"], env={**server.env, **bad},
                                 capture_output=True, text=True, timeout=60)
            assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
            outputs.append(out.stdout + out.stderr)
        outputs.append(server.log_path.read_text(errors="replace"))
    finally:
        slack.stop()
        proxy.stop()
        asyncio.run(pg_databases.drop(db_url))
    everything = "\n".join(bodies + outputs)
    assert "database writes are failing" in everything  # the failures did happen
    assert "slack delivery failed" in everything
    assert "request failed: database unavailable" in everything
    assert "Traceback" not in everything
    for value in forbidden:
        assert value not in everything, "a secret was printed"
