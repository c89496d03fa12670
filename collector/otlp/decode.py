"""OTLP/HTTP bodies -> ``Export*ServiceRequest`` messages, and answers back (pure).

Decoding is ``opentelemetry-proto``'s generated messages: ``FromString`` for
``application/x-protobuf``, ``google.protobuf.json_format`` for
``application/json``. One difference between OTLP's JSON and protobuf's
JSON mapping is handled first: OTLP JSON writes trace and span ids as hex
(``"traceId": "5b8efff7..."``) where the mapping expects base64, so every
``traceId`` / ``spanId`` / ``parentSpanId`` string is converted from hex
before parsing (a non-hex id is a 400). Enums as numbers and 64-bit
integers as strings are part of the mapping already.

The answer has the request's format: the ``Export*ServiceResponse``,
with ``partial_success`` when some items were rejected.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_pb
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_pb
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_pb

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
CONTENT_TYPES = {PROTOBUF: PROTOBUF, "application/protobuf": PROTOBUF, JSON: JSON}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id",
                      "parent_span_id"})


@dataclass(frozen=True, slots=True)
class Signal:
    """One OTLP signal: its path, request and response messages, partial-success field."""

    name: str  # logs | traces | metrics
    request: type[Message]
    response: type[Message]
    rejected_field: str  # rejected_log_records | rejected_spans | rejected_data_points


SIGNALS = {
    "logs": Signal("logs", logs_pb.ExportLogsServiceRequest, logs_pb.ExportLogsServiceResponse,
                   "rejected_log_records"),
    "traces": Signal("traces", trace_pb.ExportTraceServiceRequest,
                     trace_pb.ExportTraceServiceResponse, "rejected_spans"),
    "metrics": Signal("metrics", metrics_pb.ExportMetricsServiceRequest,
                      metrics_pb.ExportMetricsServiceResponse, "rejected_data_points"),
}


class OtlpError(ValueError):
    """The body cannot be decoded; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def content_type(header: str | None) -> str:
    """The OTLP format named by a Content-Type header; OtlpError(415) for anything else."""
    media = (header or "").split(";")[0].strip().lower()
    found = CONTENT_TYPES.get(media)
    if found is None:
        raise OtlpError(415, f"unsupported Content-Type {media[:60]!r}; OTLP/HTTP takes "
                             "application/x-protobuf or application/json")
    return found


def _hex_ids(value: Any) -> Any:
    """Turn OTLP JSON's hex ids into the base64 protobuf's JSON mapping expects (in place)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if key in _ID_KEYS and isinstance(item, str):
                    try:
                        node[key] = base64.b64encode(bytes.fromhex(item)).decode()
                    except ValueError:
                        raise OtlpError(400, f"{key}: {item[:40]!r} is not a hex id") from None
                elif isinstance(item, (dict, list)):
                    stack.append(item)
        elif isinstance(node, list):
            stack.extend(i for i in node if isinstance(i, (dict, list)))
    return value


def parse(signal: Signal, body: bytes, fmt: str) -> Message:
    """The ``Export*ServiceRequest`` in ``body``; OtlpError(400) when it is malformed."""
    message = signal.request()
    if fmt == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            raise OtlpError(400, f"body is not a valid OTLP {signal.name} protobuf message: "
                                 f"{str(exc)[:200] or type(exc).__name__}") from None
        return message
    try:
        tree = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise OtlpError(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise OtlpError(400, "body is not usable JSON: nested too deeply") from None
    if not isinstance(tree, dict):
        raise OtlpError(400, f"body must be a JSON object (an OTLP {signal.name} export request)")
    try:
        json_format.ParseDict(_hex_ids(tree), message, ignore_unknown_fields=True,
                              max_recursion_depth=64)
    except (json_format.ParseError, RecursionError, ValueError, TypeError,
            binascii.Error) as exc:
        raise OtlpError(400, f"body is not a valid OTLP {signal.name} JSON message: "
                             f"{str(exc)[:300]}") from None
    return message


def answer(signal: Signal, fmt: str, rejected: int, error_message: str) -> bytes:
    """The success body: an empty response, or one with ``partial_success``."""
    response = signal.response()
    if rejected or error_message:
        setattr(response.partial_success, signal.rejected_field, rejected)
        response.partial_success.error_message = error_message
    if fmt == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def count_items(signal: Signal, message: Any) -> int:
    """Log records, spans or data points in a request (for the batch-size limit)."""
    if signal.name == "logs":
        return sum(len(s.log_records) for r in message.resource_logs for s in r.scope_logs)
    if signal.name == "traces":
        return sum(len(s.spans) for r in message.resource_spans for s in r.scope_spans)
    total = 0
    for resource in message.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                which = metric.WhichOneof("data")
                total += len(getattr(metric, which).data_points) if which else 1
    return total
