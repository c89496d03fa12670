"""Evaluate one rule into observations (one per group), from the collector's rollup reads.

Reads go through :class:`TickData`, which memoises each collector query for
the duration of one tick: a thousand rules with the same window cost one
query per kind, not a thousand. Groups with no data in the window produce no
observation, i.e. their condition is false.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from collector import issue_queries
from collector import rollup_queries as rq
from collector.buckets import quantile
from rules.config import Rule
from rules.state import Observation

# "Sent data before" means: in the hour (or ``for`` + ``window``, if longer) before the
# window. Longer look-backs cost a scan of every rollup row in them, every tick; a
# service that stays silent past the look-back keeps its alert firing (see engine).
ABSENCE_LOOKBACK = 3600.0


class TickData:
    """Memoised collector reads for one evaluation tick at time ``now``."""

    def __init__(self, engine: AsyncEngine, now: float,
                 observed_since: float = float("-inf")) -> None:
        self.engine = engine
        self.now = now
        # Since when evaluation has ticked without a gap (rules.store.claim_tick).
        self.observed_since = observed_since
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._by_service: dict[int, dict[str, list[Any]]] = {}

    def of_service(self, rows: list[Any], service: str) -> list[Any]:
        """The rows of one service, via an index built once per result list (rules
        filtered to one service would otherwise each scan every service's rows)."""
        index = self._by_service.get(id(rows))
        if index is None:
            index = self._by_service[id(rows)] = {}
            for row in rows:
                index.setdefault(row.service, []).append(row)
        return index.get(service, [])

    async def _memo(self, key: tuple[Any, ...], load: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._cache:
            self._cache[key] = await load()
        return self._cache[key]

    async def request_rates(self, window: float) -> list[rq.RequestRate]:
        return await self._memo(("req", window), lambda: rq.request_rates(
            self.engine, self.now - window, self.now))

    async def metric(self, name: str, window: float) -> list[rq.MetricAggregate]:
        return await self._memo(("metric", name, window), lambda: rq.metric_aggregates(
            self.engine, name, self.now - window, self.now))

    async def log_counts(self, window: float, min_level: int | None,
                         text: str | None) -> list[rq.LogCount]:
        return await self._memo(("logs", window, min_level, text), lambda: rq.log_counts(
            self.engine, self.now - window, self.now, min_level=min_level, text=text))

    async def last_seen(self, lookback: float) -> list[rq.LastSeen]:
        return await self._memo(("seen", lookback), lambda: rq.services_last_seen(
            self.engine, self.now - lookback, self.now))

    async def new_issues(self, window: float) -> list[dict[str, Any]]:
        return await self._memo(("issues", window), lambda: issue_queries.new_or_regressed_since(
            self.engine, self.now - window))


def _selected(rule: Rule, rows: list[Any], data: TickData, service: str | None = None,
              environment: str | None = None) -> dict[tuple[str, ...], list[Any]]:
    """Rows passing the rule's filters, grouped by the rule's group labels."""
    service = service or rule.service
    environment = environment or rule.environment
    groups: dict[tuple[str, ...], list[Any]] = {}
    if service is not None:
        rows = data.of_service(rows, service)
    for row in rows:
        if environment is not None and row.environment != environment:
            continue
        key = tuple(getattr(row, label) for label in rule.group_by)
        groups.setdefault(key, []).append(row)
    return groups


def _labels(rule: Rule, key: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(rule.group_by, key))


def _observe(rule: Rule, key: tuple[str, ...], value: float | None,
             eligible: bool = True) -> Observation:
    severity = rule.thresholds.breached(value) if eligible and value is not None else None
    return Observation(_labels(rule, key), value, severity)


async def evaluate(rule: Rule, data: TickData) -> list[Observation]:
    """Observations of ``rule`` now; raises on storage errors (the engine isolates them)."""
    if rule.kind == "error_rate":
        return await _error_rate(rule, data)
    if rule.kind == "metric":
        return await _metric(rule, data)
    if rule.kind == "log_count":
        return await _log_count(rule, data)
    if rule.kind == "absence":
        return await _absence(rule, data)
    if rule.kind == "new_issue":
        return await _new_issue(rule, data)
    raise ValueError(f"rule kind {rule.kind!r} is not evaluated by this version")


async def _error_rate(rule: Rule, data: TickData) -> list[Observation]:
    out = []
    for key, rows in _selected(rule, await data.request_rates(rule.window), data).items():
        count = sum(r.count for r in rows)
        errors = sum(r.errors for r in rows)
        if count == 0:
            continue
        out.append(_observe(rule, key, errors / count, count >= max(rule.min_requests, 1)))
    return out


def metric_value(aggregate: str, rows: list[rq.MetricAggregate]) -> float | None:
    """One aggregate over merged per-service rollups (percentiles from the fixed buckets)."""
    count = sum(r.count for r in rows)
    if count == 0:
        return None
    if aggregate == "count":
        return float(count)
    if aggregate == "sum":
        return sum(r.sum for r in rows)
    if aggregate == "avg":
        return sum(r.sum for r in rows) / count
    if aggregate == "min":
        return min(r.min for r in rows)
    if aggregate == "max":
        return max(r.max for r in rows)
    merged = [sum(col) for col in zip(*(r.buckets for r in rows))]
    return quantile(merged, int(aggregate[1:]) / 100)


async def _metric(rule: Rule, data: TickData) -> list[Observation]:
    assert rule.metric is not None and rule.aggregate is not None
    rows = await data.metric(rule.metric, rule.window)
    return [_observe(rule, key, metric_value(rule.aggregate, group))
            for key, group in _selected(rule, rows, data).items()]


async def _log_count(rule: Rule, data: TickData) -> list[Observation]:
    f = rule.log_filter
    assert f is not None
    rows = await data.log_counts(rule.window, f.min_level, f.text)
    return [_observe(rule, key, float(sum(r.count for r in group)))
            for key, group in _selected(rule, rows, data, f.service, f.environment).items()]


async def _absence(rule: Rule, data: TickData) -> list[Observation]:
    out = []
    lookback = rule.window + max(ABSENCE_LOOKBACK, rule.for_ + rule.window)
    for key, rows in _selected(rule, await data.last_seen(lookback), data).items():
        # Silence counts from the last record, but from no earlier than the start of
        # the current gap-free stretch of ticks: after a forward clock jump (or a
        # downtime, while clients buffered) every service would look silent at once.
        last = max(max(r.minute for r in rows) + 60, data.observed_since)
        quiet = max(0.0, data.now - last)
        out.append(Observation(_labels(rule, key), quiet,
                               rule.severity if quiet >= rule.window else None))
    return out


async def _new_issue(rule: Rule, data: TickData) -> list[Observation]:
    """One observation per issue created or regressed within the window.

    The identity is the issue plus *when* it appeared or regressed, so a
    regression is a new alert while the same appearance is only ever one.
    """
    out = []
    for issue in await data.new_issues(rule.window):
        services, environments = issue["services"], issue["environments"]
        if rule.service is not None and rule.service not in services:
            continue
        if rule.environment is not None and rule.environment not in environments:
            continue
        # A regression inside the window counts as one even if the issue is itself
        # new in it (the collector then says "new"): each appearance is announced.
        regressed_at = issue.get("regressed_at")
        regressed = bool(issue.get("regression")) and regressed_at is not None \
            and regressed_at >= data.now - rule.window
        since = regressed_at if regressed else issue["created_at"]
        labels = {"issue": str(issue["id"]), "occurrence": f"{since:.3f}"}
        info = {"title": str(issue["title"])[:300],
                "reason": "regressed" if regressed else "new"}
        service = rule.service or (services[0] if services else None)
        environment = rule.environment or (environments[0] if environments else None)
        if service:
            info["service"] = service
        if environment:
            info["environment"] = environment
        out.append(Observation(labels, float(issue["count"]), rule.severity, info))
    return out
