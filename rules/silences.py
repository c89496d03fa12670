"""What makes a silence valid, shared by ``POST /api/v1/silences`` and the /silences page.

A silence mutes every alert whose labels include all of its matchers (equality,
like Alertmanager's ``=`` matchers; ``rule`` is a label too) from ``starts_at``
until ``ends_at``. Pure functions: the callers store the result through
``rules.actions``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from collector.queries import QueryError
from rules.durations import DurationError, parse_duration
from rules.store import MAX_EPOCH
from web.params import parse_time

MAX_SILENCE_SECONDS = 90 * 86400
MAX_START_AHEAD_SECONDS = 365 * 86400  # a silence may be scheduled at most a year ahead
MAX_MATCHERS = 20
MAX_LABEL_LENGTH = 200
MAX_COMMENT_LENGTH = 1000
MAX_ACTOR_LENGTH = 100
_PAIR_SEPARATORS = re.compile(r"[,\n]")


class SilenceError(ValueError):
    """The silence asked for is invalid; the message names the field and the fix."""


@dataclass(frozen=True, slots=True)
class SilenceSpec:
    matchers: dict[str, str]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str


def check_silence(matchers: dict[str, str], *, starts_at: str | None, ends_at: str | None,
                  duration: str | None, comment: str, created_by: str,
                  now: float) -> SilenceSpec:
    """Validate a silence request; times as the read API takes them (epoch, RFC 3339)."""
    if not matchers or any(not k or len(k) > MAX_LABEL_LENGTH or len(v) > MAX_LABEL_LENGTH
                           for k, v in matchers.items()):
        raise SilenceError("matchers: give at least one label: value pair "
                           "(e.g. {\"rule\": \"checkout-error-rate\"})")
    if len(matchers) > MAX_MATCHERS:
        raise SilenceError(f"matchers: at most {MAX_MATCHERS} labels")
    if not 0 < len(created_by) <= MAX_ACTOR_LENGTH or len(comment) > MAX_COMMENT_LENGTH:
        raise SilenceError(f"by: 1-{MAX_ACTOR_LENGTH} characters; "
                           f"comment: at most {MAX_COMMENT_LENGTH}")
    if any("\x00" in text for text in (created_by, comment, *matchers, *matchers.values())):
        # PostgreSQL text cannot hold NUL: storing it failed the request (a 500).
        raise SilenceError("NUL (\\u0000) characters are not allowed in a silence")
    starts = _time("starts_at", starts_at, now)
    starts = now if starts is None else starts
    if starts > now + MAX_START_AHEAD_SECONDS:
        raise SilenceError("starts_at: at most 365 days from now")
    if duration is not None:
        try:
            ends: float | None = starts + parse_duration(duration)
        except DurationError as exc:
            raise SilenceError(f"duration: {exc}") from None
    else:
        ends = _time("ends_at", ends_at, now)
    if ends is None:
        raise SilenceError("give ends_at or duration (e.g. \"2h\")")
    if ends <= starts or ends <= now:
        raise SilenceError("ends_at must be after starts_at and in the future")
    if ends - starts > MAX_SILENCE_SECONDS:
        raise SilenceError("a silence can last at most 90 days")
    return SilenceSpec(dict(matchers), starts, ends, created_by, comment)


def _time(name: str, value: str | None, now: float) -> float | None:
    """A time from the request, finite and between 1970 and 9999, or SilenceError naming it.

    ``float("nan")`` parses, and NaN compares false to everything: such a silence
    passed every check below, then muted its alerts for ever on PostgreSQL
    (where NaN sorts above all numbers) and broke every page showing it.
    """
    try:
        ts = parse_time(name, value, now)
    except QueryError as exc:
        raise SilenceError(str(exc)) from None
    except (OverflowError, ValueError):  # e.g. a date datetime cannot represent
        ts = math.nan
    if ts is not None and not (math.isfinite(ts) and 0 <= ts <= MAX_EPOCH):
        raise SilenceError(f"{name}: must be a time between 1970 and 9999 "
                           "(epoch seconds, RFC 3339, or a duration like 15m)")
    return ts


def parse_matchers(text: str) -> dict[str, str]:
    """``service=checkout, environment=production`` (commas or new lines) as a dict."""
    out: dict[str, str] = {}
    for part in _PAIR_SEPARATORS.split(text):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SilenceError(f"labels: {part[:60]!r} is not label=value")
        out[key.strip()] = value.strip()
    return out


def silence_status(silence: dict[str, Any], now: float) -> str:
    """``active``, ``pending`` (starts later) or ``expired`` (also: a time that is not one)."""
    starts, ends = silence["starts_at"], silence["ends_at"]
    if not (math.isfinite(starts) and ends <= MAX_EPOCH) or ends <= now:  # NaN fails too
        return "expired"
    return "active" if starts <= now else "pending"
