"""The process-wide current client and the hooks that feed it.

``client`` is a plain module global read on every capture (one attribute
load). Hooks (``sys.excepthook``, ``threading.excepthook``, ``atexit``,
``os.register_at_fork``) are installed once per process and always talk to
whichever client is current, so calling ``init()`` again swaps the client
without stacking hooks or handlers.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lookout_sdk._client import Client

log = logging.getLogger("lookout_sdk")

client: Client | None = None
# Per-thread "the SDK is working here" flag: logging that happens while the SDK
# captures (a __repr__ that logs) or on the sender thread (a before_send hook
# that logs) is not captured, so capture can neither recurse nor feed itself.
guard = threading.local()
_hooks_installed = False
_lock = threading.Lock()


def set_client(new: Client | None) -> None:
    """Make ``new`` current and shut the previous client down (flushing it briefly)."""
    global client
    with _lock:
        old, client = client, new
    if old is not None:
        try:
            old.close(old.options.shutdown_timeout)
        except Exception:
            log.debug("lookout_sdk: closing the previous client failed", exc_info=True)


def install_hooks() -> None:
    """Install the process-wide hooks, once."""
    global _hooks_installed
    with _lock:
        if _hooks_installed:
            return
        _hooks_installed = True
    previous_excepthook = sys.excepthook
    previous_thread_hook = threading.excepthook

    def excepthook(exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        _capture_unhandled(exc, "excepthook")
        previous_excepthook(exc_type, exc, tb)

    def thread_excepthook(args: Any) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            _capture_unhandled(args.exc_value, "threading")
        previous_thread_hook(args)

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
    atexit.register(_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)


def _capture_unhandled(exc: BaseException, mechanism: str) -> None:
    current = client
    if current is None or not current.options.capture_unhandled:
        return
    if isinstance(exc, KeyboardInterrupt):
        return
    try:
        current.capture_exception(exc, level="fatal" if mechanism == "excepthook" else "error",
                                  handled=False, mechanism=mechanism)
    except Exception:  # noqa: BLE001
        pass


def _at_exit() -> None:
    current = client
    if current is not None:
        try:
            current.close(current.options.shutdown_timeout)
        except Exception:  # noqa: BLE001
            pass


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.Lock()
    current = client
    if current is not None:
        try:
            current.after_fork()
        except Exception:  # noqa: BLE001
            pass
