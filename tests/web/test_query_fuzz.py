"""Property tests for the search language and the read API's parameter parsers:
any input parses or raises the module's own error, and quoting round-trips."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from collector.queries import QueryError
from web.params import EARLIEST, LATEST, parse_level, parse_limit, parse_time
from web.query import (
    MAX_QUERY_LENGTH,
    MAX_TERMS,
    QuerySyntaxError,
    parse,
    request_id_candidate,
)

query_text = st.text(max_size=MAX_QUERY_LENGTH + 50) | st.text(
    alphabet='abc: "\\.-_%level=service:env:attr.x:\t', max_size=200)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(query_text)
def test_parse_raises_only_query_syntax_error(query):
    try:
        parsed = parse(query)
    except QuerySyntaxError as exc:
        assert str(exc)
        return
    assert len(parsed.text) <= MAX_TERMS and all(parsed.text)
    assert len(query) <= MAX_QUERY_LENGTH


@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=MAX_TERMS))
def test_quoted_phrases_round_trip(phrases):
    query = " ".join(_quote(p) for p in phrases)
    if len(query) <= MAX_QUERY_LENGTH:
        assert parse(query).text == tuple(phrases)


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_quoted_filter_values_round_trip(service, logger):
    parsed = parse(f"service:{_quote(service)} logger:{_quote(logger)}")
    assert parsed.service == service and parsed.logger == logger


@given(st.text(max_size=300))
def test_request_id_candidate_is_printable_ascii_or_none(query):
    candidate = request_id_candidate(query)
    if candidate is not None:
        assert candidate.isascii() and candidate.isprintable() and " " not in candidate
        assert "\r" not in candidate and "\n" not in candidate


offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
times = st.one_of(
    st.text(max_size=40),
    st.floats().map(repr),
    st.integers().map(str),
    st.builds(lambda n, u: f"{n}{u}", st.integers(0, 10**30), st.sampled_from("smhdwy")),
    st.builds(lambda d, tz: d.replace(tzinfo=tz).isoformat(), st.datetimes(), offsets),
    st.datetimes().map(datetime.isoformat),
)


@given(times)
def test_parse_time_raises_only_query_error(value):
    try:
        result = parse_time("since", value, 1_800_000_000.0)
    except QueryError as exc:
        assert str(exc).startswith("since:")
        return
    assert result is None or (isinstance(result, float) and EARLIEST <= result <= LATEST)


@given(st.none() | st.text(max_size=30) | st.integers().map(str))
def test_parse_limit_and_level_raise_only_query_error(value):
    for parser in (parse_limit, parse_level):
        try:
            parser(value)
        except QueryError:
            pass
