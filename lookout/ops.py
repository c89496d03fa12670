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


@get("/readyz")
async def readyz(request: Request) -> Response:
    """The database answers within 2 s; 503 otherwise (load balancers stop routing here)."""
    try:
        async with asyncio.timeout(2):
            async with services(request).engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return error_response(503, f"database unreachable: {type(exc).__name__}",
                              {"Retry-After": "5"})
    return json_response({"status": "ready"})


@get("/metrics", sync_to_thread=False)
def prometheus_metrics(request: Request) -> Response:
    metrics.WRITE_QUEUE.set(services(request).writer.queued_records)
    return Response(content=metrics.render(), media_type="text/plain; version=0.0.4")


routes = [healthz, readyz, prometheus_metrics]
