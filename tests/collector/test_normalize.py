"""Records to rows: timestamps, limits, levels, request IDs, metrics."""

from __future__ import annotations

import math

import msgspec
import pytest

from collector import normalize as n
from collector import schema
from collector.buckets import BOUNDS

NOW = 1_800_000_000.0
LIMITS = n.Limits(max_attributes=3, max_string_length=10, max_future_seconds=60)


def _wire(value, type_):
    """``value`` as the record decoder sees it: JSON off the wire (attributes stay raw).

    Values JSON cannot hold (infinities) are converted directly."""
    if "attributes" not in value:
        return msgspec.convert(value, type_)
    return msgspec.json.decode(msgspec.json.encode(value), type=type_)


def log(**fields):
    return _wire({"message": "m", **fields}, schema.LogIn)


def row(rec, res=None):
    return dict(zip(n.LOG_COLUMNS, n.log_row(7, rec, res, NOW, LIMITS)))


def test_timestamps():
    assert n.parse_ts(None, NOW, LIMITS) == NOW
    assert n.parse_ts(NOW - 5, NOW, LIMITS) == NOW - 5
    assert n.parse_ts((NOW - 5) * 1000, NOW, LIMITS) == NOW - 5  # milliseconds by mistake
    assert n.parse_ts("2027-01-15T08:00:00Z", NOW, LIMITS) == 1800000000.0
    assert n.parse_ts("2027-01-15T08:00:00+00:00", NOW, LIMITS) == n.parse_ts(
        "2027-01-15T09:00:00+01:00", NOW, LIMITS)
    for bad, words in [(NOW + 3600, "future"), (-1.0, "1970"), (math.nan, "finite"),
                       (math.inf, "finite"), ("yesterday", "RFC 3339")]:
        with pytest.raises(n.RecordError, match=words):
            n.parse_ts(bad, NOW, LIMITS)


def test_resource_applies_unless_record_overrides():
    res = schema.Resource(service="api", environment="prod", release="1", host="h")
    r = row(log(service="worker"), res)
    assert (r["service"], r["environment"], r["release"], r["host"]) == ("worker", "prod", "1", "h")
    assert r["project_id"] == 7 and r["level"] == 20


def test_long_strings_truncated_not_rejected():
    r = row(log(message="x" * 50, attributes={"k": "y" * 50}))
    assert r["message"] == "x" * 10 + n.TRUNCATED
    assert msgspec.json.decode(r["attributes"]) == {"k": "y" * 10 + n.TRUNCATED}


def test_too_many_attributes_rejects_record():
    with pytest.raises(n.RecordError, match="limit of 3"):
        row(log(attributes={str(i): i for i in range(4)}))


@pytest.mark.parametrize("rid,ok", [("abc-123_X.y:z", True), ("a b", False), ("", True),
                                    ("x" * 201, False), ("évil", False), ("a\r\nSet-Cookie:", False)])
def test_request_ids(rid, ok):
    if ok:
        assert n.check_request_id(rid) == (rid or None)
    else:
        with pytest.raises(n.RecordError):
            n.check_request_id(rid)


def test_levels():
    assert n.level_number("WARN") == 30 and n.level_number("fatal") == 50
    with pytest.raises(n.RecordError):
        n.level_number("loud")


def test_request_row_validates_status_and_duration():
    base = {"request_id": "r", "method": "get", "route": "/x", "status": 200, "duration_ms": 1.0}
    rec = _wire(base, schema.RequestIn)
    values = dict(zip(n.REQUEST_COLUMNS, n.request_row(1, rec, None, NOW, LIMITS)))
    assert values["method"] == "GET" and values["status"] == 200
    for change, words in [({"status": 99}, "status"), ({"duration_ms": -1}, "duration_ms"),
                          ({"duration_ms": 1e300}, "duration_ms")]:
        with pytest.raises(n.RecordError, match=words):
            n.request_row(1, _wire(base | change, schema.RequestIn), None, NOW, LIMITS)


