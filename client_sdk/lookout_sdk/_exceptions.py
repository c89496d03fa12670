"""Exception chains to the wire format (the same shape Sentry uses).

Runs on the app thread at capture time, because frames' local variables and
source lines are only meaningful while the traceback is alive. Every step is
bounded: at most ``MAX_CHAIN`` chained exceptions, ``MAX_FRAMES`` frames
(head and tail kept), ``MAX_VARS`` variables per frame, each normalised.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
from types import FrameType, TracebackType
from typing import Any

from lookout_sdk._serialize import normalize, safe_repr, safe_str

MAX_CHAIN = 10
MAX_FRAMES = 100
MAX_VARS = 50
CONTEXT_LINES = 5
MAX_LINE = 500


def _library_roots() -> tuple[str, ...]:
    """Directories whose code is not the app's: the stdlib and installed packages."""
    roots = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        try:
            path = sysconfig.get_paths().get(name)
        except Exception:  # noqa: BLE001
            path = None
        if path:
            roots.add(os.path.realpath(path) + os.sep)
    roots.add(os.path.dirname(os.path.realpath(__file__)) + os.sep)
    return tuple(roots)


_LIBRARY_ROOTS = _library_roots()
_in_app_cache: dict[str, bool] = {}


def is_in_app(abs_path: str) -> bool:
    """App code is whatever is not the stdlib, site-packages or this SDK."""
    cached = _in_app_cache.get(abs_path)
    if cached is None:
        if abs_path.startswith("<"):
            cached = False
        else:
            real = os.path.realpath(abs_path)
            cached = not (real.startswith(_LIBRARY_ROOTS) or os.sep + "site-packages" + os.sep
                          in real or os.sep + "dist-packages" + os.sep in real)
        if len(_in_app_cache) < 10_000:
            _in_app_cache[abs_path] = cached
    return cached


def _clip_line(line: str) -> str:
    line = line.rstrip("\r\n")
    return line[:MAX_LINE]


def _frame(frame: FrameType, lineno: int, with_vars: bool) -> dict[str, Any]:
    code = frame.f_code
    abs_path = code.co_filename
    module = frame.f_globals.get("__name__") if isinstance(frame.f_globals, dict) else None
    out: dict[str, Any] = {
        "filename": os.path.basename(abs_path) if module is None else _module_filename(
            abs_path, str(module)),
        "abs_path": abs_path,
        "function": code.co_name,
        "module": module if isinstance(module, str) else None,
        "lineno": lineno,
        "in_app": is_in_app(abs_path),
    }
    try:
        lines = linecache.getlines(abs_path, frame.f_globals)
    except Exception:  # noqa: BLE001
        lines = []
    if lines and 0 < lineno <= len(lines):
        out["context_line"] = _clip_line(lines[lineno - 1])
        out["pre_context"] = [_clip_line(x) for x in lines[max(0, lineno - 1 - CONTEXT_LINES):
                                                           lineno - 1]]
        out["post_context"] = [_clip_line(x) for x in lines[lineno:lineno + CONTEXT_LINES]]
    if with_vars:
        out["vars"] = _locals(frame)
    return out


def _module_filename(abs_path: str, module: str) -> str:
    """Path relative to the package root (``app/views.py``), like Sentry shows it."""
    depth = module.count(".") + 1
    if abs_path.endswith("__init__.py"):
        depth += 1
    parts = abs_path.replace("\\", "/").split("/")
    return "/".join(parts[-depth:]) if len(parts) >= depth else abs_path


def _locals(frame: FrameType) -> dict[str, Any]:
    try:
        items = list(frame.f_locals.items())
    except Exception:  # noqa: BLE001
        return {}
    out: dict[str, Any] = {}
    for name, value in items:
        if len(out) >= MAX_VARS:
            break
        if isinstance(name, str) and name.startswith("__") and name.endswith("__"):
            continue  # module-level frames: interpreter bookkeeping, not app state
        out[name if isinstance(name, str) else safe_repr(name, 100)] = normalize(value, 2)
    return out


_SDK_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _frames(tb: TracebackType | None, with_vars: bool) -> list[dict[str, Any]]:
    """The traceback's frames, without the SDK's own wrappers (``run_in_request`` and the
    middlewares' calls into the app): they are in every trace and say nothing about it."""
    entries: list[tuple[FrameType, int]] = []
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_SDK_DIR):
            entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    if len(entries) > MAX_FRAMES:
        half = MAX_FRAMES // 2
        entries = entries[:half] + entries[-half:]
    return [_frame(f, lineno, with_vars) for f, lineno in entries]


def _chain(exc: BaseException) -> list[BaseException]:
    """The raised exception and its causes, newest first, cycle-safe."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < MAX_CHAIN:
        seen.add(id(current))
        chain.append(current)
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        current = cause
    return chain


def exception_values(exc: BaseException, mechanism: str = "generic", handled: bool = True,
                     with_vars: bool = True) -> list[dict[str, Any]]:
    """The ``exception`` list of an error record: oldest first, the raised one last."""
    values = []
    for item in reversed(_chain(exc)):
        cls = type(item)
        values.append({
            "type": getattr(cls, "__qualname__", cls.__name__),
            "value": safe_str(item),
            "module": getattr(cls, "__module__", None),
            "mechanism": {"type": mechanism, "handled": handled},
            "frames": _frames(item.__traceback__, with_vars),
        })
    return values


def current_exception() -> BaseException | None:
    """The exception being handled in the caller's ``except`` block, if any."""
    return sys.exc_info()[1]
