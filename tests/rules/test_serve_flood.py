"""End to end: one ingest request naming 600 made-up services cannot flood Slack or bury a
critical alert (``lookout serve``, real ingest, real scheduler, Slack mimic pacing its answers)."""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.slack_server import SlackServer

pytestmark = pytest.mark.e2e

RULES = """
rules:
  - name: service-errors
    kind: log_count
    query: "level:error"
    window: 1m
    max_groups: 10
    thresholds: {warning: 0}
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    thresholds: {critical: 0.05}
"""


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def ticks(url: str) -> float:
    match = re.search(r"^lookout_rule_ticks_total (\S+)$", httpx.get(url + "/metrics").text,
                      re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_a_flood_of_made_up_services_is_capped_and_a_critical_alert_goes_first(
        server_factory, db_url, tmp_path) -> None:
    slack = SlackServer(latency=0.5).start()  # Slack posts about one message a second
    try:
        rules = tmp_path / "rules.yml"
        rules.write_text(RULES)
        server = server_factory(db_url=db_url, env={
            "LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1",
            "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test", "LOOKOUT_SLACK_API_URL": slack.api_url,
            "LOOKOUT_SLACK_CHANNEL": "#ops"})
        token = server.create_token()
        dsn = urlsplit(server.create_project())
        ingest = f"{server.url}/api{dsn.path}/ingest"
        key = {"X-Lookout-Key": dsn.username or ""}

        now = time.time()
        flood = [{"message": "boom", "level": "error", "service": f"made-up-{i:03d}", "ts": now}
                 for i in range(600)]
        resp = httpx.post(ingest, headers=key, json={"logs": flood})
        assert resp.status_code == 202 and resp.json()["accepted"] == 600, resp.text
        wait_until(lambda: len(slack.posts()) >= 1, what="the first flood post")

        # A real outage, raised while the flood's messages are still going out.
        raised = time.monotonic()
        requests = [{"request_id": f"r{i}", "method": "GET", "route": "/pay",
                     "status": 500 if i % 2 else 200, "duration_ms": 5, "ts": time.time()}
                    for i in range(40)]
        resp = httpx.post(ingest, headers=key, json={
            "resource": {"service": "checkout", "environment": "prod"}, "requests": requests})
        assert resp.status_code == 202, resp.text

        def critical_posted() -> bool:
            return any(p.params["text"].startswith("[CRITICAL] checkout-errors")
                       for p in slack.posts())

        wait_until(critical_posted, timeout=20, what="the critical post")
        waited = time.monotonic() - raised
        texts = [p.params["text"] for p in slack.posts()]
        position = next(i for i, t in enumerate(texts) if t.startswith("[CRITICAL]"))
        assert position <= 4, texts  # not behind the rest of the flood
        assert waited < 10, waited

        # The flood opens at most max_groups alerts plus one "N more groups" alert, and
        # it stays that way over further evaluations.
        wait_until(lambda: len(slack.posts()) >= 12, what="the capped flood's posts")
        start = ticks(server.url)
        wait_until(lambda: ticks(server.url) >= start + 3, what="three more evaluations")
        texts = [p.params["text"] for p in slack.posts()]
        assert len(texts) == 10 + 1 + 1, texts
        assert sum("more groups breach this rule beyond its max_groups (10)" in t
                   for t in texts) == 1
        firing = httpx.get(server.url + "/api/v1/alerts?state=firing&limit=1000",
                           headers={"Authorization": f"Bearer {token}"}).json()["items"]
        assert len(firing) == 12
        (overflow,) = [a for a in firing if a["kind"] == "overflow"]
        assert overflow["value"] == 590 and overflow["labels"]["overflow"] == "groups"
    finally:
        slack.stop()
