"""OTLP spans -> ``spans`` rows, request records and error events (pure).

- every span becomes a ``spans`` row (:mod:`collector.spans`); its op is
  ``http.server`` / ``http.client`` for HTTP spans, ``db`` for database
  spans, else the span kind;
- a SERVER span with ``http.*`` attributes becomes a request record: method
  from ``http.request.method`` (older ``http.method``), route from
  ``http.route`` (else the span name), status from
  ``http.response.status_code`` (older ``http.status_code``), else 500 when
  the span status is ERROR and 200 otherwise; it counts as an error when the
  status is >= 500 or the span status is ERROR;
- every span event named ``exception`` becomes an error event
  (``exception.type``, ``exception.message``, ``exception.stacktrace``),
  grouped into issues like any other; its event id is derived from the
  trace id, span id and the event's time and position, so an exporter's
  retry cannot make a second event.

Request ids: a span's ``request_id`` attribute (or the ``x-request-id``
request header attribute), else its trace id.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from collector import normalize as n
from collector import spans as sp
from collector.otlp import common, stacktrace
from collector.otlp.result import Converted
from collector.users import attributes_user

_encode = msgspec.json.Encoder().encode
KINDS = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS = {0: "unset", 1: "ok", 2: "error"}
SERVER, STATUS_ERROR = 2, 2


def _op(kind: int, attrs: dict[str, Any]) -> str:
    is_http = any(k.startswith("http.") for k in attrs)
    if is_http and kind == SERVER:
        return "http.server"
    if is_http and kind == 3:
        return "http.client"
    if "db.system" in attrs or "db.system.name" in attrs:
        return "db"
    return KINDS.get(kind, "")


def convert(project_id: int, request: Any, now: float, limits: n.Limits) -> Converted:
    """Rows of an ``ExportTraceServiceRequest``; spans without ids are rejected."""
    out = Converted()
    for resource_spans in request.resource_spans:
        labels, resource_attrs = common.labels(resource_spans.resource)
        platform = str(resource_attrs.get("telemetry.sdk.language") or "other")[:50]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    _span(project_id, span, labels, platform, now, limits, out)
                except n.RecordError as exc:
                    out.reject(str(exc))
    return out


def _span(project_id: int, span: Any, labels: sp.Labels, platform: str, now: float,
          limits: n.Limits, out: Converted) -> None:
    trace_id, span_id = common.hex_id(span.trace_id), common.hex_id(span.span_id)
    if trace_id is None or span_id is None:
        raise n.RecordError("span: traceId and spanId are required")
    start = common.timestamp(span.start_time_unix_nano, now, now, limits)
    # An end past the future limit (a broken clock) ends the span at arrival instead.
    end = common.seconds(span.end_time_unix_nano) or start
    if end > now + limits.max_future_seconds:
        end = max(now, start)
    attrs = common.attributes(span.attributes, limits.max_attributes)
    if span.status.message:
        attrs.setdefault("status.message", span.status.message[:1000])
    status_code = span.status.code
    record = sp.SpanIn(trace_id=trace_id, span_id=span_id, start=start, end=end,
                       parent_span_id=common.hex_id(span.parent_span_id), name=span.name,
                       op=_op(span.kind, attrs), kind=KINDS.get(span.kind, ""),
                       status=STATUS.get(status_code, str(status_code)), attributes=attrs,
                       request_id=common.request_id(attrs, trace_id))
    out.rows.spans.append(sp.span_row(project_id, record, labels, now, limits, "otlp"))
    if span.kind == SERVER and any(k.startswith("http.") for k in attrs):
        method = attrs.get("http.request.method") or attrs.get("http.method") or ""
        status = sp.http_status(attrs.get("http.response.status_code")
                                or attrs.get("http.status_code"))
        out.rows.requests.append(sp.request_row(
            project_id, record, labels, now, limits, method=str(method),
            route=str(attrs.get("http.route") or span.name),
            status=status or (500 if status_code == STATUS_ERROR else 200),
            unhandled=status_code == STATUS_ERROR))
    for index, event in enumerate(span.events):
        if event.name == "exception":
            out.rows.errors.append(_error(project_id, record, event, index, labels, platform,
                                          now, limits))


def _error(project_id: int, span: sp.SpanIn, event: Any, index: int, labels: sp.Labels,
           platform: str, now: float, limits: n.Limits) -> dict[str, Any]:
    """An ``exception`` span event as an ``errors`` row (see ``normalize.error_row``)."""
    attrs = common.attributes(event.attributes, limits.max_attributes)
    exc_type = str(attrs.pop("exception.type", "") or "Error")[:200]
    value = n.clip(str(attrs.pop("exception.message", "") or ""), limits)
    trace_text = str(attrs.pop("exception.stacktrace", "") or "")
    escaped = attrs.pop("exception.escaped", None)
    try:
        ts = common.timestamp(event.time_unix_nano, span.start, now, limits)
    except n.RecordError:  # the span is stored already: keep its error, at the span's start
        ts = span.start
    exception = [{"type": exc_type, "value": value, "module": None,
                  "mechanism": {"type": "otlp", "handled": None if escaped is None
                                else not bool(escaped)},
                  "frames": stacktrace.frames(trace_text)}]
    identity = f"{span.trace_id}:{span.span_id}:{index}:{event.time_unix_nano}".encode()
    extra: dict[str, Any] = {"span": {"span_id": span.span_id, "name": span.name[:500]}}
    if trace_text:
        extra["stacktrace"] = n.clip(trace_text, limits)
    return {
        "project_id": project_id, "ts": ts, "received_at": now, "service": labels.service,
        "environment": labels.environment, "release": labels.release, "host": labels.host,
        "request_id": span.request_id, "trace_id": span.trace_id,
        "attributes": sp.capped_attributes({"span_id": span.span_id, **attrs}, limits),
        "event_id": hashlib.blake2b(identity, digest_size=16).hexdigest(),
        "level": 40, "logger": "", "message": f"{exc_type}: {value}" if value else exc_type,
        "exception": n.check_depth(_encode(exception).decode(), "exception"),
        "platform": platform, "source": "otlp", "handled": exception[0]["mechanism"]["handled"],
        "extra": _encode(extra).decode(), "user": attributes_user(span.attributes),
    }
