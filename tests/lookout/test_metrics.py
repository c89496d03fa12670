"""lookout.metrics: client-supplied values never become label values; /metrics renders off-loop."""

from __future__ import annotations

import asyncio
import http.client
import json
import statistics
import threading
import time
from urllib.parse import urlsplit

from lookout import metrics
from tests.support.server import LookoutServer


def _series(server: LookoutServer) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        assert resp.status == 200
        text = resp.read().decode()
    finally:
        conn.close()
    # The storage job's gauges (one set per table, appearing a few seconds after start)
    # are a fixed set, not client-fed: left out so they cannot blur the counts below.
    return [line for line in text.splitlines() if line and not line.startswith("#")
            and not line.startswith("lookout_storage_")]


def _ingest_seconds(conn: http.client.HTTPConnection, path: str, key: str, body: dict) -> float:
    start = time.perf_counter()
    conn.request("POST", path, json.dumps(body),
                 {"X-Lookout-Key": key, "Content-Type": "application/json"})
    resp = conn.getresponse()
    answer = resp.read()
    assert resp.status == 202, answer
    return time.perf_counter() - start


def test_dropped_keys_from_clients_never_become_label_values(server_factory):
    server = server_factory()
    dsn = urlsplit(server.create_project())
    key, path = dsn.username or "", f"/api/{dsn.path.strip('/')}/ingest"
    before = len(_series(server))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    # 1,000 requests, 200 made-up kinds each: 200,000 distinct keys (the old code made
    # a series of each, kept until restart and walked on every scrape).
    for n in range(1000):
        dropped = {f"kind-{n}-{i}": 1 for i in range(200)}
        dropped["logs"] = 2
        _ingest_seconds(conn, path, key, {"logs": [{"message": f"m{n}"}], "dropped": dropped})
    conn.close()

    series = _series(server)
    assert len(series) - before <= 20, f"{len(series) - before} new series"
    dropped_lines = sorted(s for s in series if s.startswith("lookout_sdk_dropped_records_total"))
    assert dropped_lines == ['lookout_sdk_dropped_records_total{kind="logs"} 2000.0',
                             'lookout_sdk_dropped_records_total{kind="other"} 200000.0']


def test_ingest_is_not_held_up_while_metrics_are_scraped(server_factory):
    server = server_factory()
    dsn = urlsplit(server.create_project())
    key, path = dsn.username or "", f"/api/{dsn.path.strip('/')}/ingest"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    for n in range(1000):  # what an attacker sends, then scrapes keep walking it
        _ingest_seconds(conn, path, key, {"logs": [{"message": "x"}],
                                          "dropped": {f"k{n}-{i}": 1 for i in range(200)}})
    conn.close()
    body = {"logs": [{"message": "well-behaved"}]}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    quiet = [_ingest_seconds(conn, path, key, body) for _ in range(50)]
    conn.close()

    stop = threading.Event()
    scrapes = 0

    def scrape() -> None:
        nonlocal scrapes
        while not stop.is_set():
            _series(server)
            scrapes += 1

    scrapers = [threading.Thread(target=scrape) for _ in range(4)]
    for t in scrapers:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while scrapes < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        scraped = [_ingest_seconds(conn, path, key, body) for _ in range(100)]
    finally:
        stop.set()
        for t in scrapers:
            t.join(60)
        conn.close()
    assert scrapes >= 1
    # Rendering on the loop stalled each of these for the whole render (seconds).
    assert max(scraped) < 1.0, f"slowest ingest {max(scraped):.3f} s while scraping"
    assert statistics.median(scraped) < max(0.1, 5 * statistics.median(quiet))


async def test_render_runs_on_a_worker_thread_and_concurrent_scrapes_share_it(monkeypatch):
    loop_thread = threading.get_ident()
    calls: list[int] = []
    release = threading.Event()

    def slow_render() -> bytes:
        calls.append(threading.get_ident())
        release.wait(10)
        return b"rendered"

    monkeypatch.setattr(metrics, "render", slow_render)
    scrapes = [asyncio.ensure_future(metrics.render_off_loop()) for _ in range(5)]
    heartbeat = 0
    deadline = time.monotonic() + 10
    while not calls and time.monotonic() < deadline:
        await asyncio.sleep(0.001)  # the loop keeps running while a render is under way
        heartbeat += 1
    await asyncio.sleep(0.01)
    assert heartbeat >= 1
    release.set()
    assert await asyncio.gather(*scrapes) == [b"rendered"] * 5
    assert len(calls) == 1 and calls[0] != loop_thread
    assert await metrics.render_off_loop() == b"rendered" and len(calls) == 2
