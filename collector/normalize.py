"""Turn validated records into database rows, applying the documented limits.

Pure functions (no I/O) so the rules are unit-tested directly:

- timestamps: epoch seconds or RFC 3339; missing means "now"; more than
  ``max_future_seconds`` ahead, NaN/inf or before 1970 is rejected;
- strings longer than ``max_string_length`` are truncated (like Sentry does),
  never rejected, so a huge message still arrives;
- more than ``max_attributes`` attributes rejects the record (it says so);
- nested values (attributes, extra, frame variables, tags) are trimmed to
  ``max_items`` elements per list or object at any depth and a byte budget
  per field, with a marker where something was cut (:mod:`collector.bound`);
- labels that are database index keys (service, environment, release, route,
  metric name) may take at most ``max_label_bytes`` / ``max_route_bytes`` in
  UTF-8, because PostgreSQL's b-tree limit (2704 bytes per index row) counts
  bytes, not characters: over it, the record is rejected, where otherwise its
  write would fail for ever; display-only labels (host, logger) are cut instead;
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

from collector import bound, schema, users
from collector.buckets import BOUNDS, bucket_index

LEVELS: dict[str, int] = {
    "trace": 5, "debug": 10, "info": 20, "notice": 25, "warn": 30, "warning": 30,
    "error": 40, "critical": 50, "fatal": 50,
}
LEVEL_NAMES: dict[int, str] = {5: "trace", 10: "debug", 20: "info", 25: "notice", 30: "warning",
                               40: "error", 50: "fatal"}

REQUEST_ID_RE = re.compile(r"[\x21-\x7e]{1,200}")
EVENT_ID_RE = re.compile(r"[0-9a-f]{32}")
TRUNCATED = bound.TRUNCATED

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
# Stack frames kept per exception (the innermost ones), as Sentry's SDKs do.
MAX_FRAMES = 250
# When an exception chain is over its byte budget, these innermost frames of each
# exception keep their variables and context lines longest.
DETAILED_FRAMES = 10
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")

_json_encode = msgspec.json.Encoder().encode


class RecordError(ValueError):
    """One record is invalid; the message names the field and the reason."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The per-record limits (the ``LOOKOUT_MAX_*`` settings of the same names)."""

    max_attributes: int = 64
    max_string_length: int = 16_384
    max_future_seconds: float = 300.0
    max_items: int = 100
    max_json_bytes: int = 65_536
    max_exception_bytes: int = 262_144
    max_frame_vars_bytes: int = 4_096
    max_label_bytes: int = 512
    max_route_bytes: int = 1_024
    max_past_seconds: float = 30 * 86400.0  # Sentry event times (collector.sentry.clock)
    clock_drift_seconds: float = 300.0


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


def bounded_json(value: Any, limits: Limits, what: str, budget: int | None = None,
                 parts_bounded: bool = False) -> str:
    """``value`` as JSON text within the bounds of :mod:`collector.bound` (trimmed, marked).

    ``parts_bounded``: each member of ``value`` was bounded already (:func:`shrunk`)."""
    try:
        text = bound.encode(value, max_items=limits.max_items,
                            max_string_length=limits.max_string_length,
                            budget=budget or limits.max_json_bytes, max_depth=MAX_DEPTH,
                            parts_bounded=parts_bounded)
    except bound.TooDeep as exc:
        raise RecordError(f"{what}: {exc}") from None
    out = text.decode()
    # A text of N characters nests at most N/2 levels: typical values skip the call.
    return out if len(out) <= 2 * MAX_DEPTH else check_depth(out, what)


def shrunk(value: Any, limits: Limits, what: str, budget: int) -> Any:
    """A part of a record (one frame's variables) trimmed to about ``budget`` bytes."""
    try:
        return bound.shrink(value, max_items=limits.max_items,
                            max_string_length=limits.max_string_length, budget=budget,
                            max_depth=MAX_DEPTH)
    except bound.TooDeep as exc:
        raise RecordError(f"{what}: {exc}") from None


UNPARSED_FACTOR = 16
_decode_value = msgspec.json.Decoder().decode


