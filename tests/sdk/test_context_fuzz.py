"""Property tests for request IDs taken from X-Request-ID: nothing a client sends can
inject a header (CR, LF, spaces, non-ASCII) into the response or the records."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lookout_sdk._context import new_request_id, valid_request_id

CRAFTED = st.sampled_from([b"abc\r\nSet-Cookie: a=1", b"abc\nX-Injected: 1", b"a b", b"\x00",
                           b"caf\xc3\xa9", b"x" * 201, b"", b"ok-id_1.2:3"])


@given(st.binary(max_size=300) | st.text(max_size=300) | CRAFTED)
def test_valid_request_id_is_header_safe_or_none(value):
    rid = valid_request_id(value)
    if rid is not None:
        assert 1 <= len(rid) <= 200
        assert all(0x21 <= ord(ch) <= 0x7E for ch in rid)  # no CR, LF, space or NUL
        assert rid.encode("ascii").decode("latin-1") == rid


def test_crafted_header_values_fall_back_to_a_new_id():
    for value in (b"abc\r\nSet-Cookie: a=1", b"abc\nX-Injected: 1", b"\x00", b"caf\xc3\xa9"):
        assert valid_request_id(value) is None
    assert valid_request_id(new_request_id()) is not None
