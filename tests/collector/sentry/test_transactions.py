"""Sentry transactions and span items -> span rows and request records (pure)."""

from __future__ import annotations

import msgspec
import pytest

from collector.normalize import REQUEST_COLUMNS, Limits, RecordError
from collector.sentry.transactions import span_item_rows, transaction_rows
from collector.spans import SPAN_COLUMNS

NOW = 1_800_000_000.0
TRACE, ROOT, CHILD = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00f067aa0ba902b8"
S = {name: i for i, name in enumerate(SPAN_COLUMNS)}
R = {name: i for i, name in enumerate(REQUEST_COLUMNS)}


def _transaction(**changes) -> dict:
    event = {"type": "transaction", "transaction": "GET /orders/:id",
             "start_timestamp": NOW - 2, "timestamp": NOW - 1.75, "environment": "prod",
             "release": "7", "server_name": "web-3", "tags": {"service": "orders"},
             "contexts": {"trace": {"trace_id": TRACE, "span_id": ROOT, "op": "http.server",
                                    "status": "ok"}},
             "request": {"method": "get", "headers": [["x-request-id", "abc-1"]]},
             "spans": [{"span_id": CHILD, "parent_span_id": ROOT, "op": "db",
                        "description": "SELECT 1", "start_timestamp": NOW - 1.9,
                        "timestamp": NOW - 1.8, "status": "ok", "data": {"db.system": "pg"}}]}
    event.update(changes)
    return event


def test_root_and_children_become_spans_and_a_request():
    spans, (request,) = transaction_rows(1, _transaction(), 0.25, NOW, Limits())
    root, child = spans
    assert (root[S["span_id"]], root[S["parent_span_id"]], root[S["op"]], root[S["kind"]]) == \
        (ROOT, None, "http.server", "server")
    assert root[S["duration_ms"]] == pytest.approx(250) and root[S["sample_rate"]] == 0.25
    assert (child[S["parent_span_id"]], child[S["name"]], child[S["request_id"]]) == \
        (ROOT, "SELECT 1", "abc-1")
    assert msgspec.json.decode(child[S["attributes"]]) == {"db.system": "pg"}
    assert (request[R["method"]], request[R["route"]], request[R["status"]]) == \
        ("GET", "GET /orders/:id", 200)
    assert (request[R["service"]], request[R["environment"]], request[R["host"]]) == \
        ("orders", "prod", "web-3")
    assert request[R["request_id"]] == "abc-1" and request[R["trace_id"]] == TRACE
    assert msgspec.json.decode(request[R["attributes"]])["sample_rate"] == 0.25


@pytest.mark.parametrize(("changes", "status"), [
    ({"contexts": {"trace": {"trace_id": TRACE, "span_id": ROOT, "op": "http.server",
                             "status": "not_found"}}}, 404),
    ({"contexts": {"trace": {"trace_id": TRACE, "span_id": ROOT, "op": "http.server",
                             "status": "internal_error"}}}, 500),
    ({"tags": {"http.status_code": "503"}}, 503),
    ({"contexts": {"response": {"status_code": 418},
                   "trace": {"trace_id": TRACE, "span_id": ROOT, "op": "http.server"}}}, 418),
])
def test_status_from_response_tags_or_trace_status(changes, status):
    _, (request,) = transaction_rows(1, _transaction(**changes), None, NOW, Limits())
    assert request[R["status"]] == status


def test_request_id_falls_back_to_the_trace_id_and_tag_wins():
    _, (request,) = transaction_rows(1, _transaction(request={}), None, NOW, Limits())
    assert request[R["request_id"]] == TRACE
    tagged = _transaction(tags={"request_id": "tag-9"})
    _, (request,) = transaction_rows(1, tagged, None, NOW, Limits())
    assert request[R["request_id"]] == "tag-9"


def test_client_sample_rate_wins_and_non_server_ops_are_not_requests():
    event = _transaction()
    event["contexts"]["trace"].update(op="task", client_sample_rate=0.5)
    spans, requests = transaction_rows(1, event, 0.25, NOW, Limits())
    assert requests == [] and spans[0][S["sample_rate"]] == 0.5


def test_a_transaction_without_ids_is_refused():
    with pytest.raises(RecordError, match="trace_id and a span_id"):
        transaction_rows(1, _transaction(contexts={"trace": {"op": "http.server"}}), None, NOW,
                         Limits())


def test_streamed_span_items_and_single_spans():
    container = {"items": [
        {"trace_id": TRACE, "span_id": ROOT, "is_segment": True, "name": "GET /y",
         "start_timestamp": NOW - 1, "end_timestamp": NOW - 0.5, "status": "error",
         "attributes": {"sentry.op": {"value": "http.server", "type": "string"},
                        "http.request.method": {"value": "GET", "type": "string"},
                        "http.response.status_code": {"value": 502, "type": "integer"}}},
        {"trace_id": TRACE, "span_id": CHILD, "parent_span_id": ROOT, "name": "cache",
         "start_timestamp": NOW - 0.9, "end_timestamp": NOW - 0.8}, "junk"]}
    spans, (request,), bad = span_item_rows(1, container, None, NOW, Limits())
    assert [s[S["name"]] for s in spans] == ["GET /y", "cache"] and bad == 1
    assert (request[R["method"]], request[R["status"]], request[R["duration_ms"]]) == \
        ("GET", 502, pytest.approx(500))
    single = {"trace_id": TRACE, "span_id": CHILD, "op": "db", "description": "SELECT 2",
              "start_timestamp": NOW - 1, "timestamp": NOW, "data": {"rows": 3}}
    spans, requests, bad = span_item_rows(1, single, None, NOW, Limits())
    assert [s[S["name"]] for s in spans] == ["SELECT 2"] and requests == [] and bad == 0
