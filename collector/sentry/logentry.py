"""Fill a Sentry ``logentry`` template with its ``params`` (pure).

sentry-sdk before 2.26, raven and some other SDKs send ``logentry.message``
(the template, e.g. ``"cleanup of %s failed: %s"``) and ``params`` but no
``formatted`` text, leaving the formatting to the server, as Relay does. Two
styles occur: printf (Python logging, JavaScript's ``%s``) and braces
(``{}`` for Java's SLF4J/Log4j, ``{0}`` for .NET, ``{name}`` with an object of
params). The template itself stays what events are grouped on.

Formatting never fails: a template whose placeholders do not match its
params (too few, too many, a name that is not there) is shown as it is.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

MAX_PARAMS = 100
"""More params than this: the template is shown as it is (no real log line has so many)."""
MAX_PARAM_CHARS = 1000
"""Each param is cut to this many characters, so params cannot inflate a title."""

_PRINTF = re.compile(
    r"%(?:\((?P<name>[^)]{1,100})\))?(?P<flags>[#0+-]*)(?P<width>\d{1,3})?"
    r"(?:\.(?P<precision>\d{1,3}))?[hlL]?(?P<conversion>[diouxXeEfFgGcrsa%])")
_BRACES = re.compile(r"\{\{|\}\}|\{(?P<key>\d{1,3}|[A-Za-z_]\w{0,99})?(?::[^{}]{0,20})?\}")
_encode = msgspec.json.Encoder().encode


class _Mismatch(Exception):
    """The params do not fit the template."""


def _text(value: Any) -> str:
    """A param as text: strings as they are, other JSON values as JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _encode(value).decode()
        except (TypeError, msgspec.EncodeError):
            text = str(value)
    return text[:MAX_PARAM_CHARS]


def _printf_value(match: re.Match[str], value: Any) -> str:
    conversion = match["conversion"]
    if conversion in "sra":
        return _text(value)
    if isinstance(value, str):  # raven sends every param as its repr: "3"
        try:
            value = float(value) if conversion in "eEfFgG" else int(value)
        except ValueError:
            raise _Mismatch from None
    elif not isinstance(value, (int, float)):
        raise _Mismatch  # "%d" of an object: Python's logging fails on it too
    spec = "%" + (match["flags"] or "") + (match["width"] or "")
    if match["precision"] is not None:
        spec += "." + match["precision"]
    try:
        return (spec + conversion) % value
    except (TypeError, ValueError, OverflowError):
        raise _Mismatch from None


def _printf(template: str, params: Any) -> str | None:
    """``%s``-style; ``None`` when the template has no such placeholder."""
    matches = list(_PRINTF.finditer(template))
    if not any(m["conversion"] != "%" for m in matches):
        return None
    named = isinstance(params, dict)
    out, last, index = [], 0, 0
    for match in matches:
        out.append(template[last:match.start()])
        last = match.end()
        if match["conversion"] == "%":
            out.append("%")
            continue
        if named:
            if match["name"] is None or match["name"] not in params:
                raise _Mismatch
            value = params[match["name"]]
        else:
            if match["name"] is not None or index >= len(params):
                raise _Mismatch
            value = params[index]
            index += 1
        out.append(_printf_value(match, value))
    if not named and index != len(params):
        raise _Mismatch  # left-over params: Python's "not all arguments converted"
    out.append(template[last:])
    return "".join(out)


def _braces(template: str, params: Any) -> str | None:
    """``{}`` / ``{0}`` / ``{name}``; ``None`` when the template has no such placeholder."""
    matches = [m for m in _BRACES.finditer(template) if m.group() not in ("{{", "}}")]
    if not matches:
        return None
    named = isinstance(params, dict)
    out, last, auto, used = [], 0, 0, set()
    for match in _BRACES.finditer(template):
        out.append(template[last:match.start()])
        last = match.end()
        if match.group() in ("{{", "}}"):
            out.append(match.group()[0])
            continue
        key = match["key"]
        if named:
            if key is None or key not in params:
                raise _Mismatch
            out.append(_text(params[key]))
            continue
        if key is None:
            position, auto = auto, auto + 1
        elif key.isdigit():
            position = int(key)
        else:
            raise _Mismatch
        if position >= len(params):
            raise _Mismatch
        used.add(position)
        out.append(_text(params[position]))
    if not named and len(used) != len(params):
        raise _Mismatch
    out.append(template[last:])
    return "".join(out)


def interpolate(template: str, params: Any) -> str:
    """``template`` with ``params`` (a list, or an object for named placeholders) filled in.

    printf style is tried first, then braces; the template is returned unchanged
    when there are no params, no placeholders, or the two do not match.
    """
    if isinstance(params, tuple):
        params = list(params)
    if not template or not isinstance(params, (list, dict)) or not params \
            or len(params) > MAX_PARAMS:
        return template
    for style in (_printf, _braces):
        try:
            text = style(template, params)
        except _Mismatch:
            continue
        if text is not None:
            return text
    return template
