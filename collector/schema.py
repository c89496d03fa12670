"""The ingest wire format, as msgspec structs (validated at the boundary).

A batch is decoded in two steps: first the envelope (:class:`IngestBatch`),
whose record lists stay undecoded ``msgspec.Raw``; then each record with its own
typed decoder. That way one bad record is rejected with its index and reason
while the rest of the batch is stored (``202 {"accepted", "rejected"}``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

Timestamp = float | str | None
# Values stay undecoded JSON until collector.normalize.attribute_values looks at their
# size: a 20 KB gzip body can hold a 20 MB list, and turning that into ten million
# Python objects only to trim it held the event loop for most of a second.
Attributes = dict[str, msgspec.Raw]
# Length and character rules are checked by msgspec (in C) while decoding, so
# the per-record Python work in collector.normalize stays small.
Label = Annotated[str, Meta(max_length=200)]
TraceId = Annotated[str, Meta(max_length=64)]
# Printable ASCII, no spaces: safe in headers, URLs and logs. Empty means "none".
RequestId = Annotated[str, Meta(pattern=r"^[\x21-\x7e]{0,200}$")]


class Resource(Struct, forbid_unknown_fields=False):
    """Fields applying to every record of a batch unless the record sets its own."""

    service: Label | None = None
    environment: Label | None = None
    release: Label | None = None
    host: Label | None = None


class IngestBatch(Struct, forbid_unknown_fields=True):
    """The top level of an ingest body. An unknown key is a 400 naming it: ``{"log": [...]}``
    would otherwise be accepted as an empty batch and its records silently lost."""

    logs: list[msgspec.Raw] = []
    errors: list[msgspec.Raw] = []
    metrics: list[msgspec.Raw] = []
    requests: list[msgspec.Raw] = []
    resource: Resource | None = None
    # Counts of records the SDK had to drop (queue overflow), by kind; reported in /metrics.
    dropped: dict[str, int] | None = None


class _Common(Struct, forbid_unknown_fields=False):
    ts: Timestamp = None
    service: Label | None = None
    environment: Label | None = None
    release: Label | None = None
    host: Label | None = None
    request_id: RequestId | None = None
    trace_id: TraceId | None = None
    attributes: Attributes = {}


class LogIn(_Common, kw_only=True):
    message: str
    level: str = "info"
    logger: Label | None = None


class FrameIn(Struct, forbid_unknown_fields=False):
    filename: str | None = None
    abs_path: str | None = None
    function: str | None = None
    module: str | None = None
    lineno: int | None = None
    colno: int | None = None
    context_line: str | None = None
    pre_context: list[str] | None = None
    post_context: list[str] | None = None
    vars: dict[str, Any] | None = None
    in_app: bool | None = None


class MechanismIn(Struct, forbid_unknown_fields=False):
    type: str = "generic"
    handled: bool | None = None


class ExceptionIn(Struct, forbid_unknown_fields=False):
    type: str
    value: str = ""
    module: str | None = None
    mechanism: MechanismIn | None = None
    frames: list[FrameIn] = []


class ErrorIn(_Common, kw_only=True):
    exception: list[ExceptionIn] | None = None
    message: str | None = None
    level: str = "error"
    event_id: str | None = None
    logger: Label | None = None
    handled: bool | None = None
    fingerprint: list[str] | None = None
    tags: dict[str, str] | None = None
    platform: Annotated[str, Meta(max_length=50)] | None = None


MetricKind = Literal["counter", "gauge", "histogram"]


class MetricIn(_Common, kw_only=True):
    """One metric observation, or a client-side aggregate of several.

    ``counter``: ``value`` is the amount added. ``gauge``: ``value`` is the last
    reading. ``histogram``: ``value`` is one observation, unless ``count`` > 1,
    when ``sum``/``min``/``max`` summarise the interval and ``buckets`` maps
    bucket upper bounds (as strings, ``"+Inf"`` last) to counts.
    """

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    kind: MetricKind
    value: float
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    buckets: dict[str, int] | None = None
    tags: dict[str, str] = {}


class RequestIn(_Common, kw_only=True):
    request_id: Annotated[str, Meta(pattern=r"^[\x21-\x7e]{1,200}$")]  # type: ignore[assignment]
    method: Annotated[str, Meta(max_length=16)]
    route: Annotated[str, Meta(max_length=500)]
    status: int
    duration_ms: float
    unhandled: bool = False


batch_decoder = msgspec.json.Decoder(IngestBatch)
log_decoder = msgspec.json.Decoder(LogIn)
error_decoder = msgspec.json.Decoder(ErrorIn)
metric_decoder = msgspec.json.Decoder(MetricIn)
request_decoder = msgspec.json.Decoder(RequestIn)
