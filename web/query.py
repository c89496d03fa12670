"""The search box language: free text plus ``key:value`` filters (pure, no I/O).

``timeout level:warning service:checkout attr.user_id:42 "card declined"``

- Free text words and ``"quoted phrases"`` must all appear in the message
  (case-insensitive substring match, like Sentry's message search).
- ``level:`` is a minimum level (``level:warning`` includes errors), the same
  meaning as the read API's ``level=`` parameter.
- ``service:``, ``env:`` (or ``environment:``), ``logger:``, ``request_id:``
  match exactly; ``attr.NAME:`` matches one attribute's value as text.
- ``trace:`` (or ``trace_id:``) keeps the logs of one trace (its id, any case);
  ``span:`` the logs of traces (or requests) that ran a span of that name (exact; a
  trailing ``*`` matches names starting with the rest: ``span:"SELECT *"``).
- Values may be quoted: ``logger:"app payments"``.
- An unknown ``key:`` is an error naming it rather than silently becoming
  text; quote the whole term to search for text with a colon (``"http://x"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from collector.normalize import LEVELS, REQUEST_ID_RE

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 20
ATTR_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,100}")
_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_FILTER_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_.\-]+)?")
ALIASES = {"env": "environment", "environment": "environment", "service": "service",
           "logger": "logger", "level": "level", "request_id": "request_id",
           "trace": "trace_id", "trace_id": "trace_id", "span": "span"}
KNOWN = "level, service, env, logger, request_id, trace, span, attr.NAME"
MAX_TRACE_ID = 64  # the trace_id column's width
MAX_SPAN_NAME = 500  # the spans.name column's width


class QuerySyntaxError(ValueError):
    """The query cannot be understood; the message says where and why."""


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """What a search box query asks for."""

    text: tuple[str, ...] = ()
    level: int | None = None
    service: str | None = None
    environment: str | None = None
    logger: str | None = None
    request_id: str | None = None
    trace_id: str | None = None
    span: str | None = None
    attributes: tuple[tuple[str, str], ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return self == ParsedQuery()


def tokenize(query: str) -> list[tuple[str | None, str]]:
    """Split into ``(key, value)`` pairs; ``key`` is None for free text.

    Whitespace separates terms except inside double quotes. ``\\"`` inside
    quotes is a literal quote.
    """
    tokens: list[tuple[str | None, str]] = []
    i, n = 0, len(query)
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        key: str | None = None
        m = _FILTER_KEY_RE.match(query, i)
        if m and m.end() < n and query[m.end()] == ":":
            key = m.group(0)
            i = m.end() + 1
        if i < n and query[i] == '"':
            value, i = _quoted(query, i)
        else:
            start = i
            while i < n and not query[i].isspace():
                i += 1
            value = query[start:i]
        tokens.append((key, value))
    return tokens


def _quoted(query: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(query):
        ch = query[i]
        if ch == "\\" and i + 1 < len(query) and query[i + 1] in '"\\':
            out.append(query[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QuerySyntaxError(f"unclosed quote starting at character {start + 1}")


def parse(query: str) -> ParsedQuery:
    """Parse a search box query; raises QuerySyntaxError naming the problem."""
    if len(query) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(f"query is longer than {MAX_QUERY_LENGTH} characters")
    tokens = tokenize(query)
    if len(tokens) > MAX_TERMS:
        raise QuerySyntaxError(f"query has more than {MAX_TERMS} terms")
    text: list[str] = []
    values: dict[str, object] = {}
    attributes: list[tuple[str, str]] = []
    for key, value in tokens:
        if key is None:
            if value:
                text.append(value)
            continue
        if not value:
            raise QuerySyntaxError(f"{key}: needs a value, e.g. {key}:something")
        lowered = key.lower()
        if lowered.startswith("attr."):
            name = key[5:]
            if not ATTR_NAME_RE.fullmatch(name):
                raise QuerySyntaxError(f"{key}: attribute names are letters, digits, _ . -")
            attributes.append((name, value))
            continue
        field_name = ALIASES.get(lowered)
        if field_name is None:
            raise QuerySyntaxError(f"unknown filter {key!r}: use one of {KNOWN}, or put the "
                                   "text in quotes")
        if field_name in values:
            raise QuerySyntaxError(f"{key}: given more than once")
        if field_name == "level":
            try:
                values["level"] = LEVELS[value.lower()]
            except KeyError:
                raise QuerySyntaxError(f"level: unknown level {value[:20]!r} (use debug, info, "
                                       "warning, error or fatal)") from None
        elif field_name == "trace_id":
            if len(value) > MAX_TRACE_ID or not value.isprintable():
                raise QuerySyntaxError(f"{key}: a trace id is at most {MAX_TRACE_ID} printable "
                                       "characters (32 hex digits for OpenTelemetry and Sentry)")
            # Stored ids are lower-case hex (OTLP and Sentry); a pasted upper-case one matches.
            values["trace_id"] = value.lower() if _HEX_RE.fullmatch(value) else value
        elif field_name == "span":
            if len(value) > MAX_SPAN_NAME:
                raise QuerySyntaxError(f"{key}: a span name is at most {MAX_SPAN_NAME} "
                                       "characters")
            values["span"] = value
        else:
            values[field_name] = value
    return ParsedQuery(text=tuple(text), attributes=tuple(attributes), **values)  # type: ignore[arg-type]


def has_filter(query: str) -> bool:
    """Whether ``query`` uses a known filter (``level:``, ``trace:``, ``attr.x:``...)."""
    try:
        tokens = tokenize(query)
    except QuerySyntaxError:
        return False
    return any(key is not None and (key.lower() in ALIASES or key.lower().startswith("attr."))
               for key, _ in tokens)


def request_id_candidate(query: str) -> str | None:
    """The box's content if it could be a pasted request ID, else None.

    A candidate is one token of printable ASCII that is not a ``key:value``
    filter. Whether it *is* a request ID is up to the caller (an indexed
    lookup): a single word like ``timeout`` is a candidate too, and becomes a
    text search when no request carries that ID.
    """
    q = query.strip()
    if not REQUEST_ID_RE.fullmatch(q) or '"' in q:
        return None
    key, sep, _ = q.partition(":")
    if sep and (key.lower() in ALIASES or key.lower().startswith("attr.")):
        return None
    return q
