"""The pure state machine, driven by explicit times."""

from __future__ import annotations

from dataclasses import replace

from rules.config import parse_rules
from rules.state import ESCALATED, FIRED, REPEAT, RESOLVED, Observation, Track, rebase, step

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
    _track, events = run([2.5] * 3 + [0] * 4, silenced={2, 3, 4, 5, 6})
    assert events == []


def test_rebase_credits_at_most_max_step_and_never_negative() -> None:
    track = Track("fp", "r", LABELS, "firing", "warning", 1.5, active_since=100.0,
                  last_true_at=160.0, last_notified_at=130.0, evaluated_at=160.0)
    same = rebase(track, 220.0, max_step=120.0)  # an ordinary tick: nothing shifts
    assert (same.active_since, same.last_true_at, same.evaluated_at) == (100.0, 160.0, 220.0)
    ahead = rebase(track, 160.0 + 3600, max_step=120.0)  # +1 h: 120 s credited
    assert ahead.evaluated_at - ahead.last_true_at == 120.0
    assert ahead.last_true_at - ahead.active_since == 60.0  # progress kept as it was
    assert ahead.evaluated_at - ahead.last_notified_at == 150.0
    back = rebase(track, 160.0 - 600, max_step=120.0)  # -10 min: nothing credited or lost
    assert back.evaluated_at - back.last_true_at == 0.0
    assert back.last_true_at - back.active_since == 60.0


def test_pending_across_a_forward_jump_needs_the_rest_of_for() -> None:
    first = step(RULE, "fp", None, obs(1.5), 0.0, max_step=120.0)
    assert first.track is not None and first.track.state == "pending"
    jumped = step(RULE, "fp", first.track, obs(1.5), 3600.0, max_step=60.0)
    assert jumped.track is not None and jumped.track.state == "pending"  # 60 s of 120
    done = step(RULE, "fp", jumped.track, obs(1.5), 3660.0, max_step=60.0)
    assert done.track is not None and done.track.state == "firing"


def test_resolve_threshold_keeps_a_noisy_alert_firing_until_it_recovers() -> None:
    """Hysteresis: fire above warning (1), resolve only below ``resolve`` (0.5)."""
    rule = parse_rules("""
rules:
  - name: r
    kind: error_rate
    thresholds: {warning: 1, critical: 2, resolve: 0.5}
""")[0]
    track, events, severities = None, [], []
    for i, value in enumerate([2.5, 0.8, 0.9, 0.7, 0.4, 0.8]):
        result = step(rule, "fp", track, Observation(LABELS, value,
                                                     rule.thresholds.breached(value)), 60.0 * i)
        track = result.track
        events += [(i, e) for e in result.notify]
        severities.append(track.severity if track else None)
    # 0.8 / 0.9 / 0.7 are under warning but above resolve: still firing (as a warning);
    # 0.4 resolves; 0.8 afterwards is under warning, so nothing starts again.
    assert events == [(0, FIRED), (4, RESOLVED)]
    assert severities == ["critical", "warning", "warning", "warning", None, None]
    plain = parse_rules("rules:\n  - {name: r, kind: error_rate, thresholds: {warning: 1}}\n")[0]
    first = step(plain, "fp", None, Observation(LABELS, 2.5, "warning"), 0.0).track
    assert step(plain, "fp", first, Observation(LABELS, 0.8, None), 60.0).track is None


def test_resolve_threshold_must_be_on_the_recovered_side() -> None:
    import pytest

    from rules.config import RulesError
    with pytest.raises(RulesError, match="resolve .2. must be at or below"):
        parse_rules("rules:\n  - {name: r, kind: error_rate, "
                    "thresholds: {warning: 1, resolve: 2}}\n")
    below = parse_rules("rules:\n  - {name: r, kind: metric, metric: m, aggregate: avg, comparison: below, "
                        "thresholds: {warning: 10, resolve: 20}}\n")[0]
    assert below.thresholds.holds(15) and not below.thresholds.holds(25)


PAGING = replace(RULE, escalate_after=600.0, escalate_to=("@oncall",))


def test_paging_every_escalate_after_until_acknowledged() -> None:
    from rules.state import PAGED

    track, events, t = None, [], 0.0
    for i in range(40):  # fires at minute 2; pages at 12, 22, 32
        result = step(PAGING, "fp", track, obs(1.5), t + 60 * i)
        track = result.track
        events += [(i, e) for e in result.notify]
        if i == 33:
            track = replace(track, acknowledged=True)
    assert events == [(2, FIRED), (12, PAGED), (22, PAGED), (32, PAGED)]
    assert "paged @oncall" in [tr.note for tr in step(PAGING, "fp", replace(
        track, acknowledged=False), obs(1.5), t + 60 * 42).transitions]


def test_a_forward_clock_jump_does_not_page_early() -> None:
    from rules.state import PAGED

    track = None
    for i in range(5):  # fired at minute 2
        track = step(PAGING, "fp", track, obs(1.5), 60.0 * i, max_step=120).track
    jumped = step(PAGING, "fp", track, obs(1.5), 60.0 * 4 + 3600, max_step=120)
    assert PAGED not in jumped.notify  # an hour of wall clock, two minutes credited
    later, pages = jumped.track, []
    for i in range(1, 10):
        result = step(PAGING, "fp", later, obs(1.5), 60.0 * 4 + 3600 + 60 * i, max_step=120)
        later = result.track
        pages += [i for e in result.notify if e == PAGED]
    # Fired at minute 2; credited: 2 minutes to the jump, 2 for it, then one a minute.
    assert pages == [6]


def test_a_silenced_alert_does_not_page() -> None:
    from rules.state import PAGED

    track, events = None, []
    for i in range(30):
        result = step(PAGING, "fp", track, obs(1.5), 60.0 * i, silenced=5 <= i < 25)
        track = result.track
        events += [(i, e) for e in result.notify]
    assert events == [(2, FIRED), (25, PAGED)]  # held back, paged when the silence ends


def test_an_acknowledgement_lapses_after_ack_timeout() -> None:
    from rules.state import PAGED, UNACKNOWLEDGED

    rule = replace(PAGING, ack_timeout=1800.0)
    track, events = None, []
    for i in range(60):
        result = step(rule, "fp", track, obs(1.5), 60.0 * i)
        track = result.track
        events += [(i, e) for e in result.notify]
        if i == 5:  # acknowledged at minute 5
            track = replace(track, acknowledged=True, acknowledged_at=60.0 * 5)
    # Lapses 30 minutes later; escalation starts over from then (a page 10 minutes on).
    assert events == [(2, FIRED), (35, UNACKNOWLEDGED), (45, PAGED), (55, PAGED)]
    assert track.acknowledged is False and track.acknowledged_at is None
