"""Fill a Sentry ``logentry`` template with its ``params`` (pure).

sentry-sdk before 2.26, raven and some other SDKs send ``logentry.message``
(the template, e.g. ``"cleanup of %s failed: %s"``) and ``params`` but no
``formatted`` text, leaving the formatting to the server, as Relay does. Two
styles occur: printf (Python logging, JavaScript's ``%s``) and braces
(``{}`` for Java's SLF4J/Log4j, ``{0}`` for .NET, ``{name}`` with an object of
params). The template itself stays what events are grouped on.

Formatting never fails: a template whose placeholders do not match its
params (too few, too many, a name that is not there) is shown as it is.
printf's space flag (``"% d"``) is not read as one, so that text such as
``"100% of {}"`` is filled in brace style.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

MAX_PARAMS = 100
"""Default: more params than this, the template is shown as it is (the Sentry endpoints
pass ``LOOKOUT_MAX_COLLECTION_ITEMS``)."""
MAX_PARAM_CHARS = 1000
"""Default: each param is cut to this many characters (the Sentry endpoints pass
``LOOKOUT_MAX_STRING_LENGTH``), so params cannot inflate a message without bound."""

_PRINTF = re.compile(
    r"%(?:\((?P<name>[^)]{1,100})\))?(?P<flags>[#0+-]*)(?P<width>\d{1,3})?"
    r"(?:\.(?P<precision>\d{1,3}))?[hlL]?(?P<conversion>[diouxXeEfFgGcrsa%])")
_BRACES = re.compile(r"\{\{|\}\}|\{(?P<key>\d{1,3}|[A-Za-z_]\w{0,99})?(?::[^{}]{0,20})?\}")
_encode = msgspec.json.Encoder().encode


class _Mismatch(Exception):
    """The params do not fit the template."""


def _text(value: Any, longest: int) -> str:
    """A param as text: strings as they are, other JSON values as JSON."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = _encode(value).decode()
        except (TypeError, msgspec.EncodeError):
            text = str(value)
    return text[:longest]


def _printf_value(match: re.Match[str], value: Any, longest: int) -> str:
    conversion = match["conversion"]
    if conversion in "sra":
        return _text(value, longest)
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


def _printf(template: str, params: Any, longest: int) -> str | None:
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
        out.append(_printf_value(match, value, longest))
    if not named and index != len(params):
        raise _Mismatch  # left-over params: Python's "not all arguments converted"
    out.append(template[last:])
    return "".join(out)


def _braces(template: str, params: Any, longest: int) -> str | None:
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
            out.append(_text(params[key], longest))
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
        out.append(_text(params[position], longest))
    if not named and len(used) != len(params):
        raise _Mismatch
    out.append(template[last:])
    return "".join(out)


def interpolate(template: str, params: Any, *, max_params: int = MAX_PARAMS,
                max_param_chars: int = MAX_PARAM_CHARS) -> str:
    """``template`` with ``params`` (a list, or an object for named placeholders) filled in.

    printf style is tried first, then braces; the template is returned unchanged
    when there are no params, no placeholders, the two do not match, or there
    are more than ``max_params`` params. Each param is cut to ``max_param_chars``.
    """
    if isinstance(params, tuple):
        params = list(params)
    if not template or not isinstance(params, (list, dict)) or not params \
            or len(params) > max_params:
        return template
    for style in (_printf, _braces):
        try:
            text = style(template, params, max_param_chars)
        except _Mismatch:
            continue
        if text is not None:
            return text
    return template
