"""Each rule kind evaluated from data written through the collector's write path."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from rules.config import parse_rules
from rules.evaluate import TickData, evaluate
from tests.rules.conftest import FakeClock, add_logs, add_metric, add_requests


def rule(text: str):  # noqa: ANN201
    return parse_rules("rules:\n" + text)[0]


@pytest.fixture
def now() -> float:
    return FakeClock().t


async def test_error_rate_groups_filters_and_min_requests(engine: AsyncEngine,
                                                          now: float) -> None:
    await add_requests(engine, now - 90, "api", 100, 7)
    await add_requests(engine, now - 30, "api", 100, 1, env="staging")
    await add_requests(engine, now - 30, "web", 10, 5)
    await add_requests(engine, now - 900, "api", 100, 100)  # outside the 5m window
    r = rule("""
  - name: e
    kind: error_rate
    thresholds: {warning: 0.02, critical: 0.05}
    min_requests: 20
""")
    got = {tuple(o.labels.values()): (o.value, o.severity)
           for o in await evaluate(r, TickData(engine, now))}
    assert got == {("api", "production"): (0.07, "critical"),
                   ("api", "staging"): (0.01, None),
                   ("web", "production"): (0.5, None)}  # 10 requests < min_requests
    by_service = rule("""
  - name: e
    kind: error_rate
    service: api
    group_by: [service]
    thresholds: {critical: 0.03}
""")
    (o,) = await evaluate(by_service, TickData(engine, now))
    assert o.labels == {"service": "api"} and o.value == 0.04 and o.severity == "critical"


async def test_metric_aggregates_and_percentiles(engine: AsyncEngine, now: float) -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100 ms
    await add_metric(engine, now - 60, "db", "db.query_ms", values)
    results = {}
    for agg in ("avg", "sum", "min", "max", "count", "p50", "p95", "p99"):
        r = rule(f"""
  - name: m
    kind: metric
    metric: db.query_ms
    aggregate: {agg}
    thresholds: {{critical: 90}}
""")
        (o,) = await evaluate(r, TickData(engine, now))
        results[agg] = o.value
    assert results["avg"] == 50.5 and results["sum"] == 5050 and results["count"] == 100
    assert results["min"] == 1 and results["max"] == 100
    # from the fixed buckets (..., 50, 100, ...): interpolated inside the bucket
    assert results["p50"] == pytest.approx(50.0)
    assert results["p95"] == pytest.approx(95.0) and results["p99"] == pytest.approx(99.0)
    assert (await evaluate(rule("""
  - name: m
    kind: metric
    metric: other
    aggregate: avg
    thresholds: {critical: 1}
"""), TickData(engine, now))) == []


async def test_log_count_from_rollups_and_raw_text(engine: AsyncEngine, now: float) -> None:
    await add_logs(engine, now - 60, "api", 40, ["db timeout", "db timeout", "boom"])
    await add_logs(engine, now - 60, "api", 20, ["timeout but info"])
    await add_logs(engine, now - 60, "web", 50, ["fatal timeout"])
    levels = rule("""
  - name: l
    kind: log_count
    query: "level:error"
    thresholds: {warning: 1, critical: 2}
""")
    got = {o.labels["service"]: (o.value, o.severity)
           for o in await evaluate(levels, TickData(engine, now))}
    assert got == {"api": (3.0, "critical"), "web": (1.0, None)}
    text = rule("""
  - name: l
    kind: log_count
    query: "level:error service:api timeout"
    thresholds: {critical: 1}
""")
    (o,) = await evaluate(text, TickData(engine, now))
    assert o.labels["service"] == "api" and o.value == 2.0 and o.severity == "critical"


async def test_absence(engine: AsyncEngine, now: float) -> None:
    await add_requests(engine, now - 3600, "gone", 5, 0)
    await add_logs(engine, now - 100, "alive", 20, ["hi"])
    r = rule("""
  - name: a
    kind: absence
    window: 15m
""")
    got = {o.labels["service"]: (o.value, o.severity)
           for o in await evaluate(r, TickData(engine, now))}
    assert got["gone"][1] == "critical" and got["gone"][0] >= 3600 - 60
    assert got["alive"][1] is None
