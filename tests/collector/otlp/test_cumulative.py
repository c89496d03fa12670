"""Cumulative OTLP points to deltas: first points, resets, duplicates, restarts, bounds."""

from __future__ import annotations

from collector.otlp.cumulative import CumulativeState, Delta, Point

T0 = 1_800_000_000.0
NS = 1_000_000_000


def _point(start: float, at: float, total: float, count: int = 0) -> Point:
    return Point(int(start * NS), int(at * NS), total, count)


def test_series_started_after_lookout_counts_in_full_then_increases():
    state = CumulativeState(started_at=T0)
    pending: dict = {}
    assert state.delta("s", _point(T0 + 1, T0 + 10, 6), pending) == Delta(6, 0, ())
    state.commit(pending)
    pending = {}
    assert state.delta("s", _point(T0 + 1, T0 + 20, 8), pending) == Delta(2, 0, ())
    state.commit(pending)
    assert len(state) == 1


def test_series_older_than_lookout_only_sets_a_baseline():
    """After a Lookout restart, history counted before is not counted again."""
    state = CumulativeState(started_at=T0)
    pending: dict = {}
    assert state.delta("s", _point(T0 - 600, T0 + 10, 1000), pending) is None
    state.commit(pending)
    pending = {}
    assert state.delta("s", _point(T0 - 600, T0 + 20, 1003), pending) == Delta(3, 0, ())


def test_reset_and_duplicates():
    state = CumulativeState(started_at=T0)
    state.commit({"s": _point(T0 + 1, T0 + 10, 50, 5)})
    pending: dict = {}
    assert state.delta("s", _point(T0 + 1, T0 + 10, 50, 5), pending) is None  # same point
    assert state.delta("s", _point(T0 + 1, T0 + 5, 40, 4), {}) is None  # older point
    # The app restarted: a new start time, the value starts from zero again.
    assert state.delta("s", _point(T0 + 30, T0 + 40, 4, 1), {}) == Delta(4, 1, ())
    assert state.delta("s", _point(T0 + 1, T0 + 50, 3, 6), {}) == Delta(3, 6, ())  # smaller


def test_state_moves_only_on_commit():
    """An export answered 503 and sent again counts once."""
    state = CumulativeState(started_at=T0)
    state.commit({"s": _point(T0 + 1, T0 + 10, 10)})
    assert state.delta("s", _point(T0 + 1, T0 + 20, 15), {}) == Delta(5, 0, ())  # not committed
    assert state.delta("s", _point(T0 + 1, T0 + 20, 15), {}) == Delta(5, 0, ())


def test_bounded_least_recently_seen_forgotten():
    state = CumulativeState(max_series=2, started_at=T0)
    for key in ("a", "b", "c"):
        state.commit({key: _point(T0 + 1, T0 + 2, 1)})
    assert len(state) == 2
    assert state.delta("a", _point(T0 - 1, T0 + 3, 2), {}) is None  # forgotten: a baseline
