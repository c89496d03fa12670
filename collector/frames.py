"""What identifies a stack frame for grouping, version 2 (pure, no I/O).

A frame is identified by where it is (module, or a normalized filename), its
function and its normalized context line: never by line numbers or absolute
paths, which change with every release and every machine. Browser JavaScript
frames carry full URLs, so the same bug served from ``shop.example`` and
``www.shop.example``, with ``?v=2`` or from a content-hashed bundle after a
deploy would otherwise start a new issue each time; like Sentry, the scheme,
host, query, fragment, content hashes, version segments and the extension are
dropped.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MAX_CONTEXT_LINE = 120  # longer lines are usually minified or generated code: not stable

_SCHEME_HOST = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^/]*")
_SITE_PACKAGES = re.compile(r"^.*?/(?:site|dist)-packages/")
_NODE_MODULES = re.compile(r"^.*?/node_modules/")
# A path segment that is only a version or a content hash: /1.4.2/, /v2/, /3f9a2b1c9d/.
_VERSION_SEGMENT = re.compile(r"^(?:v?\d+(?:[._-]\d+)*(?:[-+][\w.]+)?|[0-9a-fA-F]{8,})$")
_VERSION_SUFFIX = re.compile(r"@v?\d+(?:\.\d+)*(?:[-+][\w.]+)?$")  # pkg@1.2.3
# In a file name: a dot- or dash-separated part that is a hash (hex of 8+, or the
# 8+ character mixed-case hashes of Vite/Rollup/esbuild, which always hold a digit).
_HASH_PART = re.compile(r"[.\-_](?:[0-9a-fA-F]{8,}|(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{8,})"
                        r"(?=\.|$)")
_EXTENSION = re.compile(r"(?:\.min)?\.(?:m?jsx?|cjs|tsx?|mts|cts|map|bundle|jsbundle)$", re.IGNORECASE)
_ANONYMOUS = frozenset({"", "?", "<anonymous>", "anonymous", "Object.<anonymous>",
                        "<unknown>", "[anonymous]", "(anonymous function)",
                        "Anonymous function"})
_ANONYMOUS_MEMBER = re.compile(r"^(.+\.)(?:\?|<anonymous>)$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_JAVA_LAMBDA = re.compile(r"\$\$Lambda\$\d+(?:/0x[0-9a-fA-F]+|/\d+)?")
_LAMBDA_INDEX = re.compile(r"(lambda\$[\w$]*?\$)\d+")
_SPACES = re.compile(r"\s+")


def is_url_like(name: str) -> bool:
    """A browser/bundler location rather than a file on a server."""
    return "://" in name or _EXTENSION.search(name.split("?", 1)[0].split("#", 1)[0]) is not None


CACHED_LENGTH = 512  # longer names are computed each time: a cache of them could hold GBs


def normalize_url(name: str) -> str:
    """``https://www.shop.example/static/1.4.2/main.3f9a2b1c.js?v=2#x`` -> ``static/main``."""
    return _url_cached(name) if len(name) <= CACHED_LENGTH else _url(name)


def normalize_path(name: str) -> str:
    """A server-side path stable across machines and deploy directories."""
    return _path_cached(name) if len(name) <= CACHED_LENGTH else _path(name)


def _url(name: str) -> str:
    path = name.split("#", 1)[0].split("?", 1)[0]
    path = _SCHEME_HOST.sub("", path.replace("\\", "/"))
    path = _NODE_MODULES.sub("node_modules/", path)
    segments = [s for s in path.split("/") if s and s != "."]
    if not segments:
        return "?"
    *dirs, last = segments
    dirs = [_VERSION_SUFFIX.sub("", d) for d in dirs if not _VERSION_SEGMENT.match(d)]
    last = _EXTENSION.sub("", last)
    last = _HASH_PART.sub("", last) or last
    last = _EXTENSION.sub("", last)
    return "/".join([*dirs[-3:], last])


def _path(name: str) -> str:
    if is_url_like(name):
        return normalize_url(name)
    path = _SITE_PACKAGES.sub("", name.replace("\\", "/"))
    if path.startswith("/") or re.match(r"^[A-Za-z]:/", path):
        path = "/".join(path.rsplit("/", 2)[-2:])
    return path.lstrip("./") or "?"


_url_cached = functools.lru_cache(maxsize=4096)(_url)
_path_cached = functools.lru_cache(maxsize=4096)(_path)


def normalize_function(name: Any) -> str:
    """Anonymous functions and generated lambda names become one stable name."""
    if not isinstance(name, str):
        return "<anonymous>"
    name = _ADDRESS.sub("", name.strip())
    if name in _ANONYMOUS:
        return "<anonymous>"
    name = _ANONYMOUS_MEMBER.sub(r"\1<anonymous>", name)  # Object.? / Foo.<anonymous>
    name = _JAVA_LAMBDA.sub("$$Lambda$", name)
    return _LAMBDA_INDEX.sub(r"\1", name)


def normalize_context_line(line: Any) -> str:
    if not isinstance(line, str) or not line:
        return ""
    line = _SPACES.sub(" ", line.strip())
    return "" if len(line) > MAX_CONTEXT_LINE else line


def location(frame: dict[str, Any]) -> str | None:
    """Module, else normalized filename, else the binary (native frames); None when unknown."""
    module = frame.get("module")
    if isinstance(module, str) and module:
        return normalize_url(module) if is_url_like(module) else _JAVA_LAMBDA.sub("$$Lambda$",
                                                                                   module)
    for key in ("filename", "abs_path"):
        value = frame.get(key)
        if isinstance(value, str) and value:
            return normalize_path(value)
    package = frame.get("package")
    if isinstance(package, str) and package:
        return package.replace("\\", "/").rsplit("/", 1)[-1]
    return None


def identity(frame: dict[str, Any]) -> tuple[str | None, str, str]:
    """(location, function, context line) of a frame, normalized.

    Cached for ordinary frames (the same bug sends the same frames over and
    over); frames with long strings are computed each time, so the cache
    stays small.
    """
    get = frame.get
    key = (get("module"), get("filename"), get("abs_path"), get("package"), get("function"),
           get("context_line"))
    try:
        if sum(len(v) for v in key if v is not None) <= CACHED_LENGTH * 2:
            return _identity_cached(key)
    except TypeError:  # a non-string value: computed uncached
        pass
    return _identity(frame)


def component(frame: dict[str, Any]) -> str | None:
    """A frame's identity as hashed, or None when it carries nothing stable (an address)."""
    where, function, context = identity(frame)
    if where is None and function == "<anonymous>" and not _has_function(frame):
        return None
    return f"{where or '?'} | {function} | {context}"


def _has_function(frame: dict[str, Any]) -> bool:
    function = frame.get("function")
    return isinstance(function, str) and bool(function)


def _identity(frame: dict[str, Any]) -> tuple[str | None, str, str]:
    return (location(frame), normalize_function(frame.get("function")),
            normalize_context_line(frame.get("context_line")))


_FIELDS = ("module", "filename", "abs_path", "package", "function", "context_line")


@functools.lru_cache(maxsize=4096)
def _identity_cached(key: tuple[Any, ...]) -> tuple[str | None, str, str]:
    return _identity(dict(zip(_FIELDS, key, strict=True)))
