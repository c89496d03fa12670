"""Turn validated records into database rows, applying the documented limits.

Pure functions (no I/O) so the rules are unit-tested directly:

- timestamps: epoch seconds or RFC 3339; missing means "now"; more than
  ``max_future_seconds`` ahead, NaN/inf or before 1970 is rejected;
- strings longer than ``max_string_length`` are truncated (like Sentry does),
  never rejected, so a huge message still arrives;
- more than ``max_attributes`` attributes rejects the record (it says so);
- request IDs are 1-200 printable ASCII characters without spaces, so they
  are safe in headers, URLs and logs;
- numbers that feed rollup sums (metric values, counts, request durations)
  have bounds far beyond any real measurement, so no sum of them can overflow
  a double or a 64-bit integer (PostgreSQL refuses an overflowing value,
  failing the whole write and every later one to the same rollup row).
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from collector import schema, users
from collector.buckets import BOUNDS, bucket_index

LEVELS: dict[str, int] = {
    "trace": 5, "debug": 10, "info": 20, "notice": 25, "warn": 30, "warning": 30,
    "error": 40, "critical": 50, "fatal": 50,
}
LEVEL_NAMES: dict[int, str] = {5: "trace", 10: "debug", 20: "info", 25: "notice", 30: "warning",
                               40: "error", 50: "fatal"}

REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")
EVENT_ID_RE = re.compile(r"[0-9a-f]{32}")
TRUNCATED = "…[truncated]"

LOG_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
               "request_id", "trace_id", "attributes", "level", "logger", "message")
METRIC_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
                  "request_id", "trace_id", "attributes", "name", "kind", "value", "count", "sum",
                  "min", "max", "tags", "buckets")
REQUEST_COLUMNS = ("project_id", "ts", "received_at", "service", "environment", "release", "host",
                   "request_id", "trace_id", "attributes", "method", "route", "status",
                   "duration_ms", "unhandled")

MAX_MAGNITUDE = 1e100  # metric values, sums, durations: 1e200 records to overflow a double
MAX_COUNT = 1_000_000_000  # observations per metric record (and per histogram bucket)
MAX_DURATION_MS = 1e12  # about 31 years
# Stored JSON (attributes, exception chains, extra) is decoded again when read and when
# grouped, from deeper call stacks than ingest's: data nested near the decoder's ~1000
# levels would be stored and then unreadable. Real data nests a few levels.
MAX_DEPTH = 100
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")

_json_encode = msgspec.json.Encoder().encode


class RecordError(ValueError):
    """One record is invalid; the message names the field and the reason."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_attributes: int = 64
    max_string_length: int = 16_384
    max_future_seconds: float = 300.0


@dataclass(slots=True)
class RowBatch:
    """Rows ready for the writer, grouped by table (tuples follow the *_COLUMNS orders)."""

    logs: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[tuple[Any, ...]] = field(default_factory=list)
    # Span rows in collector.spans.SPAN_COLUMNS order (Sentry transactions, OTLP traces).
    spans: list[tuple[Any, ...]] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.logs) + len(self.errors) + len(self.metrics) + len(self.requests)
                + len(self.spans))

    def extend(self, other: RowBatch) -> None:
        self.logs.extend(other.logs)
        self.errors.extend(other.errors)
        self.metrics.extend(other.metrics)
        self.requests.extend(other.requests)
        self.spans.extend(other.spans)


def parse_ts(value: float | str | None, now: float, limits: Limits) -> float:
    """Epoch seconds from a float or an RFC 3339 string; ``now`` when missing."""
    if value is None:
        return now
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise RecordError(f"ts: not an RFC 3339 timestamp: {value[:40]!r}") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ts = dt.timestamp()
    else:
        ts = float(value)
        if not math.isfinite(ts):
            raise RecordError("ts: must be a finite number")
        if ts > 1e11:  # milliseconds by mistake are common; accept them
            ts /= 1000.0
    if ts < 0:
        raise RecordError("ts: must not be before 1970")
    if ts > now + limits.max_future_seconds:
        raise RecordError(f"ts: {ts - now:.0f}s in the future (limit {limits.max_future_seconds:.0f}s)")
    return ts


