"""Limits on what one HTTP connection may cost: head size, header count, timeouts, a cap.

uvicorn's httptools protocol has none of these: a request head is buffered
whole however large it grows (a 64 MB header was accepted), any number of
headers is taken, a connection that never finishes its head or its body is
kept for ever, and connections are accepted until the process runs out of
file descriptors (then ``/healthz`` is down too). uvicorn offers only the
keep-alive timeout and ``limit_concurrency`` (which answers 503 to every
request once the cap is reached, ``/healthz`` included), so this module adds
the rest to the protocol ``lookout serve`` runs:

- the head (request line and headers) is counted as it arrives; past
  ``max_header_bytes`` or ``max_headers`` the answer is ``431`` and the
  connection is closed, so one connection buffers at most the limit plus one
  read;
- a head must be complete within ``header_timeout`` of the connection being
  made or of its first byte (a new connection that sends nothing is closed
  then; one that sent part of a head is answered ``408``);
- while a body is arriving, a gap of ``body_timeout`` between reads ends it
  with ``408`` (time the server itself stops reading, because the app has not
  taken the data yet, does not count);
- at ``max_connections`` open connections a new one makes room by closing the
  connection that has waited longest on its client (idle keep-alive, an
  unfinished head, or a body still arriving); when none is waiting, the new
  one is answered ``503``. Requests whose body has arrived are never cut, and
  a flood of unfinished or trickling connections cannot keep out a client
  that sends its whole request at once (a trickle is never the oldest wait).

One timer per connection, armed only while the server waits on the client:
a whole request arriving in one read (every SDK batch) arms none.
"""

from __future__ import annotations

import asyncio
import logging
import math
import resource
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, ClassVar

from lookout.http_protocol import CoalescingHttpToolsProtocol

log = logging.getLogger("lookout.http")

