import gzip
import json
import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from lookout_sdk._batch import (
    MAX_RECORD_BYTES,
    Batch,
    backoff_delay,
    build_body,
    compress,
    encode_record,
    is_retryable,
    parse_retry_after,
)


def test_body_groups_kinds_and_carries_resource_and_drops() -> None:
    batch = Batch(
        [
            ("logs", encode_record({"message": "a"})),
            ("errors", encode_record({"message": "e"})),
            ("logs", encode_record({"message": "b"})),
        ],
        {"logs": 3},
    )
    body = json.loads(gzip.decompress(compress(build_body(batch, {"service": "s"}))))
    assert body == {
        "resource": {"service": "s"},
        "logs": [{"message": "a"}, {"message": "b"}],
        "errors": [{"message": "e"}],
        "dropped": {"logs": 3},
    }


def test_unencodable_values_are_normalised_not_fatal() -> None:
    data = encode_record({"message": "m", "attributes": {"x": math.nan, "o": object()}})
    assert data is not None
    decoded = json.loads(data)
    assert decoded["attributes"]["x"] == "nan" and decoded["attributes"]["o"].startswith("<object")


def test_oversized_error_loses_vars_then_fits() -> None:
    frames = [
        {"function": f"f{i}", "vars": {f"v{j}": "x" * 1000 for j in range(50)}} for i in range(30)
    ]
    data = encode_record({"exception": [{"type": "E", "frames": frames}]})
    assert data is not None and len(data) <= MAX_RECORD_BYTES
    assert "vars" not in json.loads(data)["exception"][0]["frames"][0]


def test_oversized_log_is_dropped() -> None:
    assert encode_record({"message": "x" * (MAX_RECORD_BYTES + 10)}) is None


def test_split_keeps_drop_counts_once() -> None:
    a, b = Batch([("logs", b"1"), ("logs", b"2"), ("logs", b"3")], {"logs": 1}).split()
    assert [len(a.items), len(b.items)] == [1, 2] and a.dropped == {"logs": 1} and b.dropped == {}


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("99999") == 300.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert (
        parse_retry_after(
            format_datetime(now + timedelta(seconds=20), usegmt=True), now=now.timestamp()
        )
        == 20.0
    )


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(n, base=0.5, cap=10, rng=rng) for n in range(1, 10)]
    assert 0.25 <= delays[0] <= 0.5 and 0.5 <= delays[1] <= 1.0 and 1.0 <= delays[2] <= 2.0
    assert all(5.0 <= d <= 10.0 for d in delays[5:])
    assert len({round(d, 6) for d in delays}) == len(delays)


def test_which_statuses_retry() -> None:
    assert all(is_retryable(s) for s in (429, 503, 500, 502, 504, 408))
    assert not any(is_retryable(s) for s in (400, 401, 403, 404, 413, 415))
