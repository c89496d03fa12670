import math

from lookout_sdk._metrics import BOUND_NAMES, BUCKET_SECONDS, MAX_SERIES, Aggregator


class Clock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_counters_summed_per_bucket_and_series() -> None:
    clock = Clock()
    agg = Aggregator(clock)
    for _ in range(1000):
        agg.increment("orders", tags={"plan": "pro"})
    agg.increment("orders", 5, tags={"plan": "free"})
    assert agg.collect() == []  # bucket not finished yet
    clock.t += BUCKET_SECONDS
    agg.increment("orders")  # next bucket stays
    recs = sorted(agg.collect(), key=lambda r: r["tags"]["plan"])
    assert [(r["tags"], r["value"], r["count"]) for r in recs] == [
        ({"plan": "free"}, 5.0, 1),
        ({"plan": "pro"}, 1000.0, 1000),
    ]
    assert recs[0]["ts"] == 1_000_000.0 and recs[0]["kind"] == "counter"
    assert [r["value"] for r in agg.collect(force=True)] == [1.0]
    assert agg.collect(force=True) == []


def test_gauge_keeps_last_min_max_sum_count() -> None:
    agg = Aggregator(Clock())
    for v in (5, 1, 9, 3):
        agg.gauge("depth", v)
    (rec,) = agg.collect(force=True)
    assert (rec["value"], rec["min"], rec["max"], rec["sum"], rec["count"]) == (3, 1, 9, 18, 4)


def test_timing_is_a_histogram_over_collector_bounds() -> None:
    agg = Aggregator(Clock())
    for v in (0.2, 3, 3, 70_000, 12.5):
        agg.timing("db", v)
    (rec,) = agg.collect(force=True)
    assert rec["kind"] == "histogram" and rec["count"] == 5
    assert rec["min"] == 0.2 and rec["max"] == 70_000 and math.isclose(rec["sum"], 70_018.7)
    assert rec["buckets"] == {"0.5": 1, "5": 2, "25": 1, "+Inf": 1}
    assert BOUND_NAMES[-1] == "+Inf" and len(BOUND_NAMES) == 17


def test_non_finite_values_ignored_and_series_capped() -> None:
    overflow = []
    agg = Aggregator(Clock(), on_overflow=overflow.append)
    agg.increment("x", math.nan)
    agg.gauge("x", math.inf)
    assert agg.collect(force=True) == []
    for i in range(MAX_SERIES + 5):
        agg.increment(f"m{i}")
    assert len(agg.collect(force=True)) == MAX_SERIES and sum(overflow) == 5


def test_public_api_aggregates_and_never_raises(sdk) -> None:
    import lookout_sdk

    for _ in range(100):
        lookout_sdk.metrics.increment("orders.created", tags={"plan": "pro"})
    lookout_sdk.metrics.increment("x" * 500)  # too long: clipped, not rejected by the server
    lookout_sdk.metrics.increment(12345)  # type: ignore[arg-type]
    lookout_sdk.metrics.increment("bad.value", "many")  # type: ignore[arg-type]
    lookout_sdk.metrics.gauge("odd.tags", 1, tags={"k": ["unhashable"], 3: None})  # type: ignore[dict-item]
    lookout_sdk.metrics.timing("db.query_ms", 12.5)
    assert lookout_sdk.flush(5)
    recs = {r["name"]: r for r in sdk.records("metrics")}
    assert recs["orders.created"]["value"] == 100.0 and recs["orders.created"]["tags"] == {
        "plan": "pro"
    }
    assert "x" * 200 in recs and "12345" in recs and "bad.value" not in recs
    assert recs["odd.tags"]["tags"] == {"3": "None", "k": "['unhashable']"}
    assert recs["db.query_ms"]["buckets"] == {"25": 1}
