"""Sentry ``transaction`` and ``span`` items -> span rows and request records (pure).

A transaction is a tree: the transaction itself is the root span
(``contexts.trace``: trace id, span id, op, status) and ``spans[]`` are its
descendants. Every span becomes a ``spans`` row (:mod:`collector.spans`).
A server-side request transaction (op ``http.server``, or another
``*.server`` op with a ``request``) also becomes a request record, so the
rollups, ``error_rate`` and latency rules and the overview work for apps that
use only ``sentry-sdk``:

- method: ``request.method``, else the first word of the transaction name;
- route: the transaction name (``GET /orders/:id``; Flask's default names
  the view function, ``FlaskIntegration(transaction_style="url")`` the URL rule);
- status: ``contexts.response.status_code``, the ``http.status_code`` tag,
  the ``http.response.status_code`` data, else the trace status mapped to an
  HTTP class (``internal_error`` -> 500, ``not_found`` -> 404, ...);
- request id: a ``request_id`` tag, else the ``X-Request-ID`` request header,
  else the trace id (:func:`request_id_of`, the rule error events follow too);
- sample rate: ``contexts.trace.client_sample_rate``, else the envelope
  header's ``trace.sample_rate`` (stored, not used to weight rollups).

Standalone ``span`` items come in two shapes: one span per item (the older
format: ``description``, ``timestamp``, ``data``) or a container
``{"items": [...]}`` of streamed spans (``name``, ``end_timestamp``, typed
``attributes``, ``is_segment``). A segment span with HTTP server attributes
is a request like a transaction.

Like the rest of :mod:`collector.sentry`, odd values are dropped or clamped,
never fatal: a transaction is only refused (counted, not stored) when it has
no usable trace or span id.
"""

from __future__ import annotations

import re
from typing import Any

from collector import normalize as n
from collector import spans as sp
from collector.sentry.events import (
    _dict,
    _flat_attributes,
    _label,
    _request_id,
    _str,
    _tags,
    _ts,
    request_id_of,
)

MAX_SPANS = 1000  # children of one transaction (sentry-python sends at most 1000 too)
_HEX = re.compile(r"[0-9a-f]{16,32}")
_TAG_ATTRIBUTES = 16  # tags copied onto the root span's attributes


def _hex_id(value: Any) -> str | None:
    if type(value) is str and _HEX.fullmatch(value):
        return value  # what SDKs send: lower-case hex, no dashes (the hot path)
    text = _str(value, 64).replace("-", "").lower()
    return text if _HEX.fullmatch(text) else None


def envelope_sample_rate(headers: dict[str, Any]) -> float | None:
    """``trace.sample_rate`` of an envelope header (the dynamic sampling context)."""
    return sp.sample_rate(_dict(headers.get("trace")).get("sample_rate"))


def is_server_op(op: str) -> bool:
    """Whether a span op names the server side of a request (``http.server`` and kin)."""
    return op == "http.server" or (op.startswith(("http.", "websocket.")) and
                                   op.endswith(".server"))


def _http_status(event: dict[str, Any], tags: dict[str, str], data: dict[str, Any],
                 trace_status: str) -> int:
    contexts = _dict(event.get("contexts"))
    for value in (_dict(contexts.get("response")).get("status_code"), tags.get("http.status_code"),
                  data.get("http.response.status_code"), data.get("http.status_code")):
        status = sp.http_status(value)
        if status is not None:
            return status
    return sp.TRACE_STATUS_HTTP.get(trace_status, 200 if not trace_status else 500)


def _method(event: dict[str, Any], name: str, data: dict[str, Any]) -> str:
    method = _str(_dict(event.get("request")).get("method"), 16)
    if not method:
        method = _str(data.get("http.request.method") or data.get("http.method"), 16)
    if not method and " " in name:
        first = name.split(" ", 1)[0]
        method = first if first.isalpha() and len(first) <= 16 else ""
    return method.upper()


