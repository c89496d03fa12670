"""The ``lookout`` command line.

Only ``serve`` and ``migrate`` create a database; every other command refuses
to run where there is none (so ``cd /tmp && lookout project list`` says so
instead of quietly making an empty ``lookout.db`` there), and applies pending
migrations to one that exists. Errors are one line on stderr and exit status 1
(2 for bad usage, as argparse does); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lookout import __version__
from lookout.db import describe_database
from lookout.errors import ConfigError
from lookout.settings import Settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"lookout: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lookout", description="Lookout: errors, logs, metrics and alerts.")
    parser.add_argument("--version", action="version", version=f"lookout {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = sub.add_parser("serve", help="run collector, UI and rule engine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    sub.add_parser("migrate", help="apply database migrations")
    backup = sub.add_parser("backup", help="SQLite: a consistent copy of the database, "
                                           "also while serving")
    backup.add_argument("path", help="the new file to write")
    sub.add_parser("vacuum", help="SQLite: switch an older database to incremental "
                                  "auto-vacuum, so it shrinks after retention")

    from lookout.cli_accounts import add_parsers as add_account_parsers
    from rules.cli import add_parser as add_rules_parser

    add_account_parsers(sub, _Parser)
    add_rules_parser(sub, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(f"lookout: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - database errors and the like: one line
        if _database_error(exc):
            where = describe_database(settings.database_url)
            print(f"lookout: error: cannot use the database at LOOKOUT_DATABASE_URL ({where}): "
                  f"{_one_line(exc)}", file=sys.stderr)
        elif isinstance(exc, OSError):
            print(f"lookout: error: {exc.strerror or exc}", file=sys.stderr)
        else:
            print(f"lookout: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _database_error(exc: BaseException) -> bool:
    """Could not reach or log in to the database (not: a port in use, a bad file)."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror,
                        sa_exc.OperationalError, sa_exc.InterfaceError)):
        return True
    return type(exc).__module__.startswith("asyncpg")


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from lookout.serve import serve

        return serve(settings, args.host, args.port)
    if args.command == "migrate":
        existed = _with_engine(settings, lambda engine: _noop(), create=True)
        where = describe_database(settings.database_url)
        print(f"database at {where} is up to date" if existed
              else f"created a new Lookout database at {where}")
        return 0
    if args.command in ("backup", "vacuum"):
        return _sqlite_maintenance(args, settings)
    if args.command in ("project", "user", "token"):
        from lookout.cli_accounts import run as run_accounts

        return run_accounts(args, settings, lambda work: _with_engine(settings, work))
    if args.command == "rules":
        from rules.cli import run as run_rules

        return run_rules(args, settings)
    raise ConfigError(f"unknown command {args.command}")


def _sqlite_maintenance(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from lookout import sqlite_space

    if not settings.is_sqlite:
        where = describe_database(settings.database_url)
        raise ConfigError(
            f"{args.command} is for SQLite; for PostgreSQL ({where}) use "
            "`pg_dump --format=custom --file=PATH DBNAME` for a consistent copy while serving "
            "(docs/deploy.md), and PostgreSQL's autovacuum reclaims space")
    database = make_url(settings.database_url).database or ""
    if not Path(database).is_file():
        raise ConfigError(f"no Lookout database at {describe_database(settings.database_url)}")
    if args.command == "backup":
        done = sqlite_space.backup(database, Path(args.path).resolve())
        print(f"Wrote {done.path} ({done.bytes:,} bytes) in {done.seconds:.1f} s: "
              "a consistent copy as of the start of the backup.")
        return 0
    seconds = sqlite_space.convert_to_incremental(database)
    print(f"{describe_database(settings.database_url)} now uses incremental auto-vacuum "
          f"(took {seconds:.1f} s); it shrinks after each retention run.")
    return 0


async def _noop() -> None:
    return None


def _with_engine(settings: Settings, work: Callable[[Any], Awaitable[Any]],
                 create: bool = False) -> Any:
    """Run ``work(engine)`` after applying migrations, on a fresh event loop.

    Without ``create`` a missing database is an error naming where it was looked
    for; with it (``lookout migrate``), the result is whether the database existed
    before, not ``work``'s.
    """
    from lookout.db import create_engine
    from lookout.migrate import is_lookout_database, upgrade

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            existed = await is_lookout_database(engine)
            if not existed and not create:
                raise ConfigError(
                    f"no Lookout database at {describe_database(settings.database_url)}; "
                    "run `lookout migrate` or set LOOKOUT_DATABASE_URL")
            await upgrade(engine)
            result = await work(engine)
            return existed if create else result
        finally:
            await engine.dispose()

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
