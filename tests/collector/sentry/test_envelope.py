"""The envelope parser (pure)."""

from __future__ import annotations

import pytest

from collector.sentry.auth import key_from_dsn, key_from_headers, parse_auth_header
from collector.sentry.envelope import EnvelopeError, parse, payload_json


def test_items_with_and_without_length():
    body = (b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"http://k@h/1"}\n'
            b'{"type":"attachment","length":10}\n'
            b'0123\n56789\n'  # a newline inside a length-delimited payload
            b'{"type":"event"}\n'
            b'{"message":"hi"}\n'
            b'{"type":"client_report"}\n'
            b'{"discarded_events":[]}')
    env = parse(body)
    assert env.headers["dsn"] == "http://k@h/1"
    assert [i.type for i in env.items] == ["attachment", "event", "client_report"]
    assert env.items[0].payload == b"0123\n56789"
    assert payload_json(env.items[1], 1) == {"message": "hi"}
    assert env.items[2].payload == b'{"discarded_events":[]}'


def test_length_payload_at_end_without_newline_and_empty_payloads():
    env = parse(b'{}\n{"type":"event","length":2}\n{}')
    assert env.items[0].payload == b"{}"
    env = parse(b'{}\n{"type":"session","length":0}\n\n{"type":"x"}\n')
    assert [(i.type, i.payload) for i in env.items] == [("session", b""), ("x", b"")]
    assert parse(b"{}").items == [] and parse(b"").items == []


@pytest.mark.parametrize("body, words", [
    (b'{"type":\n', "envelope header is not valid JSON"),
    (b'[1]\n', "must be a JSON object"),
    (b'{}\n{"type":"event","length":50}\n{"message":"short"}', "truncated"),
    (b'{}\n{"type":"event","length":3}\n{"message":"long"}\n', "length is wrong"),
    (b'{}\n{"type":"event","length":-1}\n{}', "invalid length"),
    (b'{}\n{"type":"event","length":"9"}\n{}', "invalid length"),
    (b'{}\n{"length":2}\n{}', "no 'type'"),
    (b'{}\nnot json\n', "item 0 header is not valid JSON"),
])
def test_malformed_envelopes_name_the_problem(body, words):
    with pytest.raises(EnvelopeError, match=words):
        parse(body)


def test_bad_item_json_names_the_item():
    env = parse(b'{}\n{"type":"event","length":6}\n{"a":}\n')
    with pytest.raises(EnvelopeError, match=r"item 0 \('event'\) is not valid JSON"):
        payload_json(env.items[0], 0)


def test_auth_sources():
    header = "Sentry sentry_key=abc, sentry_version=7, sentry_client=sentry.python/2.0"
    assert parse_auth_header(header)["sentry_version"] == "7"
    assert key_from_headers({"x-sentry-auth": header}, {}) == "abc"
    assert key_from_headers({"authorization": "Sentry sentry_key=def"}, {}) == "def"
    assert key_from_headers({"authorization": "Bearer xyz"}, {"sentry_key": "q"}) == "q"
    assert key_from_headers({}, {}) is None
    assert key_from_dsn("https://pub@o1.example.com/prefix/42") == "pub"
    assert key_from_dsn(42) is None and key_from_dsn("not a dsn") is None
