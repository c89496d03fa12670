"""End to end: the real SDK against a real ``lookout serve`` subprocess.

What arrived is checked through the read API (``/api/v1/requests/{id}``,
``/api/v1/logs``) and the server's own ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import lookout_sdk
import pytest
from litestar import Litestar, get
from litestar.params import FromPath
from litestar.testing import TestClient

from tests.sdk.conftest import wait_for
from tests.support.server import LookoutServer, free_port, start_server

pytestmark = pytest.mark.e2e


def api(server: LookoutServer, token: str, path: str) -> Any:
    req = urllib.request.Request(server.url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def prom(server: LookoutServer, name: str, **labels: str) -> float:
    """A sample's value from the server's /metrics (0 when absent)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and ",".join(sorted(m.group(1).split(","))) == want:
            return float(m.group(2))
    return 0.0


def logs_matching(server: LookoutServer, token: str, q: str) -> list[dict[str, Any]]:
    return api(server, token, "/api/v1/logs?limit=1000&q=" + urllib.parse.quote(q))["items"]


@pytest.fixture
def root_info():
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


@get("/checkout/{cart_id:str}")
async def checkout(cart_id: FromPath[str]) -> dict:
    logging.getLogger("shop").info("checking out", extra={"cart": cart_id})
    lookout_sdk.metrics.increment("checkout.started", tags={"plan": "pro"})
    lookout_sdk.metrics.timing("checkout.db_ms", 12.5)
    try:
        raise LookupError("cart is empty")
    except LookupError:
        lookout_sdk.capture_exception()
    return {"ok": True}


def test_everything_arrives_with_request_id_and_service(
    server_factory, db_url: str, root_info
) -> None:
    server = server_factory(db_url=db_url)
    dsn, token = server.create_project("shop"), server.create_token()
    assert lookout_sdk.init(dsn, service="checkout", environment="prod", release="1.4.2")
    app = lookout_sdk.asgi.LookoutMiddleware(Litestar([checkout]))
    with TestClient(app) as client:
        resp = client.get("/checkout/c-9", headers={"X-Request-ID": "e2e-req-1"})
    assert resp.headers["x-request-id"] == "e2e-req-1"
    lookout_sdk.metrics.gauge("queue.depth", 17)
    assert lookout_sdk.flush(15)

    timeline = api(server, token, "/api/v1/requests/e2e-req-1")
    kinds = {item["kind"]: item for item in timeline["items"]}
    assert set(kinds) == {"request", "log", "error"}
    assert all(
        i["service"] == "checkout" and i["environment"] == "prod" and i["release"] == "1.4.2"
        for i in timeline["items"]
    )
    req = kinds["request"]
    assert (req["method"], req["route"], req["status"]) == ("GET", "/checkout/{cart_id}", 200)
    assert kinds["log"]["message"] == "checking out" and kinds["log"]["attributes"] == {
        "cart": "c-9"
    }
    exc = kinds["error"]["exception"][-1]
    assert exc["type"] == "LookupError" and exc["frames"][-1]["function"] == "checkout"
    assert kinds["error"]["handled"] is True
    assert (
        prom(server, "lookout_ingest_records_accepted_total", kind="metric", protocol="lookout")
        == 3
    )
    metrics = {row["name"]: row for row in asyncio.run(metric_rows(db_url))}
    assert set(metrics) == {"checkout.started", "checkout.db_ms", "queue.depth"}
    assert all(row["service"] == "checkout" for row in metrics.values())
    started = metrics["checkout.started"]
    assert (started["kind"], started["value"], json.loads(started["tags"])) == (
        "counter",
        1.0,
        {"plan": "pro"},
    )
    timing = metrics["checkout.db_ms"]
    assert (timing["kind"], timing["count"], timing["sum"]) == ("histogram", 1, 12.5)
    assert metrics["queue.depth"]["value"] == 17


async def metric_rows(db_url: str) -> list[dict[str, Any]]:
    """The stored metric points (there is no read API for raw metrics)."""
    from sqlalchemy import select

    from collector.tables import metric_points
    from lookout.db import create_engine

    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(select(metric_points))]
    finally:
        await engine.dispose()


