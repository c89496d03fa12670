"""What every OTLP signal shares (pure): attribute values, resources, ids, timestamps.

OTLP attribute values are ``AnyValue`` messages (string, bool, int, double,
array, key-value list, bytes); they become plain JSON values here, nested
ones bounded by :data:`MAX_DEPTH` like the rest of the stored JSON. The
resource names the source: ``service.name``, ``deployment.environment``
(or ``deployment.environment.name``), ``service.version`` and
``host.name`` become the service, environment, release and host columns.
"""

from __future__ import annotations

import base64
from typing import Any

from collector import normalize as n
from collector import spans as sp

MAX_DEPTH = 20  # nesting kept inside one attribute value; deeper parts become text
_RESOURCE_KEYS = {
    "service.name": "service", "deployment.environment": "environment",
    "deployment.environment.name": "environment", "service.version": "release",
    "host.name": "host",
}


def value_of(any_value: Any, depth: int = 0) -> Any:
    """A protobuf ``AnyValue`` as a JSON value (None when it is empty)."""
    which = any_value.WhichOneof("value")
    if which is None:
        return None
    if which == "string_value":
        return any_value.string_value
    if which == "bool_value":
        return any_value.bool_value
    if which == "int_value":
        return any_value.int_value
    if which == "double_value":
        number = any_value.double_value
        return number if n.is_measurement(number) else str(number)
    if which == "bytes_value":
        return base64.b64encode(any_value.bytes_value[:4096]).decode()
    if depth >= MAX_DEPTH:
        return str(any_value)[:200]
    if which == "array_value":
        return [value_of(v, depth + 1) for v in any_value.array_value.values]
    return {kv.key: value_of(kv.value, depth + 1) for kv in any_value.kvlist_value.values}


def attributes(key_values: Any, limit: int) -> dict[str, Any]:
    """Repeated ``KeyValue`` -> dict, the first ``limit`` kept (a record is never refused)."""
    out: dict[str, Any] = {}
    for kv in key_values:
        if len(out) >= limit:
            break
        out[kv.key[:200]] = value_of(kv.value)
    return out


def labels(resource: Any) -> tuple[sp.Labels, dict[str, Any]]:
    """Service/environment/release/host of a resource, and its other attributes."""
    found = sp.Labels()
    rest: dict[str, Any] = {}
    for kv in resource.attributes:
        column = _RESOURCE_KEYS.get(kv.key)
        value = value_of(kv.value)
        if column is not None and value is not None:
            if not getattr(found, column):
                setattr(found, column, str(value)[:200])
        elif kv.key.startswith(("telemetry.sdk.language", "process.runtime.name")):
            rest[kv.key] = value
    return found, rest


def hex_id(raw: bytes) -> str | None:
    """A trace or span id (bytes) as lower-case hex; None when absent or all zero."""
    if not raw or not any(raw):
        return None
    return raw.hex()


def seconds(unix_nano: int) -> float | None:
    """Epoch seconds from nanoseconds; None for 0 (OTLP's "unknown")."""
    return unix_nano / 1e9 if unix_nano else None


def timestamp(unix_nano: int, fallback: float, now: float, limits: n.Limits) -> float:
    """The record time, rejected like Lookout ingest's when too far in the future."""
    value = seconds(unix_nano)
    return n.parse_ts(value if value is not None else fallback, now, limits)


def request_id(attrs: dict[str, Any], trace_id: str | None) -> str | None:
    """A ``request_id`` attribute (or the ``x-request-id`` header one), else the trace id."""
    return sp.request_id_from(attrs, trace_id)
