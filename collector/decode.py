"""Reading request bodies safely: size caps and bounded decompression.

A compression bomb (a few KB that inflate to gigabytes) is refused after
inflating at most ``limit + 1`` bytes: every decompressor here is driven in
chunks with an output cap, never asked for "everything".
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import zlib
from collections.abc import AsyncIterator

import brotli

CHUNK = 256 * 1024
# Bodies that inflate to at most this many bytes are decompressed on the event loop;
# larger ones on a worker thread (see decompress_off_loop).
INLINE_BYTES = 1024 * 1024
# A JSON ``\u0000`` escape that is not itself escaped (preceded by an even number of
# backslashes). PostgreSQL text cannot hold U+0000, so a record carrying it would
# fail its whole insert.
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


class BodyError(ValueError):
    """The body cannot be read; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_limited(stream: AsyncIterator[bytes], content_length: str | None,
                       limit: int) -> bytes:
    """Read a request body, refusing (413) anything over ``limit`` bytes on the wire."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BodyError(400, "Content-Length is not a number") from None
        if declared > limit:
            raise BodyError(413, f"body is {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"body is over the limit of {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` (identity, gzip, deflate, br) with an output cap."""
    enc = (encoding or "identity").strip().lower()
    if enc in ("", "identity"):
        if len(body) > limit:
            raise BodyError(413, f"body is over the limit of {limit} bytes")
        return body
    if enc in ("gzip", "x-gzip"):
        return _inflate(body, 16 + zlib.MAX_WBITS, limit, "gzip")
    if enc == "deflate":
        # RFC 9110 says zlib-wrapped; some clients send raw deflate. Accept both.
        try:
            return _inflate(body, zlib.MAX_WBITS, limit, "deflate")
        except BodyError as exc:
            if exc.status == 413:
                raise
            return _inflate(body, -zlib.MAX_WBITS, limit, "deflate")
    if enc == "br":
        return _unbrotli(body, limit)
    raise BodyError(415, f"unsupported Content-Encoding {enc[:40]!r} (use gzip, deflate or br)")


async def decompress_off_loop(body: bytes, encoding: str | None, limit: int) -> bytes:
    """:func:`decompress`, handing bodies that inflate past ``INLINE_BYTES`` to a thread.

    A 20 KB gzip body can inflate to the 20 MB limit; zlib and brotli take tens of
    milliseconds for that, time in which the event loop would answer no one. They
    release the GIL while they work, so on a thread the loop goes on serving the
    other clients. Ordinary bodies stay inline: a thread hop per request would cost
    more than inflating them. The first, capped attempt wastes at most
    ``INLINE_BYTES`` of output.
    """
    if limit <= INLINE_BYTES or (encoding or "identity").strip().lower() in ("", "identity"):
        return decompress(body, encoding, limit)
    try:
        return decompress(body, encoding, INLINE_BYTES)
    except BodyError as exc:
        if exc.status != 413:
            raise
    return await asyncio.to_thread(decompress, body, encoding, limit)


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    out = bytearray()
    data = body
    try:
        while data:
            d = zlib.decompressobj(wbits)
            buf = data
            # Stop at the member's end: past it, zlib keeps the rest in unconsumed_tail
            # *and* appends it to unused_data on every call (a loop without progress).
            while buf and not d.eof:
                out += d.decompress(buf, CHUNK)
                if len(out) > limit:
                    raise BodyError(413, f"decompressed body is over the limit of {limit} bytes")
                buf = d.unconsumed_tail
            while not d.eof:
                piece = d.decompress(b"", CHUNK)
                if not piece:
                    break
                out += piece
                if len(out) > limit:
                    raise BodyError(413, f"decompressed body is over the limit of {limit} bytes")
            if not d.eof:
                raise BodyError(400, f"{name} body is truncated")
            data = d.unused_data  # concatenated gzip members
            if wbits < 0 or wbits == zlib.MAX_WBITS:
                break
    except zlib.error as exc:
        raise BodyError(400, f"{name} body is corrupt: {exc}") from None
    return bytes(out)


def _unbrotli(body: bytes, limit: int) -> bytes:
    """Inflate ``br`` in chunks of at most ``CHUNK`` bytes of output.

    ``can_accept_more_data()`` is no sign that the output is complete: with all
    the input handed over at once it is ``True`` while the decoder still holds
    megabytes to emit. So keep asking for output until the stream is finished;
    an empty answer before that means the input ran out (a truncated body).
    """
    d = brotli.Decompressor()
    out = bytearray()
    try:
        out += d.process(body, output_buffer_limit=CHUNK)
        while len(out) <= limit and not d.is_finished():
            piece = d.process(b"", output_buffer_limit=CHUNK)
            if not piece:
                break
            out += piece
    except brotli.error as exc:
        raise BodyError(400, f"br body is corrupt: {exc}") from None
    if len(out) > limit:
        raise BodyError(413, f"decompressed body is over the limit of {limit} bytes")
    if not d.is_finished():
        raise BodyError(400, "br body is truncated")
    return bytes(out)


def decode_store_body(body: bytes, limit: int) -> bytes:
    """A legacy ``/store/`` body: JSON, or base64 of zlib-deflated JSON (raven-node).

    Old SDKs (raven-node, raven-js before 3.x) compress the event themselves and
    send it base64-encoded without a ``Content-Encoding``; Relay accepts that, so
    do we. The inflation is capped at ``limit`` like every other decode.
    """
    text = body.lstrip()
    if not text or text[:1] in (b"{", b"["):
        return body
    try:
        raw = base64.b64decode(text.rstrip(), validate=True)
    except (binascii.Error, ValueError):
        raise BodyError(400, "store body is neither JSON nor base64 of zlib-deflated JSON") \
            from None
    if raw[:1] != b"{":
        return _inflate(raw, zlib.MAX_WBITS, limit, "base64 store")
    if len(raw) > limit:
        raise BodyError(413, f"decompressed body is over the limit of {limit} bytes")
    return raw


def replace_nul_escapes(body: bytes) -> bytes:
    r"""Turn JSON ``\u0000`` escapes into ``\ufffd`` (the replacement character).

    Done on the raw bytes, before any parsing, so it covers every string of every
    record (messages, labels, exception values, tag keys) in one C-speed scan, and
    keeps the length: item lengths in a Sentry envelope stay right. The common
    case (no such escape) costs one ``in`` test.
    """
    if b"\\u0000" not in body:
        return body
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", body)
