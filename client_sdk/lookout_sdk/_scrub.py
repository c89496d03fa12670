"""Redacting secrets from what is about to leave the process.

Matching is by substring of the normalised key (lower case, ``-`` as ``_``)
so ``db_password``, ``X-Api-Key`` and ``access_token`` are caught without
listing every spelling. It runs on the background thread over the already
normalised record: attributes, local variables of every frame, and headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

DEFAULT_SCRUB_KEYS: tuple[str, ...] = (
    "password", "passwd", "secret", "token", "authorization", "cookie", "api_key",
    "apikey", "private_key", "credentials", "csrf",
)
REDACTED = "[redacted]"


class Scrubber:
    """Replaces the values of sensitive keys with ``[redacted]``, recursively."""

    def __init__(self, keys: Iterable[str] = DEFAULT_SCRUB_KEYS) -> None:
        self.keys = tuple(k.lower().replace("-", "_") for k in keys if k)
        self._pattern = re.compile("|".join(re.escape(k) for k in self.keys)) if self.keys else None
        # The same few attribute names come by again and again: remember the verdicts.
        self._verdicts: dict[str, bool] = {}

    def is_sensitive(self, key: str) -> bool:
        verdict = self._verdicts.get(key)
        if verdict is None:
            low = key.lower().replace("-", "_")
            verdict = self._pattern is not None and self._pattern.search(low) is not None
            if len(self._verdicts) < 10_000:
                self._verdicts[key] = verdict
        return verdict

    def scrub(self, value: Any) -> Any:
        """``value`` with sensitive dict entries redacted (mutates normalised dicts)."""
        if not self.keys:
            return value
        return self._walk(value, 8)

    def _walk(self, value: Any, depth: int) -> Any:
        if depth <= 0:
            return value
        if isinstance(value, dict):
            for key, item in value.items():  # replacing values keeps the size: safe
                if isinstance(key, str) and self.is_sensitive(key):
                    value[key] = REDACTED
                elif isinstance(item, (dict, list)):
                    self._walk(item, depth - 1)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, (dict, list)):
                    self._walk(item, depth - 1)
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
