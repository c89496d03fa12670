"""Settings from ``LOOKOUT_*`` environment variables, validated once at start.

Every setting is a field of :class:`Settings` with a docstring saying what it is
for. A bad value raises :class:`~lookout.errors.ConfigError` with a one-line
message naming the variable, so ``lookout serve`` can print it and exit instead
of showing a traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from yarl import URL

from lookout.errors import ConfigError

PREFIX = "LOOKOUT_"
# PostgreSQL refuses b-tree index rows over 2704 bytes; leave room for the other key columns.
MAX_INDEX_KEY_BYTES = 2_600
# Kinds of data with their own retention; ``requests`` covers request records and spans.
RETENTION_KINDS = ("logs", "errors", "metrics", "requests")
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

    # Slack interactions
    slack_response_url_origins: str = "https://hooks.slack.com"
    """Comma-separated origins (``scheme://host[:port]``) a Slack click's ``response_url`` may
    point at; Lookout posts its "nothing changed" note only there, without following
    redirects, so a signed click cannot aim Lookout at loopback or the internal network.
    Slack's own hooks host unless a proxy (or a test's Slack mimic) stands in for it."""
    # --- logins: throttling and password hashing ---
    login_max_failures: int = 5
    """Failed logins allowed per email and client address within ``LOOKOUT_LOGIN_WINDOW``;
    after that the pair is refused (429) until the oldest failure leaves the window. Each
    attempt is counted in the database before its password is checked, so concurrent
    guesses and several instances together cannot check more than this."""

    login_max_emails: int = 10
    """Distinct emails one client address may try within ``LOOKOUT_LOGIN_WINDOW`` without
    succeeding (password spraying: one password tried against many accounts). An attempt
    on a further email from that address is refused (429); emails already tried are not."""

    login_window: float = 900.0
    """Seconds that failed logins count against the two limits above."""

    login_hash_threads: int = 2
    """scrypt checks run at once (each takes 128 MiB and about 0.5 s of one core); further
    logins wait their turn, so a burst of them cannot exhaust memory or the CPU."""
    # Search cost
    search_time_budget: float = 2.0
    """Seconds one log search (a page of results, or the search page's count) may run in the
    database before it is stopped and answered 422 "narrow the time range": a substring
    search costs rows x message length x term length, and hostile data can make one run for
    minutes. PostgreSQL: ``statement_timeout``; SQLite: ``sqlite3_interrupt`` at the deadline.
    Keep it under 15 s: past that, the PostgreSQL driver's own timeout answers 503 first."""

    search_max_term_length: int = 256
    """Longest search term (characters); a longer one is answered 400 before any query runs."""

    search_max_terms: int = 10
    """Most text terms in one search (each is a substring test on every row scanned); 400 above."""

    # Alerting: limits on what ingested data can make the rule engine post.
    alert_max_groups: int = 50
    """Most alert groups (pending or firing) one rule keeps at once, unless the rule sets
    ``max_groups``. Each group is a Slack message; groups beyond it (e.g. a client inventing
    services) share one "N more groups" alert instead."""

    alert_max_new_groups: int = 10
    """Most new alert groups one rule starts per evaluation; the rest wait for later
    evaluations (counted in the "N more groups" alert meanwhile), so one flood cannot queue
    hundreds of Slack messages at once."""

    slack_lease_seconds: float = 120.0
    """How long a sender's claim on an alert's Slack deliveries lasts without renewal. It is
    renewed before every Slack call and while one runs; another instance takes over an alert
    only after this long without renewal (a crashed instance)."""

    # Bounds on stored records and on what answers show of them.
    max_collection_items: int = 100
    """Most elements kept in any one list or object inside a record's JSON (attributes,
    extra, contexts, breadcrumb data, tags, frame variables), at any depth; the rest is
    replaced by a marker such as ``"…[9999900 more items]"``."""

    max_json_bytes: int = 65_536
    """Largest serialized size of a record's attributes, and of an error's extra (contexts,
    breadcrumbs, tags, request, user ...). Over it the value is trimmed and marked."""

    max_exception_bytes: int = 262_144
    """Largest serialized size of an error's exception chain (frames, context lines,
    variables). Over it, outer frames lose their variables and context lines first."""

    max_frame_vars_bytes: int = 4_096
    """Largest serialized size of one stack frame's local variables."""

    max_label_bytes: int = 512
    """Most UTF-8 bytes in a service, environment, release or metric name (they are index
    keys; PostgreSQL's b-tree limit counts bytes). A Lookout record over it is rejected;
    Sentry events and display-only labels (host, logger) are cut instead."""

    max_route_bytes: int = 1_024
    """Most UTF-8 bytes in a request record's route (an index key with the service and
    environment: ``2 * max_label_bytes + max_route_bytes`` must not exceed 2,600)."""

    max_shown_value_bytes: int = 16_384
    """Largest JSON value (attributes, extra, exception) of one record that a page or an
    API answer shows in full; a bigger one is shown trimmed, with a marker."""

    max_shown_page_bytes: int = 2_097_152
    """Most bytes of record content (messages and JSON values) in one page or API answer.
    Lists stop there (the next-page cursor goes on from there); a request timeline shows
    the remaining records without their JSON values."""

    # HTTP connections (lookout serve; see lookout/http_limits.py)
    max_header_bytes: int = 64 * 1024
    """Largest request head (request line and all headers, in bytes); over it: ``431`` and the
    connection is closed. Bounds what one connection buffers before a request starts."""

    max_headers: int = 100
    """Most headers in one request; more: ``431`` and the connection is closed."""

    header_timeout: float = 10.0
    """Seconds a connection may take to send a complete request head (from connecting, or from
    the first byte of a request after keep-alive); then ``408`` and closed (slowloris)."""

    body_timeout: float = 30.0
    """Seconds without any body data while a request body is arriving; then ``408`` and
    closed. Time the server itself stops reading (the app is busy) does not count."""

    keepalive_timeout: float = 5.0
    """Seconds an idle keep-alive connection stays open between requests."""

    max_connections: int = 1000
    """Most open client connections; at the cap a new one closes the connection that has
    waited longest on its client (idle, unfinished head or body still arriving), or is
    answered ``503`` when none is waiting. Lowered at start to stay below the open-files limit (which ``lookout serve``
    raises to its hard limit when allowed)."""

    # OTLP ingest (collector/otlp)
    otlp_max_series: int = 100_000
    """Cumulative OTLP metric series whose last point is remembered (in memory) to turn
    cumulative sums and histograms into deltas; past it the least recently seen is
    forgotten, and its next point only sets a new baseline."""

    # Event times from wrong device clocks (collector/sentry/clock.py, docs/grouping.md)
    clock_drift_seconds: float = 300.0
    """Smallest difference between a Sentry request's ``sent_at`` (envelope header, or the
    ``sentry_timestamp`` of ``/store/``'s auth header) and its arrival that is taken for a wrong
    device clock: every timestamp of the request is then shifted by that difference. Smaller
    differences are network latency and are left alone. Relay uses 55 minutes (see docs)."""

    max_past_seconds: float = 30 * 86400.0
    """Event times further than this in the past (after the clock-drift correction) are set to
    the arrival time, the original kept in the event's ``_meta``. Never more than the
    retention period (``LOOKOUT_RETENTION_DAYS``): an older event would be deleted by the next
    retention run and would set its issue's first-seen to a date that is gone."""

    # Per-issue counts of custom tags (collector/issues.py)
    max_issue_tag_keys: int = 50
    """Most custom tag keys counted per issue; keys beyond it are not counted on that issue
    (they stay on the event)."""

    max_issue_tag_values: int = 100
    """Most distinct values counted per tag key and issue; further values are counted
    together in one "other values" bucket, so the key's total and percentages stay right."""

    # Request page (web/waterfall.py)
    max_waterfall_spans: int = 1000
    """Most spans one request page or ``/api/v1/requests/{id}`` answer lays out in the
    waterfall (the earliest-starting ones); the rest are counted ("N more spans not shown").
    Bounds the page's size and render time for traces of many thousand spans."""

    # Retention per kind (collector.retention); unset = LOOKOUT_RETENTION_DAYS. A project can
    # override any of them (``lookout project retention``, the settings page).
    retention_logs_days: int | None = None
    """Days logs (and their per-minute counts) are kept."""

    retention_errors_days: int | None = None
    """Days error events (and issues' hourly counts) are kept; issues themselves, with their
    totals, first/last seen and user counts, stay after their events have gone."""

    retention_metrics_days: int | None = None
    """Days metric points (and their per-minute rollups) are kept."""

    retention_requests_days: int | None = None
    """Days request records, spans and request rollups are kept."""

    # Storage page and ``lookout_storage_*`` gauges (lookout/storage.py)
    storage_interval: float = 600.0
    """Seconds between refreshes of the storage figures (rows and bytes per table, per day
    and per project). Finished days are counted once and remembered; each refresh counts
    only the current day's rows again."""

    storage_days_per_refresh: int = 7
    """Days besides today and the oldest one that one storage refresh counts (days never
    counted, or made stale by retention): bounds each refresh's cost; a new instance fills
    in older days over the following refreshes."""

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
                     "login_max_failures", "login_max_emails", "login_window",
                     "login_hash_threads",
                     "search_time_budget", "search_max_term_length", "search_max_terms",
                     "max_collection_items", "max_json_bytes", "max_exception_bytes",
                     "max_frame_vars_bytes", "max_label_bytes", "max_route_bytes",
                     "max_shown_value_bytes", "max_shown_page_bytes",
                     "max_header_bytes", "max_headers", "header_timeout", "body_timeout",
                     "keepalive_timeout", "max_connections", "otlp_max_series",
                     "max_waterfall_spans", "storage_interval", "storage_days_per_refresh"):
            if not 0 < getattr(self, name) < math.inf:  # also refuses nan
                raise ConfigError(f"{PREFIX}{name.upper()} must be greater than 0 (and finite)")
        if max(2 * self.max_label_bytes + self.max_route_bytes,
               3 * self.max_label_bytes + 64) > MAX_INDEX_KEY_BYTES:
            raise ConfigError(f"{PREFIX}MAX_LABEL_BYTES * 2 + {PREFIX}MAX_ROUTE_BYTES (and "
                              f"{PREFIX}MAX_LABEL_BYTES * 3 + 64) must not exceed "
                              f"{MAX_INDEX_KEY_BYTES} (PostgreSQL's index row limit)")
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
        for origin in self.slack_response_url_origins.split(","):
            if origin.strip() and _origin(origin) is None:
                raise ConfigError(f"{PREFIX}SLACK_RESPONSE_URL_ORIGINS entries must be origins "
                                  f"like https://hooks.slack.com (got {origin.strip()[:80]!r})")

        for name in ("alert_max_groups", "alert_max_new_groups", "slack_lease_seconds"):
            if not 0 < getattr(self, name) < math.inf:  # NaN fails this too
                raise ConfigError(f"{PREFIX}{name.upper()} must be a finite number above 0")
        for kind in RETENTION_KINDS:
            days = getattr(self, f"retention_{kind}_days")
            if days is not None and days <= 0:
                raise ConfigError(f"{PREFIX}RETENTION_{kind.upper()}_DAYS must be greater than 0")
        if self.log_level.lower() not in {"debug", "info", "warning", "error"}:
            raise ConfigError("LOOKOUT_LOG_LEVEL must be one of debug, info, warning, error")
        for name in ("clock_drift_seconds", "max_past_seconds", "max_issue_tag_keys",
                     "max_issue_tag_values"):
            if not 0 < getattr(self, name) < math.inf:
                raise ConfigError(f"{PREFIX}{name.upper()} must be greater than 0 (and finite)")
        self._validate_slack()

    def _validate_slack(self) -> None:
        """Slack tokens of the wrong kind fail at start, not at the first alert.

        The token itself is never quoted back (it is a secret), only its kind.
        """
        if self.slack_bot_token and not self.slack_bot_token.startswith("xoxb-"):
            kind = self.slack_bot_token.split("-", 1)[0][:5]
            raise ConfigError(f"{PREFIX}SLACK_BOT_TOKEN must be a bot token (xoxb-...); "
                              f"this one starts with {kind!r}")
        if self.slack_app_token and not self.slack_app_token.startswith("xapp-"):
            raise ConfigError(f"{PREFIX}SLACK_APP_TOKEN must be an app-level token (xapp-...)")
        if self.slack_app_token and not self.slack_bot_token:
            raise ConfigError(f"{PREFIX}SLACK_APP_TOKEN is set without {PREFIX}SLACK_BOT_TOKEN: "
                              "Socket Mode needs the bot token to post and update messages")

    def warnings(self) -> list[str]:
        """Settings that work but probably not as meant: one line each, logged at start."""
        found: list[str] = []
        if self.slack_bot_token and not self.slack_channel:
            found.append(f"{PREFIX}SLACK_BOT_TOKEN is set without {PREFIX}SLACK_CHANNEL: only "
                         "rules with their own `channel:` post to Slack")
        if self.slack_bot_token and not (self.slack_signing_secret or self.slack_app_token):
            found.append(f"{PREFIX}SLACK_BOT_TOKEN is set without {PREFIX}SLACK_SIGNING_SECRET "
                         f"(or {PREFIX}SLACK_APP_TOKEN): the Acknowledge/Resolve/Silence buttons "
                         "will be refused")
        return found

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The entries of :attr:`trusted_proxies`, blanks dropped."""
        return [e.strip() for e in self.trusted_proxies.split(",") if e.strip()]

    @property
    def slack_response_url_origin_list(self) -> frozenset[str]:
        """:attr:`slack_response_url_origins`, normalised as ``URL.origin()`` prints them."""
        origins = (_origin(o) for o in self.slack_response_url_origins.split(",") if o.strip())
        return frozenset(o for o in origins if o is not None)

    def retention_for(self, kind: str) -> int:
        """Days ``kind`` (one of :data:`RETENTION_KINDS`) is kept unless a project overrides it."""
        days = getattr(self, f"retention_{kind}_days")
        return self.retention_days if days is None else days

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


def _origin(text: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) origin with nothing else in it, else None."""
    try:
        url = URL(text.strip())
        origin = str(url.origin())
    except (ValueError, TypeError):
        return None
    if url.scheme not in ("http", "https") or url.path not in ("", "/") or url.query_string \
            or url.fragment or url.user is not None:
        return None
    return origin


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

