"""HTTP layer of the Sentry protocol: ``POST /api/{id}/envelope/`` and ``/api/{id}/store/``.

A request is parsed and validated here, then its rows go through the same
batch writer as Lookout SDK data; grouping into issues and counting happen in
the writer's transaction. The reply (``200 {"id": ...}``) comes once the rows
are committed, which under load takes a few milliseconds thanks to group
commit: well inside the SDK's 2 s flush budget, and nothing acknowledged is
ever lost.

Both endpoints are raw ASGI handlers (see :mod:`lookout.asgi` for why).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.types import Receive, Scope

from collector.batch_ids import Key
from collector.decode import (
    BodyError,
    decode_store_body,
    decompress_off_loop,
    read_limited,
    replace_nul_escapes,
)
from collector.normalize import EVENT_ID_RE as EVENT_ID
from collector.normalize import RecordError, RowBatch
from collector.ratelimit import limit_errors
from collector.sentry import auth, clock, events, transactions
from collector.sentry.envelope import Envelope, EnvelopeError, Item, parse, payload_json
from collector.spans import SPAN_COLUMNS
from lookout import metrics
from lookout.asgi import Handler, Reply, body_chunks, headers_of, query_of, refuse
from lookout.db import now
from lookout.errors import StorageUnavailable
from lookout.ids import MAX_PROJECT_ID, parse_id

if TYPE_CHECKING:
    from lookout.services import Services


@dataclass(slots=True)
class _Converted:
    rows: RowBatch = field(default_factory=RowBatch)
    event_id: str | None = None
    rejected: dict[str, int] = field(default_factory=dict)
    # Transactions' event ids: a retried envelope carrying them stores nothing twice.
    transaction_ids: list[str] = field(default_factory=list)


# Leading columns shared by log and metric rows (collector.normalize.LOG_COLUMNS).
_SERVICE, _ENVIRONMENT, _RELEASE, _HOST = 3, 4, 5, 6


def _with_service(rows: list[tuple[Any, ...]], project_id: int,
                  svc: Any) -> list[tuple[Any, ...]]:
    """Rows without a service of their own get the one their app's events name."""
    out = []
    for row in rows:
        if not row[_SERVICE]:
            known = svc.sentry_services.recall(project_id, row[_HOST], row[_RELEASE],
                                               row[_ENVIRONMENT])
            if known:
                row = (*row[:_SERVICE], known, *row[_SERVICE + 1:])
        out.append(row)
    return out


def _convert(project_id: int, items: list[tuple[Item, dict[str, Any]]],
             envelope_headers: dict[str, Any], received: float, svc: Any,
             attachments: list[str] | None = None, sent_at: Any = None) -> _Converted:
    """Rows of the stored items; ``sent_at``: the client's clock at sending, if it said."""
    out = _Converted()
    drift = clock.drift_of(envelope_headers.get("sent_at") or sent_at, received, svc.limits)
    envelope_event_id = envelope_headers.get("event_id")
    rate = transactions.envelope_sample_rate(envelope_headers)
    for item, payload in items:
        kind = item.type
        if kind == "event" and payload.get("type") == "transaction":
            # A transaction sent as an ``event`` item (or to /store/, whose body is
            # one) is not an error: it takes the transaction path, never an issue.
            kind = "transaction"
        if kind == "event":
            row = events.event_row(project_id, payload, received, svc.limits,
                                   envelope_event_id if isinstance(envelope_event_id, str)
                                   else None, attachments, drift)
            out.rows.errors.append(row)
            out.event_id = out.event_id or row["event_id"]
            svc.sentry_services.learn(project_id, row["host"], row["release"],
                                      row["environment"], row["service"])
        elif kind == "log":
            rows, bad = events.log_rows(project_id, payload, received, svc.limits, drift)
            out.rows.logs.extend(_with_service(rows, project_id, svc))
            if bad:
                out.rejected["log"] = out.rejected.get("log", 0) + bad
        elif kind == "trace_metric":
            rows, bad = events.metric_rows(project_id, payload, received, svc.limits, drift)
            out.rows.metrics.extend(_with_service(rows, project_id, svc))
            if bad:
                out.rejected["metric"] = out.rejected.get("metric", 0) + bad
        elif kind == "transaction":
            try:
                spans, requests = transactions.transaction_rows(project_id, payload, rate,
                                                                received, svc.limits)
            except RecordError:
                out.rejected["transaction"] = out.rejected.get("transaction", 0) + 1
                continue
            out.rows.spans.extend(spans)
            out.rows.requests.extend(requests)
            out.transaction_ids.append(spans[0][SPAN_ID])
            raw_id = payload.get("event_id")
            if isinstance(raw_id, str) and EVENT_ID.fullmatch(raw_id.replace("-", "").lower()):
                out.transaction_ids[-1] = raw_id.replace("-", "").lower()
            out.event_id = out.event_id or out.transaction_ids[-1]
        elif kind == "span":
            spans, requests, bad = transactions.span_item_rows(project_id, payload, rate,
                                                               received, svc.limits)
            out.rows.spans.extend(spans)
            out.rows.requests.extend(requests)
            out.transaction_ids.extend(row[SPAN_ID] for row in spans)
            if bad:
                out.rejected["span"] = out.rejected.get("span", 0) + bad
    return out


