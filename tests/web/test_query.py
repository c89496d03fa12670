"""The search box language (web.query), pure."""

from __future__ import annotations

import pytest

from web.query import (
    ParsedQuery,
    QuerySyntaxError,
    has_filter,
    parse,
    request_id_candidate,
    tokenize,
)


def test_free_text_and_filters():
    q = parse('timeout level:warning service:checkout env:prod logger:app.db "card declined"')
    assert q.text == ("timeout", "card declined")
    assert q.level == 30 and q.service == "checkout" and q.environment == "prod"
    assert q.logger == "app.db"


def test_quoted_values_and_escapes():
    q = parse(r'logger:"app payments" "say \"hi\"" service:"a b"')
    assert q.logger == "app payments" and q.service == "a b"
    assert q.text == ('say "hi"',)


def test_attribute_filters_keep_name_case_and_order():
    q = parse("attr.user_id:42 attr.Plan:pro attr.http.route:/x")
    assert q.attributes == (("user_id", "42"), ("Plan", "pro"), ("http.route", "/x"))


def test_aliases_and_request_id():
    assert parse("environment:prod").environment == "prod"
    assert parse("request_id:abc-1").request_id == "abc-1"
    assert parse("LEVEL:Error").level == 40


def test_empty_query():
    assert parse("").is_empty and parse("   ").is_empty
    assert parse("x") == ParsedQuery(text=("x",))


@pytest.mark.parametrize("query, message", [
    ("levl:error", "unknown filter 'levl'"),
    ("level:loud", "unknown level"),
    ("service:", "needs a value"),
    ('"unclosed', "unclosed quote"),
    ("service:a service:b", "more than once"),
    ("attr." + "a" * 101 + ":x", "attribute names"),
    ("attr.x:", "needs a value"),
    ("x" * 1001, "longer than"),
    (" ".join(["w"] * 21), "more than 20 terms"),
])
def test_errors_name_the_problem(query, message):
    with pytest.raises(QuerySyntaxError, match=message):
        parse(query)


def test_colon_text_needs_quotes():
    assert parse('"http://example.com"').text == ("http://example.com",)
    assert tokenize("a:b") == [("a", "b")]
    assert tokenize("12:30") == [(None, "12:30")]  # not an identifier key: plain text
    assert parse("12:30").text == ("12:30",)


def test_request_id_candidates():
    assert request_id_candidate(" 3f2a9c1e-77aa-4b6e-9d1c-1234567890ab ") == \
        "3f2a9c1e-77aa-4b6e-9d1c-1234567890ab"
    assert request_id_candidate("req-123") == "req-123"
    assert request_id_candidate("two words") is None
    assert request_id_candidate("service:checkout") is None
    assert request_id_candidate("attr.x:1") is None
    assert request_id_candidate('"quoted"') is None
    assert request_id_candidate("") is None
    assert request_id_candidate("x" * 201) is None


def test_trace_and_span_terms():
    trace = "4BF92F3577B34DA6A3CE929D0E0E4736"
    q = parse(f'trace:{trace} span:"SELECT * FROM orders" timeout')
    assert q.trace_id == trace.lower() and q.span == "SELECT * FROM orders"
    assert q.text == ("timeout",)
    assert parse("trace_id:my-own-trace").trace_id == "my-own-trace"  # not hex: kept as is
    for bad, why in (("trace:" + "a" * 65, "trace"), ("span:" + "x" * 501, "span"),
                     ("span:a span:b", "more than once")):
        with pytest.raises(QuerySyntaxError, match=why):
            parse(bad)


def test_has_filter_tells_language_from_plain_text():
    assert has_filter("trace:abc timeout") and has_filter("attr.user:1")
    assert not has_filter("payment failed") and not has_filter("http://x")
    assert not has_filter('unclosed "quote')
