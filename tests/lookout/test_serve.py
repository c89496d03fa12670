"""``lookout serve`` as a real subprocess: start-up, graceful SIGTERM under load."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from urllib.parse import urlsplit

from sqlalchemy import select

from collector import tables
from lookout.db import create_engine


def _post(host: str, port: int, project_id: str, key: str, body: dict) -> int:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", f"/api/{project_id}/ingest", json.dumps(body),
                     {"X-Lookout-Key": key, "Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


async def test_sigterm_under_load_keeps_every_acknowledged_record(server_factory, db_url):
    # (async only for the db_url fixture; the load runs in threads against a subprocess)
    server = server_factory(db_url=db_url)
    dsn = urlsplit(server.create_project())
    key, project_id = dsn.username, dsn.path.strip("/")
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            tags = [f"w{worker}-{n}-{i}" for i in range(100)]
            try:
                status = _post("127.0.0.1", server.port, project_id, key,
                               {"logs": [{"message": t} for t in tags]})
            except OSError:
                return  # the server is gone: stop sending
            if status == 202:
                with lock:
                    acked.update(tags)

    workers = [threading.Thread(target=load, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 30
    while len(acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.01)  # noqa: ASYNC251 - nothing else runs on this loop
    server.signal(signal.SIGTERM)
    assert server.wait(60) == 0, server.log()
    stop.set()
    for w in workers:
        w.join(30)
    assert len(acked) >= 2000

    restarted = server_factory(db_url=db_url, workdir=server.workdir)
    assert restarted.url.startswith("http://")
    engine = create_engine(db_url)
    async with engine.connect() as conn:
        stored = set((await conn.execute(select(tables.logs.c.message))).scalars())
    await engine.dispose()
    missing = acked - stored
    assert not missing, f"{len(missing)} acknowledged records lost"


async def test_serve_on_empty_directory_just_works(server_factory, tmp_path):
    server = server_factory(workdir=tmp_path / "fresh")
    assert (tmp_path / "fresh" / "lookout.db").exists()
    assert "lookout project create" in server.log()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/metrics")
    resp = conn.getresponse()
    assert resp.status == 200
    assert b"lookout_write_queue_records" in resp.read()


def test_start_banner_names_the_database_file_and_hints_only_while_needed(tmp_path):
    from tests.support.server import start_server

    env = {"LOOKOUT_SLACK_BOT_TOKEN": "xoxb-test"}
    first = start_server(tmp_path, env=env)
    try:
        log = first.log()
        assert f"database: {tmp_path / 'lookout.db'}" in log, log
        assert "lookout project create NAME" in log and "lookout user create EMAIL" in log
        assert "LOOKOUT_SLACK_BOT_TOKEN is set without LOOKOUT_SLACK_CHANNEL" in log
        assert "without LOOKOUT_SLACK_SIGNING_SECRET" in log
        first.create_project()
        assert first.cli("user", "create", "a@example.com", "--password-stdin",
                         stdin="correct horse\n").returncode == 0
    finally:
        first.stop()
    second = start_server(tmp_path, env={**env, "LOOKOUT_SLACK_CHANNEL": "#alerts",
                                         "LOOKOUT_SLACK_SIGNING_SECRET": "s"})
    try:
        log = second.log()
        assert "Lookout is running at" in log, log
        assert "lookout project create NAME" not in log and "lookout user create" not in log
        assert "LOOKOUT_SLACK_" not in log
    finally:
        second.stop()
