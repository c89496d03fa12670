"""Sentry payloads -> the rows the Lookout ingest produces (pure, no I/O).

Events become ``errors`` rows exactly like ``collector.normalize.error_row``
builds them (so grouping, the read API and the UI treat both SDKs alike);
``log`` items become ``logs`` rows and ``trace_metric`` items ``metric_points``
rows. Sentry payloads are untyped JSON, so every field is checked for its type
and odd values are dropped or clipped rather than failing the whole event:
an SDK cannot fix what it sent, and Relay is lenient the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from collector import normalize as n
from collector.sentry import clock
from collector.sentry.logentry import interpolate
from collector.users import user_key

_encode = msgspec.json.Encoder().encode
MAX_FRAMES = n.MAX_FRAMES
MAX_BREADCRUMBS = 100
SENTRY_LEVELS = {"fatal": 50, "critical": 50, "error": 40, "warning": 30, "warn": 30,
                 "info": 20, "log": 20, "debug": 10, "trace": 5}
METRIC_KINDS = {"counter": "counter", "gauge": "gauge", "distribution": "histogram"}
# Attributes every SDK adds by itself: kept on the record, left out of metric tags
# (they would split every series by SDK version and host).
_SDK_ATTRIBUTE_PREFIXES = ("sentry.", "process.", "server.", "user.", "thread.", "code.")
_FRAME_FIELDS: dict[str, type] = {
    "filename": str, "abs_path": str, "function": str, "module": str, "context_line": str,
    "package": str, "platform": str, "lineno": int, "colno": int, "pre_context": list,
    "post_context": list, "vars": dict, "in_app": bool}
_EXTRA_KEYS = ("contexts", "user", "request", "transaction", "server_name", "logentry")
STACK_SHARE = 4
"""A stack sent outside the exceptions gets a quarter of ``max_json_bytes`` of the extra,
as each other part of it (contexts, request...) does."""
LEGACY_MESSAGE = "sentry.interfaces.Message"
"""raven's name for ``logentry`` (Relay reads it as ``logentry`` too)."""


def _label(value: Any, limits: n.Limits) -> str:
    """A label that is an index key: 200 characters and ``max_label_bytes`` at most.

    Cut rather than rejected: Sentry events are lenient everywhere (see above).
    """
    return n.cut_bytes(_str(value), limits.max_label_bytes)


def _str(value: Any, limit: int = 200) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ts(value: Any, now: float, limits: n.Limits) -> float:
    """The event time; clamped to ``now`` when missing, malformed or in the future."""
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        return now
    try:
        return n.parse_ts(value, now, limits)
    except (n.RecordError, ValueError, OverflowError):
        return now


def _request_id(value: Any) -> str | None:
    try:
        return n.check_request_id(_str(value, 300) or None)
    except n.RecordError:
        return None


def _request_header(headers: Any, name: str) -> Any:
    """A request header by name, case-insensitively (a dict or a list of pairs)."""
    if isinstance(headers, dict):
        pairs: Any = headers.items()
    elif isinstance(headers, list):
        pairs = [p for p in headers if isinstance(p, list) and len(p) == 2]
    else:
        return None
    for key, value in pairs:
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


def request_id_of(event: dict[str, Any], tags: dict[str, str], trace_id: str | None
                  ) -> str | None:
    """The request an event or transaction belongs to.

    A ``request_id`` tag, else the incoming ``X-Request-ID`` header, else the trace id.
    """
    return (_request_id(tags.get("request_id"))
            or _request_id(_request_header(_dict(event.get("request")).get("headers"),
                                           "x-request-id"))
            or _request_id(trace_id))


def _tags(value: Any, limits: n.Limits) -> dict[str, str]:
    """Tags as a dict (at most ``max_items``); Sentry also allows ``[key, value]`` pairs."""
    if isinstance(value, dict):
        pairs: Any = value.items()
    elif isinstance(value, list):
        pairs = (p for p in value if isinstance(p, list) and len(p) == 2)
    else:
        return {}
    tags: dict[str, str] = {}
    for key, tag in pairs:
        if len(tags) >= limits.max_items:
            break
        tags[_str(key)] = _str(tag)
    return tags


def _frame(raw: Any, limits: n.Limits) -> dict[str, Any]:
    """Keep the known frame fields that have the right type (hot path: one pass)."""
    if not isinstance(raw, dict):
        return {}
    frame: dict[str, Any] = {}
    longest = limits.max_string_length
    for key, value in raw.items():
        kind = _FRAME_FIELDS.get(key)
        if kind is None or value is None:
            continue
        if kind is str:
            if isinstance(value, str):
                frame[key] = value if len(value) <= longest else n.clip(value, limits)
        elif kind is list:
            if isinstance(value, list):
                frame[key] = [line if len(line) <= longest else n.clip(line, limits)
                              for line in value if isinstance(line, str)]
        elif kind is int:
            if type(value) is int:
                frame[key] = value
        elif isinstance(value, kind):
            frame[key] = value
    return n.bounded_frame(frame, limits)