def transaction_rows(project_id: int, event: dict[str, Any], envelope_rate: float | None,
                     now: float, limits: n.Limits
                     ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The span rows and (for a server transaction) the request record of one transaction.

    Raises RecordError when the transaction has no usable trace or span id.
    """
    contexts = _dict(event.get("contexts"))
    trace = _dict(contexts.get("trace"))
    trace_id, root_id = _hex_id(trace.get("trace_id")), _hex_id(trace.get("span_id"))
    if trace_id is None or root_id is None:
        raise n.RecordError("transaction: contexts.trace needs a trace_id and a span_id")
    tags = _tags(event.get("tags"), limits)
    labels = sp.Labels(service=_label(tags.get("service", ""), limits),
                       environment=_label(event.get("environment"), limits),
                       release=_label(event.get("release"), limits),
                       host=_label(event.get("server_name"), limits))
    request_id = request_id_of(event, tags, trace_id)
    rate = sp.sample_rate(trace.get("client_sample_rate")) or envelope_rate
    start = _ts(event.get("start_timestamp"), now, limits)
    end = _ts(event.get("timestamp"), now, limits)
    name = _str(event.get("transaction"), 500)
    op = _str(trace.get("op"), 100)
    status = _str(trace.get("status"), 32)
    data = _dict(trace.get("data"))
    attrs: dict[str, Any] = {k: v for k, v in data.items() if isinstance(k, str)}
    attrs.update((f"tag.{k}", v) for k, v in list(tags.items())[:_TAG_ATTRIBUTES])
    root = sp.SpanIn(trace_id=trace_id, span_id=root_id, start=start, end=end,
                     parent_span_id=_hex_id(trace.get("parent_span_id")), name=name, op=op,
                     kind="server" if is_server_op(op) else "", status=status,
                     attributes=attrs, request_id=request_id, sample_rate=rate)
    rows = [sp.span_row(project_id, root, labels, now, limits, "sentry")]
    children = event.get("spans")
    for raw in children[:MAX_SPANS] if isinstance(children, list) else []:
        child = _child(raw, trace_id, root_id, request_id, rate, now, limits)
        if child is not None:
            rows.append(sp.span_row(project_id, child, labels, now, limits, "sentry"))
    requests = []
    if is_server_op(op) or (op.endswith(".server") and event.get("request")):
        requests.append(sp.request_row(
            project_id, root, labels, now, limits, method=_method(event, name, data),
            route=name, status=_http_status(event, tags, data, status),
            unhandled=status == "internal_error"))
    return rows, requests


def _child(raw: Any, trace_id: str, root_id: str, request_id: str | None, rate: float | None,
           now: float, limits: n.Limits) -> sp.SpanIn | None:
    """A ``spans[]`` entry of a transaction; None when it has no usable span id."""
    if not isinstance(raw, dict):
        return None
    span_id = _hex_id(raw.get("span_id"))
    if span_id is None:
        return None
    start = _ts(raw.get("start_timestamp"), now, limits)
    data = _dict(raw.get("data"))
    op = _str(raw.get("op"), 100)
    return sp.SpanIn(trace_id=_hex_id(raw.get("trace_id")) or trace_id, span_id=span_id,
                     start=start, end=_ts(raw.get("timestamp"), now, limits),
                     parent_span_id=_hex_id(raw.get("parent_span_id")) or root_id,
                     name=_str(raw.get("description"), 500) or op, op=op,
                     status=_str(raw.get("status"), 32),
                     attributes={k: v for k, v in data.items() if isinstance(k, str)},
                     request_id=request_id, sample_rate=rate)


def span_item_rows(project_id: int, payload: dict[str, Any], envelope_rate: float | None,
                   now: float, limits: n.Limits
                   ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], int]:
    """Rows of a standalone ``span`` item: spans, request records, spans unusable."""
    items = payload.get("items")
    raws = items if isinstance(items, list) else [payload]
    spans, requests, bad = [], [], 0
    for raw in raws[:MAX_SPANS]:
        if not isinstance(raw, dict):
            bad += 1
            continue
        attrs = _flat_attributes(raw.get("attributes")) if "attributes" in raw \
            else dict(_dict(raw.get("data")))
        trace_id, span_id = _hex_id(raw.get("trace_id")), _hex_id(raw.get("span_id"))
        if trace_id is None or span_id is None:
            bad += 1
            continue
        tags = _tags(raw.get("tags"), limits)
        labels = sp.Labels(service=_label(tags.get("service") or attrs.get("service.name"),
                                          limits),
                           environment=_label(attrs.get("sentry.environment"), limits),
                           release=_label(attrs.get("sentry.release"), limits),
                           host=_label(attrs.get("server.address"), limits))
        op = _str(raw.get("op") or attrs.get("sentry.op"), 100)
        name = _str(raw.get("name") or raw.get("description"), 500) or op
        status = _str(raw.get("status"), 32)
        request_id = _request_id(tags.get("request_id")) or sp.request_id_from(attrs, trace_id)
        span = sp.SpanIn(
            trace_id=trace_id, span_id=span_id, start=_ts(raw.get("start_timestamp"), now, limits),
            end=_ts(raw.get("end_timestamp") or raw.get("timestamp"), now, limits),
            parent_span_id=_hex_id(raw.get("parent_span_id")), name=name, op=op,
            kind="server" if is_server_op(op) else "", status=status, attributes=attrs,
            request_id=request_id,
            sample_rate=sp.sample_rate(attrs.get("sentry.sample_rate")) or envelope_rate)
        spans.append(sp.span_row(project_id, span, labels, now, limits, "sentry"))
        segment = raw.get("is_segment") is True or raw.get("parent_span_id") is None
        if segment and is_server_op(op):
            requests.append(sp.request_row(
                project_id, span, labels, now, limits, method=_method({}, name, attrs),
                route=_str(attrs.get("http.route"), 500) or name,
                status=_http_status({}, tags, attrs, status),
                unhandled=status in ("internal_error", "error")))
    bad += max(len(raws) - MAX_SPANS, 0)
    return spans, requests, bad
