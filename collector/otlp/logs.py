"""OTLP log records -> ``logs`` rows (pure).

Severity numbers map to Lookout levels by the OTLP ranges (1-4 trace, 5-8
debug, 9-12 info, 13-16 warning, 17-20 error, 21-24 fatal), else the
severity text, else info. A string body is the message; any other body is
stored as its JSON. The instrumentation scope (the logger's name in most
SDKs) is the logger. The span id goes into the attributes (``span_id``); the
request id is a ``request_id`` attribute, else the trace id, so the logs of a
request sit with its spans and request record.
"""

from __future__ import annotations

from typing import Any

import msgspec

from collector import normalize as n
from collector.otlp import common
from collector.otlp.result import Converted

_encode = msgspec.json.Encoder().encode


def level(severity_number: int, severity_text: str) -> int:
    """A Lookout level number from an OTLP severity."""
    if 1 <= severity_number <= 24:
        return (5, 10, 20, 30, 40, 50)[(severity_number - 1) // 4]
    return n.LEVELS.get(severity_text.strip().lower(), 20)


def convert(project_id: int, request: Any, now: float, limits: n.Limits) -> Converted:
    """Rows of an ``ExportLogsServiceRequest``; unusable records are counted as rejected."""
    out = Converted()
    for resource_logs in request.resource_logs:
        labels, resource_attrs = common.labels(resource_logs.resource)
        for scope_logs in resource_logs.scope_logs:
            logger = scope_logs.scope.name[:200]
            for record in scope_logs.log_records:
                try:
                    out.rows.logs.append(_row(project_id, record, labels, resource_attrs, logger,
                                              now, limits))
                except n.RecordError as exc:
                    out.reject(str(exc))
    return out


def _row(project_id: int, record: Any, labels: Any, resource_attrs: dict[str, Any], logger: str,
         now: float, limits: n.Limits) -> tuple[Any, ...]:
    ts = common.timestamp(record.time_unix_nano or record.observed_time_unix_nano, now, now,
                          limits)
    attrs = {**resource_attrs, **common.attributes(record.attributes, limits.max_attributes)}
    trace_id = common.hex_id(record.trace_id)
    span_id = common.hex_id(record.span_id)
    if span_id:
        attrs["span_id"] = span_id
    body = common.value_of(record.body) if record.HasField("body") else None
    if body is None:
        message = ""
    elif isinstance(body, str):
        message = body
    else:
        message = _encode(body).decode()
    return (project_id, ts, now, labels.service, labels.environment, labels.release, labels.host,
            common.request_id(attrs, trace_id), trace_id,
            n.attributes_json(dict(list(attrs.items())[: limits.max_attributes]), limits),
            level(record.severity_number, record.severity_text), logger,
            n.clip(message, limits))
