"""A batch stored whose answer never reached the SDK is retried and stored once.

The deterministic form of "the instance committed, then died before
answering": a proxy between the real SDK and a real ``lookout serve`` cuts
the connection just as the 202 comes back. The SDK retries the batch with
the same ``X-Lookout-Batch-Id``; the server recognises it and stores nothing.
"""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.support.sdk_load import SdkLoad, stored_counts
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

LOST = 6


def _via(dsn: str, port: int) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}"))


def _metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith((name + " ", name + "{")))


def test_lost_answers_are_retried_and_stored_exactly_once(db_url, server_factory):
    server = server_factory(db_url=db_url)
    proxy = TcpProxy("127.0.0.1", server.port).start()
    try:
        with SdkLoad(_via(server.create_project(), proxy.port), "lost", threads=3) as load:
            load.wait_emitted(300)
            proxy.lose_answers(LOST)
            load.wait_for(lambda: proxy.answers_lost == LOST, "every lost answer")
            load.wait_emitted(300)
            emitted = load.finish()
            exchanges = load.transport.since(0)
    finally:
        proxy.stop()
    assert stored_counts(db_url, "lost") == (emitted, emitted)
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
        duplicates = _metric(resp.read().decode(), "lookout_ingest_duplicate_batches_total")
    # Every lost answer's batch came back and was recognised.
    assert duplicates == LOST, load.transport.statuses()
    # The transport retries a broken kept-alive connection once by itself, so the
    # SDK's worker saw at most LOST failures, all of them connection errors.
    failed = [e for e in exchanges if e.status != 202]
    assert 0 < len(failed) <= LOST, failed
    assert {e.status for e in failed} == {"connection error"}, failed
    # Each failed batch was retried with the same id until it got its 202.
    answered = {e.batch_id for e in exchanges if e.status == 202}
    assert all(e.batch_id in answered for e in failed)
