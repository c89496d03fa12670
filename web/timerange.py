"""The time range picker: 15m / 1h / 24h / 7d presets or a custom from/to (pure).

Custom bounds accept what ``web.params.parse_time`` accepts (RFC 3339, epoch
seconds, ``2h`` ago); a date-time without an offset is taken as UTC, which is
what the form says next to the inputs (the page cannot know the viewer's
zone without JavaScript).
"""

from __future__ import annotations

from dataclasses import dataclass

from collector.queries import QueryError
from web.params import parse_time

PRESETS = {"15m": 900, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
DEFAULT = "1h"
MAX_SPAN = 90 * 86400
BUCKETS = {"15m": 30, "1h": 60, "24h": 96, "7d": 84}


@dataclass(frozen=True, slots=True)
class TimeRange:
    name: str  # a preset key or "custom"
    since: float
    until: float
    raw_from: str = ""
    raw_to: str = ""

    @property
    def buckets(self) -> int:
        return BUCKETS.get(self.name, 60)

    @property
    def label(self) -> str:
        return {"15m": "last 15 minutes", "1h": "last hour", "24h": "last 24 hours",
                "7d": "last 7 days"}.get(self.name, "custom range")

    def params(self) -> dict[str, str]:
        """Query parameters that reproduce this range in a link."""
        if self.name == "custom":
            return {"range": "custom", "from": self.raw_from, "to": self.raw_to}
        return {"range": self.name}


def parse_range(name: str | None, raw_from: str | None, raw_to: str | None,
                now: float) -> TimeRange:
    """The range a page was asked for; raises QueryError naming a bad bound."""
    name = (name or DEFAULT).strip()
    if name in PRESETS:
        return TimeRange(name, now - PRESETS[name], now)
    if name != "custom":
        raise QueryError(f"range: use one of {', '.join(PRESETS)} or custom")
    since = parse_time("from", raw_from, now)
    until = parse_time("to", raw_to, now) or now
    if since is None:
        raise QueryError("from: a custom range needs a start")
    if until <= since:
        raise QueryError("to: must be after from")
    if until - since > MAX_SPAN:
        raise QueryError("range: at most 90 days")
    return TimeRange("custom", since, until, (raw_from or "").strip(), (raw_to or "").strip())