def is_measurement(value: Any) -> bool:
    """A finite int or float of magnitude at most MAX_MAGNITUDE (no bool, no huge int)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return abs(value) <= MAX_MAGNITUDE  # False for NaN too; exact for any int


def check_depth(json_text: str, what: str) -> str:
    """``json_text`` (as msgspec encodes it) unless it nests deeper than MAX_DEPTH.

    Counting brackets bounds the depth, so the exact scan (strings removed by a
    regex, then the brackets walked) runs only for texts with many containers.
    """
    if json_text.count("[") + json_text.count("{") <= MAX_DEPTH:
        return json_text
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", json_text)):
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise RecordError(f"{what}: nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1
    return json_text


def clip(text: str | None, limits: Limits) -> str:
    if not text:
        return ""
    if len(text) > limits.max_string_length:
        return text[: limits.max_string_length] + TRUNCATED
    return text


def level_number(name: str) -> int:
    try:
        return LEVELS[name.lower()]
    except KeyError:
        raise RecordError(f"level: unknown level {name[:20]!r} (use one of "
                          "debug, info, warning, error, fatal)") from None


def check_request_id(value: str | None, field_name: str = "request_id") -> str | None:
    if value is None or value == "":
        return None
    if not REQUEST_ID_RE.fullmatch(value):
        raise RecordError(f"{field_name}: must be 1-200 printable ASCII characters without spaces")
    return value


def attributes_json(attrs: dict[str, Any], limits: Limits) -> str:
    """Attributes as JSON text; over-long string values are truncated."""
    if not attrs:
        return "{}"
    if len(attrs) > limits.max_attributes:
        raise RecordError(f"attributes: {len(attrs)} attributes, more than the limit of "
                          f"{limits.max_attributes}")
    text = _json_encode(attrs)
    if len(text) > limits.max_string_length:  # only then can a single value be too long
        text = _json_encode({key[:200]: clip(value, limits) if isinstance(value, str) else value
                             for key, value in attrs.items()})
    out = text.decode()
    # A text of N characters nests at most N/2 levels: typical attributes skip the call.
    return out if len(out) <= 2 * MAX_DEPTH else check_depth(out, "attributes")


def _common_row(project_id: int, rec: schema._Common, res: schema.Resource | None, now: float,
                limits: Limits) -> tuple[Any, ...]:
    """The shared leading columns; field lengths were already checked by msgspec."""
    ts = now if rec.ts is None else parse_ts(rec.ts, now, limits)
    if res is None:
        labels = (rec.service or "", rec.environment or "", rec.release or "", rec.host or "")
    else:
        labels = (rec.service or res.service or "", rec.environment or res.environment or "",
                  rec.release or res.release or "", rec.host or res.host or "")
    return (project_id, ts, now, *labels, rec.request_id or None, rec.trace_id or None,
            attributes_json(rec.attributes, limits))


def log_row(project_id: int, rec: schema.LogIn, res: schema.Resource | None, now: float,
            limits: Limits) -> tuple[Any, ...]:
    level = LEVELS.get(rec.level) or level_number(rec.level)
    message = rec.message
    if len(message) > limits.max_string_length:
        message = clip(message, limits)
    return _common_row(project_id, rec, res, now, limits) + (level, rec.logger or "", message)


def request_row(project_id: int, rec: schema.RequestIn, res: schema.Resource | None, now: float,
                limits: Limits) -> tuple[Any, ...]:
    if not 100 <= rec.status <= 599:
        raise RecordError(f"status: {rec.status} is not an HTTP status (100-599)")
    if not (math.isfinite(rec.duration_ms) and 0 <= rec.duration_ms <= MAX_DURATION_MS):
        raise RecordError(f"duration_ms: must be a number from 0 to {MAX_DURATION_MS:g}")
    return _common_row(project_id, rec, res, now, limits) + (
        rec.method.upper(),
        rec.route,
        rec.status,
        float(rec.duration_ms),
        bool(rec.unhandled),
    )


def metric_row(project_id: int, rec: schema.MetricIn, res: schema.Resource | None, now: float,
               limits: Limits) -> tuple[Any, ...]:
    for name in ("value", "sum", "min", "max"):
        number = getattr(rec, name)
        if number is not None and not is_measurement(number):
            raise RecordError(f"{name}: must be a finite number of magnitude at most "
                              f"{MAX_MAGNITUDE:g}")
    count = rec.count if rec.count is not None else 1
    if not 1 <= count <= MAX_COUNT:
        raise RecordError(f"count: must be from 1 to {MAX_COUNT}")
    if len(rec.tags) > limits.max_attributes:
        raise RecordError(f"tags: more than the limit of {limits.max_attributes}")
    if rec.kind == "counter":
        total, low, high = rec.value, rec.value, rec.value
    else:
        total = rec.sum if rec.sum is not None else rec.value * count
        low = rec.min if rec.min is not None else rec.value
        high = rec.max if rec.max is not None else rec.value
    tags = {k[:200]: v[:200] for k, v in sorted(rec.tags.items())}
    return _common_row(project_id, rec, res, now, limits) + (
        rec.name,
        rec.kind,
        float(rec.value),
        count,
        float(total),
        float(low),
        float(high),
        _json_encode(tags).decode() if tags else "{}",
        _metric_buckets_json(rec),
    )


def _metric_buckets_json(rec: schema.MetricIn) -> str:
    """Client-side histogram buckets mapped onto the server's fixed bounds ("" if none)."""
    if rec.buckets is None:
        return ""
    counts = [0] * len(BOUNDS)
    for bound_text, n in rec.buckets.items():
        try:
            bound = math.inf if bound_text.lower() in {"+inf", "inf"} else float(bound_text)
        except ValueError:
            raise RecordError(f"buckets: {bound_text[:20]!r} is not a number") from None
        if not 0 <= n <= MAX_COUNT:
            raise RecordError(f"buckets: counts must be from 0 to {MAX_COUNT}")
        counts[bucket_index(bound)] += n
    return _json_encode(counts).decode()


