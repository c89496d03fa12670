"""Per-service request series from request_rollups, on SQLite and PostgreSQL."""

from __future__ import annotations

from collector import rollup_queries
from collector.normalize import REQUEST_COLUMNS, RowBatch
from collector.store import write_rows

T0 = 1_800_000_000.0  # a whole minute


def _req(ts, service, status, duration):
    row = dict(project_id=1, ts=ts, received_at=ts, service=service, environment="prod",
               release="", host="", request_id="r", trace_id=None, attributes="{}", method="GET",
               route="/", status=status, duration_ms=duration, unhandled=False)
    return tuple(row[c] for c in REQUEST_COLUMNS)


async def test_series_per_service(engine):
    batch = RowBatch(requests=[_req(T0 + 5, "checkout", 200, 10)] * 9 +
                     [_req(T0 + 6, "checkout", 503, 900)] +
                     [_req(T0 + 125, "checkout", 200, 20)] +
                     [_req(T0 + 70, "gateway", 200, 3)])
    async with engine.begin() as conn:
        await write_rows(conn, batch)
    series = await rollup_queries.request_series(engine, T0, T0 + 180, 3)
    assert [s.service for s in series] == ["checkout", "gateway"]
    checkout = series[0]
    assert (checkout.start, checkout.step) == (T0, 60)
    assert checkout.requests == [10, 0, 1] and checkout.errors == [1, 0, 0]
    assert checkout.total_requests == 11 and abs(checkout.error_rate - 1 / 11) < 1e-9
    assert checkout.p95_ms[1] is None and checkout.p95_ms[0] is not None
    assert 250 < checkout.p95_ms[0] <= 1000  # the slow request is the top 10%
    assert series[1].requests == [0, 1, 0]
    assert await rollup_queries.request_series(engine, T0, T0 + 180, 3, environment="dev") == []
