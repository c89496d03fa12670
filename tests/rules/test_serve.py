"""End to end: ``lookout serve`` with a rules file, real scheduler, SIGHUP reload, Slack mimic."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.rules.conftest import SIGNING_SECRET, click_body, signed
from tests.support.slack_server import SlackServer

pytestmark = pytest.mark.e2e

RULE_A = """
rules:
  - name: latency
    kind: metric
    metric: db.query_ms
    aggregate: p95
    thresholds: {critical: 1000}
"""
RULE_B = RULE_A + """
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
"""


def wait_until(predicate, timeout: float = 20.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def rule_names(url: str, token: str) -> list[str]:
    body = httpx.get(url + "/api/v1/rules", headers={"Authorization": f"Bearer {token}"}).json()
    return [r["name"] for r in body["rules"]]


def test_serve_reload_detect_post_and_ack(server_factory, tmp_path: Path) -> None:  # noqa: ANN001
    slack = SlackServer().start()
    try:
        rules = tmp_path / "rules.yml"
        rules.write_text(RULE_A)
        server = server_factory(env={
            "LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1",
            "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test", "LOOKOUT_SLACK_API_URL": slack.api_url,
            "LOOKOUT_SLACK_CHANNEL": "#ops", "LOOKOUT_SLACK_SIGNING_SECRET": SIGNING_SECRET})
        token = server.create_token()
        assert rule_names(server.url, token) == ["latency"]

        rules.write_text(RULE_B.replace("kind: error_rate", "kind: error_rat"))
        server.signal(signal.SIGHUP)
        wait_until(lambda: "rules file rejected" in server.log())
        assert "unknown kind 'error_rat'" in server.log()
        assert rule_names(server.url, token) == ["latency"]  # the old rules are kept

        rules.write_text(RULE_B)
        server.signal(signal.SIGHUP)
        wait_until(lambda: rule_names(server.url, token) == ["latency", "checkout-errors"])

        dsn = urlsplit(server.create_project())
        now = time.time()
        requests = [{"request_id": f"r{i}", "method": "GET", "route": "/pay",
                     "status": 500 if i % 2 else 200, "duration_ms": 5, "ts": now}
                    for i in range(40)]
        resp = httpx.post(f"{server.url}/api{dsn.path}/ingest",
                          headers={"X-Lookout-Key": dsn.username or ""},
                          json={"resource": {"service": "checkout", "environment": "prod"},
                                "requests": requests})
        assert resp.status_code == 202, resp.text
        wait_until(lambda: len(slack.posts()) == 1)
        post = slack.posts()[0].params
        assert post["channel"] == "#ops" and post["text"].startswith("[CRITICAL] checkout-errors")
        alert_id = int(post["blocks"][-1]["elements"][0]["value"])

        body = click_body("lookout_ack", alert_id, "alice")
        resp = httpx.post(server.url + "/slack/interactions", content=body,
                          headers=signed(body, time.time()))
        assert resp.status_code == 200
        wait_until(lambda: any("Acknowledged by @alice" in r.params["text"]
                               for r in slack.replies()))
        alert = httpx.get(f"{server.url}/api/v1/alerts/{alert_id}",
                          headers={"Authorization": f"Bearer {token}"}).json()
        assert alert["acknowledged_by"] == "@alice"
        metrics = httpx.get(server.url + "/metrics").text
        assert "lookout_rule_tick_seconds_count" in metrics
        assert 'lookout_slack_calls_total{method="chat.postMessage",outcome="ok"}' in metrics
        assert len(slack.posts()) == 1
    finally:
        slack.stop()


def test_serve_refuses_bad_rules_file(server_factory, tmp_path: Path) -> None:  # noqa: ANN001
    rules = tmp_path / "rules.yml"
    rules.write_text("rules:\n  - name: x\n    kind: nope\n")
    with pytest.raises(RuntimeError) as info:
        server_factory(env={"LOOKOUT_RULES_FILE": str(rules)})
    assert f"invalid rules file: {rules}:3: rule 'x': unknown kind 'nope'" in str(info.value)
    assert "Traceback" not in str(info.value)
