"""The SDK's exception types.

Public functions of the SDK never raise these into the app (``init`` with a
bad DSN logs a warning and stays disabled); they exist for code that calls the
lower-level pieces directly (:func:`lookout_sdk.parse_dsn`, custom transports).
"""

from __future__ import annotations


class LookoutError(Exception):
    """Base class of every SDK error."""


class DsnError(LookoutError, ValueError):
    """The DSN cannot be parsed; the message says which part is wrong."""


class TransportError(LookoutError):
    """A batch could not be delivered for a reason worth retrying (connection
    refused or reset, timeout, a response that is not HTTP)."""
