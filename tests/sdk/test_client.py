"""Capturing hostile app objects: nothing raises, nothing grows without bound."""

import json
import logging
import threading

import lookout_sdk
from lookout_sdk._batch import MAX_RECORD_BYTES

from tests.sdk.conftest import Recorder


class Exploding:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")

    def __str__(self) -> str:
        raise RuntimeError("str exploded")


class ExplodingError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("exception str exploded")


def test_hostile_locals_and_values_are_captured_safely(sdk: Recorder) -> None:
    huge = list(range(1_000_000))  # noqa: F841 - local variable under test
    recursive: dict = {}
    recursive["self"] = recursive
    lock = threading.Lock()  # noqa: F841 - unpicklable
    gen = (i for i in range(3))  # noqa: F841 - unpicklable
    boom = Exploding()  # noqa: F841
    try:
        raise ExplodingError()
    except ExplodingError:
        event_id = lookout_sdk.capture_exception()
    logging.getLogger("app").warning(
        "odd extras", extra={"boom": Exploding(), "recursive": recursive, "huge": "x" * 10**6}
    )
    lookout_sdk.capture_message(Exploding())  # type: ignore[arg-type]
    assert lookout_sdk.flush(5)
    errors = sdk.records("errors")
    assert errors[0]["event_id"] == event_id
    exc = errors[0]["exception"][-1]
    assert exc["type"] == "ExplodingError" and exc["value"] == "ExplodingError()"
    local_vars = exc["frames"][-1]["vars"]
    assert local_vars["boom"] == "<unrepresentable Exploding>"
    assert len(local_vars["huge"]) == 51 and local_vars["lock"].startswith("<unlocked")
    assert len(json.dumps(errors[0])) < MAX_RECORD_BYTES
    assert errors[1]["message"] == "<unrepresentable Exploding>"
    (log,) = sdk.records("logs")
    assert log["attributes"]["boom"] == "<unrepresentable Exploding>"
    assert len(log["attributes"]["huge"]) == 1025
    assert log["attributes"]["recursive"]["self"]["self"]["self"]


def test_context_attributes_are_added_and_bounded(sdk: Recorder) -> None:
    many = {f"k{i}": i for i in range(100)}
    with lookout_sdk.request_context("ctx-attrs", tenant="acme", **many):
        lookout_sdk.capture_message("with context")
    assert lookout_sdk.flush(5)
    (err,) = sdk.records("errors")
    assert err["request_id"] == "ctx-attrs" and err["attributes"]["tenant"] == "acme"
    assert len(err["attributes"]) == 64
