"""The sender against a flaky or hostile collector (a real HTTP peer on loopback)."""

import logging
import time

import lookout_sdk
import pytest
from lookout_sdk import _hub
from lookout_sdk.transport import MockTransport

from tests.sdk.conftest import Peer, Recorder, wait_for


def _init(peer: Peer, **kw) -> None:
    kw.setdefault("flush_interval", 0.05)
    kw.setdefault("timeout", 1.0)
    assert lookout_sdk.init(peer.dsn, service="w", **kw)


def _messages(peer: Peer) -> list[str]:
    return [r["message"] for r in peer.records("errors")]


def test_503_and_429_are_retried_after_retry_after_without_loss_or_duplicates(peer: Peer) -> None:
    peer.script = [(503, {"Retry-After": "1"}), (429, {"Retry-After": "0"})]
    _init(peer)
    start = time.monotonic()
    for i in range(5):
        lookout_sdk.capture_message(f"m{i}")
    assert lookout_sdk.flush(10)
    assert sorted(_messages(peer)) == [f"m{i}" for i in range(5)]
    assert time.monotonic() - start >= 1.0  # waited as told
    assert peer.actions[:3] == [(503, {"Retry-After": "1"}), (429, {"Retry-After": "0"}), 202]
    ids = [r["event_id"] for r in peer.records("errors")]
    assert len(set(ids)) == 5


def test_connection_errors_back_off_and_recover(peer: Peer) -> None:
    peer.script = ["reset", "garbage", "reset"]
    _init(peer)
    lookout_sdk.capture_message("survives")
    assert lookout_sdk.flush(15)
    assert _messages(peer) == ["survives"]
    assert peer.actions[:4] == ["reset", "garbage", "reset", 202]


def test_4xx_is_not_retried(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "lookout_sdk")
    peer.script = [400]
    _init(peer)
    lookout_sdk.capture_message("refused")
    assert lookout_sdk.flush(5)
    lookout_sdk.capture_message("next")
    assert lookout_sdk.flush(5)
    assert peer.actions == [400, 202] and _messages(peer) == ["next"]
    assert "refused a batch of 1 records with 400" in caplog.text


def test_repeated_refusals_warn_once(peer: Peer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "lookout_sdk")
    peer.default = 401
    _init(peer)
    for i in range(3):
        lookout_sdk.capture_message(f"m{i}")
        assert lookout_sdk.flush(5)
    assert peer.actions == [401, 401, 401]
    assert caplog.text.count("refused a batch") == 1


def test_413_splits_the_batch(peer: Peer) -> None:
    peer.script = [413]
    _init(peer, flush_interval=60)
    for i in range(4):
        lookout_sdk.capture_message(f"m{i}")
    assert lookout_sdk.flush(5)
    assert peer.actions == [413, 202, 202]
    assert [len(b["errors"]) for b in peer.bodies] == [2, 2]


def test_batches_by_count() -> None:
    recorder = Recorder()
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        max_batch_records=100,
        flush_interval=60,
        transport=MockTransport(recorder),
    )
    for i in range(250):
        lookout_sdk.capture_message(f"m{i}")
    assert lookout_sdk.flush(5)
    assert [len(b["errors"]) for b in recorder.batches] == [100, 100, 50]
    assert [r["message"] for r in recorder.records("errors")] == [f"m{i}" for i in range(250)]


def test_batches_by_bytes() -> None:
    recorder = Recorder()
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        max_batch_bytes=20_000,
        flush_interval=60,
        transport=MockTransport(recorder),
    )
    for _ in range(10):
        lookout_sdk.capture_message("x" * 5000)
    assert lookout_sdk.flush(5)
    assert len(recorder.batches) >= 3 and len(recorder.records("errors")) == 10


