"""HTTP layer of the Lookout SDK ingest endpoint: ``POST /api/{project_id}/ingest``."""

from __future__ import annotations

from litestar import Request, Response, post
from litestar.params import FromPath

from collector.decode import BodyError, decompress, read_limited
from collector.ingest import BatchError, decode_batch
from collector.ratelimit import limit_errors
from lookout import metrics
from lookout.db import now
from lookout.errors import StorageUnavailable
from lookout.http import error_response, json_response, services


def _refuse(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    metrics.REQUESTS_REFUSED.labels(str(status)).inc()
    return error_response(status, message, headers)


async def authenticate(request: Request, project_id: str, key: str | None) -> int | Response:
    """The numeric project id when ``key`` may write to ``project_id``; else a 4xx response."""
    if not project_id.isdigit() or len(project_id) > 12:
        return _refuse(404, f"no project {project_id[:40]!r}; project ids are numbers")
    if not key:
        return _refuse(401, "missing project key (send the DSN key in X-Lookout-Key)")
    owner = await services(request).keys.project_for(key[:64])
    if owner is None:
        return _refuse(401, "unknown or revoked project key")
    if owner != int(project_id):
        return _refuse(401, f"this key is not valid for project {project_id}")
    return owner


@post("/api/{project_id:str}/ingest", status_code=202)
async def ingest(request: Request, project_id: FromPath[str]) -> Response:
    svc = services(request)
    auth = await authenticate(request, project_id, request.headers.get("x-lookout-key"))
    if isinstance(auth, Response):
        return auth
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if content_type not in ("application/json", ""):
        return _refuse(415, f"unsupported Content-Type {content_type[:60]!r}; "
                            "send application/json")
    settings = svc.settings
    try:
        body = await read_limited(request.stream(), request.headers.get("content-length"),
                                  settings.max_body_bytes)
        body = decompress(body, request.headers.get("content-encoding"),
                          settings.max_decompressed_bytes)
        decoded = decode_batch(body, auth, now(), svc.limits, settings.max_batch_records)
    except (BodyError, BatchError) as exc:
        return _refuse(exc.status, str(exc))
    dropped, limit_headers = await limit_errors(svc.limiter, auth, decoded.rows.errors)
    if dropped:
        if len(decoded.rows) == 0:
            return _refuse(429, f"project {auth} is over its limit of "
                                f"{settings.rate_limit_per_minute} error events per minute",
                           limit_headers)
        decoded.accepted_by_kind["error"] -= dropped
        decoded.rejected_by_kind["error"] = decoded.rejected_by_kind.get("error", 0) + dropped
        decoded.rejected.append({"kind": "error", "index": None, "error": f"{dropped} errors "
                                 "over the project's rate limit were dropped"})
    try:
        await svc.writer.submit(decoded.rows)
    except StorageUnavailable as exc:
        return _refuse(503, f"cannot store data now ({exc}); retry later",
                       {"Retry-After": str(exc.retry_after)})
    for kind, count in decoded.accepted_by_kind.items():
        metrics.RECORDS_ACCEPTED.labels(kind, "lookout").inc(count)
    for kind, count in decoded.rejected_by_kind.items():
        metrics.RECORDS_REJECTED.labels(kind, "lookout").inc(count)
    for kind, count in decoded.dropped.items():
        metrics.SDK_DROPPED.labels(kind).inc(count)
    return json_response({"accepted": len(decoded.rows), "rejected": decoded.rejected}, 202,
                         limit_headers or None)
