"""Where a Sentry client puts its DSN key (pure).

In order: ``X-Sentry-Auth: Sentry sentry_key=...`` (what sentry-python
sends), ``Authorization: Sentry sentry_key=...``, the ``?sentry_key=`` query
parameter (browser SDKs), and last the ``dsn`` in the envelope header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def parse_auth_header(value: str) -> dict[str, str]:
    """``Sentry sentry_key=k, sentry_version=7`` -> ``{"sentry_key": "k", ...}``."""
    text = value.strip()
    if text[:7].lower() == "sentry ":
        text = text[7:]
    out: dict[str, str] = {}
    for part in text.split(","):
        name, sep, val = part.strip().partition("=")
        if sep:
            out[name.strip().lower()] = val.strip()
    return out


def key_from_headers(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    for name in ("x-sentry-auth", "authorization"):
        value = headers.get(name)
        if value and (name == "x-sentry-auth" or value.lower().startswith("sentry ")):
            key = parse_auth_header(value).get("sentry_key")
            if key:
                return key
    return query.get("sentry_key") or None


def sent_at_from_headers(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """``sentry_timestamp`` of the auth header or query: the client's clock when it sent.

    What ``/store/`` clients (raven and older SDKs) send instead of an envelope's
    ``sent_at``; :mod:`collector.sentry.clock` corrects a wrong clock with it.
    """
    for name in ("x-sentry-auth", "authorization"):
        value = headers.get(name)
        if value and (name == "x-sentry-auth" or value.lower().startswith("sentry ")):
            stamp = parse_auth_header(value).get("sentry_timestamp")
            if stamp:
                return stamp[:64]
    return query.get("sentry_timestamp") or None


def key_from_dsn(dsn: Any) -> str | None:
    """The public key of a DSN (its user name), or None when it is not a DSN."""
    if not isinstance(dsn, str) or len(dsn) > 2000:
        return None
    try:
        return urlsplit(dsn).username or None
    except ValueError:
        return None
