"""Fixtures for rule-engine tests: a fake clock, the Slack mimic, and data writers.

Data goes in through the collector's own write path (``write_rows``), so the
rollups the engine reads are exactly the ones production writes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.normalize import RowBatch
from collector.store import write_rows
from lookout.services import Services
from lookout.settings import Settings
from rules.runtime import Alerting
from tests.support.slack_server import SlackServer

SIGNING_SECRET = "test-signing-secret"


class FakeClock:
    """Injectable time: starts at a whole minute and only moves when told."""

    def __init__(self, start: float | None = None) -> None:
        self.t = float(start if start is not None else (int(time.time()) // 3600) * 3600 - 7200)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


@pytest.fixture
def settings(db_url: str, slack: SlackServer) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret", slack_bot_token="xoxb-test",
                    slack_signing_secret=SIGNING_SECRET, slack_channel="#alerts",
                    slack_api_url=slack.api_url, slack_response_url_origins=slack.url,
                    eval_interval=60,
                    base_url="http://lookout.test")


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Services:
    svc = Services.build(settings)
    svc.alerting = Alerting(settings, svc.engine, clock=clock)
    return svc


def request_rows(ts: float, service: str, total: int, errors: int, env: str = "production",
                 duration_ms: float = 20.0, project_id: int = 1) -> list[tuple]:
    rows = []
    for i in range(total):
        status = 500 if i < errors else 200
        rows.append((project_id, ts, ts, service, env, "", "", f"r{i}", None, "{}", "GET", "/x",
                     status, duration_ms, False))
    return rows


async def add_requests(engine: AsyncEngine, ts: float, service: str, total: int, errors: int,
                       env: str = "production", duration_ms: float = 20.0) -> None:
    async with engine.begin() as conn:
        await write_rows(conn, RowBatch(requests=request_rows(ts, service, total, errors, env,
                                                               duration_ms)))


async def add_logs(engine: AsyncEngine, ts: float, service: str, level: int, messages: list[str],
                   env: str = "production") -> None:
    rows = [(1, ts, ts, service, env, "", "", None, None, "{}", level, "app", m)
            for m in messages]
    async with engine.begin() as conn:
        await write_rows(conn, RowBatch(logs=rows))


async def add_metric(engine: AsyncEngine, ts: float, service: str, name: str,
                     values: list[float], env: str = "production") -> None:
    rows = [(1, ts, ts, service, env, "", "", None, None, "{}", name, "histogram", v, 1, v, v, v,
             "{}", "") for v in values]
    async with engine.begin() as conn:
        await write_rows(conn, RowBatch(metrics=rows))


def signed(body: bytes, ts: float, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(ts))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body,
                           hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig,
            "Content-Type": "application/x-www-form-urlencoded"}


def action_body(action: dict[str, Any], username: str = "alice",
                response_url: str | None = None, user_id: str | None = None) -> bytes:
    """A form-encoded ``block_actions`` payload as Slack posts it, for one action."""
    payload = {"type": "block_actions",
               "user": {"id": user_id or "U" + username.upper(), "username": username,
                        "name": username},
               "actions": [action],
               "container": {"channel_id": "C1", "message_ts": "1.1"},
               "response_url": response_url}
    return urlencode({"payload": json.dumps(payload)}).encode()


def click_body(action_id: str, alert_id: int, username: str = "alice",
               response_url: str | None = None) -> bytes:
    return action_body({"action_id": action_id, "value": str(alert_id), "type": "button"},
                       username, response_url)


@pytest.fixture
async def alerting(services: Services) -> AsyncIterator[Alerting]:
    """The services' Alerting, started without background jobs (tests tick by hand)."""
    assert services.alerting is not None
    await services.alerting.start(services.jobs, background_jobs=False)
    yield services.alerting
    await services.alerting.stop()
    await services.engine.dispose()