def test_hanging_collector_never_blocks_the_app_and_overflow_is_counted(peer: Peer) -> None:
    peer.script = ["hang"]
    _init(peer, max_queue=50, timeout=1.0)
    worker = _hub.client.worker
    lookout_sdk.capture_message("first")
    wait_for(lambda: peer.actions)  # the sender is now stuck on the hanging peer
    start = time.monotonic()
    for i in range(2000):
        logging.getLogger("app").warning("line %d", i)
    assert time.monotonic() - start < 2.0  # 2000 calls, none waited for the network
    assert worker.queued() <= 50  # bounded
    flush_start = time.monotonic()
    lookout_sdk.flush(0.3)
    assert time.monotonic() - flush_start < 1.5  # flush honours its timeout
    assert lookout_sdk.flush(20)  # the peer now answers; everything kept is delivered
    dropped = {}
    for body in peer.bodies:
        for kind, n in (body.get("dropped") or {}).items():
            dropped[kind] = dropped.get(kind, 0) + n
    logs = peer.records("logs")
    assert len(logs) + dropped["logs"] == 2000
    assert dropped["logs"] >= 1900
    assert [r["message"] for r in logs] == [f"line {i}" for i in range(len(logs))]  # oldest kept
    assert _messages(peer) == ["first"]


def test_transport_exceptions_of_any_type_are_contained() -> None:
    calls = []

    def broken(request):
        calls.append(1)
        if len(calls) == 1:
            raise ZeroDivisionError("custom transport bug")
        return Recorder()(request)

    lookout_sdk.init("http://k@127.0.0.1:9/1", flush_interval=0.05, transport=MockTransport(broken))
    lookout_sdk.capture_message("x")
    assert lookout_sdk.flush(10) and len(calls) == 2


def test_memory_stays_bounded_while_the_collector_is_down() -> None:
    import tracemalloc

    from tests.support.server import free_port

    # Nothing listens on this port: every send is refused and retried with backoff.
    lookout_sdk.init(f"http://k@127.0.0.1:{free_port()}/1", max_queue=1000, flush_interval=0.05)
    log = logging.getLogger("app.mem")
    log.propagate = False  # pytest's own capture handler on root keeps every record
    log.addHandler(logging.NullHandler())
    payload = "x" * 1000
    for i in range(1000):  # fill the queue first
        log.warning("line %d", i, extra={"payload": payload})
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(20_000):  # ~20 MB of records if they were all kept
        log.warning("line %d", i, extra={"payload": payload})
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert _hub.client is not None and _hub.client.worker.queued() <= 1000
    assert grown < 2_000_000, grown


EXIT_WITH_HANGING_COLLECTOR = """
import logging, sys, lookout_sdk
lookout_sdk.init(sys.argv[1], shutdown_timeout=1.0, timeout=30)
logging.getLogger("app").warning("the collector will never answer this")
print("app done", flush=True)
"""


def test_exit_is_not_held_up_by_a_hanging_collector(peer: Peer) -> None:
    import subprocess
    import sys

    peer.default = "hang"
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", EXIT_WITH_HANGING_COLLECTOR, peer.dsn],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - start
    assert out.returncode == 0 and out.stdout == "app done\n", out.stderr
    assert peer.actions == ["hang"]  # the batch was on the wire when the process left
    assert elapsed < 15, elapsed  # bounded by shutdown_timeout, not the 30 s socket timeout


def test_a_batch_keeps_its_id_across_retries_of_every_kind(peer: Peer) -> None:
    """502/504 from a proxy, a reset mid-request, 503: all retried with the same batch id."""
    peer.script = [502, "reset", (504, {}), (503, {"Retry-After": "0"})]
    _init(peer)
    lookout_sdk.capture_message("once")
    assert lookout_sdk.flush(20)
    assert peer.actions[:5] == [502, "reset", (504, {}), (503, {"Retry-After": "0"}), 202]
    ids = peer.batch_ids[:5]
    assert len(set(ids)) == 1 and len(ids[0] or "") == 32
    lookout_sdk.capture_message("next")
    assert lookout_sdk.flush(5)
    assert peer.batch_ids[5] not in (None, ids[0])  # a new batch, a new id
    assert _messages(peer) == ["once", "next"]


def test_the_halves_of_a_split_batch_get_new_ids(peer: Peer) -> None:
    peer.script = [413]
    _init(peer, flush_interval=60)
    for i in range(4):
        lookout_sdk.capture_message(f"m{i}")
    assert lookout_sdk.flush(10)
    assert peer.actions[:3] == [413, 202, 202]
    assert len(set(peer.batch_ids[:3])) == 3
