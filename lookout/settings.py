"""Settings from ``LOOKOUT_*`` environment variables, validated once at start.

Every setting is a field of :class:`Settings` with a docstring saying what it is
for. A bad value raises :class:`~lookout.errors.ConfigError` with a one-line
message naming the variable, so ``lookout serve`` can print it and exit instead
of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lookout.errors import ConfigError

PREFIX = "LOOKOUT_"
SECRET_FIELDS = frozenset({"secret_key", "slack_bot_token", "slack_signing_secret",
                           "slack_app_token"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about a Lookout process."""

    database_url: str = "sqlite+aiosqlite:///./lookout.db"
    """SQLAlchemy async URL; ``postgresql+asyncpg://...`` in production."""

    base_url: str = "http://127.0.0.1:8000"
    """Public URL of this Lookout, used for links in Slack messages and DSNs."""

    secret_key: str | None = None
    """Signs sessions and CSRF tokens. Generated and stored in the database when unset."""

    rules_file: str | None = None
    """YAML rules file loaded at start and on SIGHUP."""

    eval_interval: float = 15.0
    """Seconds between rule evaluations."""

    slack_bot_token: str | None = None
    """``xoxb-...`` bot token; Slack notifications are off when unset."""

    slack_signing_secret: str | None = None
    """Verifies ``/slack/interactions`` callbacks."""

    slack_channel: str | None = None
    """Default channel for alerts."""

    slack_app_token: str | None = None
    """``xapp-...`` app-level token: receive interactions over Socket Mode."""

    slack_api_url: str | None = None
    """Base URL for the Slack Web API (proxies and tests); Slack's own when unset."""

    retention_days: int = 30
    """Data older than this many days is removed."""

    max_body_bytes: int = 5 * 1024 * 1024
    """Largest request body accepted on the wire (compressed or not)."""

    max_decompressed_bytes: int = 20 * 1024 * 1024
    """Largest body after decompression; inflation stops at this size."""

    max_batch_records: int = 10_000
    """Most records (all kinds together) in one ingest request."""

    max_attributes: int = 64
    """Most attributes on one record; a record with more is rejected."""

    max_string_length: int = 16_384
    """Longer strings (messages, attribute values) are truncated to this many characters."""

    max_future_seconds: float = 300.0
    """Records stamped further than this in the future are rejected."""

    write_queue_records: int = 200_000
    """Records waiting for the writer before ingest answers 503 instead of buffering more."""

    write_batch_records: int = 20_000
    """Most records the writer commits in one transaction."""

    write_timeout: float = 20.0
    """Seconds an ingest request waits for its records to commit before answering 503."""

    retention_batch_rows: int = 5_000
    """Rows deleted per statement by the retention job, so it never holds long locks."""

    rate_limit_per_minute: int = 0
    """Error events one project may send per minute (Sentry and Lookout SDKs); 0 = no limit.
    Over it, ingest answers 429 with ``Retry-After`` and ``X-Sentry-Rate-Limits``."""

    log_level: str = "info"
    """Level of Lookout's own logs."""

    trusted_proxies: str = ""
    """Comma-separated IPs/CIDRs of reverse proxies (nginx) whose ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` are believed. Empty trusts nobody: a client could otherwise forge
    its address and dodge the per-address login throttle."""

    # OTLP ingest (collector/otlp)
    otlp_max_series: int = 100_000
    """Cumulative OTLP metric series whose last point is remembered (in memory) to turn
    cumulative sums and histograms into deltas; past it the least recently seen is
    forgotten, and its next point only sets a new baseline."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from the environment, raising ConfigError on a bad value."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f, raw)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check cross-field and range constraints."""
        if not self.database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ConfigError(
                "LOOKOUT_DATABASE_URL must start with sqlite+aiosqlite:// or "
                f"postgresql+asyncpg:// (got {self.database_url.split(':', 1)[0]!r})"
            )
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError("LOOKOUT_BASE_URL must be an http:// or https:// URL")
        for name in ("eval_interval", "retention_days", "max_body_bytes", "max_batch_records",
                     "max_decompressed_bytes", "max_string_length", "write_queue_records",
                     "write_batch_records", "write_timeout", "retention_batch_rows",
                     "otlp_max_series"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be greater than 0")
        if self.rate_limit_per_minute < 0:
            raise ConfigError(f"{PREFIX}RATE_LIMIT_PER_MINUTE must not be negative (0 = no limit)")
        if self.max_attributes < 0:
            raise ConfigError(f"{PREFIX}MAX_ATTRIBUTES must not be negative")
        for entry in self.trusted_proxy_list:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ConfigError(f"{PREFIX}TRUSTED_PROXIES entries must be IP addresses or "
                                  f"CIDR networks (got {entry!r})") from None
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise ConfigError("LOOKOUT_LOG_LEVEL must be one of debug, info, warning, error")

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The entries of :attr:`trusted_proxies`, blanks dropped."""
        return [e.strip() for e in self.trusted_proxies.split(",") if e.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def __repr__(self) -> str:
        """Every setting, with secrets and the database password masked (tracebacks, logs)."""
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "***"
            elif f.name == "database_url":
                value = _hide_password(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def _hide_password(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def _coerce(f: dataclasses.Field[Any], raw: str) -> Any:
    name = PREFIX + f.name.upper()
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number (got {raw!r})") from None
    return raw

