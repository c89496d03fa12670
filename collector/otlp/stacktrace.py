"""Frames from an ``exception.stacktrace`` text, for grouping OTLP exceptions (pure).

OTLP carries a stack trace as the language's own text. Grouping wants frames
(:mod:`collector.grouping`: module or file, function, context line), so the
two common shapes are read with one regular expression each:

- Python: ``File "app.py", line 12, in checkout`` then the source line;
- Java, JavaScript, .NET: ``at pkg.Class.method(File.java:12)`` /
  ``at fn (file.js:12:5)``, innermost first (reversed to outermost first).

Leading blanks are ``[ \\t]*``, never ``\\s*``: a pattern anchored at every line
start that may also eat newlines is quadratic on a text of blank lines.

Anything else yields no frames, and grouping falls back to the exception
type and normalised message, as for a Sentry event without a stack.
"""

from __future__ import annotations

import re
from typing import Any

MAX_FRAMES = 250
_PYTHON = re.compile(r'^[ \t]*File "([^"\n]{1,1000})", line (\d{1,9}), in ([^\n]{1,300})\n'
                     r'(?:[ \t]+(?!File ")([^\n]{0,1000})\n)?', re.MULTILINE)
_AT = re.compile(r"^[ \t]*at (?:([^\s(]{1,300}) \()?([^\s()]{1,1000}?):(\d{1,9})(?::\d{1,9})?\)?"
                 r"[ \t\r]*$",
                 re.MULTILINE)
_JAVA = re.compile(r"^[ \t]*at ([^\s(]{1,300})\(([^\s():]{1,1000})(?::(\d{1,9}))?\)[ \t\r]*$",
                   re.MULTILINE)
_LIBRARY = ("site-packages", "dist-packages", "node_modules", "/lib/python", "<frozen",
            "java.", "javax.", "jdk.", "sun.", "node:internal")


def _in_app(path: str) -> bool:
    return not any(marker in path for marker in _LIBRARY)


def frames(text: str) -> list[dict[str, Any]]:
    """Frames outermost first (the crashing frame last), or [] for an unknown format."""
    if not text:
        return []
    text = text[:200_000]
    found = [{"filename": m.group(1), "abs_path": m.group(1), "lineno": int(m.group(2)),
              "function": m.group(3).strip(), "context_line": (m.group(4) or "").strip() or None,
              "in_app": _in_app(m.group(1))}
             for m in _PYTHON.finditer(text)]
    if found:
        return [{k: v for k, v in f.items() if v is not None} for f in found[-MAX_FRAMES:]]
    java = [{"function": m.group(1).rsplit(".", 1)[-1], "module": m.group(1).rsplit(".", 1)[0],
             "filename": m.group(2), "lineno": int(m.group(3) or 0),
             "in_app": _in_app(m.group(1))} for m in _JAVA.finditer(text)]
    if java:
        return list(reversed(java))[-MAX_FRAMES:]
    other = [{"function": m.group(1) or "?", "filename": m.group(2), "abs_path": m.group(2),
              "lineno": int(m.group(3)), "in_app": _in_app(m.group(2))}
             for m in _AT.finditer(text)]
    return list(reversed(other))[-MAX_FRAMES:]
