"""The pure state machine, driven by explicit times."""

from __future__ import annotations

from dataclasses import replace

from rules.config import parse_rules
from rules.state import ESCALATED, FIRED, REPEAT, RESOLVED, Observation, Track, step

RULE = parse_rules("""
rules:
  - name: r
    kind: error_rate
    for: 2m
    keep_firing_for: 3m
    repeat_interval: 1h
    thresholds: {warning: 1, critical: 2}
""")[0]
LABELS = {"service": "s", "environment": "e"}


def obs(value: float | None) -> Observation:
    sev = RULE.thresholds.breached(value) if value is not None else None
    return Observation(LABELS, value, sev)


def run(values: list[float | None], track: Track | None = None, start: float = 0.0,
        silenced: set[int] | None = None) -> tuple[Track | None, list[tuple[int, str]]]:
    events = []
    for i, v in enumerate(values):
        result = step(RULE, "fp", track, obs(v) if v is not None else None, start + 60 * i,
                      silenced=i in (silenced or set()))
        track = result.track
        events += [(i, e) for e in result.notify]
    return track, events


def test_fires_after_for_then_repeats_hourly() -> None:
    track, events = run([1.5] * 64)
    assert events == [(2, FIRED), (62, REPEAT)]
    assert track is not None and track.state == "firing" and track.fired_at == 120


def test_escalation_once_and_deescalation_silent() -> None:
    _, events = run([1.5, 1.5, 1.5, 2.5, 1.5, 2.5, 1.5])
    assert events == [(2, FIRED), (3, ESCALATED)]


def test_keep_firing_for_and_single_resolve() -> None:
    track, events = run([2.5, 2.5, 2.5, 0, 0, 2.5, 0, 0, 0, 0, 0])
    assert events == [(2, FIRED), (8, RESOLVED)]  # 3m after the last breach (i=5)
    assert track is None


def test_pending_clears_silently_and_missing_data_counts_as_clear() -> None:
    track, events = run([2.5, None, 2.5, 0.5])
    assert events == [] and track is None


def test_silenced_alert_keeps_state_and_notifies_when_silence_ends() -> None:
    track, events = run([2.5] * 6, silenced={2, 3, 4})
    assert events == [(5, FIRED)]
    assert track is not None and track.state == "firing" and track.fired_at == 120


def test_acknowledged_stops_repeat_and_escalation() -> None:
    track, _ = run([1.5] * 3)
    assert track is not None
    track = replace(track, acknowledged=True)
    track, events = run([2.5] * 120, track=track, start=180)
    assert events == []
    # resolution still updates the message
    track, events = run([0] * 4, track=track, start=180 + 120 * 60)
    assert events == [(2, RESOLVED)]


def test_never_notified_alert_resolves_without_message() -> None:
    track, events = run([2.5] * 3 + [0] * 4, silenced={2, 3, 4, 5, 6})
    assert events == []
