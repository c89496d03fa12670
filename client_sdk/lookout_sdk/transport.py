"""The pluggable transport: how one encoded batch reaches the collector.

Modelled on httpx: a transport is one method, ``send(request) -> response``,
called only from the SDK's background thread. Swap it (``init(transport=...)``)
to send through a proxy library, to record batches in tests
(:class:`MockTransport`), or to write them somewhere else entirely.

A transport raises :class:`~lookout_sdk.errors.TransportError` for failures
worth retrying (connection refused/reset, timeout, not-HTTP answers) and
returns a :class:`Response` for anything that is HTTP; the worker decides
what a status means (retry, drop, done).
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from lookout_sdk.errors import TransportError

MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Request:
    """One batch, ready to send: POST ``body`` to ``url`` with ``headers``."""

    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    """The collector's answer; header names are lower case."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class Transport:
    """Base class of transports; subclasses implement :meth:`send`."""

    def send(self, request: Request) -> Response:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections. Called on shutdown and in a forked child."""


class MockTransport(Transport):
    """Calls ``handler(request)`` instead of doing I/O (for tests and dry runs)."""

    def __init__(self, handler: Callable[[Request], Response]) -> None:
        self.handler = handler

    def send(self, request: Request) -> Response:
        return self.handler(request)


class HTTPTransport(Transport):
    """HTTP/1.1 with one keep-alive connection, standard library only.

    ``timeout`` bounds every socket operation, so a collector that hangs
    stalls only the background thread, and only for that long. A kept-alive
    connection the server closed while idle is retried once at once on a
    fresh connection. (If the server did process the request before the
    connection broke, the batch id header makes the retry a no-op.)
    """

    def __init__(self, timeout: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._conn: http.client.HTTPConnection | None = None
        self._origin: tuple[str, str, int] | None = None

    def _connection(self, scheme: str, host: str, port: int) -> tuple[
            http.client.HTTPConnection, bool]:
        if self._conn is not None and self._origin == (scheme, host, port):
            return self._conn, True
        self.close()
        if scheme == "https":
            ctx = self.ssl_context or ssl.create_default_context()
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout, context=ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        self._conn, self._origin = conn, (scheme, host, port)
        return conn, False

    def send(self, request: Request) -> Response:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn, reused = self._connection(scheme, host, port)
        try:
            return self._exchange(conn, path, request)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
            self.close()
            if not reused:
                raise TransportError(f"{type(exc).__name__}: {exc}") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        # The idle keep-alive connection was closed by the server: one fresh try.
        conn, _ = self._connection(scheme, host, port)
        try:
            return self._exchange(conn, path, request)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    def _exchange(self, conn: http.client.HTTPConnection, path: str,
                  request: Request) -> Response:
        conn.request("POST", path, body=request.body, headers=dict(request.headers))
        resp = conn.getresponse()
        body = resp.read(MAX_RESPONSE_BYTES + 1)
        headers = {k.lower(): v for k, v in resp.getheaders()}
        if resp.will_close or len(body) > MAX_RESPONSE_BYTES or not resp.isclosed():
            self.close()
        return Response(resp.status, headers, body[:MAX_RESPONSE_BYTES])

    def close(self) -> None:
        # Safe in a forked child too: closing our copy of the socket does not
        # end the parent's connection (TCP closes when the last copy closes).
        conn, self._conn, self._origin = self._conn, None, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
