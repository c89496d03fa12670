"""HTTP layer of the Lookout SDK ingest endpoint: ``POST /api/{project_id}/ingest``.

A raw ASGI handler served by :class:`lookout.asgi.FastPaths` (see there for why).
An optional ``X-Lookout-Batch-Id`` makes a retried batch store nothing twice
and get the first answer again (:mod:`collector.batch_ids`).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from litestar.types import Receive, Scope

from collector import batch_ids
from collector.batch_ids import Answer
from collector.decode import BodyError, decompress_off_loop, read_limited, replace_nul_escapes
from collector.ingest import BatchError, decode_batch
from collector.ratelimit import limit_errors
from lookout import metrics
from lookout.asgi import Handler, Reply, body_chunks, headers_of, refuse
from lookout.db import now
from lookout.errors import StorageUnavailable
from lookout.ids import MAX_PROJECT_ID, parse_id

if TYPE_CHECKING:
    from lookout.services import Services


async def authenticate(svc: Services, project_id: str, key: str | None) -> int | Reply:
    """The numeric project id when ``key`` may write to ``project_id``; else a 4xx answer."""
    number = parse_id(project_id, MAX_PROJECT_ID)
    if number is None:
        return refuse(404, f"no project {project_id[:40]!r}; project ids are numbers")
    if not key:
        return refuse(401, "missing project key (send the DSN key in X-Lookout-Key)")
    owner = await svc.keys.project_for(key[:64])
    if owner is None:
        return refuse(401, "unknown or revoked project key")
    if owner != number:
        return refuse(401, f"this key is not valid for project {project_id}")
    return owner


async def ingest(svc: Services, project_id: str, scope: Scope, receive: Receive) -> Reply:
    headers = headers_of(scope)
    auth = await authenticate(svc, project_id, headers.get("x-lookout-key"))
    if isinstance(auth, Reply):
        return auth
    try:
        batch_id = batch_ids.parse(headers.get(batch_ids.HEADER))
    except ValueError as exc:
        return refuse(400, str(exc))
    content_type = headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type not in ("application/json", ""):
        return refuse(415, f"unsupported Content-Type {content_type[:60]!r}; "
                           "send application/json")
    settings = svc.settings
    try:
        body = await read_limited(body_chunks(receive), headers.get("content-length"),
                                  settings.max_body_bytes)
        body = replace_nul_escapes(await decompress_off_loop(
            body, headers.get("content-encoding"), settings.max_decompressed_bytes))
        decoded = decode_batch(body, auth, now(), svc.limits, settings.max_batch_records)
    except (BodyError, BatchError) as exc:
        return refuse(exc.status, str(exc))
    key = None if batch_id is None else (auth, batch_id)
    if key is not None and decoded.rows.errors and svc.limiter is not None \
            and svc.limiter.enabled:
        # A retry must not spend the error budget again, nor be cut by it: answer it here.
        try:
            stored = await batch_ids.stored_answer(svc.engine, key)
        except Exception:  # noqa: BLE001 - the database is down: the writer will say so
            stored = None
        if stored is not None:
            metrics.INGEST_DUPLICATE_BATCHES.inc()
            return Reply(202, stored.body())
    dropped, limit_headers = await limit_errors(svc.limiter, auth, decoded.rows.errors)
    if dropped:
        if len(decoded.rows) == 0:
            return refuse(429, f"project {auth} is over its limit of "
                               f"{settings.rate_limit_per_minute} error events per minute",
                          limit_headers)
        decoded.accepted_by_kind["error"] -= dropped
        decoded.rejected_by_kind["error"] = decoded.rejected_by_kind.get("error", 0) + dropped
        decoded.rejected.append({"kind": "error", "index": None, "error": f"{dropped} errors "
                                 "over the project's rate limit were dropped"})
    answer = Answer(len(decoded.rows), decoded.rejected)
    try:
        stored = await svc.writer.submit(decoded.rows, key, answer,
                                         functools.partial(decoded.refuse, answer))
    except StorageUnavailable as exc:
        return refuse(503, f"cannot store data now ({exc}); retry later",
                      {"Retry-After": str(exc.retry_after)})
    if stored is not None:  # a retry of a batch stored before: same answer, nothing counted
        metrics.INGEST_DUPLICATE_BATCHES.inc()
        return Reply(202, stored.body(), limit_headers or None)
    for kind, count in decoded.accepted_by_kind.items():
        metrics.RECORDS_ACCEPTED.labels(kind, "lookout").inc(count)
    for kind, count in decoded.rejected_by_kind.items():
        metrics.RECORDS_REJECTED.labels(kind, "lookout").inc(count)
    for kind, count in decoded.dropped.items():
        metrics.SDK_DROPPED.labels(kind).inc(count)
    return Reply(202, answer.body(), limit_headers or None)


# Served by lookout.asgi.FastPaths (POST; other methods get 405).
routes: list[tuple[re.Pattern[str], Handler]] = [(re.compile(r"/api/([^/]+)/ingest"), ingest)]
