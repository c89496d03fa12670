"""The search syntax of ``log_count`` rules: ``level:error service:checkout some text``.

``level:X`` means "at least X" (like the read API's ``level=``), ``service:``
and ``env:``/``environment:`` filter exactly, everything else is free text
matched case-insensitively in the message. A query without free text can be
answered from the per-minute log rollups; free text needs the raw rows.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from collector.normalize import LEVELS


class LogQueryError(ValueError):
    """The query cannot be parsed; the message names the bad term."""


@dataclass(frozen=True, slots=True)
class LogFilter:
    min_level: int | None = None
    service: str | None = None
    environment: str | None = None
    text: str | None = None

    @property
    def uses_rollups(self) -> bool:
        return self.text is None


def parse_log_query(query: str) -> LogFilter:
    try:
        terms = shlex.split(query)
    except ValueError as exc:
        raise LogQueryError(f"query: {exc}") from None
    level: int | None = None
    service = environment = None
    words: list[str] = []
    for term in terms:
        key, sep, value = term.partition(":")
        key = key.lower()
        if sep and key == "level":
            if value.lower() not in LEVELS:
                raise LogQueryError(f"query: unknown level {value!r} "
                                    f"(one of {', '.join(sorted(set(LEVELS)))})")
            level = LEVELS[value.lower()]
        elif sep and key == "service":
            service = value
        elif sep and key in ("env", "environment"):
            environment = value
        else:
            words.append(term)
    return LogFilter(level, service, environment, " ".join(words) or None)
