import lookout_sdk
import structlog

from tests.sdk.conftest import Recorder


def _logger(sink: list) -> structlog.typing.FilteringBoundLogger:
    return structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[
            structlog.processors.add_log_level,
            lookout_sdk.structlog_processor,
            lambda _, __, ev: sink.append(ev) or ev,
        ],
    )


def test_events_become_logs_and_exceptions_errors(sdk: Recorder) -> None:
    sink: list = []
    log = _logger(sink).bind(order_id=42, password="hunter2")
    with lookout_sdk.request_context("sl-1"):
        log.info("order placed", plan="pro")
        try:
            raise ValueError("card declined")
        except ValueError:
            log.exception("payment failed")
    log.debug("below the capture level")
    assert lookout_sdk.flush(5)
    logs = sdk.records("logs")
    assert [(r["message"], r["level"], r["request_id"]) for r in logs] == [
        ("order placed", "info", "sl-1"),
        ("payment failed", "error", "sl-1"),
    ]
    assert logs[0]["attributes"] == {"order_id": 42, "password": "[redacted]", "plan": "pro"}
    (err,) = sdk.records("errors")
    assert err["exception"][-1]["value"] == "card declined" and err["request_id"] == "sl-1"
    assert err["exception"][-1]["mechanism"]["type"] == "structlog"
    assert len(sink) == 3 and sink[0]["event"] == "order placed"  # chain continues unchanged


def test_processor_is_harmless_when_disabled() -> None:
    event = {"event": "x"}
    assert lookout_sdk.structlog_processor(None, "info", event) is event
