import logging
import logging.config

import lookout_sdk
import pytest
from lookout_sdk._logging import handler, install

from tests.sdk.conftest import Recorder


@pytest.fixture
def root_state():
    """Restore the root logger's level and handlers after a test changes them."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield root
    root.setLevel(level)
    root.handlers[:] = handlers


def test_info_with_extra_becomes_a_log_with_attributes(sdk: Recorder, root_state) -> None:
    class Order:
        def __repr__(self) -> str:
            return "<Order 42>"

    with lookout_sdk.request_context("req-log"):
        logging.getLogger("app.orders").info(
            "order %s placed", 42, extra={"order_id": 42, "obj": Order(), "api_key": "k"}
        )
    logging.getLogger("app").debug("not captured at INFO")
    assert lookout_sdk.flush(5)
    (rec,) = sdk.records("logs")
    assert rec["message"] == "order 42 placed" and rec["level"] == "info"
    assert rec["logger"] == "app.orders" and rec["request_id"] == "req-log"
    assert rec["attributes"] == {"order_id": 42, "obj": "<Order 42>", "api_key": "[redacted]"}
    assert sdk.batches[0]["resource"]["service"] == "svc"


def test_exc_info_becomes_an_error_with_stack(sdk: Recorder, root_state) -> None:
    try:
        1 / 0  # noqa: B018 - raises on purpose
    except ZeroDivisionError:
        logging.getLogger("app").exception("payment failed", extra={"order": 7})
    assert lookout_sdk.flush(5)
    (err,) = sdk.records("errors")
    assert err["message"] == "payment failed" and err["level"] == "error"
    assert err["logger"] == "app" and err["attributes"] == {"order": 7}
    assert err["exception"][-1]["type"] == "ZeroDivisionError"
    assert err["exception"][-1]["mechanism"] == {"type": "logging", "handled": True}
    assert (
        err["exception"][-1]["frames"][-1]["function"]
        == "test_exc_info_becomes_an_error_with_stack"
    )
    assert len(err["event_id"]) == 32
    assert [r["message"] for r in sdk.records("logs")] == ["payment failed"]


def test_root_level_lowered_without_changing_existing_output(
    root_state, recorder: Recorder
) -> None:
    root = root_state
    root.setLevel(logging.WARNING)
    other = logging.StreamHandler()
    root.addHandler(other)
    install(logging.INFO)
    assert root.level == logging.INFO and handler.level == logging.INFO
    assert other.level == logging.WARNING  # the app's handler prints what it printed before


def test_capture_survives_logging_reconfiguration(sdk: Recorder, root_state) -> None:
    logging.config.dictConfig(
        {"version": 1, "disable_existing_loggers": False, "root": {"level": "INFO", "handlers": []}}
    )
    logging.getLogger("app").info("after dictConfig")
    assert lookout_sdk.flush(5)
    assert [r["message"] for r in sdk.records("logs")] == ["after dictConfig"]


def test_records_are_captured_once_and_not_after_close(sdk: Recorder, root_state) -> None:
    child = logging.getLogger("app.child")
    child.warning("once")
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        flush_interval=0.05,
        transport=lookout_sdk.transport.MockTransport(sdk),
    )  # re-init: no double patch
    child.warning("still once")
    assert lookout_sdk.flush(5)
    lookout_sdk.close()
    child.warning("after close")
    assert [r["message"] for r in sdk.records("logs")] == ["once", "still once"]


def test_sdk_own_logger_and_reentrant_logging_are_not_captured(sdk: Recorder, root_state) -> None:
    class Chatty:
        def __repr__(self) -> str:
            logging.getLogger("app").warning("repr called")  # logging while being captured
            return "<Chatty>"

    logging.getLogger("lookout_sdk").warning("internal")
    logging.getLogger("app").warning("outer", extra={"c": Chatty()})
    assert lookout_sdk.flush(5)
    assert [r["message"] for r in sdk.records("logs")] == ["outer"]


def test_unformattable_message_and_huge_message(sdk: Recorder, root_state) -> None:
    # A logger of its own: pytest's capture handler on root would raise on the bad format.
    logger = logging.getLogger("isolated.fmt")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    logger.warning("%d items", "not a number")
    logger.warning("x" * 100_000)
    assert lookout_sdk.flush(5)
    first, second = sdk.records("logs")
    assert first["message"].startswith("%d items (unformattable args")
    assert len(second["message"]) == 16_385


def test_sample_rate_applies_to_logs_not_errors(recorder: Recorder, root_state) -> None:
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        sample_rate=0.0,
        flush_interval=0.05,
        transport=lookout_sdk.transport.MockTransport(recorder),
    )
    logging.getLogger("app").warning("dropped by sampling")
    try:
        raise KeyError("x")
    except KeyError:
        logging.getLogger("app").error("kept", exc_info=True)  # noqa: G201 - the path under test
    assert lookout_sdk.flush(5)
    assert recorder.records("logs") == [] and len(recorder.records("errors")) == 1


def test_level_option(recorder: Recorder, root_state) -> None:
    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        level="WARNING",
        flush_interval=0.05,
        transport=lookout_sdk.transport.MockTransport(recorder),
    )
    logging.getLogger("app").info("below")
    logging.getLogger("app").warning("at")
    assert lookout_sdk.flush(5)
    assert [r["message"] for r in recorder.records("logs")] == ["at"]


def test_logging_from_before_send_on_the_sender_thread_is_not_captured(
    recorder: Recorder, root_state
) -> None:
    def chatty_hook(record: dict, kind: str) -> dict:
        logging.getLogger("app.hook").warning("hook saw a record")
        return record

    lookout_sdk.init(
        "http://k@127.0.0.1:9/1",
        before_send=chatty_hook,
        flush_interval=0.05,
        transport=lookout_sdk.transport.MockTransport(recorder),
    )
    logging.getLogger("app").warning("one")
    assert lookout_sdk.flush(5)
    assert lookout_sdk.flush(1)
    assert [r["message"] for r in recorder.records("logs")] == ["one"]
