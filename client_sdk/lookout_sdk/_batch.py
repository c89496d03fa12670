"""Pure pieces of delivery: encoding records, assembling a body, retry timing.

Kept free of threads and I/O so the rules are unit-tested directly. Each
record is encoded on its own so that one record that cannot be encoded (or
is too big) is dropped alone instead of spoiling the whole batch.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import math
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lookout_sdk._serialize import normalize

KINDS = ("logs", "errors", "metrics", "requests")
MAX_RECORD_BYTES = 512 * 1024
MAX_RETRY_AFTER = 300.0

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _refuse(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


def _make_fast_dumps() -> Any:
    """One reused C encoder: half the cost of ``json.dumps`` per small record.

    Records are normalised trees (no cycles), so the circular-reference
    markers are off; a cycle a ``before_send`` hook introduces ends in
    RecursionError, which :func:`encode_record` handles.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:
        return _dumps
    encoder = make(None, _refuse, basestring, None, ":", ",", False, False, False)
    return lambda obj: "".join(encoder(obj, 0))


_fast_dumps = _make_fast_dumps()


def new_batch_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Batch:
    """Encoded records on their way; retried as a unit, split in two on 413.

    ``batch_id`` is sent as ``X-Lookout-Batch-Id`` and stays the same across
    retries: when the collector stored a batch but its answer was lost (a
    crash, a dropped connection, a proxy's 502), the retry is recognised and
    nothing is stored twice. The halves of a split batch are new batches.
    """

    items: list[tuple[str, bytes]]
    dropped: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    batch_id: str = field(default_factory=new_batch_id)

    def split(self) -> tuple[Batch, Batch]:
        half = len(self.items) // 2
        return Batch(self.items[:half], self.dropped), Batch(self.items[half:])


def encode_record(record: dict[str, Any]) -> bytes | None:
    """The record as compact JSON, or None when it cannot be sent.

    Values that JSON cannot carry (NaN, arbitrary objects) are normalised and
    the encoding retried; an error too large to send loses its local variables
    first, then is dropped.
    """
    try:
        data = _fast_dumps(record).encode()
    except (TypeError, ValueError, RecursionError):
        try:
            data = _dumps(normalize(record, 8)).encode()
        except (TypeError, ValueError, RecursionError):
            return None
    if len(data) <= MAX_RECORD_BYTES:
        return data
    if record.get("exception"):
        for exc in record["exception"]:
            for frame in exc.get("frames") or ():
                frame.pop("vars", None)
        return encode_record_once(record)
    return None


def encode_record_once(record: dict[str, Any]) -> bytes | None:
    try:
        data = _dumps(normalize(record, 8)).encode()
    except (TypeError, ValueError, RecursionError):
        return None
    return data if len(data) <= MAX_RECORD_BYTES else None


def build_body(batch: Batch, resource: Mapping[str, Any]) -> bytes:
    """The ingest JSON body for ``batch`` (uncompressed)."""
    groups: dict[str, list[bytes]] = {}
    for kind, data in batch.items:
        groups.setdefault(kind, []).append(data)
    parts = [b'"resource":' + _dumps(dict(resource)).encode()]
    for kind in KINDS:
        if kind in groups:
            parts.append(b'"' + kind.encode() + b'":[' + b",".join(groups[kind]) + b"]")
    if batch.dropped:
        parts.append(b'"dropped":' + _dumps(batch.dropped).encode())
    return b"{" + b",".join(parts) + b"}"


def compress(body: bytes) -> bytes:
    """gzip at level 1: most of the size win for repetitive JSON at a third of level 6's CPU."""
    return gzip.compress(body, compresslevel=1, mtime=0)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or HTTP date), clamped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempts: int, base: float = 0.5, cap: float = 10.0,
                  rng: random.Random | None = None) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempts-1)`` capped, times 0.5-1.0.

    The jitter keeps many app instances from retrying in lockstep after the
    collector comes back.
    """
    exp = min(cap, base * (2 ** max(0, min(attempts - 1, 30))))
    return exp * (rng or random).uniform(0.5, 1.0)


def is_retryable(status: int) -> bool:
    """429, 408 and 5xx mean "not stored, try later"; other 4xx will never succeed."""
    return status in (408, 429) or status >= 500