def _mechanism(raw: dict[str, Any]) -> dict[str, Any]:
    """Type and handled, plus the ``ExceptionGroup`` tree fields grouping needs."""
    out: dict[str, Any] = {"type": _str(raw.get("type")) or "generic",
                           "handled": raw.get("handled")
                           if isinstance(raw.get("handled"), bool) else None}
    for key in ("exception_id", "parent_id"):
        if type(raw.get(key)) is int:
            out[key] = raw[key]
    if raw.get("is_exception_group") is True:
        out["is_exception_group"] = True
    if raw.get("synthetic") is True:  # made up by the SDK: its type means nothing
        out["synthetic"] = True
    return out


def _exceptions(value: Any, limits: n.Limits) -> list[dict[str, Any]]:
    """Sentry's ``exception`` (``{"values": [...]}`` or a list), oldest first, in Lookout's shape."""
    values = value.get("values") if isinstance(value, dict) else value
    out = []
    for raw in values if isinstance(values, list) else []:
        if not isinstance(raw, dict):
            continue
        frames = _dict(raw.get("stacktrace")).get("frames")
        frames = frames[-MAX_FRAMES:] if isinstance(frames, list) else []
        mechanism = raw.get("mechanism")
        out.append({
            # Empty when not sent: a JavaScript captureMessage with attachStacktrace
            # sends a synthetic exception without a type (titled by its value).
            "type": _str(raw.get("type")),
            "value": n.clip(_str(raw.get("value"), limits.max_string_length + 1), limits),
            "module": _str(raw.get("module")) or None,
            "mechanism": _mechanism(mechanism) if isinstance(mechanism, dict) else None,
            "frames": [_frame(f, limits) for f in frames],
        })
    return out


def _message(event: dict[str, Any], limits: n.Limits) -> tuple[str, dict[str, Any] | None]:
    """The displayed message and the ``logentry`` (whose ``message`` is the template).

    Without ``formatted`` (sentry-sdk before 2.26, raven) the template is filled
    with its ``params`` (:func:`collector.sentry.logentry.interpolate`). raven's
    ``sentry.interfaces.Message`` is read as ``logentry`` and marked ``legacy``:
    grouping versions before 3 did not read it (see ``collector.grouping``).
    """
    logentry = event.get("logentry")
    legacy = False
    if not isinstance(logentry, dict) and isinstance(event.get(LEGACY_MESSAGE), dict):
        logentry, legacy = event[LEGACY_MESSAGE], True
    message = event.get("message")
    if isinstance(message, dict):  # the older "message interface"
        logentry = logentry or message
        message = None
    shown = _str(message, 100_000)
    if isinstance(logentry, dict):
        template = _str(logentry.get("message"), 10_000)
        params = logentry.get("params")
        formatted = (_str(logentry.get("formatted"), 100_000)
                     or interpolate(template, params, max_params=limits.max_items,
                                    max_param_chars=limits.max_string_length))
        entry: dict[str, Any] = {"message": template, "params": params}
        if legacy:
            entry["legacy"] = True
        # raven repeats the template as the plain message: the filled-in text wins.
        return (shown if shown and shown != template else formatted), entry
    return shown, None


def _thread_stack(threads: Any) -> tuple[list[Any], str] | None:
    """The frames of the thread that tells what happened, and the thread's name.

    The crashed thread, else the current one (sentry-sdk's ``attach_stacktrace``
    sends only that), else the only thread that has a stack.
    """
    values = threads.get("values") if isinstance(threads, dict) else threads
    stacked = []
    for thread in values if isinstance(values, list) else []:
        frames = _dict(_dict(thread).get("stacktrace")).get("frames")
        if isinstance(frames, list) and frames:
            stacked.append((thread, frames))
    chosen = (next((t for t in stacked if t[0].get("crashed") is True), None)
              or next((t for t in stacked if t[0].get("current") is True), None)
              or (stacked[0] if len(stacked) == 1 else None))
    if chosen is None:
        return None
    return chosen[1], _str(chosen[0].get("name") or chosen[0].get("id"), 100)