# File descriptors kept free of client connections: the database pool, SQLite's
# files, logs, the Slack client, the listening socket.
RESERVED_FDS = 64
# Seconds between two "connection limit reached" warnings.
WARN_EVERY = 10.0


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one connection may cost (from ``LOOKOUT_MAX_HEADER_BYTES`` etc.)."""

    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000


class HeadRefused(Exception):
    """Raised from a parser callback to stop parsing a head that is over a limit."""


def _answer(status: int, reason: str, message: str) -> bytes:
    body = ('{"error":"' + message.replace("\\", "\\\\").replace('"', '\\"') + '"}').encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class LimitedHttpToolsProtocol(CoalescingHttpToolsProtocol):
    """The httptools protocol with :class:`ConnectionLimits` applied.

    Use :func:`protocol_class` to get a subclass bound to one server's limits
    (uvicorn instantiates the class itself, once per connection).
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()
    # Connections waiting on the client for the rest of a request (from connecting, or
    # from the last answer, until the request is complete), oldest first: the ones to
    # close when the connection cap is reached.
    waiting: ClassVar[OrderedDict[LimitedHttpToolsProtocol, None]]
    warned_at: ClassVar[float] = -math.inf
    cap_hits: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting_head = True
        self._head_since: float | None = None
        self._head_size = 0       # request line and headers, as the parser hands them over
        self._head_read = 0       # bytes read while awaiting the head (a partial header too)
        self._in_body = False
        self._body_read_at = 0.0
        self._refusal: bytes | None = None
        self._timer: asyncio.TimerHandle | None = None

    # Connection life

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()
        self._wait_on_client()
        self._arm(self.limits.header_timeout)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def _make_room(self) -> None:
        for other in self.waiting:
            if other is not self:
                self._warn("closing the longest-waiting connection")
                if other._in_body or other._head_read:
                    other._refuse(_answer(503, "Service Unavailable", "too many open "
                                          "connections; this request was too slow"))
                else:
                    other._close()  # idle: nothing was asked
                return
        self._warn("refusing a new connection")
        self._refuse(_answer(503, "Service Unavailable",
                             "too many open connections; retry later"))

    def _warn(self, action: str) -> None:
        """Log the cap being hit at most once per :data:`WARN_EVERY` seconds (a flood of
        connections must not become a flood of log lines), with how often it was hit."""
        cls = type(self)
        cls.cap_hits += 1
        now = self.loop.time()
        if now - cls.warned_at >= WARN_EVERY:
            log.warning("connection limit (%d) reached: %s (%d times since the last warning)",
                        self.limits.max_connections, action, cls.cap_hits)
            cls.warned_at, cls.cap_hits = now, 0

    def _wait_on_client(self) -> None:
        self.waiting[self] = None

    def _close(self) -> None:
        self.waiting.pop(self, None)
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()

    def _refuse(self, answer: bytes) -> None:
        """Answer ``answer`` (a complete response) and close, whatever the request's state."""
        if self.cycle is not None and not self.cycle.response_complete:
            # The app must not answer too: its sends are dropped from here on.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            self.transport.write(answer)
        self._close()

    # Reading

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head:
            self._head_read += len(data)
            if self._head_since is None:
                self._head_since = self.loop.time()
        super().data_received(data)
        if self.transport.is_closing():
            return
        if self._awaiting_head and self._head_read > self.limits.max_header_bytes:
            self._refuse(self._head_too_large())
            return
        if self._in_body:
            self._body_read_at = self.loop.time()
            if self._timer is None:
                self._arm(self.limits.body_timeout)
        elif self._awaiting_head and self._head_since is not None and self._timer is None:
            self._arm(self._head_since + self.limits.header_timeout - self.loop.time())

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error; a head over a limit gets its ``431`` instead."""
        if self._refusal is not None:
            self._refuse(self._refusal)
        else:
            super().send_400_response(msg)
            self._close()

    def _head_too_large(self) -> bytes:
        return _answer(431, "Request Header Fields Too Large",
                       f"request headers are over the limit of {self.limits.max_header_bytes} "
                       "bytes")

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_head = True
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        if len(self.headers) >= self.limits.max_headers:
            self._refusal = _answer(431, "Request Header Fields Too Large",
                                    f"more than {self.limits.max_headers} request headers")
            raise HeadRefused
        super().on_header(name, value)

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > self.limits.max_header_bytes:
            self._refusal = self._head_too_large()
            raise HeadRefused

    def on_headers_complete(self) -> None:
        self._awaiting_head = False
        self._head_since = None
        self._head_read = 0
        self._in_body = True
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        self._awaiting_head = True
        self.waiting.pop(self, None)
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._awaiting_head and not self.transport.is_closing() and not self.pipeline \
                and (self.cycle is None or self.cycle.response_complete):
            self._wait_on_client()  # idle keep-alive (uvicorn closes it after its timeout)

    # The timer

    def _arm(self, delay: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(max(delay, 0.0), self._check_timeout)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check_timeout(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._in_body:
            if self.flow.read_paused:  # the app is behind, not the client
                self._body_read_at = now
            idle_until = self._body_read_at + self.limits.body_timeout
            if now < idle_until:
                self._arm(idle_until - now)
                return
            self._refuse(_answer(408, "Request Timeout", "no request body data for "
                                 f"{self.limits.body_timeout:g} s"))
        elif self._awaiting_head and self._head_since is not None:
            if self.cycle is not None and not self.cycle.response_complete:
                self._arm(self.limits.header_timeout)  # answering the request before it
                return
            deadline = self._head_since + self.limits.header_timeout
            if now < deadline:
                self._arm(deadline - now)
            elif self._head_read:
                self._refuse(_answer(408, "Request Timeout", "request headers not complete "
                                     f"within {self.limits.header_timeout:g} s"))
            else:
                self._close()  # nothing was asked: nothing to answer


def protocol_class(limits: ConnectionLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` applying ``limits``."""
    return type("LookoutHttpProtocol", (LimitedHttpToolsProtocol,),
                {"limits": limits, "waiting": OrderedDict(), "warned_at": -math.inf,
                 "cap_hits": 0})


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit when allowed; return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %d: %s", soft, exc)
    return soft


def connection_cap(wanted: int, fd_limit: int) -> int:
    """``wanted``, lowered to leave :data:`RESERVED_FDS` descriptors for everything else."""
    room = max(fd_limit - RESERVED_FDS, 1)
    if wanted > room:
        log.warning("LOOKOUT_MAX_CONNECTIONS=%d is above what %d open files allow; using %d",
                    wanted, fd_limit, room)
        return room
    return wanted
