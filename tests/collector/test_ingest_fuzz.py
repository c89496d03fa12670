"""Property tests for decoding a Lookout SDK batch: any body gives rows or a BatchError,
and every row is storable (finite numbers in range, bounded strings)."""

from __future__ import annotations

import math

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from collector import normalize as n
from collector.ingest import BatchError, decode_batch

NOW = 1_800_000_000.0
LIMITS = n.Limits()
numbers = (st.integers(-(10**30), 10**30) | st.floats() | st.sampled_from([10**400, -1, 0])
           | st.floats(allow_nan=False).map(lambda f: f * 1e300))
scalars = st.none() | st.booleans() | numbers | st.text(max_size=30)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
FIELDS = ["ts", "message", "level", "service", "request_id", "attributes", "exception", "name",
          "kind", "value", "count", "sum", "min", "max", "buckets", "tags", "method", "route",
          "status", "duration_ms", "event_id", "fingerprint", "frames", "type"]
records = st.dictionaries(st.sampled_from(FIELDS), values | st.sampled_from(
    ["info", "error", "counter", "gauge", "histogram", "GET", "r-1"]), max_size=8)
batches = st.dictionaries(st.sampled_from(["logs", "errors", "metrics", "requests", "resource",
                                           "dropped"]),
                          st.lists(records, max_size=4) | values, max_size=4)


def _finite_in_range(row: tuple | dict) -> None:
    for value in (row.values() if isinstance(row, dict) else row):
        if isinstance(value, float):
            assert math.isfinite(value) and abs(value) <= 1e110, row
        if isinstance(value, int) and not isinstance(value, bool):
            assert abs(value) < 2**63, row


@given(batches)
def test_any_batch_decodes_or_raises_batch_error(batch):
    body = msgspec.json.encode(batch)
    try:
        decoded = decode_batch(body, 1, NOW, LIMITS, 100)
    except BatchError as exc:
        assert exc.status in (400, 413) and str(exc)
        return
    for rows in (decoded.rows.logs, decoded.rows.errors, decoded.rows.metrics,
                 decoded.rows.requests):
        for row in rows:
            _finite_in_range(row)
    for rejected in decoded.rejected:
        assert rejected["error"] and rejected["kind"] in ("log", "error", "metric", "request")


@given(st.binary(max_size=500))
def test_any_bytes_decode_or_raise_batch_error(body):
    try:
        decode_batch(body, 1, NOW, LIMITS, 100)
    except BatchError:
        pass
