"""End to end: the real ``sentry-sdk`` on a device whose clock is wrong, against ``lookout
serve`` (SQLite and PostgreSQL). The app's ``time.time``/``datetime.now`` are shifted
(``tests/support/sentry_app.py``), so the SDK stamps events and ``sent_at`` with the wrong
clock, exactly as on such a device; its custom tags are counted on the issue.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from collector.retention import purge_older_than
from lookout.db import create_engine
from tests.support.sentry_app import run_app

pytestmark = pytest.mark.e2e

Y2001 = 1_000_000_000.0

APP = """
sentry_sdk.set_tag("plan", PLAN)


def checkout(order_id):
    raise ValueError(f"order {order_id} is invalid")


with sentry_sdk.new_scope() as scope:
    if STAMP:  # a client that stamps its own (wrong) time on the event
        scope.add_event_processor(lambda event, hint: {**event, "timestamp": STAMP})
    try:
        checkout(17)
    except ValueError:
        sentry_sdk.capture_exception()
sentry_sdk.flush(timeout=10)
print("flushed", flush=True)
"""


def _app(plan: str, stamp: str = "") -> str:
    return f"PLAN = {plan!r}\nSTAMP = {stamp!r}\n" + APP


def _retention(db_url: str, cutoff: float) -> dict[str, int]:
    async def run() -> dict[str, int]:
        engine = create_engine(db_url)
        try:
            return await purge_older_than(engine, cutoff)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_wrong_device_clocks_with_the_real_sdk(server_factory, db_url, tmp_path):
    server = server_factory(db_url=db_url)
    dsn = server.create_project("phone")
    api = httpx.Client(base_url=server.url,
                       headers={"Authorization": f"Bearer {server.create_token()}"})
    started = time.time()

    def issue() -> dict:
        (item,) = api.get("/api/v1/issues", params={"status": "all"}).json()["items"]
        return api.get(f"/api/v1/issues/{item['id']}").json()

    assert "flushed" in run_app(tmp_path / "good", dsn, _app("pro")).stdout
    first = issue()
    assert first["count"] == 1 and "_meta" not in first["latest_event"]["extra"]
    assert api.post(f"/api/v1/issues/{first['id']}/resolve").json()["status"] == "resolved"

    # A phone three hours slow: its new event reopens the resolved issue.
    run_app(tmp_path / "slow", dsn, _app("free"), clock_offset=-3 * 3600)
    slow = issue()
    assert slow["status"] == "unresolved" and slow["regression"] is True
    event = slow["latest_event"]
    assert event["ts"] == pytest.approx(time.time(), abs=60)
    fixed = event["extra"]["_meta"]["timestamp"]
    assert fixed["error"] == "clock_drift" and fixed["reason"].endswith("by +3h")

    # A device whose clock says 2001 (events and sent_at): corrected by the drift.
    run_app(tmp_path / "y2001", dsn, _app("pro"), clock_offset=Y2001 - time.time())
    # A client with a right clock stamping its event 2001: set to its arrival time.
    run_app(tmp_path / "stamp", dsn, _app("pro", "2001-09-09T01:46:40Z"))
    now = issue()
    assert now["count"] == 4
    assert now["first_seen"] >= started - 1  # not 2001
    events = api.get(f"/api/v1/issues/{now['id']}/events").json()["items"]
    errors = sorted(e["extra"].get("_meta", {}).get("timestamp", {}).get("error", "")
                    for e in events)
    assert errors == ["", "clock_drift", "clock_drift", "past_timestamp"]
    originals = [e["extra"]["_meta"]["timestamp"]["original"] for e in events
                 if "_meta" in e["extra"]]
    assert sum(o.startswith("2001-09-09") for o in originals) == 2

    # The next retention run (30 days) keeps all of them.
    deleted = _retention(db_url, time.time() - 30 * 86400)
    assert deleted["errors"] == 0
    assert len(api.get(f"/api/v1/issues/{now['id']}/events").json()["items"]) == 4

    # set_tag("plan", ...) is counted on the issue, with the API's stats.
    plan = {v["value"]: v["count"] for v in now["tags"]["plan"]}
    assert plan == {"pro": 3, "free": 1}
    assert now["tag_stats"]["plan"] == {"total": 4, "values": 2, "other": 0}
