"""Property tests for the body decoder: only BodyError, output within the limit, bounded memory."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import brotli
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.decode import CHUNK, BodyError, decompress, read_limited, replace_nul_escapes

ENCODINGS = ["gzip", "deflate", "br", "identity", None, "x-gzip", " GZIP ", "compress", ""]
COMPRESS = {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "raw-deflate": lambda b: zlib.compressobj(6, zlib.DEFLATED, -15).compress(b)
            + zlib.compressobj(6, zlib.DEFLATED, -15).flush()}
MB = 1024 * 1024


@given(st.binary(max_size=3000), st.sampled_from(ENCODINGS), st.integers(0, 5000))
def test_any_body_decodes_within_limit_or_raises_body_error(body, encoding, limit):
    try:
        out = decompress(body, encoding, limit)
    except BodyError as exc:
        assert exc.status in (400, 413, 415) and str(exc)
        return
    assert len(out) <= limit


@given(st.binary(max_size=5000), st.sampled_from(["gzip", "deflate", "br"]),
       st.integers(0, 6000))
def test_round_trip_or_413(data, encoding, limit):
    body = COMPRESS[encoding](data)
    try:
        assert decompress(body, encoding, limit) == data
    except BodyError as exc:
        assert exc.status == 413 and len(data) > limit


@given(st.binary(min_size=1, max_size=2000), st.sampled_from(["gzip", "deflate", "br"]),
       st.data())
def test_truncated_or_flipped_bodies_never_escape(data, encoding, draw):
    body = bytearray(COMPRESS[encoding](data))
    cut = draw.draw(st.integers(0, len(body)))
    flips = draw.draw(st.lists(st.integers(0, len(body) - 1), max_size=3))
    for i in flips:
        body[i] ^= 0xFF
    try:
        decompress(bytes(body[:cut] if cut else body), encoding, 10_000)
    except BodyError:
        pass


@given(st.lists(st.binary(max_size=300), max_size=20), st.one_of(st.none(), st.integers(0, 9000)),
       st.integers(0, 3000))
async def test_read_limited(chunks, declared, limit):
    async def stream():
        for chunk in chunks:
            yield chunk

    try:
        body = await read_limited(stream(), None if declared is None else str(declared), limit)
    except BodyError as exc:
        assert exc.status == 413
        assert (declared or 0) > limit or sum(map(len, chunks)) > limit
        return
    assert body == b"".join(chunks) and len(body) <= limit


# Any character but lone surrogates (not encodable as UTF-8, so never in a body); NUL is
# generated often enough by hypothesis on its own.
chars = st.characters(exclude_categories=["Cs"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=chars, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(alphabet=chars, max_size=6), inner, max_size=4),
    max_leaves=20)


def _replace_nul(value):
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_replace_nul(v) for v in value]
    if isinstance(value, dict):
        return {_replace_nul(k): _replace_nul(v) for k, v in value.items()}
    return value


@given(json_values, st.booleans())
def test_replace_nul_escapes_is_exactly_a_nul_replacement(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    out = replace_nul_escapes(raw)
    assert len(out) == len(raw)
    assert json.loads(out) == _replace_nul(value)


def _bomb(encoding: str, size: int) -> bytes:
    zeros = bytes(MB)
    if encoding == "br":
        c = brotli.Compressor(quality=1)
        return b"".join(c.process(zeros) for _ in range(size // MB)) + c.finish()
    if encoding == "gzip-members":
        return gzip.compress(zeros) * (size // MB)
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return b"".join(c.compress(zeros) for _ in range(size // MB)) + c.flush()


@pytest.mark.parametrize("encoding", ["gzip", "gzip-members", "deflate", "br"])
def test_bombs_stop_at_the_limit_with_bounded_memory(encoding):
    limit = 4 * MB
    body = _bomb(encoding, 256 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(BodyError) as info:
            decompress(body, "gzip" if encoding == "gzip-members" else encoding, limit)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.status == 413
    # The output buffer (limit + a chunk, grown by doubling) plus one chunk in flight:
    # never anywhere near the 256 MB the bomb would inflate to.
    assert peak < 3 * (limit + CHUNK) + len(body), peak
