"""Redacting secrets from what is about to leave the process.

Matching is by substring of the normalised key (lower case, ``-`` as ``_``)
so ``db_password``, ``X-Api-Key`` and ``access_token`` are caught without
listing every spelling. It runs on the background thread over the already
normalised record: attributes, local variables of every frame, and headers.
"""

from __future__ import annotations

from typing import Any, Iterable

DEFAULT_SCRUB_KEYS: tuple[str, ...] = (
    "password", "passwd", "secret", "token", "authorization", "cookie", "api_key",
    "apikey", "private_key", "credentials", "csrf",
)
REDACTED = "[redacted]"


class Scrubber:
    """Replaces the values of sensitive keys with ``[redacted]``, recursively."""

    def __init__(self, keys: Iterable[str] = DEFAULT_SCRUB_KEYS) -> None:
        self.keys = tuple(k.lower().replace("-", "_") for k in keys if k)

    def is_sensitive(self, key: str) -> bool:
        low = key.lower().replace("-", "_")
        return any(k in low for k in self.keys)

    def scrub(self, value: Any) -> Any:
        """``value`` with sensitive dict entries redacted (mutates normalised dicts)."""
        if not self.keys:
            return value
        return self._walk(value, 8)

    def _walk(self, value: Any, depth: int) -> Any:
        if depth <= 0:
            return value
        if isinstance(value, dict):
            for key in list(value):
                if isinstance(key, str) and self.is_sensitive(key):
                    value[key] = REDACTED
                else:
                    value[key] = self._walk(value[key], depth - 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                value[i] = self._walk(item, depth - 1)
        return value

    def scrub_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Scrub the parts of a wire record that carry app data."""
        if not self.keys:
            return record
        attrs = record.get("attributes")
        if attrs:
            self._walk(attrs, 8)
        tags = record.get("tags")
        if tags:
            self._walk(tags, 2)
        for exc in record.get("exception") or ():
            for frame in exc.get("frames") or ():
                if frame.get("vars"):
                    self._walk(frame["vars"], 8)
        return record
