"""Operations endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

from litestar import Request, Response, get
from sqlalchemy import text

from lookout import metrics
from lookout.http import error_response, json_response, services


@get("/healthz", sync_to_thread=False)
def healthz() -> Response:
    """The process is alive and serving HTTP."""
    return json_response({"status": "ok"})


# After a failed write, /readyz answers 503 for this long unless a write succeeds
# first; then it reports ready again so traffic (and with it a new try) comes back.
WRITE_FAILURE_SECONDS = 10.0


@get("/readyz")
async def readyz(request: Request) -> Response:
    """The database answers within 2 s and takes writes; 503 otherwise (load balancers
    stop routing here)."""
    failure = services(request).writer.failing(WRITE_FAILURE_SECONDS)
    if failure is not None:
        return error_response(503, f"database writes failing: {failure}", {"Retry-After": "5"})
    try:
        async with asyncio.timeout(2):
            async with services(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return error_response(503, f"database unreachable: {type(exc).__name__}",
                              {"Retry-After": "5"})
    return json_response({"status": "ready"})


@get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format, rendered off the event loop (ingest never waits for it)."""
    metrics.WRITE_QUEUE.set(services(request).writer.queued_records)
    return Response(content=await metrics.render_off_loop(),
                    media_type="text/plain; version=0.0.4")


routes = [healthz, readyz, prometheus_metrics]
