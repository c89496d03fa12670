"""Envelopes serialized by the real ``sentry-sdk``, captured in-process (no HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport


class CaptureTransport(Transport):
    """A sentry-sdk transport that keeps envelopes instead of sending them."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


def sdk_envelopes(dsn: str, action: Callable[[], None], **options: Any) -> list[bytes]:
    """Run ``action`` with a sentry-sdk client for ``dsn``; return what it would have sent."""
    transport = CaptureTransport()
    client = sentry_sdk.Client(dsn=dsn, transport=transport, default_integrations=False,
                               release="2.0.0", environment="staging", **options)
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        action()
        client.flush(timeout=5)
    client.close(timeout=5)
    return [e.serialize() for e in transport.envelopes]
