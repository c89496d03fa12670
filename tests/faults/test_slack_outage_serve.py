"""End to end: Slack unreachable, ``lookout serve`` restarted meanwhile, then Slack back.

An alert fires and is acknowledged while the Slack API refuses connections;
the server is stopped and started again (same SQLite database) before Slack
returns. Nothing queued is lost: the message is posted once, then updated
with the acknowledgement, in that order.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.server import LookoutServer
from tests.support.slack_server import SlackServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
"""


def test_queued_notifications_survive_restart_during_outage(server_factory,
                                                             tmp_path: Path) -> None:
    slack = SlackServer().start()
    slack.down("refuse")
    try:
        rules = tmp_path / "rules.yml"
        rules.write_text(RULES)
        env = {"LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1",
               "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test", "LOOKOUT_SLACK_API_URL": slack.api_url,
               "LOOKOUT_SLACK_CHANNEL": "#ops"}
        server: LookoutServer = server_factory(env=env)
        token = server.create_token()
        auth = {"Authorization": f"Bearer {token}"}
        dsn = urlsplit(server.create_project())
        now = time.time()
        requests = [{"request_id": f"r{i}", "method": "GET", "route": "/pay",
                     "status": 500 if i % 2 else 200, "duration_ms": 5, "ts": now}
                    for i in range(40)]
        resp = httpx.post(f"{server.url}/api{dsn.path}/ingest",
                          headers={"X-Lookout-Key": dsn.username or ""},
                          json={"resource": {"service": "checkout"}, "requests": requests})
        assert resp.status_code == 202, resp.text

        def firing() -> list[dict]:
            return httpx.get(server.url + "/api/v1/alerts?state=firing", headers=auth
                             ).json()["items"]

        wait_until(lambda: len(firing()) == 1, timeout=60)
        alert_id = firing()[0]["id"]
        resp = httpx.post(f"{server.url}/api/v1/alerts/{alert_id}/ack", headers=auth,
                          json={"by": "bob"})
        assert resp.status_code == 200 and resp.json()["result"] == "acknowledged"
        wait_until(lambda: "slack delivery failed" in server.log(), timeout=60)
        server.stop()
        assert server.process is not None and server.process.returncode == 0, server.log()
        assert server.log().count("slack delivery failed") == 1  # one line per outage
        assert slack.calls == []

        slack.up()
        again: LookoutServer = server_factory(env=env)
        wait_until(lambda: len(slack.delivered()) >= 3, timeout=90)
        alert = httpx.get(f"{again.url}/api/v1/alerts/{alert_id}", headers=auth).json()
        ts = alert["slack_ts"]
        calls = [(c.method, bool(c.params.get("thread_ts"))) for c in slack.delivered()]
        assert calls == [("chat.postMessage", False), ("chat.update", False),
                         ("chat.postMessage", True)]
        post, update, reply = slack.delivered()
        assert post.result["ts"] == ts and update.params["ts"] == ts
        assert reply.params["thread_ts"] == ts and "Acknowledged by bob" in reply.params["text"]
        before = len(slack.calls)  # nothing else is owed: more sender runs add no calls
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the sender runs every 2 s: two or more runs
            time.sleep(0.5)
        assert len(slack.calls) == before
    finally:
        slack.stop()
