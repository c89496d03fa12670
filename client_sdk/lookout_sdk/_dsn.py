"""DSN parsing: ``http://<public_key>@<host>:<port>[/<prefix>]/<project_id>``.

The same DSN works for the official ``sentry-sdk``; this SDK posts to the
Lookout-native endpoint ``{prefix}/api/{project_id}/ingest`` next to Sentry's
``/envelope/`` one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from lookout_sdk.errors import DsnError


@dataclass(frozen=True)
class Dsn:
    """A parsed DSN; :attr:`ingest_url` is where batches go."""

    scheme: str
    public_key: str
    host: str
    port: int
    path_prefix: str
    project_id: str

    @property
    def ingest_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.scheme}://{host}:{self.port}{self.path_prefix}"
                f"/api/{self.project_id}/ingest")


def parse_dsn(text: str) -> Dsn:
    """Parse and validate a DSN; :class:`DsnError` names what is wrong."""
    if not isinstance(text, str):
        raise DsnError(f"DSN must be a string, not {type(text).__name__}")
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise DsnError(f"DSN is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise DsnError("DSN must start with http:// or https://")
    if not parts.username:
        raise DsnError("DSN has no public key (http://<key>@host/<project_id>)")
    if not parts.hostname:
        raise DsnError("DSN has no host")
    segments = [s for s in parts.path.split("/") if s]
    if not segments or not segments[-1].isdigit():
        raise DsnError("DSN must end with the numeric project id")
    prefix = "/" + "/".join(segments[:-1]) if len(segments) > 1 else ""
    return Dsn(
        scheme=parts.scheme,
        public_key=parts.username,
        host=parts.hostname,
        port=port or (443 if parts.scheme == "https" else 80),
        path_prefix=prefix,
        project_id=segments[-1],
    )