def attribute_values(raw: schema.Attributes, limits: Limits) -> dict[str, Any]:
    """A Lookout SDK record's attributes decoded, except lists and objects too large to keep.

    msgspec skips over each value in C without building it. A list or object
    whose JSON is more than ``UNPARSED_FACTOR`` times the record's JSON budget
    (``LOOKOUT_MAX_JSON_BYTES``, 1 MiB by default) could keep at most a
    sixteenth of itself after trimming; it is replaced by the marker
    ``…[N bytes cut]`` instead of being decoded. Decoding and trimming a
    ten-million-element list took about 0.7 s of the event loop per request,
    so a handful of 20 KB requests stalled every other client's ingest.
    """
    if len(raw) > limits.max_attributes:
        raise RecordError(f"attributes: {len(raw)} attributes, more than the limit of "
                          f"{limits.max_attributes}")
    too_big = limits.max_json_bytes * UNPARSED_FACTOR
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if len(value) > too_big and memoryview(value)[0] in b"[{":
            out[key] = bound.cut(len(value))
        else:
            out[key] = _decode_value(value)
    return out


def attributes_json(attrs: dict[str, Any], limits: Limits) -> str:
    """Attributes as JSON text, trimmed to the bounds (see :func:`bounded_json`)."""
    if not attrs:
        return "{}"
    if len(attrs) > limits.max_attributes:
        raise RecordError(f"attributes: {len(attrs)} attributes, more than the limit of "
                          f"{limits.max_attributes}")
    return bounded_json(attrs, limits, "attributes")


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def check_bytes(value: str, field_name: str, limit: int) -> str:
    """``value`` unless its UTF-8 form is longer than ``limit`` bytes (then RecordError).

    The database's index limit counts bytes; a string of at most limit/4
    characters cannot exceed it, so short values are not encoded.
    """
    if len(value) * 4 > limit and (size := utf8_length(value)) > limit:
        raise RecordError(f"{field_name}: {size} bytes in UTF-8, more than the limit of "
                          f"{limit} (database indexes count bytes, not characters)")
    return value


def cut_bytes(value: str, limit: int) -> str:
    """``value`` cut to at most ``limit`` UTF-8 bytes, on a character boundary."""
    if len(value) * 4 <= limit:
        return value
    data = value.encode("utf-8", "surrogatepass")
    return value if len(data) <= limit else data[:limit].decode("utf-8", "ignore")


def exceptions_json(exceptions: list[dict[str, Any]], limits: Limits) -> str:
    """An exception chain (frames already bounded) as JSON of at most ``max_exception_bytes``.

    Over the budget, detail goes first where it helps least: variables and
    context lines of outer frames, then all variables, then the middle of
    long stacks (a marker frame says how many), then the oldest exceptions of
    the chain; only then is the value cut at its end.
    """
    text = _json_encode(exceptions)
    budget = limits.max_exception_bytes
    if len(text) > budget:
        for step in (_drop_outer_detail, _drop_vars, _drop_middle_frames, _drop_old_causes):
            exceptions = step(exceptions)
            text = _json_encode(exceptions)
            if len(text) <= budget:
                break
        else:
            text = bound.encode(exceptions, max_items=MAX_FRAMES,
                                max_string_length=limits.max_string_length, budget=budget,
                                max_depth=MAX_DEPTH, text=text)
    return check_depth(text.decode(), "exception")


