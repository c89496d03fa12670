import logging
import subprocess
import sys
import threading

import lookout_sdk
import pytest
from lookout_sdk import _hub
from lookout_sdk._logging import _original_call_handlers
from lookout_sdk.transport import MockTransport

from tests.sdk.conftest import Recorder


def test_no_dsn_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOKOUT_DSN", raising=False)
    assert lookout_sdk.init() is False and not lookout_sdk.is_enabled()
    assert lookout_sdk.capture_message("x") is None
    assert lookout_sdk.capture_exception(ValueError()) is None
    lookout_sdk.metrics.increment("x")
    assert lookout_sdk.flush(0.1) is True
    assert logging.Logger.callHandlers is _original_call_handlers


def test_dsn_from_environment(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    monkeypatch.setenv("LOOKOUT_DSN", "http://envkey@127.0.0.1:9/3")
    monkeypatch.setenv("LOOKOUT_SERVICE", "from-env")
    assert lookout_sdk.init(transport=MockTransport(recorder), flush_interval=0.05)
    lookout_sdk.capture_message("hi")
    assert lookout_sdk.flush(5)
    req = recorder.requests[0]
    assert req.url == "http://127.0.0.1:9/api/3/ingest"
    assert req.headers["X-Lookout-Key"] == "envkey" and req.headers["Content-Encoding"] == "gzip"
    assert recorder.batches[0]["resource"]["service"] == "from-env"


def test_broken_dsn_and_bad_options_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "lookout_sdk")
    assert lookout_sdk.init("not a dsn") is False
    assert "bad DSN" in caplog.text
    assert (
        lookout_sdk.init(
            "http://k@127.0.0.1:9/1",
            sample_rate="lots",
            max_queue=-5,
            before_send=42,
            scrub_keys=17,
            transport=object(),
            nonsense=1,
            service=123,
        )
        is True
    )
    assert "sample_rate" in caplog.text and "unknown option 'nonsense'" in caplog.text
    opts = _hub.client.options
    assert opts.sample_rate == 1.0 and opts.max_queue == 10_000 and opts.before_send is None


def test_reinit_replaces_client_and_flushes_the_old_one(root_state_guard) -> None:
    first, second = Recorder(), Recorder()
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1", service="one", flush_interval=60, transport=MockTransport(first)
    )
    lookout_sdk.capture_message("to first")
    lookout_sdk.init(
        "http://k@127.0.0.1:9/2", service="two", flush_interval=60, transport=MockTransport(second)
    )
    lookout_sdk.capture_message("to second")
    assert lookout_sdk.flush(5)
    assert [r["message"] for r in first.records("errors")] == ["to first"]
    assert [r["message"] for r in second.records("errors")] == ["to second"]
    senders = [t for t in threading.enumerate() if t.name == "lookout-sdk-sender"]
    assert len(senders) == 1


@pytest.fixture
def root_state_guard():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


def test_before_send_can_edit_drop_and_fail_safely(recorder: Recorder) -> None:
    def hook(record: dict, kind: str) -> dict | None:
        if record.get("message") == "drop me":
            return None
        if record.get("message") == "explode":
            raise RuntimeError("hook bug")
        if record.get("message") == "weird":
            return "not a record"  # type: ignore[return-value]
        record.setdefault("attributes", {})["seen_by"] = kind
        return record

    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        before_send=hook,
        flush_interval=0.05,
        transport=MockTransport(recorder),
    )
    for text in ("keep", "drop me", "explode", "weird"):
        lookout_sdk.capture_message(text)
    assert lookout_sdk.flush(5)
    (rec,) = recorder.records("errors")
    assert rec["message"] == "keep" and rec["attributes"] == {"seen_by": "errors"}


def test_capture_exception_outside_except_and_with_non_exception(sdk: Recorder) -> None:
    assert lookout_sdk.capture_exception() is None
    assert lookout_sdk.capture_exception("nope") is None  # type: ignore[arg-type]
    event_id = lookout_sdk.capture_exception(ValueError("never raised"))
    assert event_id and len(event_id) == 32
    assert lookout_sdk.flush(5)
    (err,) = sdk.records("errors")
    assert err["event_id"] == event_id and err["exception"][0]["frames"] == []


UNHANDLED_SCRIPT = r"""
import threading, lookout_sdk, json, gzip
from lookout_sdk.transport import MockTransport, Response
def handler(req):
    for e in json.loads(gzip.decompress(req.body)).get("errors", []):
        m = e["exception"][-1]["mechanism"]
        print("GOT", e["exception"][-1]["value"], m["type"], m["handled"], e["level"], flush=True)
    return Response(202)
lookout_sdk.init("http://k@127.0.0.1:9/1", transport=MockTransport(handler))
t = threading.Thread(target=lambda: 1 / 0)
t.start(); t.join()
raise RuntimeError("main thread died")
"""


def test_unhandled_exceptions_in_main_thread_and_threads_are_sent_at_exit() -> None:
    out = subprocess.run(
        [sys.executable, "-c", UNHANDLED_SCRIPT], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 1
    assert "GOT division by zero threading False error" in out.stdout
    assert "GOT main thread died excepthook False fatal" in out.stdout
    assert "RuntimeError: main thread died" in out.stderr  # the previous hook still ran
