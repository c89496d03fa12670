"""HTTP layer of OTLP/HTTP: ``POST /v1/{logs,traces,metrics}`` and the same under
``/api/{project_id}/integration/otlp/v1/`` (where sentry-python's ``OTLPIntegration``
exports, with a trailing slash).

Answers, as the OTLP spec says: ``200`` with the ``Export*ServiceResponse``
in the request's format (``partial_success`` counts rejected items and says
why) once the rows are committed; ``429`` (the write queue is full) or
``503`` (the database cannot take data) with ``Retry-After``, which
exporters retry; permanent ``400``
(malformed body), ``401`` (missing or unknown key), ``404`` (not a project
id), ``413`` (body, decompressed body or item count over the limit) and
``415`` (content type or encoding). Error bodies are Lookout's JSON
``{"error": ...}`` (exporters log them; the status decides what they do).

The key: ``X-Lookout-Key``, ``Authorization: Bearer <key>``, or Sentry's
``X-Sentry-Auth: Sentry sentry_key=<key>, ...`` (what ``OTLPIntegration``
sends) / ``?sentry_key=``. The project follows from the key; under
``/api/{project_id}/`` the key must belong to that project.

Retries store nothing twice: the decompressed body's hash is the batch id
(:mod:`collector.batch_ids`); an exporter retrying after a 503 or a lost
answer sends the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from litestar.types import Receive, Scope

from collector.batch_ids import Answer
from collector.decode import BodyError, decompress_off_loop, read_limited
from collector.otlp import logs, metrics, traces
from collector.otlp.decode import SIGNALS, OtlpError, Signal, answer, content_type, count_items
from collector.otlp.decode import parse as parse_body
from collector.otlp.result import Converted
from collector.ratelimit import limit_errors
from collector.sentry import auth as sentry_auth
from lookout import metrics as lookout_metrics
from lookout.asgi import Handler, Reply, body_chunks, headers_of, query_of, refuse
from lookout.db import now
from lookout.errors import Overloaded, StorageUnavailable
from lookout.ids import MAX_PROJECT_ID, parse_id

if TYPE_CHECKING:
    from lookout.services import Services

_KIND = {"logs": "log", "traces": "span", "metrics": "metric"}


def key_of(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The project key from any of the places OTLP exporters and sentry-python put it."""
    key = headers.get("x-lookout-key")
    if key:
        return key.strip()
    authorization = headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    return sentry_auth.key_from_headers(headers, query)


async def _project(svc: Services, path_project: str, key: str | None) -> int | Reply:
    number = None
    if path_project:
        number = parse_id(path_project, MAX_PROJECT_ID)
        if number is None:
            return refuse(404, f"no project {path_project[:40]!r}; project ids are numbers")
    if not key:
        return refuse(401, "missing project key: send X-Lookout-Key, Authorization: Bearer "
                           "<key> or X-Sentry-Auth")
    owner = await svc.keys.project_for(key[:64])
    if owner is None:
        return refuse(401, "unknown or revoked project key")
    if number is not None and owner != number:
        return refuse(401, f"this key is not valid for project {path_project}")
    return owner


def _convert(svc: Services, signal: Signal, owner: int, message: Any) -> Converted:
    received = now()
    if signal.name == "logs":
        return logs.convert(owner, message, received, svc.limits)
    if signal.name == "traces":
        return traces.convert(owner, message, received, svc.limits)
    return metrics.convert(owner, message, received, svc.limits, svc.otlp_series)


async def _export(svc: Services, signal: Signal, path_project: str, scope: Scope,
                  receive: Receive) -> Reply:
    headers = headers_of(scope)
    owner = await _project(svc, path_project, key_of(headers, query_of(scope)))
    if isinstance(owner, Reply):
        return owner
    settings = svc.settings
    try:
        fmt = content_type(headers.get("content-type"))
        body = await read_limited(body_chunks(receive), headers.get("content-length"),
                                  settings.max_body_bytes)
        body = await decompress_off_loop(body, headers.get("content-encoding"),
                                         settings.max_decompressed_bytes)
        message = parse_body(signal, body, fmt)
        items = count_items(signal, message)
        if items > settings.max_batch_records:
            raise OtlpError(413, f"export has {items} {signal.name} items; the limit is "
                                 f"{settings.max_batch_records}")
        converted = _convert(svc, signal, owner, message)
        converted.replace_nul()
    except (BodyError, OtlpError) as exc:
        return refuse(exc.status, str(exc))
    except RecursionError:
        return refuse(400, "body is nested too deeply")
    rows = converted.rows
    dropped, limit_headers = await limit_errors(svc.limiter, owner, rows.errors)
    if dropped:
        lookout_metrics.RECORDS_REJECTED.labels("error", "otlp").inc(dropped)
    rejected = ([{"kind": _KIND[signal.name], "index": None, "error": converted.error_message,
                  "count": converted.rejected}] if converted.rejected else [])
    key = (owner, "otlp-" + hashlib.blake2b(signal.name.encode() + b"\n" + body,
                                            digest_size=16).hexdigest())
    try:
        stored = await svc.writer.submit(rows, key, Answer(len(rows), rejected))
    except StorageUnavailable as exc:
        # Both are retryable for OTLP exporters: 429 when the write queue is full
        # (too much at once), 503 when the database cannot take data.
        return refuse(429 if isinstance(exc, Overloaded) else 503,
                      f"cannot store data now ({exc}); retry later",
                      {"Retry-After": str(exc.retry_after)})
    svc.otlp_series.commit(converted.series)
    if stored is not None:  # a retry of an export stored before: nothing counted twice
        lookout_metrics.INGEST_DUPLICATE_BATCHES.inc()
    else:
        for kind, count in (("log", len(rows.logs)), ("span", len(rows.spans)),
                            ("metric", len(rows.metrics)), ("request", len(rows.requests)),
                            ("error", len(rows.errors))):
            if count:
                lookout_metrics.RECORDS_ACCEPTED.labels(kind, "otlp").inc(count)
        if converted.rejected:
            lookout_metrics.RECORDS_REJECTED.labels(_KIND[signal.name], "otlp").inc(
                converted.rejected)
    return Reply.raw(200, answer(signal, fmt, converted.rejected, converted.error_message),
                     fmt, limit_headers or None)


def _handler(signal: Signal) -> Handler:
    async def export(svc: Services, project_id: str, scope: Scope, receive: Receive) -> Reply:
        return await _export(svc, signal, project_id, scope, receive)

    export.__name__ = f"otlp_{signal.name}"
    export.__doc__ = f"OTLP/HTTP {signal.name} export."
    return export


# Served by lookout.asgi.FastPaths (POST; other methods get 405). Group 1 is the
# project id of the path: empty for /v1/..., where the key alone names the project.
routes: list[tuple[re.Pattern[str], Handler]] = []
for _signal in SIGNALS.values():
    routes.append((re.compile(rf"()/v1/{_signal.name}/?"), _handler(_signal)))
    routes.append((re.compile(rf"/api/([^/]+)/integration/otlp/v1/{_signal.name}/?"),
                   _handler(_signal)))
