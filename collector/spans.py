"""Spans and the request records derived from them (pure, no I/O).

Both adapters that carry traces, the Sentry protocol (``transaction`` and
``span`` items, :mod:`collector.sentry.transactions`) and OTLP
(:mod:`collector.otlp.traces`), describe a span with the same fields and
call :func:`span_row`, so the ``spans`` table is filled alike whatever the
client. A server-side span of an HTTP request also becomes a request record
(:func:`request_row`), so rollups, ``error_rate`` and latency rules and the
overview work for apps that send only traces.

Sampling: a client that samples sends 1 of ``1 / sample_rate`` requests.
The rate is stored on each span (``sample_rate``) and on the request
record's attributes (``sample_rate``); rollups count the requests that were
*sent*, unweighted. Error rates (a ratio) are unbiased under uniform
sampling; counts and sums are of sampled data (docs/otlp.md says so).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgspec

from collector import normalize as n

_encode = msgspec.json.Encoder().encode
SPAN_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
                "request_id", "trace_id", "attributes", "span_id", "parent_span_id", "name", "op",
                "kind", "duration_ms", "status", "sample_rate", "source")

# Sentry's span status (the gRPC codes' names) -> the HTTP status class a request
# with that outcome answers, when the client sent no status code (Relay maps alike).
TRACE_STATUS_HTTP = {
    "ok": 200, "cancelled": 499, "unknown": 500, "unknown_error": 500, "invalid_argument": 400,
    "deadline_exceeded": 504, "not_found": 404, "already_exists": 409, "permission_denied": 403,
    "resource_exhausted": 429, "failed_precondition": 400, "aborted": 409, "out_of_range": 400,
    "unimplemented": 501, "internal_error": 500, "unavailable": 503, "data_loss": 500,
    "unauthenticated": 401, "error": 500,
}


@dataclass(slots=True)
class Labels:
    """Where a span came from: the record columns every row shares."""

    service: str = ""
    environment: str = ""
    release: str = ""
    host: str = ""


@dataclass(slots=True)
class SpanIn:
    """One span as an adapter read it; times are epoch seconds, ids lower-case hex."""

    trace_id: str
    span_id: str
    start: float
    end: float
    parent_span_id: str | None = None
    name: str = ""
    op: str = ""
    kind: str = ""
    status: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    sample_rate: float | None = None


def duration_ms(start: float, end: float) -> float:
    """``end - start`` in milliseconds, within 0 .. MAX_DURATION_MS (clocks do go backwards)."""
    value = (end - start) * 1000.0
    if not math.isfinite(value) or value < 0:
        return 0.0
    return min(value, n.MAX_DURATION_MS)


def sample_rate(value: Any) -> float | None:
    """A usable sample rate (0 < rate <= 1) from a number or a numeric string, else None."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 < value <= 1 else None


def capped_attributes(attrs: dict[str, Any], limits: n.Limits) -> str:
    """Attributes as JSON text, the first ``max_attributes`` kept (a span is never refused)."""
    if len(attrs) > limits.max_attributes:
        attrs = dict(list(attrs.items())[: limits.max_attributes])
    return n.attributes_json(attrs, limits)


def span_row(project_id: int, span: SpanIn, labels: Labels, now: float, limits: n.Limits,
             source: str) -> tuple[Any, ...]:
    """A ``spans`` row (SPAN_COLUMNS order)."""
    rate = span.sample_rate if span.sample_rate is not None else 1.0
    return (project_id, span.start, now, labels.service[:200], labels.environment[:200],
            labels.release[:200], labels.host[:200], span.request_id, span.trace_id[:64],
            capped_attributes(span.attributes, limits), span.span_id[:32],
            (span.parent_span_id or None) and span.parent_span_id[:32], span.name[:500],
            span.op[:100], span.kind[:16], duration_ms(span.start, span.end), span.status[:32],
            rate, source)


def request_row(project_id: int, span: SpanIn, labels: Labels, now: float, limits: n.Limits,
                *, method: str, route: str, status: int, unhandled: bool) -> tuple[Any, ...]:
    """A ``request_records`` row for a server span (REQUEST_COLUMNS order).

    The request id is the span's (a ``request_id`` tag or ``X-Request-ID``),
    else the trace id, so the request page finds the request by either.
    """
    attrs: dict[str, Any] = {"span_id": span.span_id[:32]}
    if span.sample_rate is not None:
        attrs["sample_rate"] = span.sample_rate
    if not 100 <= status <= 599:
        status = 500 if unhandled else 200
    # Two short values (a span id of at most 32 characters, a float): within every
    # bound by construction, so encoded directly.
    return (project_id, span.start, now, labels.service[:200], labels.environment[:200],
            labels.release[:200], labels.host[:200], span.request_id or span.trace_id[:64],
            span.trace_id[:64], _encode(attrs).decode(),
            (method or "UNKNOWN").upper()[:16], (route or span.name or "/")[:500], status,
            duration_ms(span.start, span.end), unhandled)


REQUEST_ID_ATTRIBUTES = ("request_id", "request.id", "http.request.header.x-request-id")


def request_id_from(attrs: dict[str, Any], fallback: str | None) -> str | None:
    """A ``request_id`` attribute, or the ``X-Request-ID`` header attribute, else ``fallback``.

    OpenTelemetry and Sentry's streamed spans record request headers as
    ``http.request.header.<name>`` (a list of values); invalid ids are skipped.
    """
    for key in REQUEST_ID_ATTRIBUTES:
        value = attrs.get(key)
        if isinstance(value, list) and value:
            value = value[0]
        if isinstance(value, str):
            try:
                checked = n.check_request_id(value)
            except n.RecordError:
                continue
            if checked:
                return checked
    return fallback


def http_status(value: Any) -> int | None:
    """An HTTP status (100-599) from an int or a numeric string, else None."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 100 <= value <= 599 else None
