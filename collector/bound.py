"""Bound nested JSON values before they are stored (pure, no I/O).

Top-level limits (string length, attribute count) left nested values free:
one 18 KB gzip request stored an attribute holding a 10-million-element list,
and every page showing it then rendered hundreds of megabytes. Here every
list and object, at any depth, keeps at most ``max_items`` elements, every
string at most ``max_string_length`` characters and the whole value at most
``budget`` bytes of JSON. What is cut is replaced by a marker saying how much
went, the way Sentry's Relay trims databags: the record is kept and marked
rather than rejected, because an SDK cannot fix what it already sent and the
rest of the record (message, stack, request id) is what people look for.

Cost on the hot path: the value is encoded once (needed anyway), and two
byte counts on the encoded text prove that no string and no container can
be over a limit; only values that fail that test are walked.
"""

from __future__ import annotations

from typing import Any

import msgspec

TRUNCATED = "…[truncated]"
MORE_KEY = "…"  # the key that marks an object's removed members
_KEY_LENGTH = 200
_MIN_STRING = 16  # a string cut shorter than this is replaced by a marker instead
_ATTEMPTS = 4

_encode = msgspec.json.Encoder().encode


class TooDeep(ValueError):
    """The value nests deeper than allowed (the record is rejected, as before)."""


def more_items(n: int) -> str:
    return f"…[{n} more items]"


def more_keys(n: int) -> str:
    return f"[{n} more keys]"


def cut(n: int) -> str:
    return f"…[{n} bytes cut]"


def fits(text: bytes, max_items: int, max_string_length: int) -> bool:
    """True when ``text`` (encoded JSON) cannot hold a string or container over the limits.

    A container of N elements needs N-1 commas and a string of N characters
    needs N bytes, so few commas and a short text prove both bounds.
    """
    return len(text) <= max_string_length and text.count(b",") < max_items


def within(value: Any, max_items: int, max_string_length: int) -> bool:
    """True when no container of ``value`` has more than ``max_items`` elements and no
    string more than ``max_string_length`` characters.

    The check for values :func:`fits` cannot clear (many commas in all, but each
    container small, as in Sentry's breadcrumbs): a loop without copies, several
    times cheaper than trimming.
    """
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is dict:
            if len(item) > max_items:
                return False
            push(item.values())
        elif kind is list:
            if len(item) > max_items:
                return False
            push(item)
        elif kind is str and len(item) > max_string_length:
            return False
    return True


def encode(value: Any, *, max_items: int, max_string_length: int, budget: int,
           max_depth: int, text: bytes | None = None, parts_bounded: bool = False) -> bytes:
    """``value`` as JSON of at most ``budget`` bytes, trimmed to the bounds.

    ``text`` is ``value`` already encoded, when the caller has it. A value that
    fits is returned as it is, without a walk. ``parts_bounded``: every part of
    ``value`` went through :func:`shrink` already, so only the size is checked.
    """
    if text is None:
        text = _encode(value)
    if len(text) <= budget and (parts_bounded or fits(text, max_items, max_string_length)
                                or within(value, max_items, max_string_length)):
        return text
    target = budget
    for _ in range(_ATTEMPTS):
        text = _encode(_Trim(max_items, max_string_length, target, max_depth).walk(value, 0))
        if len(text) <= budget:
            return text
        # The walk counts characters, the encoding bytes (escapes, UTF-8): aim lower.
        target = max(64, target * budget // len(text) * 9 // 10)
    return _encode(cut(len(text)))


def shrink(value: Any, *, max_items: int, max_string_length: int, budget: int,
           max_depth: int) -> Any:
    """``value`` itself when it fits the bounds, else a trimmed copy of about ``budget`` bytes.

    For parts of a record (one frame's variables, one context) whose whole is
    bounded again by :func:`encode` when it is stored.
    """
    text = _encode(value)
    if len(text) <= budget and (fits(text, max_items, max_string_length)
                                or within(value, max_items, max_string_length)):
        return value
    return _Trim(max_items, max_string_length, budget, max_depth).walk(value, 0)


class _Trim:
    """One walk over a value, spending a byte budget depth first."""

    __slots__ = ("depth", "items", "left", "longest")

    def __init__(self, max_items: int, max_string_length: int, budget: int,
                 max_depth: int) -> None:
        self.items, self.longest, self.left, self.depth = (
            max_items, max_string_length, budget, max_depth)

    def walk(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, dict):
            return self._object(value, depth + 1)
        if isinstance(value, list):
            return self._list(value, depth + 1)
        self.left -= 8 if isinstance(value, (int, float)) else 5
        return value

    def _string(self, text: str) -> str:
        if len(text) > self.longest:
            text = text[:self.longest] + TRUNCATED
        if len(text) + 2 > self.left:  # the budget runs out inside this string
            keep = self.left - 2 - len(TRUNCATED)
            text = text[:keep] + TRUNCATED if keep >= _MIN_STRING else TRUNCATED
        self.left -= len(text) + 2
        return text

    def _list(self, values: list[Any], depth: int) -> list[Any]:
        if depth > self.depth:
            raise TooDeep(f"nested deeper than {self.depth} levels")
        self.left -= 2
        out: list[Any] = []
        # With its marker a trimmed container has ``items`` elements: trimming it
        # again (when its record is bounded as a whole) keeps the marker's count.
        over = len(values) > self.items
        for value in values:
            if (over and len(out) == self.items - 1) or self.left <= 0:
                out.append(more_items(len(values) - len(out)))
                break
            out.append(self.walk(value, depth))
            self.left -= 1
        return out

    def _object(self, values: dict[str, Any], depth: int) -> dict[str, Any]:
        if depth > self.depth:
            raise TooDeep(f"nested deeper than {self.depth} levels")
        self.left -= 2
        out: dict[str, Any] = {}
        over = len(values) > self.items
        for key, value in values.items():
            if (over and len(out) == self.items - 1) or self.left <= 0:
                out[MORE_KEY] = more_keys(len(values) - len(out))
                break
            key = key[:_KEY_LENGTH]
            self.left -= len(key) + 4
            out[key] = self.walk(value, depth)
        return out
