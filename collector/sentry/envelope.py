"""Envelope parsing (pure): a header line, then items of ``header \\n payload``.

An item header with ``length`` is followed by exactly that many bytes and an
optional newline; without ``length`` the payload runs to the next newline
(or the end). Payloads stay bytes here: only the item types Lookout stores
are decoded later, so a huge attachment costs a slice, not a JSON parse.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

MAX_ITEMS = 1000
_decode = msgspec.json.decode


class EnvelopeError(ValueError):
    """The envelope is malformed; the message says where (answered with 400)."""


@dataclass(slots=True)
class Item:
    type: str
    headers: dict[str, Any]
    payload: bytes


@dataclass(slots=True)
class Envelope:
    headers: dict[str, Any] = field(default_factory=dict)
    items: list[Item] = field(default_factory=list)


def _header(line: bytes, what: str) -> dict[str, Any]:
    try:
        value = _decode(line) if line.strip() else {}
    except msgspec.DecodeError as exc:
        raise EnvelopeError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:  # msgspec's nesting limit (about 1000 levels)
        raise EnvelopeError(f"{what} is nested too deeply") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"{what} must be a JSON object")
    return value


def parse(body: bytes) -> Envelope:
    """Split ``body`` into its header and items; raise EnvelopeError when malformed."""
    end = body.find(b"\n")
    if end < 0:
        end = len(body)
    env = Envelope(headers=_header(body[:end], "envelope header"))
    pos = end + 1
    size = len(body)
    while pos < size:
        end = body.find(b"\n", pos)
        if end < 0:
            end = size
        line = body[pos:end]
        pos = end + 1
        if not line.strip():
            continue  # blank lines between items are tolerated
        index = len(env.items)
        if index >= MAX_ITEMS:
            raise EnvelopeError(f"more than {MAX_ITEMS} items in one envelope")
        headers = _header(line, f"item {index} header")
        item_type = headers.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise EnvelopeError(f"item {index} header has no 'type'")
        length = headers.get("length")
        if length is None:
            stop = body.find(b"\n", pos)
            if stop < 0:
                stop = size
            payload = body[pos:stop]
            pos = stop + 1
        else:
            if not isinstance(length, int) or isinstance(length, bool) or length < 0:
                raise EnvelopeError(f"item {index} ('{item_type[:40]}') has an invalid length")
            if pos + length > size:
                raise EnvelopeError(f"item {index} ('{item_type[:40]}') is truncated: length "
                                    f"{length} but only {max(size - pos, 0)} bytes follow")
            payload = body[pos:pos + length]
            pos += length
            if pos < size:
                if body[pos:pos + 1] != b"\n":
                    raise EnvelopeError(f"item {index} ('{item_type[:40]}'): no newline after "
                                        f"its {length} bytes; the length is wrong")
                pos += 1
        env.items.append(Item(item_type, headers, payload))
    return env


def payload_json(item: Item, index: int) -> dict[str, Any]:
    """Decode an item's JSON object payload, naming the item when it is not one."""
    try:
        value = _decode(item.payload)
    except msgspec.DecodeError as exc:
        raise EnvelopeError(f"item {index} ('{item.type[:40]}') is not valid JSON: {exc}") from None
    except RecursionError:
        raise EnvelopeError(f"item {index} ('{item.type[:40]}') is nested too deeply") from None
    if not isinstance(value, dict):
        raise EnvelopeError(f"item {index} ('{item.type[:40]}') must be a JSON object")
    return value
