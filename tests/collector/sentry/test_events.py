"""Sentry payload conversion (pure): real SDK events, and hostile shapes never crash it."""

from __future__ import annotations

import time

import msgspec
import sentry_sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.grouping import group_row
from collector.normalize import LOG_COLUMNS, METRIC_COLUMNS, Limits
from collector.sentry.envelope import parse, payload_json
from collector.sentry.events import event_row, log_rows, metric_rows
from tests.support.sentry_envelopes import sdk_envelopes

LIMITS = Limits()
NOW = 1_800_000_000.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=20)
KEYS = ["event_id", "timestamp", "level", "logger", "platform", "message", "logentry",
        "exception", "tags", "environment", "release", "server_name", "contexts", "fingerprint",
        "breadcrumbs", "sdk", "extra", "user", "request", "transaction", "culprit", "threads",
        "stacktrace", "sentry.interfaces.Message"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), json_values, max_size=10))
def test_any_event_shape_becomes_a_valid_row(event):
    row = event_row(1, event, NOW, LIMITS)
    assert set(LOG_COLUMNS[:10]) <= set(row) and len(row["event_id"]) == 32
    msgspec.json.decode(row["exception"]), msgspec.json.decode(row["extra"])
    assert all(group_row(row, v).fingerprint for v in (1, 2, 3))  # and it can be grouped


FRAME_KEYS = ["filename", "abs_path", "function", "module", "lineno", "context_line",
              "pre_context", "post_context", "vars", "in_app"]
frames = st.lists(st.dictionaries(st.sampled_from(FRAME_KEYS), json_values, max_size=6)
                  | json_values, max_size=5)
exceptions = st.lists(st.fixed_dictionaries({}, optional={
    "type": json_values, "value": json_values, "module": json_values, "mechanism": json_values,
    "stacktrace": st.fixed_dictionaries({"frames": frames}) | json_values}), max_size=3)


@settings(max_examples=300, deadline=None)
@given(exceptions, st.sampled_from(["values", "list"]), json_values)
def test_hostile_exception_chains_are_kept_or_dropped_never_crash(chain, shape, fingerprint):
    event = {"exception": {"values": chain} if shape == "values" else chain,
             "fingerprint": fingerprint}
    row = event_row(1, event, NOW, LIMITS)
    stored = msgspec.json.decode(row["exception"])
    assert len(stored) == len(chain)
    assert all(isinstance(f, dict) for exc in stored for f in exc["frames"])
    assert group_row(row).title


stacks = st.fixed_dictionaries({"frames": frames}) | json_values
threads = st.lists(st.fixed_dictionaries({}, optional={
    "id": json_values, "name": json_values, "crashed": st.booleans() | json_values,
    "current": st.booleans() | json_values, "stacktrace": stacks}) | json_values, max_size=3)
logentries = st.fixed_dictionaries({}, optional={
    "message": st.text(alphabet="%sd{}0x ", max_size=12) | json_values,
    "params": st.lists(json_values, max_size=3) | json_values, "formatted": json_values})


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "threads": st.fixed_dictionaries({"values": threads}) | threads | json_values,
    "stacktrace": stacks, "logentry": logentries, "sentry.interfaces.Message": logentries,
    "culprit": json_values, "transaction": json_values, "message": json_values}), exceptions)
def test_hostile_stacks_and_templates_never_crash(event, chain):
    """Threads, top-level stacks, logentry params and culprits of any shape."""
    if chain:
        event["exception"] = {"values": chain}
    row = event_row(1, event, NOW, LIMITS)
    extra = msgspec.json.decode(row["extra"])
    stack = extra.get("stacktrace")
    assert stack is None or all(isinstance(f, dict) for f in stack["frames"])
    for version in (1, 2, 3):
        grouped = group_row(row, version)
        assert grouped.fingerprint and isinstance(grouped.title, str)
        assert isinstance(grouped.culprit, str)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(
    ["timestamp", "level", "body", "attributes", "trace_id", "name", "type", "value"]),
    json_values, max_size=8), max_size=4))
def test_any_log_or_metric_item_shape_is_stored_or_counted_bad(items):
    logs, bad_logs = log_rows(1, {"items": items}, NOW, LIMITS)
    metrics, bad_metrics = metric_rows(1, {"items": items}, NOW, LIMITS)
    assert len(logs) + bad_logs == len(items) == len(metrics) + bad_metrics
    assert all(len(r) == len(LOG_COLUMNS) for r in logs)
    assert all(len(r) == len(METRIC_COLUMNS) for r in metrics)


def test_real_sdk_event_fields():
    def act() -> None:
        with sentry_sdk.new_scope() as scope:
            scope.set_tag("request_id", "r-1")
            scope.fingerprint = ["{{ default }}", "tenant-a"]
            scope.set_user({"id": "u1"})
            try:
                raise ValueError("bad input 42")
            except ValueError:
                sentry_sdk.capture_exception()

    (body,) = sdk_envelopes("http://k@h/1", act)
    env = parse(body)
    row = event_row(7, payload_json(env.items[0], 0), time.time(), LIMITS)
    assert row["project_id"] == 7 and row["request_id"] == "r-1" and row["source"] == "sentry"
    assert row["environment"] == "staging" and row["release"] == "2.0.0"
    assert row["message"] == "ValueError: bad input 42" and row["level"] == 40
    assert row["handled"] is True and row["trace_id"]
    extra = msgspec.json.decode(row["extra"])
    assert extra["user"] == {"id": "u1"} and extra["fingerprint"][1] == "tenant-a"
    frames = msgspec.json.decode(row["exception"])[0]["frames"]
    assert frames[-1]["function"] == "act" and frames[-1]["in_app"] is True
    grouping = group_row(row)
    assert grouping.method == "fingerprint"
    assert grouping.inputs["fingerprint"][0]["default"]["method"] == "in_app_frames"
