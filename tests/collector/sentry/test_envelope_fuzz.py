"""Property tests for the envelope parser: any bytes give an Envelope or an EnvelopeError.

Sizes are bounded so each case runs in microseconds; a hang would show as the
test running for minutes (CI's timeout catches it).
"""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from collector.sentry.envelope import MAX_ITEMS, EnvelopeError, Item, parse, payload_json

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                                                      allow_infinity=False)
json_values = st.recursive(json_scalars | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)
item_types = st.sampled_from(["event", "log", "trace_metric", "attachment", "session", "x"])


@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_raise_envelope_error(body):
    try:
        envelope = parse(body)
    except EnvelopeError as exc:
        assert str(exc)
        return
    assert len(envelope.items) <= MAX_ITEMS
    for item in envelope.items:
        assert isinstance(item.type, str) and item.type
        assert len(item.payload) <= len(body)


@given(st.lists(st.text(alphabet="{}[]\":,\\n 0123456789aelntrsuy", max_size=40),
                max_size=30).map("\n".join))
def test_json_ish_text_parses_or_raises_envelope_error(text):
    try:
        parse(text.encode())
    except EnvelopeError:
        pass


@given(st.dictionaries(st.sampled_from(["event_id", "dsn", "sent_at"]), json_values),
       st.lists(st.tuples(item_types, st.binary(max_size=200), st.booleans()), max_size=10))
def test_well_formed_envelopes_round_trip(header, items):
    parts = [msgspec.json.encode(header)]
    for item_type, payload, with_length in items:
        if with_length:
            parts.append(msgspec.json.encode({"type": item_type, "length": len(payload)}))
        else:
            payload = payload.replace(b"\n", b" ")  # without length it ends at a newline
            parts.append(msgspec.json.encode({"type": item_type}))
        parts.append(payload)
    envelope = parse(b"\n".join(parts))
    assert envelope.headers == header
    expected = [(t, p if w else p.replace(b"\n", b" ")) for t, p, w in items]
    assert [(i.type, i.payload) for i in envelope.items] == expected


@given(st.binary(max_size=500) | json_values.map(msgspec.json.encode))
def test_payload_json_gives_an_object_or_envelope_error(payload):
    try:
        value = payload_json(Item("event", {}, payload), 0)
    except EnvelopeError as exc:
        assert "item 0 ('event')" in str(exc)
        return
    assert isinstance(value, dict)


def test_deep_nesting_is_an_envelope_error():
    deep = b"[" * 100_000 + b"]" * 100_000
    for body in (deep + b"\n", b"{}\n" + deep + b"\n"):
        try:
            parse(body)
        except EnvelopeError as exc:
            assert "nested too deeply" in str(exc) or "JSON object" in str(exc)
        else:
            raise AssertionError("a 100k-level header was accepted")
    try:
        payload_json(Item("event", {}, b'{"a": ' + deep + b"}"), 3)
    except EnvelopeError as exc:
        assert "item 3 ('event') is nested too deeply" in str(exc)
    else:
        raise AssertionError("a 100k-level payload was accepted")