def test_metric_rows_and_client_buckets():
    counter = _wire({"name": "c", "kind": "counter", "value": 5, "tags": {"b": "2",
                                                                                   "a": "1"}},
                              schema.MetricIn)
    values = dict(zip(n.METRIC_COLUMNS, n.metric_row(1, counter, None, NOW, LIMITS)))
    assert values["sum"] == 5 and values["count"] == 1 and values["tags"] == '{"a":"1","b":"2"}'
    hist = _wire({"name": "t", "kind": "histogram", "value": 0, "count": 3, "sum": 30,
                            "min": 1, "max": 20, "buckets": {"1": 1, "25": 2, "+Inf": 0}},
                           schema.MetricIn)
    values = dict(zip(n.METRIC_COLUMNS, n.metric_row(1, hist, None, NOW, LIMITS)))
    counts = msgspec.json.decode(values["buckets"])
    assert counts[BOUNDS.index(1)] == 1 and counts[BOUNDS.index(25)] == 2 and sum(counts) == 3
    with pytest.raises(n.RecordError, match="finite"):
        n.metric_row(1, _wire({"name": "x", "kind": "gauge", "value": 1, "max": math.inf},
                                        schema.MetricIn), None, NOW, LIMITS)


@pytest.mark.parametrize(("fields", "words"), [
    # Once stored: their rollup sums overflowed PostgreSQL (503 for every later write).
    ({"kind": "histogram", "value": 1.7e308, "count": 948}, "value"),
    ({"kind": "counter", "value": -1e101}, "value"),
    ({"kind": "gauge", "value": 1, "sum": 1e200}, "sum"),
    ({"kind": "histogram", "value": 1, "count": 2**62}, "count"),
    ({"kind": "histogram", "value": 1, "count": 2, "buckets": {"1": 2**62}}, "buckets"),
])
def test_metric_numbers_that_would_overflow_rollups_are_rejected(fields, words):
    rec = _wire({"name": "m", **fields}, schema.MetricIn)
    with pytest.raises(n.RecordError, match=words):
        n.metric_row(1, rec, None, NOW, LIMITS)


@pytest.mark.parametrize(("value", "ok"), [
    (0, True), (-1e100, True), (1e100, True), (10**100, True), (1e101, False),
    (10**400, False), (math.nan, False), (math.inf, False), (True, False), ("1", False),
])
def test_is_measurement(value, ok):
    assert n.is_measurement(value) is ok


def test_error_rows():
    rec = _wire({"exception": [{"type": "KeyError", "value": "'id'",
                                          "mechanism": {"type": "excepthook", "handled": False},
                                          "frames": [{"function": "f", "lineno": 1}]}]},
                          schema.ErrorIn)
    r = n.error_row(1, rec, None, NOW, n.Limits())
    assert r["message"] == "KeyError: 'id'" and r["handled"] is False
    assert len(r["event_id"]) == 32 and r["level"] == 40
    assert msgspec.json.decode(r["exception"])[0]["frames"] == [{"function": "f", "lineno": 1}]
    dashed = "6f1c1a1e-4f6b-4e53-9d8b-0b9b7a2b1c3d"
    r = n.error_row(1, _wire({"message": "x", "event_id": dashed}, schema.ErrorIn),
                    None, NOW, n.Limits())
    assert r["event_id"] == dashed.replace("-", "")
    with pytest.raises(n.RecordError, match="exception"):
        n.error_row(1, schema.ErrorIn(), None, NOW, n.Limits())
    with pytest.raises(n.RecordError, match="event_id"):
        n.error_row(1, schema.ErrorIn(message="x", event_id="nothex"), None, NOW, n.Limits())


def test_check_depth_counts_containers_not_brackets_in_strings():
    ok = "[" * n.MAX_DEPTH + "]" * n.MAX_DEPTH
    assert n.check_depth(ok, "x") == ok
    with pytest.raises(n.RecordError, match="nested deeper than"):
        n.check_depth("[" + ok + "]", "attributes")
    in_strings = msgspec.json.encode(["[{" * 500, {"a": "\\\"[[[" * 300}]).decode()
    assert n.check_depth(in_strings, "x") == in_strings


def test_deep_attributes_and_frame_vars_reject_the_record():
    deep: object = []
    for _ in range(150):
        deep = [deep]
    with pytest.raises(n.RecordError, match="attributes: nested deeper"):
        row(log(attributes={"a": deep}))
    err = _wire({"exception": [{"type": "T", "frames": [{"vars": {"a": deep}}]}]},
                          schema.ErrorIn)
    with pytest.raises(n.RecordError, match="exception: nested deeper"):
        n.error_row(1, err, None, NOW, n.Limits())


