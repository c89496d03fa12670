"""Which issue an error event belongs to: fingerprints and their inputs (pure, no I/O).

The rules follow Sentry's order, so teams moving over see the same issues:

1. an explicit ``fingerprint`` sent by the client, where ``"{{ default }}"``
   stands for what the rules below would have produced;
2. the in-app frames of the raised exception's stack trace (the last one of a
   chain): module (or normalized filename) + function + normalized context
   line. Line numbers are left out on purpose: they shift with every release,
   and an issue must survive a deploy that moves code around;
3. exception type + normalized value (numbers, UUIDs, hex ids, IPs and quoted
   values replaced by placeholders), when no frame is in-app;
4. the message template (``logentry.message``, e.g. ``"user %s failed"``) or the
   normalized message.

Every decision is recorded in :attr:`Grouping.inputs` so people can see *why*
two events were grouped together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import msgspec

DEFAULT_MARKERS = frozenset({"{{ default }}", "{{default}}"})
MAX_CONTEXT_LINE = 120  # longer lines are usually minified or generated code: not stable
TITLE_LENGTH = 200

_encode = msgspec.json.Encoder(order="deterministic").encode

# Order matters: specific shapes first, then the generic number rule.
_VALUE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"'[^']*'|\"[^\"]*\""), "<quoted>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                r"[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"),
     "<date>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?<![\w:])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])"), "<ip>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"\b(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}\b"), "<hex>"),
    (re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?![\w.])"), "<num>"),
)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SPACES = re.compile(r"\s+")
_SITE_PACKAGES = re.compile(r"^.*?/(?:site|dist)-packages/")


@dataclass(frozen=True, slots=True)
class Grouping:
    """The outcome of grouping one event."""

    fingerprint: str
    """Hex hash of the inputs; events of one project with the same hash are one issue."""
    method: str
    """``fingerprint`` | ``in_app_frames`` | ``exception`` | ``message``."""
    inputs: dict[str, Any]
    """The values that were hashed, to show why events grouped together."""
    title: str
    culprit: str


def normalize_value(text: str) -> str:
    """Replace the variable parts of a message so "user 42" and "user 43" group together."""
    text = text.strip()
    for pattern, placeholder in _VALUE_PATTERNS:
        text = pattern.sub(placeholder, text)
    return _SPACES.sub(" ", text)[:1000]


def normalize_filename(name: str) -> str:
    """A path stable across machines and deploy directories."""
    path = name.replace("\\", "/")
    path = _SITE_PACKAGES.sub("", path)
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        path = "/".join(path.rsplit("/", 2)[-2:])
    return path.lstrip("./")


def normalize_function(name: str) -> str:
    return _ADDRESS.sub("", name.strip())


def normalize_context_line(line: str | None) -> str:
    if not line:
        return ""
    line = _SPACES.sub(" ", line.strip())
    return "" if len(line) > MAX_CONTEXT_LINE else line


def _frame_component(frame: dict[str, Any]) -> str:
    where = frame.get("module") or normalize_filename(frame.get("filename")
                                                      or frame.get("abs_path") or "?")
    return (f"{where} | {normalize_function(frame.get('function') or '?')} | "
            f"{normalize_context_line(frame.get('context_line'))}")


def _in_app_components(frames: list[dict[str, Any]]) -> list[str]:
    parts: list[str] = []
    for frame in frames:
        if frame.get("in_app") is not True:
            continue
        part = _frame_component(frame)
        if not parts or parts[-1] != part:  # direct recursion counts once
            parts.append(part)
    return parts


def _default(exceptions: list[dict[str, Any]], message: str,
             template: str | None) -> tuple[str, dict[str, Any]]:
    if exceptions:
        raised = exceptions[-1]
        exc_type = str(raised.get("type") or "Error")
        frames = _in_app_components(raised.get("frames") or [])
        if frames:
            return "in_app_frames", {"type": exc_type, "frames": frames}
        return "exception", {"type": exc_type,
                             "value": normalize_value(str(raised.get("value") or ""))}
    if template:
        return "message", {"template": template.strip()[:1000]}
    return "message", {"message": normalize_value(message)}


def _culprit(exceptions: list[dict[str, Any]], fallback: str) -> str:
    if exceptions:
        frames = exceptions[-1].get("frames") or []
        chosen = next((f for f in reversed(frames) if f.get("in_app") is True),
                      frames[-1] if frames else None)
        if chosen is not None:
            where = chosen.get("module") or normalize_filename(chosen.get("filename")
                                                               or chosen.get("abs_path") or "?")
            return f"{where} in {chosen.get('function') or '?'}"[:TITLE_LENGTH]
    return fallback[:TITLE_LENGTH]


def _title(exceptions: list[dict[str, Any]], message: str) -> str:
    if exceptions:
        raised = exceptions[-1]
        value = str(raised.get("value") or "").strip().splitlines()
        text = f"{raised.get('type') or 'Error'}: {value[0]}" if value else str(raised.get("type"))
    else:
        lines = message.strip().splitlines()
        text = lines[0] if lines else "(no message)"
    return text[:TITLE_LENGTH]


def group_event(exceptions: list[dict[str, Any]], message: str, *,
                fingerprint: list[str] | None = None, template: str | None = None,
                culprit_fallback: str = "") -> Grouping:
    """Group one event from its exception chain (oldest first), message and options."""
    method, inputs = _default(exceptions, message, template)
    if fingerprint:
        parts: list[Any] = []
        for part in fingerprint[:50]:
            text = str(part)[:200]
            parts.append({"default": {"method": method, **inputs}}
                         if text.strip() in DEFAULT_MARKERS else text)
        method, inputs = "fingerprint", {"fingerprint": parts}
    digest = hashlib.blake2b(_encode([method, inputs]), digest_size=16).hexdigest()
    return Grouping(digest, method, inputs, _title(exceptions, message),
                    _culprit(exceptions, culprit_fallback))


_decode = msgspec.json.decode


def group_row(row: dict[str, Any]) -> Grouping:
    """Group a stored-shape error row (see ``collector.normalize.error_row``).

    Both ingest paths (Lookout SDK and Sentry) build such rows, so both get
    exactly the same grouping.
    """
    exceptions = _decode(row["exception"]) if row.get("exception") else []
    extra = _decode(row["extra"]) if row.get("extra") else {}
    fingerprint = extra.get("fingerprint")
    if not isinstance(fingerprint, list):
        fingerprint = None
    logentry = extra.get("logentry")
    template = logentry.get("message") if isinstance(logentry, dict) else None
    return group_event(exceptions, row.get("message") or "", fingerprint=fingerprint,
                       template=template if isinstance(template, str) else None,
                       culprit_fallback=str(extra.get("transaction") or row.get("logger") or ""))
