"""The small typed error hierarchy shared by every Lookout module."""

from __future__ import annotations


class LookoutError(Exception):
    """Base class for errors Lookout raises on purpose."""


class ConfigError(LookoutError):
    """A setting or command-line argument is invalid; the message is one line for the user."""


class StorageUnavailable(LookoutError):
    """The database cannot take writes right now; clients should retry later (503)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(StorageUnavailable):
    """The write queue is full; clients should back off briefly (503 with Retry-After)."""


class ClientDisconnected(LookoutError):
    """The client went away (or was cut off by a timeout) before its request body was complete.

    Nothing of such a request may be stored: a body that stops early can still be
    valid JSON (a chunked body cut at a chunk boundary), and it was never acknowledged.
    """
