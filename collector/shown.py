"""How much stored record content one answer (a page, an API response) may carry.

Records are bounded when stored (:mod:`collector.bound`), but a page of 50
records, or a request timeline of thousands, would still add up, and rows
stored before those bounds existed are not bounded at all: five of them made
one ``/search`` page 248 MB of HTML. So every answer gets a :class:`Shown`
budget: each JSON value of a record is shown whole up to ``value_bytes``
(bigger ones trimmed, with markers, or replaced by a marker when they are too
big to even decode cheaply), and once the answer has carried ``page_bytes``
of messages and JSON, lists stop (their cursor goes on from there) and a
timeline shows its remaining records without their JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from collector import bound

# Values stored before records were bounded can be huge; past this size they are
# not decoded at all (decoding 20 MB of JSON costs ~100 MB for a moment).
DECODE_AT_MOST = 1_048_576
# Once the page budget is spent, messages still shown are cut to this many characters.
SHORT_MESSAGE = 1_000
_ITEMS = 100
_DEPTH = 100

_decode = msgspec.json.decode


@dataclass(slots=True)
class Shown:
    """The budget of one answer; ``used`` grows as records are turned into items."""

    value_bytes: int = 16_384
    page_bytes: int = 2_097_152
    used: int = 0

    @classmethod
    def from_settings(cls, settings: Any) -> Shown:
        return cls(settings.max_shown_value_bytes, settings.max_shown_page_bytes)

    @property
    def full(self) -> bool:
        """True once the answer carries ``page_bytes``: lists should stop here."""
        return self.used >= self.page_bytes

    def message(self, text: str) -> str:
        if self.full and len(text) > SHORT_MESSAGE:
            text = text[:SHORT_MESSAGE] + bound.TRUNCATED
        self.used += len(text)
        return text

    def attributes(self, text: str | None) -> dict[str, Any]:
        """A record's attributes or an error's extra (a JSON object)."""
        return self._value(text, {}, 1, lambda size, why: {
            bound.MORE_KEY: f"[{size:,} bytes not shown: {why}]"})

    def exception(self, text: str | None) -> list[Any]:
        """An exception chain: stacks are what people open an error for, so they get
        four times the budget of other values."""
        return self._value(text, [], 4, lambda size, why: [
            {"type": "…", "value": f"[stack trace of {size:,} bytes not shown: {why}]",
             "module": None, "mechanism": None, "frames": []}])

    def _value(self, text: str | None, empty: Any, share: int, marker: Any) -> Any:
        if not text:
            return empty
        size, budget = len(text), self.value_bytes * share
        if self.full:
            return marker(size, "this answer reached its size limit")
        if size <= budget:
            self.used += size
            return _decode(text)
        self.used += budget
        if size > DECODE_AT_MOST:
            return marker(size, f"over the display limit of {budget:,} bytes")
        try:
            return bound.shrink(_decode(text), max_items=_ITEMS, max_string_length=budget,
                                budget=budget, max_depth=_DEPTH)
        except bound.TooDeep:
            return marker(size, f"nested deeper than {_DEPTH} levels")