def fitted_frames(frames: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """One stack's frames (outermost first) in about ``budget`` bytes of JSON.

    Cut as :func:`exceptions_json` cuts: the detail of outer frames first, then
    all variables, then the middle of a long stack, then outermost frames; the
    frames nearest the crash keep their detail longest. What is still over (one
    frame) is trimmed with the rest of the record.
    """
    chain = [{"frames": frames}]
    for step in (_drop_outer_detail, _drop_vars, _drop_middle_frames):
        if len(_json_encode(chain)) <= budget:
            break
        chain = step(chain)
    frames = chain[0]["frames"]
    # Still over (huge context lines): the outermost frames go, then the last detail.
    sizes = [len(_json_encode(f)) + 1 for f in frames]
    while len(frames) > 1 and sum(sizes) > budget:
        frames, sizes = frames[1:], sizes[1:]
    return frames


def _drop_outer_detail(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for exc in chain:
        frames = exc["frames"]
        exc["frames"] = [{k: v for k, v in f.items()
                          if k not in ("vars", "pre_context", "post_context")}
                         for f in frames[:-DETAILED_FRAMES]] + frames[-DETAILED_FRAMES:]
    return chain


def _drop_vars(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for exc in chain:
        exc["frames"] = [{k: v for k, v in f.items() if k != "vars"} for f in exc["frames"]]
    return chain


def _drop_middle_frames(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for exc in chain:
        frames = exc["frames"]
        if len(frames) > 2 * DETAILED_FRAMES + 1:
            gone = len(frames) - 2 * DETAILED_FRAMES
            exc["frames"] = [*frames[:DETAILED_FRAMES],
                             {"function": f"…[{gone} frames cut]"},
                             *frames[-DETAILED_FRAMES:]]
    return chain


def _drop_old_causes(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return chain[-3:]


def bounded_frame(frame: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """One frame with its variables and context lines within the bounds."""
    if "vars" in frame:
        frame["vars"] = shrunk(frame["vars"], limits, "frame vars", limits.max_frame_vars_bytes)
    pre = frame.get("pre_context")
    if pre is not None and len(pre) > limits.max_items:
        frame["pre_context"] = pre[-limits.max_items:]  # the lines nearest the current one
    post = frame.get("post_context")
    if post is not None and len(post) > limits.max_items:
        frame["post_context"] = post[:limits.max_items]
    return frame


def _common_row(project_id: int, rec: schema._Common, res: schema.Resource | None, now: float,
                limits: Limits, attrs: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """The shared leading columns; field lengths were already checked by msgspec.

    ``attrs``: the record's :func:`attribute_values`, when the caller needs them too."""
    ts = now if rec.ts is None else parse_ts(rec.ts, now, limits)
    if res is None:
        service, environment, release, host = (rec.service or "", rec.environment or "",
                                               rec.release or "", rec.host or "")
    else:
        service, environment, release, host = (
            rec.service or res.service or "", rec.environment or res.environment or "",
            rec.release or res.release or "", rec.host or res.host or "")
    most = limits.max_label_bytes
    return (project_id, ts, now, check_bytes(service, "service", most),
            check_bytes(environment, "environment", most), check_bytes(release, "release", most),
            cut_bytes(host, most), rec.request_id or None, rec.trace_id or None,
            attributes_json(attribute_values(rec.attributes, limits) if attrs is None else attrs,
                            limits))


def log_row(project_id: int, rec: schema.LogIn, res: schema.Resource | None, now: float,
            limits: Limits) -> tuple[Any, ...]:
    level = LEVELS.get(rec.level) or level_number(rec.level)
    message = rec.message
    if len(message) > limits.max_string_length:
        message = clip(message, limits)
    return _common_row(project_id, rec, res, now, limits) + (
        level, cut_bytes(rec.logger, limits.max_label_bytes) if rec.logger else "", message)


def request_row(project_id: int, rec: schema.RequestIn, res: schema.Resource | None, now: float,
                limits: Limits) -> tuple[Any, ...]:
    if not 100 <= rec.status <= 599:
        raise RecordError(f"status: {rec.status} is not an HTTP status (100-599)")
    if not (math.isfinite(rec.duration_ms) and 0 <= rec.duration_ms <= MAX_DURATION_MS):
        raise RecordError(f"duration_ms: must be a number from 0 to {MAX_DURATION_MS:g}")
    return _common_row(project_id, rec, res, now, limits) + (
        rec.method.upper(),
        check_bytes(rec.route, "route", limits.max_route_bytes),
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
        check_bytes(rec.name, "name", limits.max_label_bytes),
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
    attrs = attribute_values(rec.attributes, limits)
    common = _common_row(project_id, rec, res, now, limits, attrs)
    exceptions = [msgspec.structs.asdict(e) for e in (rec.exception or [])]
    for exc in exceptions:
        exc["value"] = clip(exc["value"], limits)
        exc["frames"] = [
            bounded_frame({k: v for k, v in msgspec.structs.asdict(f).items() if v is not None},
                          limits)
            for f in exc["frames"][-MAX_FRAMES:]
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
        logger=cut_bytes(rec.logger, limits.max_label_bytes) if rec.logger else "",
        message=clip(message, limits),
        exception=exceptions_json(exceptions, limits),
        platform=rec.platform or "python",
        source="lookout",
        handled=handled,
        extra=bounded_json(extra, limits, "extra") if extra else "{}",
        # Not a column: counted per issue as the "user" tag (collector.issues).
        user=users.attributes_user(attrs),
        tags=rec.tags or {},  # not a column: counted per issue (collector.issues)
    )


def tags_hash(tags_json: str) -> str:
    return hashlib.blake2b(tags_json.encode(), digest_size=16).hexdigest()
