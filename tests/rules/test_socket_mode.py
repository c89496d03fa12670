"""Socket Mode: a click arriving over a WebSocket is acked and applied like an HTTP callback."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select
from websockets.asyncio.server import ServerConnection, serve

from lookout.settings import Settings
from rules import tables as t
from rules.config import parse_rules
from rules.runtime import Alerting
from tests.rules.conftest import FakeClock, add_requests
from tests.support.slack_server import SlackServer

RULE = """
rules:
  - name: e
    kind: error_rate
    window: 1m
    for: 0s
    thresholds: {critical: 0.05}
"""


async def test_click_over_socket_mode(settings: Settings, clock: FakeClock,
                                      slack: SlackServer) -> None:
    acks: list[dict] = []
    alert_box: list[int] = []
    ready = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "hello", "num_connections": 1}))
        await ready.wait()
        payload = {"type": "block_actions", "user": {"id": "UB", "username": "bob"},
                   "actions": [{"action_id": "lookout_ack", "value": str(alert_box[0])}]}
        await ws.send(json.dumps({"envelope_id": "env-1", "type": "interactive",
                                  "accepts_response_payload": False, "payload": payload}))
        async for message in ws:
            acks.append(json.loads(message))

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        port = ws_server.sockets[0].getsockname()[1]
        slack.socket_url = f"ws://127.0.0.1:{port}/link"
        from lookout.db import create_engine

        alerting = Alerting(settings.replace(slack_app_token="xapp-test"),
                            create_engine(settings.database_url), clock=clock)
        alerting.ruleset.rules = parse_rules(RULE)
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        from lookout.jobs import Jobs

        await alerting.start(Jobs(AsyncIOScheduler()), background_jobs=True)
        try:
            clock.advance(60)
            await add_requests(alerting.store.engine, clock() - 30, "api", 100, 10)
            await alerting.run_tick()
            async with alerting.store.engine.connect() as conn:
                alert_box.append((await conn.execute(select(t.alerts.c.id))).scalar_one())
            ready.set()
            deadline = asyncio.get_running_loop().time() + 10
            while asyncio.get_running_loop().time() < deadline:
                async with alerting.store.engine.connect() as conn:
                    who = (await conn.execute(select(t.alerts.c.acknowledged_by))).scalar_one()
                if who and acks:
                    break
                await asyncio.sleep(0.05)
            assert who == "@bob"
            assert acks and acks[0]["envelope_id"] == "env-1"
            assert slack.by_method("apps.connections.open")
        finally:
            await alerting.stop()
            await alerting.store.engine.dispose()
