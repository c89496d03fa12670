"""Rendering helpers for the HTML pages: the Jinja environment, page context, headers.

Autoescaping is on for every template; values reach HTML only through
Jinja's escaping or through ``Markup`` built with ``Markup.format`` (which
escapes its arguments). The Content-Security-Policy forbids inline scripts,
so even a missed escape could not run code.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.response import Template
from markupsafe import Markup

from lookout.http import services
from web import waterfall
from web.sessions import Session, csrf_token

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def add_security_headers(response: Response) -> Response:
    """``after_request`` hook for every UI response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def static_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


INVALID_TIME = "(invalid time)"


def _datetime(ts: float) -> datetime | None:
    """``ts`` as a UTC datetime, or None for NaN, infinities and years datetime cannot hold
    (a row stored before times were checked must not turn a whole page into a 500)."""
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def utc_text(ts: float) -> str:
    dt = _datetime(ts)
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt is not None else INVALID_TIME


def time_tag(ts: float | None, precise: bool = False) -> Markup:
    """``<time>`` in UTC; static/time.js rewrites the text to the viewer's timezone."""
    if ts is None:
        return Markup("")
    dt = _datetime(ts)
    if dt is None:
        return Markup("<span>{}</span>").format(INVALID_TIME)
    shown = dt.strftime("%Y-%m-%d %H:%M:%S") + (f".{dt.microsecond // 1000:03d}" if precise else "")
    # Every part is formatted here from a number (no text from a record), so an f-string
    # is safe; Markup.format cost a page of 1,000 records ~20 ms.
    return Markup(f'<time datetime="{dt.isoformat(timespec="milliseconds")}" '
                  f'title="{dt.strftime("%Y-%m-%d %H:%M:%S UTC")}" '
                  f'data-precise="{"1" if precise else ""}">{shown} UTC</time>')


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def fold(values: Any, limit: int) -> list[tuple[str, str]]:
    """``(key, text)`` pairs of an object for a ``<dl>``, at most ``limit`` characters in all.

    Nested values are pretty-printed, which can multiply their size (every
    element of a deep list on its own indented line), so the text is what is
    counted; past ``limit`` it is cut with a marker, and the keys left over
    become one "N more" line. The values themselves were bounded when read
    (collector.shown).
    """
    if not isinstance(values, dict):
        values = {"value": values}
    out: list[tuple[str, str]] = []
    left = limit
    items = sorted(values.items(), key=lambda kv: str(kv[0]).lower())
    for n, (key, value) in enumerate(items):
        if left <= 0:
            rest = f"[{len(items) - n} more not shown: over the display limit of {limit:,} characters]"
            out.append(("…", rest))
            break
        text = value if isinstance(value, str) else pretty_json(value)
        if len(text) > left:
            text = text[:left] + f"…[{len(text) - left:,} more characters not shown]"
        left -= len(text) + len(str(key))
        out.append((str(key), text))
    return out


def duration(seconds: Any) -> str:
    """``300`` -> ``5m``; the way rules files write durations."""
    if not isinstance(seconds, (int, float)):
        return str(seconds)
    whole = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def request_path(request_id: str) -> str:
    """The UI link to a request's timeline; every reserved character of the id
    ("/", "?", "#", "%") is percent-encoded, so the id arrives whole."""
    return "/requests/" + quote(request_id, safe="")


def thousands(n: int) -> str:
    return f"{n:,}"


def build_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(time=time_tag, pretty_json=pretty_json, thousands=thousands, utc=utc_text,
                       duration=duration, request_path=request_path, fold=fold,
                       ms=waterfall.fmt_ms)
    return env


def page(request: Request, name: str, code: int = 200, /, **context: Any) -> Template:
    """Render a page with what the base layout needs (user, CSRF token, current path).

    ``code`` is the HTTP status; positional-only, so ``status`` stays free for templates.
    """
    session: Session | None = request.scope.get("state", {}).get("lookout_session")
    secret = services(request).secret_key
    return Template(template_name=name, status_code=code, context={
        "user": session.email if session else None,
        "csrf": csrf_token(secret, session.id) if session else "",
        "path": request.url.path,
        # Characters of one record's JSON values a page shows (web.ui.fold).
        "shown_chars": services(request).settings.max_shown_value_bytes,
        **context,
    })
