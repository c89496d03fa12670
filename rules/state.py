"""The alert state machine, as a pure function of (what we knew, what we see now, the time).

inactive -> pending (condition true, ``for`` not yet elapsed) -> firing ->
resolved, following Prometheus/Alertmanager semantics:

- a pending alert whose condition clears disappears silently;
- a firing alert resolves only once the condition has been clear for
  ``keep_firing_for`` (0 = at the first clear evaluation), which damps flapping;
  with a ``resolve`` threshold (hysteresis) "clear" means past that threshold,
  not merely under the warning one;
- the alert carries the highest severity breached now; warning -> critical
  escalates the *same* alert and notifies again, de-escalation is recorded but
  does not page (and re-escalating to a level already notified does not either);
- a firing alert that is not acknowledged re-notifies every ``repeat_interval``
  (except ``new_issue`` alerts: a new issue is announced once);
- with ``escalate_after``, a firing alert nobody acknowledged pages the rule's
  ``escalate_to`` after that long, and again after each further ``escalate_after``
  (PagerDuty's escalation; a page stands in for a repeat due at the same time);
- with ``ack_timeout``, an acknowledgement older than that on an alert still firing
  lapses: the alert is unacknowledged again and escalation starts over;
- silenced alerts keep their state but do not notify; when the silence ends
  and the alert still fires, whatever was held back is sent then (a first
  "fired" message if none was ever sent);
- a resolution is always delivered when a message was sent for the alert, even
  under a silence or an acknowledgement: it only updates that message in place,
  and a message stuck at "firing" is the worse failure.

No I/O and no clock of its own: the engine passes ``now``, so tests drive time.

Durations (``for``, ``keep_firing_for``, ``repeat_interval``) count time the
engine has *evaluated*: each evaluation credits at most ``max_step`` seconds
since the previous one, and never less than zero. A wall clock that jumps
forward (or an engine that was stopped) therefore cannot satisfy ``for`` in
one evaluation, and a clock that jumps back neither loses nor double-counts
progress: the track's time anchors are shifted by the part of the gap that was
not credited (see :func:`rebase`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from rules.config import Rule

SEVERITY_RANK = {None: 0, "warning": 1, "critical": 2}

# Notification events written to the outbox.
FIRED, ESCALATED, REPEAT, RESOLVED = "fired", "escalated", "repeat", "resolved"
PAGED = "paged"  # escalate_after elapsed without an acknowledgement
UNACKNOWLEDGED = "unacknowledged"  # ack_timeout elapsed with the alert still firing


@dataclass(frozen=True, slots=True)
class Observation:
    """One evaluated group: its labels, current value, and the severity breached (or None)."""

    labels: dict[str, str]
    value: float | None
    severity: str | None
    info: dict[str, str] = field(default_factory=dict)
    """Shown with the alert (e.g. an issue's title) but not part of its identity."""


@dataclass(frozen=True, slots=True)
class Track:
    """What the engine remembers about one alert identity between evaluations."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    state: str  # "pending" | "firing"
    severity: str | None
    value: float | None
    active_since: float
    last_true_at: float
    fired_at: float | None = None
    alert_id: int | None = None
    notified_severity: str | None = None
    last_notified_at: float | None = None
    acknowledged: bool = False
    evaluated_at: float | None = None  # the previous evaluation (None: use last_true_at)
    escalated_at: float | None = None  # escalate_after counts from here (fired, last page)
    acknowledged_at: float | None = None  # wall-clock time of the acknowledgement


@dataclass(frozen=True, slots=True)
class Transition:
    """One line of alert history: a state or severity change with the value and time."""

    from_state: str
    to_state: str
    severity: str | None
    value: float | None
    at: float
    note: str = ""


@dataclass(slots=True)
class Step:
    """The result of one evaluation of one identity."""

    track: Track | None  # None: inactive again (nothing to remember)
    transitions: list[Transition] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    resolved: Track | None = None  # the firing track that just resolved, for the engine


def rebase(track: Track, now: float, max_step: float) -> Track:
    """``track`` as of an evaluation at ``now``, crediting at most ``max_step`` seconds.

    The uncredited part of the gap since the previous evaluation (a forward
    jump beyond ``max_step``, or all of a backward jump) shifts every anchor
    the durations are measured from, so elapsed evaluated time is unchanged.
    """
    previous = track.evaluated_at if track.evaluated_at is not None else track.last_true_at
    elapsed = now - previous
    skew = elapsed - min(max(elapsed, 0.0), max_step)
    if skew == 0:
        return replace(track, evaluated_at=now)
    notified = track.last_notified_at + skew if track.last_notified_at is not None else None
    escalated = track.escalated_at + skew if track.escalated_at is not None else None
    return replace(track, active_since=track.active_since + skew,
                   last_true_at=track.last_true_at + skew, last_notified_at=notified,
                   escalated_at=escalated, evaluated_at=now)


def step(rule: Rule, fingerprint: str, track: Track | None, obs: Observation | None,
         now: float, silenced: bool = False, max_step: float = float("inf")) -> Step:
    """Advance one alert identity by one evaluation at time ``now``."""
    breached = obs is not None and obs.severity is not None
    value = obs.value if obs is not None else None
    transitions: list[Transition] = []
    if track is not None:
        track = rebase(track, now, max_step)
    if track is None:
        if not breached:
            return Step(None)
        assert obs is not None
        track = Track(fingerprint=fingerprint, rule=rule.name, labels=dict(obs.labels),
                      state="pending", severity=obs.severity, value=value, active_since=now,
                      last_true_at=now, evaluated_at=now)
        transitions.append(Transition("inactive", "pending", obs.severity, value, now))
    elif track.state == "pending":
        if not breached:
            return Step(None, [Transition("pending", "inactive", None, value, now)])
        assert obs is not None
        track = replace(track, severity=obs.severity, value=value, last_true_at=now)
    else:  # firing
        if breached:
            assert obs is not None
            old = track.severity
            track = replace(track, severity=obs.severity, value=value, last_true_at=now)
            if SEVERITY_RANK[obs.severity] != SEVERITY_RANK[old]:
                note = "escalated" if SEVERITY_RANK[obs.severity] > SEVERITY_RANK[old] \
                    else "de-escalated"
                transitions.append(Transition("firing", "firing", obs.severity, value, now, note))
        elif rule.thresholds.holds(value):
            # Between the breach and the resolve threshold (hysteresis): still
            # firing, at the lowest severity, its clear time not yet started.
            low = "warning" if rule.thresholds.warning is not None else track.severity
            if SEVERITY_RANK[low] < SEVERITY_RANK[track.severity]:
                transitions.append(Transition("firing", "firing", low, value, now,
                                              "de-escalated"))
            track = replace(track, severity=low, value=value, last_true_at=now)
        elif now - track.last_true_at >= rule.keep_firing_for:
            resolved = replace(track, value=value)
            notify = [RESOLVED] if track.notified_severity is not None else []
            return Step(None, [Transition("firing", "resolved", track.severity, value, now)],
                        notify, resolved=resolved)
        else:
            track = replace(track, value=value)

    if track.state == "pending" and now - track.active_since >= rule.for_:
        track = replace(track, state="firing", fired_at=now, escalated_at=now)
        transitions.append(Transition("pending", "firing", track.severity, track.value, now))

    notify: list[str] = []
    if track.state == "firing" and _ack_expired(rule, track, now):
        transitions.append(Transition("firing", "firing", track.severity, track.value, now,
                                      "acknowledgement timed out"))
        track = replace(track, acknowledged=False, acknowledged_at=None, escalated_at=now,
                        last_notified_at=now)
        notify.append(UNACKNOWLEDGED)
    if track.state == "firing" and not silenced and not track.acknowledged:
        event = _due(rule, track, now)
        paged = event != FIRED and _page_due(rule, track, now)
        if paged:
            transitions.append(Transition("firing", "firing", track.severity, track.value, now,
                                          "paged " + ", ".join(rule.escalate_to)))
            if event == REPEAT:
                event = None  # the page says it is still firing
        if event:
            notify.append(event)
            top = max(track.severity, track.notified_severity, key=SEVERITY_RANK.__getitem__)
            track = replace(track, notified_severity=top, last_notified_at=now)
        if paged:
            notify.append(PAGED)
            track = replace(track, escalated_at=now, last_notified_at=now)
    return Step(track, transitions, notify)


def _ack_expired(rule: Rule, track: Track, now: float) -> bool:
    """Whether the alert's acknowledgement is older than the rule's ``ack_timeout``."""
    return (track.acknowledged and rule.ack_timeout is not None
            and track.acknowledged_at is not None
            and now - track.acknowledged_at >= rule.ack_timeout)


def _page_due(rule: Rule, track: Track, now: float) -> bool:
    """Whether ``escalate_after`` has passed since the alert fired or last paged."""
    if not rule.escalate_after or not rule.escalate_to:
        return False
    anchor = track.escalated_at if track.escalated_at is not None else track.fired_at
    return anchor is not None and now - anchor >= rule.escalate_after


def _due(rule: Rule, track: Track, now: float) -> str | None:
    """Which notification a firing, unsilenced, unacknowledged alert owes now, if any."""
    if track.notified_severity is None:
        return FIRED
    if SEVERITY_RANK[track.severity] > SEVERITY_RANK[track.notified_severity]:
        return ESCALATED
    if rule.kind == "new_issue":
        return None  # an event, not a condition: announced once, never repeated
    if track.last_notified_at is None or now - track.last_notified_at >= rule.repeat_interval:
        return REPEAT
    return None
