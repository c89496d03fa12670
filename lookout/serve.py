"""``lookout serve``: migrate, then run the app under uvicorn until SIGTERM/SIGINT.

Shutdown is graceful: uvicorn stops accepting connections and lets in-flight
requests finish (each waits for its rows to commit), then the app's shutdown
hook drains the writer. Only then does the process exit 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

import uvicorn

from lookout import logs
from lookout.db import create_engine, describe_database
from lookout.errors import ConfigError
from lookout.http_limits import ConnectionLimits, connection_cap, protocol_class, raise_fd_limit
from lookout.migrate import upgrade
from lookout.settings import Settings

log = logging.getLogger("lookout")

GRACEFUL_SHUTDOWN_SECONDS = 30


def serve(settings: Settings, host: str, port: int) -> int:
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535 (got {port})")
    logs.setup(settings.log_level)
    _check_rules(settings)
    has_project, has_user = asyncio.run(_migrate(settings))

    from lookout.app import create_app

    app = create_app(settings)
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes, max_headers=settings.max_headers,
        header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
        max_connections=connection_cap(settings.max_connections, raise_fd_limit()))
    url = f"http://{host}:{port}"
    log.info(f"Lookout is running at {url} (database: {describe_database(settings.database_url)})")
    for warning in settings.warnings():
        log.warning(warning)
    if not has_project:
        log.info("Create a project and get its DSN with: lookout project create NAME")
    if not has_user:
        log.info("Create a login for the web UI with: lookout user create EMAIL")
    config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                            http=protocol_class(limits),
                            timeout_keep_alive=settings.keepalive_timeout,  # type: ignore[arg-type]
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                            lifespan="on", server_header=False,
                            # Client address and scheme from X-Forwarded-* only when
                            # the peer is a trusted proxy; uvicorn's own default would
                            # trust 127.0.0.1, letting any local process forge them.
                            proxy_headers=bool(settings.trusted_proxy_list),
                            forwarded_allow_ips=settings.trusted_proxy_list or None)
    server = uvicorn.Server(config)
    # The modules, the app and its routes are alive for the whole process: move them out
    # of the cyclic collector's sight, so a full collection during a big page (a
    # 1,000-span waterfall allocates ~100k objects) scans only what requests made.
    # Measured: p95 of bench/request_page.py's trace page (see bench/README.md).
    gc.collect()
    gc.freeze()
    # uvicorn re-raises the signal it stopped on once it has shut down; a SIGTERM
    # that led to a clean drain is a normal exit for us (status 0), so the handler
    # it restores and re-raises into is a no-op.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run()
    return 0 if server.started else 1


def _check_rules(settings: Settings) -> None:
    """Refuse to start on a bad rules file (a bad *reload* keeps the old rules instead)."""
    if not settings.rules_file:
        return
    from rules.config import RulesError, load_rules

    try:
        load_rules(settings.rules_file)
    except RulesError as exc:
        more = len(exc.errors) - 1
        suffix = f" (and {more} more; run `lookout rules check`)" if more else ""
        raise ConfigError(f"invalid rules file: {exc.errors[0]}{suffix}") from None


async def _migrate(settings: Settings) -> tuple[bool, bool]:
    """Apply migrations; say whether there is a project and a user yet (for the hints)."""
    from sqlalchemy import func, select

    from lookout.sqlite_space import INCREMENTAL, auto_vacuum_mode
    from lookout.tables import projects, users

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            n_projects = await conn.scalar(select(func.count()).select_from(projects))
            n_users = await conn.scalar(select(func.count()).select_from(users))
        if settings.is_sqlite and await auto_vacuum_mode(engine) != INCREMENTAL:
            log.warning("this SQLite database was created without incremental auto-vacuum, so "
                        "it does not shrink after retention: stop Lookout and run `lookout "
                        "vacuum` once (it rewrites the file; about a minute per few GB)")
        return bool(n_projects), bool(n_users)
    finally:
        await engine.dispose()