def _retry_key(project_id: int, converted: _Converted) -> Key | None:
    """A batch id for an envelope with transactions or spans: a retry stores nothing twice.

    Error events are deduplicated by event id already; spans and request records
    have no such key, so the envelope's transaction event ids (or span ids) are
    claimed like an SDK batch id (:mod:`collector.batch_ids`).
    """
    if not converted.transaction_ids:
        return None
    ids = converted.transaction_ids
    text = ids[0] if len(ids) == 1 else hashlib.blake2b(
        "\n".join(sorted(ids)).encode(), digest_size=16).hexdigest()
    return (project_id, f"sentry-tx-{text}")


SPAN_ID = SPAN_COLUMNS.index("span_id")
_STORED_TYPES = ("event", "log", "trace_metric", "transaction", "span")


async def _handle(svc: Services, project_id: str, scope: Scope, receive: Receive,
                  legacy_store: bool) -> Reply:
    number = parse_id(project_id, MAX_PROJECT_ID)
    if number is None:
        return refuse(404, f"no project {project_id[:40]!r}; project ids are numbers")
    headers = headers_of(scope)
    key = auth.key_from_headers(headers, query_of(scope))
    settings = svc.settings
    try:
        body = await read_limited(body_chunks(receive), headers.get("content-length"),
                                  settings.max_body_bytes)
        body = await decompress_off_loop(body, headers.get("content-encoding"),
                                         settings.max_decompressed_bytes)
        if legacy_store:
            body = decode_store_body(body, settings.max_decompressed_bytes)
        body = replace_nul_escapes(body)
        if legacy_store:
            envelope = Envelope(items=[Item("event", {}, body)])
        else:
            envelope = parse(body)
        key = key or auth.key_from_dsn(envelope.headers.get("dsn"))
        if not key:
            return refuse(401, "missing sentry_key: send X-Sentry-Auth, ?sentry_key= or a dsn "
                                "in the envelope header")
        owner = await svc.keys.project_for(key[:64])
        if owner is None:
            return refuse(401, "unknown or revoked project key")
        if owner != number:
            return refuse(401, f"this key is not valid for project {project_id}")
        stored = [(item, payload_json(item, i)) for i, item in enumerate(envelope.items)
                  if item.type in _STORED_TYPES]
    except (BodyError, EnvelopeError) as exc:
        return refuse(exc.status if isinstance(exc, BodyError) else 400, str(exc))
    try:
        converted = _convert(owner, stored, envelope.headers, now(), svc,
                             _attachment_types(envelope),
                             auth.sent_at_from_headers(headers, query_of(scope)))
    except (RecordError, RecursionError) as exc:  # Sentry SDKs nest a few levels at most
        return refuse(400, f"event is not usable: {exc}")
    rows = converted.rows
    dropped, limit_headers = await limit_errors(svc.limiter, owner, rows.errors)
    if dropped:
        metrics.RECORDS_REJECTED.labels("error", "sentry").inc(dropped)
        if len(rows) == 0:
            return refuse(429, f"project {owner} is over its limit of "
                                f"{svc.settings.rate_limit_per_minute} events per minute",
                           limit_headers)
    refused: list[str] = []  # records the database refused for good (collector.writer)
    try:
        await svc.writer.submit(rows, _retry_key(owner, converted),
                                refuse=lambda _kind, _at, why: refused.append(why))
    except StorageUnavailable as exc:
        return refuse(503, f"cannot store data now ({exc}); retry later",
                       {"Retry-After": str(exc.retry_after)})
    if refused and len(refused) == len(rows):  # a retry could never succeed: say so
        return refuse(400, f"event is not usable: {refused[0]}")
    for kind, count in (("error", len(rows.errors)), ("log", len(rows.logs)),
                        ("metric", len(rows.metrics)), ("span", len(rows.spans)),
                        ("request", len(rows.requests))):
        if count:
            metrics.RECORDS_ACCEPTED.labels(kind, "sentry").inc(count)
    for kind, count in converted.rejected.items():
        metrics.RECORDS_REJECTED.labels(kind, "sentry").inc(count)
    event_id = converted.event_id or _header_event_id(envelope)
    return Reply(200, {"id": event_id}, limit_headers or None)


def _attachment_types(envelope: Envelope) -> list[str]:
    """``attachment_type`` of each attachment (minidumps tell crash reports apart)."""
    return [t if isinstance(t := item.headers.get("attachment_type"), str) else "event.attachment"
            for item in envelope.items if item.type == "attachment"]


def _header_event_id(envelope: Envelope) -> str | None:
    value = envelope.headers.get("event_id")
    return value if isinstance(value, str) else None


async def envelope_endpoint(svc: Services, project_id: str, scope: Scope,
                            receive: Receive) -> Reply:
    """Sentry envelopes (what every current Sentry SDK sends)."""
    return await _handle(svc, project_id, scope, receive, legacy_store=False)


async def store_endpoint(svc: Services, project_id: str, scope: Scope, receive: Receive) -> Reply:
    """Legacy: one JSON event per request."""
    return await _handle(svc, project_id, scope, receive, legacy_store=True)


# Served by lookout.asgi.FastPaths (POST; other methods get 405).
routes: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"/api/([^/]+)/envelope/?"), envelope_endpoint),
    (re.compile(r"/api/([^/]+)/store/?"), store_endpoint),
]
