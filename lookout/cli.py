"""The ``lookout`` command line.

Every command that touches the database applies pending migrations first, so
``lookout project create`` works on a brand-new directory just like
``lookout serve``. Errors are one line on stderr and exit status 1 (2 for bad
usage, as argparse does); never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lookout import __version__
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

    project = sub.add_parser("project", help="manage projects").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    create = project.add_parser("create", help="create a project and print its DSN")
    create.add_argument("name")
    project.add_parser("list", help="list projects and their DSNs")
    grouping = project.add_parser(
        "grouping", help="show or switch a project's grouping version (docs/grouping.md)")
    grouping.add_argument("project", help="project name or id")
    grouping.add_argument("--set", type=int, dest="set_version", metavar="VERSION",
                          help="switch to this grouping version")
    grouping.add_argument("--transition-days", type=float, default=30.0,
                          help="days during which new events still find the issues grouped "
                               "by the previous version (default 30; 0 = none)")

    user = sub.add_parser("user", help="manage UI users").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    ucreate = user.add_parser("create", help="create a UI user")
    ucreate.add_argument("email")
    ucreate.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input")

    token = sub.add_parser("token", help="manage read-API tokens").add_subparsers(
        dest="action", required=True, parser_class=_Parser)
    tcreate = token.add_parser("create", help="create a read-API token and print it")
    tcreate.add_argument("name")

    from rules.cli import add_parser as add_rules_parser

    add_rules_parser(sub, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(f"lookout: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"lookout: error: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - database errors and the like: one line
        print(f"lookout: error: {_one_line(exc)}", file=sys.stderr)
        return 1


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300]


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from lookout.serve import serve

        return serve(settings, args.host, args.port)
    if args.command == "migrate":
        _with_engine(settings, lambda engine: _noop())
        print("database is up to date")
        return 0
    if args.command == "project":
        return _project(args, settings)
    if args.command == "user":
        return _user(args, settings)
    if args.command == "token":
        from lookout.accounts import create_token

        print(_with_engine(settings, lambda engine: create_token(engine, args.name)))
        return 0
    if args.command == "rules":
        from rules.cli import run as run_rules

        return run_rules(args, settings)
    raise ConfigError(f"unknown command {args.command}")


async def _noop() -> None:
    return None


def _with_engine(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(engine)`` after applying migrations, on a fresh event loop."""
    from lookout.db import create_engine
    from lookout.migrate import upgrade

    async def run() -> Any:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _project(args: argparse.Namespace, settings: Settings) -> int:
    from lookout.projects import create_project, dsn_for, list_projects

    if args.action == "create":
        project = _with_engine(settings, lambda engine: create_project(engine, args.name))
        print(f"Created project {project.name!r} (id {project.id}). Its DSN:")
        print(dsn_for(settings.base_url, project.id, project.public_key))
        return 0
    if args.action == "grouping":
        return _grouping(args, settings)
    for project in _with_engine(settings, list_projects):
        print(f"{project.id}\t{project.name}\t"
              f"{dsn_for(settings.base_url, project.id, project.public_key)}")
    return 0


def _grouping(args: argparse.Namespace, settings: Settings) -> int:
    from collector.grouping import LATEST_VERSION, VERSIONS
    from lookout.projects import get_grouping, set_grouping

    if args.set_version is None:
        config = _with_engine(settings, lambda engine: get_grouping(engine, args.project))
    else:
        if args.set_version not in VERSIONS:
            raise ConfigError(f"grouping version must be one of {', '.join(map(str, VERSIONS))}")
        if not 0 <= args.transition_days <= 3650:
            raise ConfigError("--transition-days must be between 0 and 3650")
        config = _with_engine(settings, lambda engine: set_grouping(
            engine, args.project, args.set_version, args.transition_days * 86400))
    until = (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(config.fallback_until))
             if config.fallback_until else "none")
    print(f"project {config.name!r} (id {config.id}): grouping version {config.version} "
          f"(latest {LATEST_VERSION}); previous-version fallback until: {until}")
    return 0


def _user(args: argparse.Namespace, settings: Settings) -> int:
    from lookout.accounts import create_user

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise ConfigError("no terminal to prompt on; pass --password-stdin")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise ConfigError("passwords do not match")
    user_id = _with_engine(settings, lambda engine: create_user(engine, args.email, password))
    print(f"Created user {args.email.strip().lower()} (id {user_id}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
