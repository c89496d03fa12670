"""Event times from devices whose clock is wrong (pure), corrected as Sentry's Relay does.

A Sentry SDK stamps each envelope header with ``sent_at``, its own clock at
sending (``/store/`` clients put ``sentry_timestamp`` in the auth header).
The difference to the arrival time is the device clock's error plus the
network latency. When it is at least ``clock_drift_seconds``, every
timestamp of the request is shifted by it: an event a phone stamped two
hours in the past is stored at the time it really happened, so it reopens
an issue resolved an hour ago and sorts among the other events of its
minute. Smaller differences are left alone (latency, and the few seconds
every clock is off).

Then the window: a time still further than ``max_past_seconds`` in the past
or ``max_future_seconds`` in the future (a device set to 2001, a crash
report kept for months, a wrong unit) is replaced by the arrival time. An
event from 2001 would otherwise set its issue's first-seen to 2001 and be
deleted by the next retention run.

Whenever a time is changed, the event keeps what it said in its extra's
``_meta.timestamp`` (Relay keeps the same facts in its ``_meta``): the
original time, the kind of correction (``clock_drift``, ``past_timestamp``,
``future_timestamp``) and, for drift, the device's and the server's times.

Relay's rule differs in two details: its threshold is 55 minutes (it wants
to catch time-zone mistakes only), and it checks the window before the
drift. Lookout corrects from 5 minutes on by default, because a resolved
issue is reopened only by an event stamped after the resolve: a phone 10
minutes slow would otherwise never reopen an issue resolved a moment ago.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from collector import normalize as n

_ANY_TIME = n.Limits()


@dataclass(frozen=True, slots=True)
class Drift:
    """How far a device's clock is off: ``seconds`` are added to each of its timestamps."""

    seconds: float
    sent_at: float  # the device's clock at sending
    received: float  # the server's clock at arrival


def parse_time(value: Any) -> float | None:
    """Epoch seconds from a number (or its text) or an RFC 3339 string; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    if isinstance(value, str) and value[:1].isdigit() and value.replace(".", "", 1).isdigit():
        value = float(value)  # auth headers carry epoch seconds as text
    try:
        # now=inf: nothing is "in the future" here; the window is applied later.
        return n.parse_ts(value, math.inf, _ANY_TIME)
    except (n.RecordError, ValueError, OverflowError):
        return None


def drift_of(sent_at: Any, received: float, limits: n.Limits) -> Drift | None:
    """The correction for a request sent at ``sent_at`` (device clock), if it needs one."""
    sent = parse_time(sent_at)
    if sent is None:
        return None
    seconds = received - sent
    if abs(seconds) < limits.clock_drift_seconds:
        return None
    return Drift(seconds, sent, received)


def iso(ts: float) -> str:
    """``2001-09-09T01:46:40Z`` (whole seconds unless there is a fraction)."""
    try:
        text = datetime.fromtimestamp(ts, UTC).isoformat()
    except (OverflowError, ValueError, OSError):
        return repr(ts)
    return text.replace("+00:00", "Z")


def _span(seconds: float) -> str:
    """A signed, human duration: ``+2h``, ``-3 days``, ``+420s``."""
    sign = "+" if seconds >= 0 else "-"
    size = abs(seconds)
    if size >= 86400:
        days = round(size / 86400)
        return f"{sign}{days} day{'s' if days != 1 else ''}"
    if size >= 3600:
        return f"{sign}{round(size / 3600)}h"
    return f"{sign}{round(size)}s"


def event_time(value: Any, received: float, limits: n.Limits,
               drift: Drift | None) -> tuple[float, dict[str, Any] | None]:
    """The stored time of an event stamped ``value``, and what was changed (None: nothing).

    A missing or unreadable time is the arrival time, as in Relay.
    """
    ts = parse_time(value)
    if ts is None:
        return received, None
    original = ts
    error = None
    if drift is not None:
        ts += drift.seconds
        error = "clock_drift"
    if ts > received + limits.max_future_seconds:
        ts, error = received, "future_timestamp"
    elif ts < received - limits.max_past_seconds:
        ts, error = received, "past_timestamp"
    if error is None:
        return ts, None
    meta: dict[str, Any] = {"error": error, "original": iso(original)}
    if error == "clock_drift":
        meta["reason"] = f"clock drift: all timestamps adjusted by {_span(ts - original)}"
    else:
        when = "past" if error == "past_timestamp" else "future"
        meta["reason"] = f"too far in the {when}: set to the time it was received"
    if drift is not None:
        meta["sdk_time"] = iso(drift.sent_at)
        meta["server_time"] = iso(drift.received)
    return ts, meta


def record_time(value: Any, received: float, limits: n.Limits, drift: Drift | None) -> float:
    """:func:`event_time` for records that keep no trace of the change (logs, metrics)."""
    return event_time(value, received, limits, drift)[0]
