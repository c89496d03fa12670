"""Slack rate-limits two ``lookout serve`` instances on one PostgreSQL: the alert is posted once.

A sender that waited out ``Retry-After`` inside its Slack call (slack-sdk's
rate-limit handler does, up to three times) held its lease without renewing
it, so the other instance took the alert over and posted it a second time.
Here the lease is shorter than both the ``Retry-After`` and every Slack call
(the mimic answers slowly), so only renewing it and recording the 429 on the
outbox row keep the message single.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from lookout.db import create_engine
from rules import tables as t
from tests.support.slack_server import Failure, SlackServer

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

RULES = """
rules:
  - name: checkout-errors
    kind: error_rate
    service: checkout
    window: 1m
    thresholds: {critical: 0.05}
"""
RETRY_AFTER = 6
LEASE = 1.0
LATENCY = 3.0  # every Slack answer takes longer than the lease


def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met within {timeout}s")


def delivery_state(url: str) -> tuple[list, list]:
    async def read() -> tuple[list, list]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                rows = (await conn.execute(select(t.outbox))).all()
                alerts = (await conn.execute(select(t.alerts))).all()
                return rows, alerts
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_rate_limited_slack_gets_one_post_from_two_instances(server_factory, pg_url,
                                                             tmp_path) -> None:
    slack = SlackServer(latency=LATENCY).start()
    slack.fail_next("chat.postMessage", Failure("429", retry_after=RETRY_AFTER))
    try:
        rules = tmp_path / "rules.yml"
        rules.write_text(RULES)
        env = {"LOOKOUT_RULES_FILE": str(rules), "LOOKOUT_EVAL_INTERVAL": "1",
               "LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test", "LOOKOUT_SLACK_API_URL": slack.api_url,
               "LOOKOUT_SLACK_CHANNEL": "#ops", "LOOKOUT_SLACK_LEASE_SECONDS": str(LEASE)}
        a = server_factory(db_url=pg_url, env=env)
        b = server_factory(db_url=pg_url, env=env)
        dsn = urlsplit(a.create_project())
        requests = [{"request_id": f"r{i}", "method": "GET", "route": "/pay",
                     "status": 500 if i % 2 else 200, "duration_ms": 5, "ts": time.time()}
                    for i in range(40)]
        resp = httpx.post(f"{a.url}/api{dsn.path}/ingest",
                          headers={"X-Lookout-Key": dsn.username or ""},
                          json={"resource": {"service": "checkout"}, "requests": requests})
        assert resp.status_code == 202, resp.text

        wait_until(lambda: any(c.status == 429 for c in slack.calls), what="the 429")
        limited_at = time.time()

        # The 429 is recorded on the row at once and the lease let go: nobody sits on the
        # alert while Slack asks to wait.
        def recorded() -> bool:
            rows, alerts = delivery_state(pg_url)
            return len(rows) == 1 and rows[0].attempts == 1 \
                and "ratelimited" in (rows[0].last_error or "") and alerts[0].send_owner is None
        wait_until(recorded, timeout=LATENCY + 2, what="the 429 recorded on the outbox row")
        (row,), _ = delivery_state(pg_url)
        assert row.status == "pending" and row.next_attempt_at >= limited_at + RETRY_AFTER - 2

        wait_until(lambda: len(slack.delivered("chat.postMessage")) == 1, timeout=RETRY_AFTER + 20,
                   what="the post after Retry-After")
        wait_until(lambda: delivery_state(pg_url)[0][0].status == "sent", what="the row sent")
        a.stop()  # both drain their Slack runs: no call can still be on its way afterwards
        b.stop()
        calls = slack.by_method("chat.postMessage")
        assert [c.status for c in calls] == [429, 200], calls
        assert calls[1].at - calls[0].at >= RETRY_AFTER - 0.5  # Retry-After honoured
        assert "Traceback" not in a.log() + b.log()
    finally:
        slack.stop()