FOUR = "".join(chr(0x1D100 + i) for i in range(200))  # 200 characters, 800 bytes


@pytest.mark.parametrize("field", ["service", "environment", "release"])
def test_index_key_labels_are_checked_in_bytes(field):
    assert row(log(**{field: "é" * 200}))[field] == "é" * 200  # 400 bytes: fine
    with pytest.raises(n.RecordError, match=f"{field}: 800 bytes in UTF-8, more than the "
                                            "limit of 512"):
        row(log(**{field: FOUR}))


def test_display_only_labels_are_cut_on_a_character_boundary():
    r = row(log(host=FOUR, logger=FOUR))
    assert r["host"] == FOUR[:128] and r["logger"] == FOUR[:128]


def test_routes_and_metric_names_are_checked_in_bytes():
    req = _wire({"request_id": "r", "method": "GET", "route": FOUR * 2 + "/x",
                           "status": 200, "duration_ms": 1}, schema.RequestIn)
    with pytest.raises(n.RecordError, match="route: 1602 bytes"):
        n.request_row(1, req, None, NOW, LIMITS)
    metric = _wire({"name": FOUR, "kind": "counter", "value": 1}, schema.MetricIn)
    with pytest.raises(n.RecordError, match="name: 800 bytes"):
        n.metric_row(1, metric, None, NOW, LIMITS)


def test_nested_attribute_values_are_trimmed_and_marked():
    r = row(log(attributes={"big": list(range(10_000))}))
    big = msgspec.json.decode(r["attributes"])["big"]
    assert len(big) == 100 and big[-1] == "…[9901 more items]"


def test_attribute_values_too_large_to_keep_are_not_decoded():
    limits = n.Limits(max_json_bytes=2_000)  # containers over 32,000 bytes of JSON are cut
    r = dict(zip(n.LOG_COLUMNS, n.log_row(7, log(attributes={
        "small": [1, 2, 3], "huge": list(range(10_000)), "deep": {"k": "v" * 40_000},
        "long": "s" * 40_000}), None, NOW, limits)))
    attrs = msgspec.json.decode(r["attributes"])
    assert attrs["huge"] == f"…[{len(msgspec.json.encode(list(range(10_000))))} bytes cut]"
    assert attrs["deep"] == "…[40008 bytes cut]"
    assert attrs["long"].endswith(n.TRUNCATED)  # a string is decoded and truncated as before
    assert attrs["small"] == [1, 2, 3]


def test_error_frames_vars_and_context_lines_are_bounded():
    frame = {"function": "f", "pre_context": ["p"] * 500, "post_context": ["q"] * 500,
             "vars": {"rows": list(range(10_000))}}
    rec = _wire({"exception": [{"type": "E", "frames": [frame] * 400}],
                           "tags": {f"t{i}": "v" * 50_000 for i in range(300)}},
                          schema.ErrorIn)
    r = n.error_row(1, rec, None, NOW, n.Limits())
    frames = msgspec.json.decode(r["exception"])[0]["frames"]
    assert len(r["exception"]) <= n.Limits().max_exception_bytes
    assert len(frames) <= n.MAX_FRAMES
    last = frames[-1]
    assert len(last["pre_context"]) == 100 and len(last["post_context"]) == 100
    assert last["vars"]["rows"][-1] == "…[9901 more items]"
    assert len(r["extra"]) <= n.Limits().max_json_bytes


def test_an_exception_chain_over_its_budget_loses_outer_detail_first():
    frames = [{"function": f"f{i}", "context_line": "x" * 100, "pre_context": ["p" * 100] * 5,
               "vars": {"v": "y" * 3_000}} for i in range(250)]
    rec = _wire({"exception": [{"type": "E", "frames": frames}]}, schema.ErrorIn)
    r = n.error_row(1, rec, None, NOW, n.Limits(max_exception_bytes=100_000))
    kept = msgspec.json.decode(r["exception"])[0]["frames"]
    assert len(r["exception"]) <= 100_000
    assert len(kept) == 250  # every frame is still there
    assert "vars" in kept[-1] and "vars" not in kept[0] and "pre_context" not in kept[0]