def normalize_event_id(value: str | None) -> str:
    if value is None:
        return uuid.uuid4().hex
    compact = value.replace("-", "").lower()
    if not EVENT_ID_RE.fullmatch(compact):
        raise RecordError("event_id: must be 32 hexadecimal characters")
    return compact


def error_row(project_id: int, rec: schema.ErrorIn, res: schema.Resource | None, now: float,
              limits: Limits) -> dict[str, Any]:
    if not rec.exception and not rec.message:
        raise RecordError("an error needs 'exception' (a list) or 'message'")
    common = _common_row(project_id, rec, res, now, limits)
    exceptions = [msgspec.structs.asdict(e) for e in (rec.exception or [])]
    for exc in exceptions:
        exc["value"] = clip(exc["value"], limits)
        exc["frames"] = [
            {k: v for k, v in msgspec.structs.asdict(f).items() if v is not None}
            for f in exc["frames"]
        ]
        if exc["mechanism"] is not None:
            exc["mechanism"] = msgspec.structs.asdict(exc["mechanism"])
    message = rec.message
    if not message and exceptions:
        last = exceptions[-1]
        message = f"{last['type']}: {last['value']}" if last["value"] else last["type"]
    handled = rec.handled
    if handled is None and rec.exception:
        mech = rec.exception[-1].mechanism
        handled = mech.handled if mech is not None else None
    extra: dict[str, Any] = {}
    if rec.tags:
        extra["tags"] = rec.tags
    if rec.fingerprint:
        extra["fingerprint"] = rec.fingerprint
    return dict(
        zip(LOG_COLUMNS[:10], common),
        event_id=normalize_event_id(rec.event_id),
        level=level_number(rec.level),
        logger=rec.logger or "",
        message=clip(message, limits),
        exception=check_depth(_json_encode(exceptions).decode(), "exception"),
        platform=rec.platform or "python",
        source="lookout",
        handled=handled,
        extra=_json_encode(extra).decode(),
        # Not a column: counted per issue as the "user" tag (collector.issues).
        user=users.attributes_user(rec.attributes),
    )


def tags_hash(tags_json: str) -> str:
    return hashlib.blake2b(tags_json.encode(), digest_size=16).hexdigest()
