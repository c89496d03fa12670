"""Bounded decompression and body size limits."""

from __future__ import annotations

import asyncio
import base64
import gzip
import os
import zlib

import brotli
import pytest

from collector import decode
from collector.decode import (
    BodyError,
    decode_store_body,
    decompress,
    read_limited,
    replace_nul_escapes,
)

PAYLOAD = b'{"logs": [{"message": "hello"}]}' * 100


@pytest.mark.parametrize("encoding,data", [
    (None, PAYLOAD),
    ("identity", PAYLOAD),
    ("gzip", gzip.compress(PAYLOAD, mtime=0)),
    ("deflate", zlib.compress(PAYLOAD)),
    ("deflate", zlib.compress(PAYLOAD, wbits=-15)),  # raw deflate, as some clients send
    ("br", brotli.compress(PAYLOAD, quality=4)),
    ("GZIP", gzip.compress(PAYLOAD, mtime=0)),
])
def test_decompress_round_trip(encoding, data):
    assert decompress(data, encoding, len(PAYLOAD)) == PAYLOAD


def test_concatenated_gzip_members():
    assert decompress(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", 10) == b"abcd"


@pytest.mark.parametrize("encoding,compress", [
    ("gzip", gzip.compress), ("deflate", zlib.compress),
    ("br", lambda d: brotli.compress(d, quality=1)),
])
def test_bomb_stops_at_limit(encoding, compress):
    bomb = compress(b"\0" * 50_000_000)
    assert len(bomb) < 200_000
    with pytest.raises(BodyError) as err:
        decompress(bomb, encoding, 1_000_000)
    assert err.value.status == 413


@pytest.mark.parametrize("encoding,data,words", [
    ("gzip", b"not gzip at all", "corrupt"),
    ("gzip", gzip.compress(PAYLOAD, mtime=0)[:-10], "truncated"),
    ("br", b"\xff\xff\xff", "corrupt"),
    ("br", brotli.compress(PAYLOAD)[:-3], "br body"),
    ("deflate", b"\x00\x01\x02", "deflate"),
    ("compress", b"x", "Content-Encoding"),
])
def test_bad_bodies_name_the_problem(encoding, data, words):
    with pytest.raises(BodyError) as err:
        decompress(data, encoding, 10_000_000)
    assert err.value.status in (400, 415)
    assert words in str(err.value)


async def _stream(*chunks: bytes):
    for chunk in chunks:
        yield chunk


async def test_read_limited_checks_declared_and_actual_size():
    assert await read_limited(_stream(b"ab", b"cd"), "4", 4) == b"abcd"
    with pytest.raises(BodyError) as err:
        await read_limited(_stream(b"x"), "5", 4)
    assert err.value.status == 413
    with pytest.raises(BodyError):
        await read_limited(_stream(b"abc", b"de"), None, 4)
    with pytest.raises(BodyError) as err:
        await read_limited(_stream(b""), "lots", 4)
    assert err.value.status == 400


@pytest.mark.parametrize(("raw", "expected"), [
    (rb'"a\u0000b"', rb'"a\ufffdb"'),
    (rb'"a\\u0000b"', rb'"a\\u0000b"'),          # an escaped backslash, then text
    (rb'"\\\u0000"', rb'"\\\ufffd"'),            # an escaped backslash, then a NUL
    (rb'{"\u0000":"\u0000\u0000"}', rb'{"\ufffd":"\ufffd\ufffd"}'),
    (b'{"plain": 1}', b'{"plain": 1}'),
])
def test_replace_nul_escapes_keeps_length_and_escaped_text(raw, expected):
    out = replace_nul_escapes(raw)
    assert out == expected and len(out) == len(raw)


def test_gzip_members_larger_than_a_chunk():
    # A member ending after more than CHUNK bytes of output left zlib's unconsumed_tail
    # non-empty at its end: the loop never ended (and unused_data grew without bound).
    member = gzip.compress(bytes(1024 * 1024))
    assert decompress(member * 3, "gzip", 4 * 1024 * 1024) == bytes(3 * 1024 * 1024)
    with pytest.raises(BodyError) as info:
        decompress(member * 64, "gzip", 8 * 1024 * 1024)
    assert info.value.status == 413


@pytest.mark.parametrize("size", [480_000, 600_000, 3_000_000])
def test_brotli_inflating_past_the_output_chunk_is_whole(size):
    """The decoder holds output beyond one chunk while it says it accepts more input."""
    for data in (b"x" * size, os.urandom(size)):
        assert decompress(brotli.compress(data, quality=4), "br", size) == data
        with pytest.raises(BodyError) as err:
            decompress(brotli.compress(data, quality=4), "br", size - 1)
        assert err.value.status == 413


def test_store_body_plain_base64_json_and_base64_deflate():
    event = b'{"message": "hi"}'
    assert decode_store_body(event, 100) == event
    assert decode_store_body(b"  " + event, 100) == b"  " + event
    assert decode_store_body(base64.b64encode(zlib.compress(event)), 100) == event
    assert decode_store_body(base64.b64encode(event) + b"\n", 100) == event
    with pytest.raises(BodyError) as err:
        decode_store_body(base64.b64encode(zlib.compress(b"{" + b" " * 200 + b"}")), 100)
    assert err.value.status == 413
    with pytest.raises(BodyError) as err:
        decode_store_body(b"%%% not base64", 100)
    assert err.value.status == 400 and "base64" in str(err.value)
    with pytest.raises(BodyError) as err:
        decode_store_body(base64.b64encode(b"plain words"), 100)
    assert err.value.status == 400


def test_large_inflation_runs_off_the_event_loop():
    """A body that inflates past INLINE_BYTES leaves the loop free for other clients."""
    bomb = gzip.compress(b"[" + b"0," * 5_000_000 + b"0]")
    small = gzip.compress(b'{"logs": []}')

    async def run(body: bytes) -> tuple[bytes, int]:
        ticks = 0
        done = False

        async def ticker() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        ticks = 0
        out = await decode.decompress_off_loop(body, "gzip", 20 * 1024 * 1024)
        seen, done = ticks, True
        await task
        return out, seen

    out, ticks = asyncio.run(run(bomb))
    assert len(out) == 10_000_003 and ticks > 0
    out, ticks = asyncio.run(run(small))
    assert out == b'{"logs": []}' and ticks == 0  # inline: no thread hop for ordinary bodies
    with pytest.raises(decode.BodyError) as exc:
        asyncio.run(decode.decompress_off_loop(bomb, "gzip", 2 * 1024 * 1024))
    assert exc.value.status == 413
