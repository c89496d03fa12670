"""A configured client: builds records on the app thread, hands them to the worker.

Building a record copies only what can change later (the formatted message,
normalised attributes, the request context) so the rest — scrubbing,
``before_send``, JSON, gzip, HTTP — happens on the sender thread.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from lookout_sdk import _exceptions
from lookout_sdk._context import current_request, current_scope
from lookout_sdk._metrics import Aggregator
from lookout_sdk._options import Options
from lookout_sdk._scrub import Scrubber
from lookout_sdk._serialize import MAX_MESSAGE, clip, normalize, safe_str
from lookout_sdk._worker import Worker

# The collector rejects a record with more than 64 attributes; stay under it.
MAX_ATTRIBUTES = 64
LEVELS = ("trace", "debug", "info", "notice", "warning", "error", "fatal")
_LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "exception": "error", "err": "error"}


def level_name(level: Any) -> str:
    """A collector level name from a logging number or a name; ``info`` if unknown."""
    if isinstance(level, int):
        if level >= 50:
            return "fatal"
        if level >= 40:
            return "error"
        if level >= 30:
            return "warning"
        if level >= 20:
            return "info"
        return "debug" if level >= 10 else "trace"
    if isinstance(level, str):
        low = level.lower()
        low = _LEVEL_ALIASES.get(low, low)
        if low in LEVELS:
            return low
    return "info"


def _bounded(attributes: Any) -> dict[str, Any]:
    """Attributes as a normalised dict of at most ``MAX_ATTRIBUTES`` entries."""
    if not isinstance(attributes, dict):
        return {"value": normalize(attributes)}
    if len(attributes) > MAX_ATTRIBUTES:
        attributes = dict(list(attributes.items())[:MAX_ATTRIBUTES])
    out = normalize(attributes, 3)
    return out if isinstance(out, dict) else {"value": out}


class Client:
    """Everything ``init()`` configured; replaced as a whole on re-init."""

    def __init__(self, options: Options) -> None:
        assert options.dsn is not None
        self.options = options
        self.aggregator = Aggregator()
        self.worker = Worker(
            url=options.dsn.ingest_url,
            headers={"X-Lookout-Key": options.dsn.public_key,
                     "Content-Type": "application/json", "Content-Encoding": "gzip",
                     "User-Agent": "lookout-sdk/0.1"},
            resource=options.resource(),
            transport=options.transport,
            max_queue=options.max_queue,
            flush_interval=options.flush_interval,
            max_batch_records=options.max_batch_records,
            max_batch_bytes=options.max_batch_bytes,
            scrubber=Scrubber(options.scrub_keys),
            before_send=options.before_send,
            metric_source=self.aggregator.collect,
        )
        self.aggregator._on_overflow = lambda n: self.worker.count_dropped("metrics", n)
        self.worker.start()

    # --- records --------------------------------------------------------------------------

    def _stamp(self, record: dict[str, Any]) -> dict[str, Any]:
        ctx = current_request.get()
        if ctx is not None:
            record["request_id"] = ctx.request_id
            if ctx.attributes:
                attrs = record.setdefault("attributes", {})
                for key, value in ctx.attributes.items():
                    if len(attrs) >= MAX_ATTRIBUTES:
                        break
                    attrs.setdefault(key, normalize(value))
        return record

    def _stamp_error(self, record: dict[str, Any]) -> dict[str, Any]:
        """Request context plus the scope: user (as the ``user`` attribute), tags, contexts."""
        self._stamp(record)
        scope = current_scope()
        if scope.user or scope.contexts:
            attrs = record.setdefault("attributes", {})
            if scope.user and len(attrs) < MAX_ATTRIBUTES:
                attrs.setdefault("user", dict(scope.user))
            if scope.contexts and len(attrs) < MAX_ATTRIBUTES:
                attrs.setdefault("contexts", normalize(scope.contexts, 4))
        if scope.tags:
            record["tags"] = dict(scope.tags)
        return record

    def send_log(self, record: dict[str, Any]) -> None:
        self.worker.enqueue("logs", self._stamp(record))

    def capture_exception(self, exc: BaseException, *, level: str = "error",
                          handled: bool = True, mechanism: str = "generic",
                          message: str | None = None, logger: str | None = None,
                          attributes: dict[str, Any] | None = None,
                          ts: float | None = None) -> str:
        event_id = uuid.uuid4().hex
        record: dict[str, Any] = {
            "event_id": event_id,
            "ts": ts if ts is not None else time.time(),
            "level": level_name(level),
            "handled": handled,
            "exception": _exceptions.exception_values(
                exc, mechanism, handled, self.options.include_local_variables),
        }
        if message:
            record["message"] = clip(message, MAX_MESSAGE)
        if logger:
            record["logger"] = logger[:200]
        if attributes:
            record["attributes"] = _bounded(attributes)
        ctx = current_request.get()
        if ctx is not None and not handled:
            ctx.unhandled = True
        self.worker.enqueue("errors", self._stamp_error(record))
        return event_id

    def capture_message(self, message: Any, level: str = "info",
                        attributes: dict[str, Any] | None = None) -> str:
        event_id = uuid.uuid4().hex
        record: dict[str, Any] = {"event_id": event_id, "ts": time.time(),
                                  "level": level_name(level),
                                  "message": safe_str(message, MAX_MESSAGE) or "(empty)"}
        if attributes:
            record["attributes"] = _bounded(attributes)
        self.worker.enqueue("errors", self._stamp_error(record))
        return event_id

    def send_request(self, record: dict[str, Any]) -> None:
        self.worker.enqueue("requests", record)

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        return self.worker.flush(timeout)

    def close(self, timeout: float) -> bool:
        return self.worker.close(timeout)

    def after_fork(self) -> None:
        self.aggregator.reset()
        self.worker.after_fork()