def event_stack(event: dict[str, Any], limits: n.Limits) -> dict[str, Any] | None:
    """A stack the event carries outside its exceptions, in the shape grouping reads.

    A top-level ``stacktrace`` (Elixir, older SDKs) or a thread's stack
    (``attach_stacktrace`` messages, native crashes): ``{"frames": [...],
    "source": "stacktrace" | "thread", "thread": name}``, innermost frames kept.
    """
    frames = _dict(event.get("stacktrace")).get("frames")
    stack: dict[str, Any] = {"source": "stacktrace"}
    if not isinstance(frames, list) or not frames:
        found = _thread_stack(event.get("threads"))
        if found is None:
            return None
        frames, name = found
        stack = {"source": "thread", "thread": name} if name else {"source": "thread"}
    # Extra is bounded to ``max_items`` per list and is trimmed depth first when over
    # its budget: keep the frames nearest the crash, and fit them in their share here.
    kept = [f for f in (_frame(f, limits) for f in frames[-min(MAX_FRAMES, limits.max_items):])
            if f]
    if not kept:
        return None
    return {"frames": n.fitted_frames(kept, limits.max_json_bytes // STACK_SHARE), **stack}


def event_row(project_id: int, event: dict[str, Any], now: float, limits: n.Limits,
              fallback_event_id: str | None = None,
              attachments: list[str] | None = None,
              drift: clock.Drift | None = None) -> dict[str, Any]:
    """One Sentry error/message event as an ``errors`` row (see ``normalize.error_row``).

    ``attachments``: the ``attachment_type`` of each attachment sent with the event
    (``event.minidump``...), kept because it tells crash reports apart in grouping.
    ``drift``: the sending device's clock error (:mod:`collector.sentry.clock`).
    """
    ts, time_meta = clock.event_time(event.get("timestamp"), now, limits, drift)
    exceptions = _exceptions(event.get("exception"), limits)
    message, logentry = _message(event, limits)
    if not message and exceptions:
        last = exceptions[-1]
        kind = last["type"] or "Error"
        message = f"{kind}: {last['value']}" if last["value"] else kind
        if not last["type"] and (last["mechanism"] or {}).get("synthetic") and last["value"]:
            message = last["value"]  # as it is titled (collector.grouping._title)
    tags = _tags(event.get("tags"), limits)
    trace = _dict(_dict(event.get("contexts")).get("trace"))
    trace_id = _str(trace.get("trace_id"), 64) or None
    raw_id = event.get("event_id") if isinstance(event.get("event_id"), str) else None
    try:
        event_id = n.normalize_event_id(raw_id or fallback_event_id)
    except n.RecordError:
        event_id = uuid.uuid4().hex  # Relay also replaces an unusable id
    # Each part gets a share of the budget, so one huge context cannot push out the
    # rest; the whole is bounded again below.
    share = limits.max_json_bytes // 4
    extra: dict[str, Any] = {}
    if not any(e["frames"] for e in exceptions):
        # First: what is over a budget is trimmed depth first, so the stack keeps its
        # frames (on the page too, whose budget for the extra is smaller).
        stack = event_stack(event, limits)
        if stack is not None:
            extra["stacktrace"] = n.shrunk(stack, limits, "event",
                                           limits.max_json_bytes // STACK_SHARE)
    extra.update((k, n.shrunk(event[k], limits, "event", share))
                 for k in _EXTRA_KEYS if event.get(k))
    if logentry is not None:
        extra["logentry"] = n.shrunk(logentry, limits, "event", share)
    culprit = event.get("culprit")
    if isinstance(culprit, str) and culprit.strip():  # legacy, but honoured as in Sentry
        extra["culprit"] = _str(culprit.strip())
    if tags:
        extra["tags"] = tags
    if time_meta is not None:  # what the event said, as Relay's _meta keeps it
        extra["_meta"] = {"timestamp": time_meta}
    if attachments:
        extra["attachments"] = sorted({_str(a, 100) for a in attachments})[:20]
    fingerprint = event.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint:
        extra["fingerprint"] = [_str(p) for p in fingerprint[:limits.max_items]]
    crumbs = event.get("breadcrumbs")
    crumbs = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
    if isinstance(crumbs, list) and crumbs:
        # Trimmed newest first, so what a tight budget drops is the oldest crumbs.
        newest = n.shrunk(crumbs[-MAX_BREADCRUMBS:][::-1], limits, "event",
                          limits.max_json_bytes // 2)
        extra["breadcrumbs"] = newest[::-1]
    sdk = _dict(event.get("sdk"))
    if sdk:
        extra["sdk"] = {"name": _str(sdk.get("name")), "version": _str(sdk.get("version"))}
    handled = None
    if exceptions and exceptions[-1]["mechanism"] is not None:
        handled = exceptions[-1]["mechanism"]["handled"]
    attributes = {_str(k): v for k, v in list(_dict(event.get("extra")).items())
                  [: limits.max_attributes]}
    return {
        "project_id": project_id,
        "ts": ts,
        "received_at": now,
        "service": _label(tags.get("service", ""), limits),
        "environment": _label(event.get("environment"), limits),
        "release": _label(event.get("release"), limits),
        "host": _label(event.get("server_name"), limits),
        "request_id": request_id_of(event, tags, trace_id),
        "trace_id": trace_id,
        "attributes": n.attributes_json(attributes, limits),
        "event_id": event_id,
        "level": SENTRY_LEVELS.get(_str(event.get("level")).lower(), 40),
        "logger": _label(event.get("logger"), limits),
        "message": n.clip(message or "<unlabeled event>", limits),
        "exception": n.exceptions_json(exceptions, limits),
        "platform": _str(event.get("platform"), 50) or "other",
        "source": "sentry",
        "handled": handled,
        # Every part was bounded above (shrunk, or capped tags and fingerprint).
        "extra": n.bounded_json(extra, limits, "event", parts_bounded=True),
        "user": user_key(event.get("user")),  # not a column: the "user" tag
        "tags": tags,  # not a column: counted per issue (collector.issues)
    }


def _flat_attributes(value: Any) -> dict[str, Any]:
    """``{"k": {"value": v, "type": t}}`` -> ``{"k": v}`` (plain values are kept as they are)."""
    out = {}
    for key, attr in _dict(value).items():
        out[_str(key)] = attr.get("value") if isinstance(attr, dict) and "value" in attr else attr
    return out


def _capped(attrs: dict[str, Any], limits: n.Limits) -> str:
    return n.attributes_json(dict(list(attrs.items())[: limits.max_attributes]), limits)


def _container_items(payload: dict[str, Any]) -> list[dict[str, Any]]:
    items = payload.get("items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def log_rows(project_id: int, payload: dict[str, Any], now: float, limits: n.Limits,
             drift: clock.Drift | None = None) -> tuple[list[tuple[Any, ...]], int]:
    """Rows of a ``log`` item and the number of its records that were unusable."""
    rows, bad = [], 0
    for item in _container_items(payload):
        body = item.get("body")
        if not isinstance(body, str):
            bad += 1
            continue
        attrs = _flat_attributes(item.get("attributes"))
        span_id = _str(item.get("span_id"), 32)
        if span_id and "span_id" not in attrs:  # its span, for the request page's waterfall
            attrs = {"span_id": span_id.lower(), **attrs}
        try:
            attributes = _capped(attrs, limits)
        except n.RecordError:  # nested too deeply to store
            bad += 1
            continue
        trace_id = _str(item.get("trace_id"), 64) or None
        level = SENTRY_LEVELS.get(_str(item.get("level")).lower(), 20)
        rows.append((
            project_id, clock.record_time(item.get("timestamp"), now, limits, drift), now,
            _label(attrs.get("service.name") or attrs.get("service"), limits),
            _label(attrs.get("sentry.environment"), limits),
            _label(attrs.get("sentry.release"), limits),
            _label(attrs.get("server.address"), limits),
            _request_id(attrs.get("request_id")) or _request_id(trace_id), trace_id,
            attributes, level, _label(attrs.get("logger.name"), limits),
            n.clip(body, limits),
        ))
    return rows, bad


def metric_rows(project_id: int, payload: dict[str, Any], now: float, limits: n.Limits,
                drift: clock.Drift | None = None) -> tuple[list[tuple[Any, ...]], int]:
    """Rows of a ``trace_metric`` item (one point per metric) and the unusable count."""
    rows, bad = [], 0
    for item in _container_items(payload):
        kind = METRIC_KINDS.get(_str(item.get("type")))
        value = item.get("value")
        name = _label(item.get("name"), limits)
        if kind is None or not name or not n.is_measurement(value):
            bad += 1
            continue
        attrs = _flat_attributes(item.get("attributes"))
        tags = {k: _str(v) for k, v in sorted(attrs.items())
                if not k.startswith(_SDK_ATTRIBUTE_PREFIXES)}
        tags = dict(list(tags.items())[: limits.max_attributes])
        trace_id = _str(item.get("trace_id"), 64) or None
        value = float(value)
        rows.append((
            project_id, clock.record_time(item.get("timestamp"), now, limits, drift), now,
            _label(attrs.get("service.name") or attrs.get("service"), limits),
            _label(attrs.get("sentry.environment"), limits),
            _label(attrs.get("sentry.release"), limits),
            _label(attrs.get("server.address"), limits),
            _request_id(attrs.get("request_id")), trace_id, _capped(attrs, limits),
            name, kind, value, 1, value, value, value,
            _encode(tags).decode() if tags else "{}", "",
        ))
    return rows, bad