class _CountingHandler(logging.Handler):
    """Counts the SDK's log records that contain ``words``."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.DEBUG)
        self.words = words
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.count += 1


def test_collector_down_at_first_then_started_loses_nothing(tmp_path: Path, root_info) -> None:
    port = free_port()
    first = start_server(tmp_path, port=port)
    dsn, token = first.create_project("late"), first.create_token()
    first.stop()
    assert lookout_sdk.init(dsn, service="late-svc", flush_interval=0.2)
    log = logging.getLogger("late")
    for i in range(300):
        log.info("line %03d before the collector is up", i)
    with lookout_sdk.request_context("late-req"):
        lookout_sdk.capture_message("message before the collector is up")
    # The scenario: the collector comes up only after the SDK has failed to reach it
    # and backed off several times (observed, not guessed with a sleep).
    failed = _CountingHandler("cannot reach the collector")
    sdk_log = logging.getLogger("lookout_sdk")
    level = sdk_log.level
    sdk_log.addHandler(failed)
    sdk_log.setLevel(logging.DEBUG)
    try:
        wait_for(lambda: failed.count >= 3, timeout=30)
    finally:
        sdk_log.removeHandler(failed)
        sdk_log.setLevel(level)
    server = start_server(tmp_path, port=port)
    try:
        assert lookout_sdk.flush(30)
        items = logs_matching(server, token, "before the collector is up")
        assert sorted(i["message"] for i in items) == [
            f"line {i:03d} before the collector is up" for i in range(300)
        ]
        timeline = api(server, token, "/api/v1/requests/late-req")
        assert [i["message"] for i in timeline["items"]] == ["message before the collector is up"]
    finally:
        lookout_sdk.close(1)
        server.stop()


def test_queue_overflow_drops_newest_and_reports_counts(server_factory, root_info) -> None:
    server = server_factory()
    dsn, token = server.create_project("flood"), server.create_token()
    # The sender wakes on a full batch or a tick; neither happens during the loop.
    assert lookout_sdk.init(dsn, max_queue=50, flush_interval=60, max_batch_records=1000)
    for i in range(500):
        logging.getLogger("flood").warning("flood %03d", i)
    assert lookout_sdk.flush(15)
    items = logs_matching(server, token, "flood")
    assert sorted(i["message"] for i in items) == [f"flood {i:03d}" for i in range(50)]
    wait_for(lambda: prom(server, "lookout_sdk_dropped_records_total", kind="logs") == 450)


SCRIPT_EXIT = """
import logging, lookout_sdk, sys
lookout_sdk.init(sys.argv[1], service="exiting", flush_interval=60)
logging.getLogger("job").warning("exit-flush log line")
lookout_sdk.metrics.increment("job.done")
with lookout_sdk.request_context("exit-req"):
    lookout_sdk.capture_message("exit-flush message")
# no explicit flush: the atexit hook must deliver everything
"""

SCRIPT_FORK = """
import logging, os, lookout_sdk, sys
lookout_sdk.init(sys.argv[1], service="forking", flush_interval=60)
log = logging.getLogger("forky")
log.warning("fork-test parent before fork")
pid = os.fork()
if pid == 0:
    log.warning("fork-test child %d", os.getpid())
    ok = lookout_sdk.flush(10)
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
log.warning("fork-test parent after child exited with %d", os.waitstatus_to_exitcode(status))
assert lookout_sdk.flush(10)
"""


def _run(script: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOKOUT_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), dsn],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_process_exit_flushes(server_factory) -> None:
    server = server_factory()
    dsn, token = server.create_project("exit"), server.create_token()
    out = _run(SCRIPT_EXIT, dsn)
    assert out.returncode == 0, out.stderr
    assert [i["message"] for i in logs_matching(server, token, "exit-flush")] == [
        "exit-flush log line"
    ]
    timeline = api(server, token, "/api/v1/requests/exit-req")
    assert [(i["kind"], i["message"], i["service"]) for i in timeline["items"]] == [
        ("error", "exit-flush message", "exiting")
    ]
    assert (
        prom(server, "lookout_ingest_records_accepted_total", kind="metric", protocol="lookout")
        == 1
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_gets_a_fresh_worker_and_nothing_is_sent_twice(server_factory) -> None:
    server = server_factory()
    dsn, token = server.create_project("fork"), server.create_token()
    out = _run(SCRIPT_FORK, dsn)
    assert out.returncode == 0, out.stderr
    messages = sorted(i["message"] for i in logs_matching(server, token, "fork-test"))
    assert len(messages) == 3, messages
    assert messages[0].startswith("fork-test child ")
    assert messages[1:] == [
        "fork-test parent after child exited with 0",
        "fork-test parent before fork",
    ]
