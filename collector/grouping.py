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

Versions (``projects.grouping_version``, see docs/grouping.md): version 1 is
the rules above as first shipped, kept bit for bit so issues grouped by it keep
their events. Version 2 (:data:`LATEST_VERSION`) follows Sentry more closely:
with no in-app frame it groups by all frames (``system_frames``) instead of
type + value; every exception of a chain contributes; an ``ExceptionGroup`` is
grouped and titled by its main exception; frames are identified by
:mod:`collector.frames` (URLs without host, query, hashes or versions;
anonymous functions normalized); and events with neither exception nor message
group by what they do carry (platform, logger, transaction, attachments)
instead of all sharing one issue. Version 3 also groups on a stack the event
carries outside its exceptions (a thread's stack from ``attach_stacktrace``, a
top-level ``stacktrace``), like an exception's, and on the template of raven's
``sentry.interfaces.Message``.

Titles and culprits are not hashed, so they follow the latest rules in every
version (see :func:`_title` and :func:`_culprit_of`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import msgspec

from collector import frames as fr

VERSIONS = (1, 2, 3)
LATEST_VERSION = 3
"""What new projects get; ``lookout project grouping`` switches existing ones."""
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
    """``fingerprint`` | ``in_app_frames`` | ``system_frames`` | ``exception`` | ``message``
    | ``event`` (version 2: no exception and no message)."""
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
    parts = (frame.get("module") or None, frame.get("filename") or frame.get("abs_path"),
             frame.get("function") or "?", frame.get("context_line"))
    try:
        return _component(*parts)
    except TypeError:  # an unhashable value: computed uncached, exactly as before
        return _component.__wrapped__(*parts)


@functools.lru_cache(maxsize=4096)
def _component(module: Any, filename: Any, function: Any, context_line: Any) -> str:
    """Cached: the same bug sends the same frames over and over."""
    where = module or normalize_filename(filename or "?")
    return (f"{where} | {normalize_function(function)} | "
            f"{normalize_context_line(context_line)}")


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


def _title(exceptions: list[dict[str, Any]], message: str) -> str:
    """``Type: value`` (first line); a synthetic exception without a type by its value.

    JavaScript SDKs send ``captureMessage`` with ``attachStacktrace`` as such an
    exception (``mechanism.synthetic``, no ``type``): it is titled by its message.
    """
    if exceptions:
        raised = exceptions[-1]
        value = str(raised.get("value") or "").strip().splitlines()
        kind = raised.get("type")
        mechanism = raised.get("mechanism")
        if not kind and isinstance(mechanism, dict) and mechanism.get("synthetic") is True:
            lines = value or message.strip().splitlines()
            text = lines[0] if lines else "(no message)"
        else:
            text = f"{kind or 'Error'}: {value[0]}" if value else str(kind or "Error")
    else:
        lines = message.strip().splitlines()
        text = lines[0] if lines else "(no message)"
    return text[:TITLE_LENGTH]


def group_event(exceptions: list[dict[str, Any]], message: str, *,
                fingerprint: list[str] | None = None, template: str | None = None,
                culprit: str = "", culprit_fallback: str = "", version: int = 1,
                context: dict[str, Any] | None = None,
                stack: list[dict[str, Any]] | None = None,
                shown_message: str | None = None) -> Grouping:
    """Group one event from its exception chain (oldest first), message and options.

    ``culprit``: what the client named as culprit (its ``culprit``, else its
    ``transaction``); it wins over the frames, as in Sentry. ``culprit_fallback``:
    used when there is neither that nor a frame (the logger). ``stack``: the
    frames of a stack the event carries outside its exceptions (a thread's, or a
    top-level ``stacktrace``); grouped on from version 3, shown as culprit in all.
    ``context`` (version 2): what an event without exception and message is told
    apart by (see :func:`_bare_event`). ``shown_message``: the message to title
    the event by when it is not the ``message`` grouped on.
    """
    shown = message if shown_message is None else shown_message
    stack = [f for f in stack if isinstance(f, dict)] if isinstance(stack, list) else []
    if version >= 2:
        chain = main_chain(exceptions)
        if version >= 3 and stack:
            chain = _with_stack(chain, stack)
        method, inputs = _default_v2(chain, message, template, context or {},
                                     stack if version >= 3 else [])
        title = _title(chain, shown)
        if method == "event" and inputs.get("attachments"):
            title = (f"{UNLABELED} with {', '.join(inputs['attachments'])}"
                     f" ({inputs.get('platform', 'other')})")[:TITLE_LENGTH]
    else:
        chain = exceptions
        method, inputs = _default(exceptions, message, template)
        title = _title(exceptions, shown)
    raised = [f for f in (chain[-1].get("frames") or []) if isinstance(f, dict)] if chain else []
    culprit = _culprit_of(culprit, raised or stack, version, culprit_fallback)
    if fingerprint:
        parts: list[Any] = []
        for part in fingerprint[:50]:
            text = str(part)[:200]
            parts.append({"default": {"method": method, **inputs}}
                         if text.strip() in DEFAULT_MARKERS else text)
        method, inputs = "fingerprint", {"fingerprint": parts}
    # The version is not hashed: where both versions agree (messages, fingerprints,
    # in-app Python stacks) a project switching versions keeps its issues as they are.
    digest = hashlib.blake2b(_encode([method, inputs]), digest_size=16).hexdigest()
    return Grouping(digest, method, inputs, title, culprit)


def _with_stack(chain: list[dict[str, Any]], stack: list[dict[str, Any]]
                ) -> list[dict[str, Any]]:
    """The chain with the event's stack as the raised exception's, when none has frames.

    Relay moves a top-level ``stacktrace`` into a lone exception, and a native
    crash's exception often has no frames while its crashed thread has them.
    """
    if not chain or any(e.get("frames") for e in chain):
        return chain
    return [*chain[:-1], {**chain[-1], "frames": stack}]


def _culprit_of(client: str, frames: list[dict[str, Any]], version: int,
                fallback: str) -> str:
    """Sentry's order: the client's culprit or transaction, else the top frame, else fallback.

    The top frame is the innermost in-app frame (else the innermost frame) as
    ``location in function``, located as grouping locates it in ``version``.
    """
    if client.strip():
        return client.strip()[:TITLE_LENGTH]
    chosen = next((f for f in reversed(frames) if f.get("in_app") is True),
                  frames[-1] if frames else None)
    if chosen is None:
        return fallback[:TITLE_LENGTH]
    if version >= 2:
        where, function, _ = fr.identity(chosen)
        return f"{where or '?'} in {function}"[:TITLE_LENGTH]
    where = chosen.get("module") or normalize_filename(chosen.get("filename")
                                                       or chosen.get("abs_path") or "?")
    return f"{where} in {chosen.get('function') or '?'}"[:TITLE_LENGTH]


def main_chain(exceptions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The exceptions that name and group the event (oldest first).

    An ``ExceptionGroup`` arrives as a tree (``mechanism.exception_id`` /
    ``parent_id``, the group itself flagged ``is_exception_group``). Like
    Sentry, the event is about its main exception: the first exception that
    is not itself a group, with the exceptions it was raised from (its own
    children, for a nested chain); the group wrappers are left out.
    """
    if not any(_is_group(e) for e in exceptions):
        return exceptions
    by_id = {i: e for e in exceptions if (i := _tree_field(e, "exception_id")) is not None}
    leaves = [e for e in exceptions if not _is_group(e)]
    if not leaves:
        return exceptions[-1:]
    main = min(leaves, key=lambda e: _tree_field(e, "exception_id") or 1 << 30)
    chain = [main]
    seen = {id(main)}
    parent = _tree_field(main, "parent_id")
    while parent is not None and parent in by_id and id(by_id[parent]) not in seen:
        node = by_id[parent]
        seen.add(id(node))
        if not _is_group(node):
            chain.insert(0, node)
        parent = _tree_field(node, "parent_id")
    return chain


def _is_group(exc: dict[str, Any]) -> bool:
    mechanism = exc.get("mechanism")
    return isinstance(mechanism, dict) and mechanism.get("is_exception_group") is True


def _tree_field(exc: dict[str, Any], key: str) -> int | None:
    """``mechanism.exception_id`` / ``parent_id`` when it is an integer."""
    mechanism = exc.get("mechanism")
    value = mechanism.get(key) if isinstance(mechanism, dict) else None
    return value if type(value) is int else None


def _frame_parts(frames: list[dict[str, Any]]) -> list[str]:
    parts: list[str] = []
    for frame in frames:
        part = fr.component(frame)
        if part is not None and (not parts or parts[-1] != part):  # recursion counts once
            parts.append(part)
    return parts


def _default_v2(chain: list[dict[str, Any]], message: str, template: str | None,
                context: dict[str, Any], stack: list[dict[str, Any]]
                ) -> tuple[str, dict[str, Any]]:
    if chain:
        stacks = [[f for f in (e.get("frames") or []) if isinstance(f, dict)] for e in chain]
        in_app = any(f.get("in_app") is True for frames in stacks for f in frames)
        entries: list[dict[str, Any]] = []
        any_frames = False
        for exc, frames in zip(chain, stacks, strict=True):
            chosen = [f for f in frames if f.get("in_app") is True] if in_app else frames
            parts = _frame_parts(chosen)
            entry: dict[str, Any] = {"type": str(exc.get("type") or "Error")}
            if parts:
                any_frames = True
                entry["frames"] = parts
            else:
                entry["value"] = normalize_value(str(exc.get("value") or ""))
            entries.append(entry)
        method = "in_app_frames" if in_app and any_frames else (
            "system_frames" if any_frames else "exception")
        if len(entries) == 1:  # the shape of version 1: the same hash where both agree
            return method, entries[0]
        return method, {"exceptions": entries}
    if stack:  # version 3: a message with a stack groups by the stack, as in Sentry
        in_app = [f for f in stack if f.get("in_app") is True]
        parts = _frame_parts(in_app or stack)
        if parts:
            return ("in_app_frames" if in_app else "system_frames"), {"stacktrace": parts}
    if template:
        return "message", {"template": template.strip()[:1000]}
    if message and message != UNLABELED:
        return "message", {"message": normalize_value(message)}
    return "event", _bare_event(context)


UNLABELED = "<unlabeled event>"
_BARE_KEYS = ("platform", "logger", "transaction", "level")


def _bare_event(context: dict[str, Any]) -> dict[str, Any]:
    """What tells apart events with neither exception nor message.

    Minidump-only crash reports and similar events carry no stack Lookout can
    read. They are told apart by platform, logger, transaction, level and the
    kinds of attachment sent with them (a minidump, an Apple crash report);
    with an attachment the release too, because a crash without symbols is
    best tracked per release. A truly empty event groups by platform alone.
    """
    inputs = {k: str(context[k])[:200] for k in _BARE_KEYS if context.get(k)}
    attachments = context.get("attachments")
    if isinstance(attachments, list) and attachments:
        inputs["attachments"] = sorted({str(a)[:100] for a in attachments})[:20]
        if context.get("release"):
            inputs["release"] = str(context["release"])[:200]
    return inputs


_decode = msgspec.json.decode


def group_row(row: dict[str, Any], version: int = 1) -> Grouping:
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
    template = template if isinstance(template, str) else None
    shown = message = row.get("message") or ""
    if template and version < 3 and logentry.get("legacy") is True:
        # raven's sentry.interfaces.Message: versions 1 and 2 grouped on its plain
        # message, which raven sets to the template (the row shows it filled in).
        message, template = template, None
    context = None
    if version >= 2 and not exceptions:
        context = {"platform": row.get("platform"), "logger": row.get("logger"),
                   "transaction": extra.get("transaction"), "level": row.get("level"),
                   "release": row.get("release"), "attachments": extra.get("attachments")}
    stack = extra.get("stacktrace")
    client = extra.get("culprit") or extra.get("transaction")
    return group_event(exceptions, message, fingerprint=fingerprint, template=template,
                       culprit=client if isinstance(client, str) else "",
                       culprit_fallback=str(row.get("logger") or ""),
                       version=version, context=context,
                       stack=stack.get("frames") if isinstance(stack, dict) else None,
                       shown_message=shown)
