"""``lookout project|user|token ...``: the accounts, tokens and keys a team manages.

The parsers and their handlers, kept apart from :mod:`lookout.cli` (which
owns start-up, error handling and the database) the way :mod:`rules.cli`
is. Every handler gets ``with_engine``: run a coroutine on a migrated,
existing database.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from lookout.errors import ConfigError
from lookout.settings import RETENTION_KINDS, Settings

WithEngine = Callable[[Callable[[Any], Awaitable[Any]]], Any]


def add_parsers(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    project = sub.add_parser("project", help="manage projects").add_subparsers(
        dest="action", required=True, parser_class=parser_class)
    project.add_parser("create", help="create a project and print its DSN").add_argument("name")
    project.add_parser("list", help="list projects and their DSNs")
    grouping = project.add_parser(
        "grouping", help="show or switch a project's grouping version (docs/grouping.md)")
    grouping.add_argument("project", help="project name or id")
    grouping.add_argument("--set", type=int, dest="set_version", metavar="VERSION",
                          help="switch to this grouping version")
    grouping.add_argument("--transition-days", type=float, default=30.0,
                          help="days during which new events still find the issues grouped "
                               "by the older versions (default 30; 0 = none)")
    retention = project.add_parser(
        "retention", help="show or set a project's retention per kind of data (days)")
    retention.add_argument("project", help="project name")
    for kind in RETENTION_KINDS:
        retention.add_argument(f"--{kind}", metavar="DAYS",
                               help=f"keep {kind} this many days ('default': follow "
                                    f"LOOKOUT_RETENTION_{kind.upper()}_DAYS)")
    rename = project.add_parser("rename", help="rename a project")
    rename.add_argument("old")
    rename.add_argument("new")
    remove = project.add_parser("delete", help="delete a project and all its data")
    remove.add_argument("name")
    remove.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    key = project.add_parser("key", help="a project's ingest keys (DSNs)").add_subparsers(
        dest="key_action", required=True, parser_class=parser_class)
    key.add_parser("add", help="add a key and print its DSN").add_argument("project")
    key.add_parser("list", help="list a project's keys").add_argument("project")
    revoke = key.add_parser("revoke", help="stop accepting a key")
    revoke.add_argument("project")
    revoke.add_argument("key", help="the public key (the DSN's user part)")

    user = sub.add_parser("user", help="manage UI users").add_subparsers(
        dest="action", required=True, parser_class=parser_class)
    ucreate = user.add_parser("create", help="create a UI user")
    ucreate.add_argument("email")
    ucreate.add_argument("--admin", action="store_true",
                         help="may manage users, tokens and projects (the first user always is)")
    ucreate.add_argument("--password-stdin", action="store_true",
                         help="read the password from standard input")
    user.add_parser("list", help="list UI users")
    passwd = user.add_parser("passwd", help="set a user's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    user.add_parser("delete", help="delete a user and end their sessions").add_argument("email")

    token = sub.add_parser("token", help="manage read-API tokens").add_subparsers(
        dest="action", required=True, parser_class=parser_class)
    token.add_parser("create", help="create a read-API token and print it").add_argument("name")
    token.add_parser("list", help="list read-API tokens (never their secret)")
    token.add_parser("revoke", help="revoke a token at once, by name or id").add_argument("token")


def run(args: argparse.Namespace, settings: Settings, with_engine: WithEngine) -> int:
    if args.command == "project":
        return _project(args, settings, with_engine)
    if args.command == "user":
        return _user(args, with_engine)
    return _token(args, with_engine)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "never"


def _project(args: argparse.Namespace, settings: Settings, with_engine: WithEngine) -> int:
    from lookout import projects as p

    if args.action == "create":
        project = with_engine(lambda engine: p.create_project(engine, args.name))
        print(f"Created project {project.name!r} (id {project.id}). Its DSN:")
        print(p.dsn_for(settings.base_url, project.id, project.public_key))
    elif args.action == "list":
        for project in with_engine(p.list_projects):
            print(f"{project.id}\t{project.name}\t"
                  f"{p.dsn_for(settings.base_url, project.id, project.public_key)}")
    elif args.action == "rename":
        with_engine(lambda engine: p.rename_project(engine, args.old, args.new))
        print(f"Renamed project {args.old.strip()!r} to {args.new.strip()!r}.")
    elif args.action == "delete":
        return _delete_project(args, with_engine)
    elif args.action == "grouping":
        return _grouping(args, with_engine)
    elif args.action == "retention":
        return _retention(args, settings, with_engine)
    else:
        return _key(args, settings, with_engine)
    return 0


def _delete_project(args: argparse.Namespace, with_engine: WithEngine) -> int:
    from collector.purge import delete_project_data
    from lookout.projects import delete_project_row, project_by_name

    if not args.yes:
        raise ConfigError(f"this deletes project {args.name.strip()!r} and all its data for "
                          "good; add --yes to confirm")

    async def work(engine: Any) -> dict[str, int]:
        async with engine.begin() as conn:
            project_id = await project_by_name(conn, args.name)
            deleted = await delete_project_data(conn, project_id)
            await delete_project_row(conn, project_id)
        return deleted

    deleted = with_engine(work)
    rows = ", ".join(f"{n} {table}" for table, n in sorted(deleted.items())) or "no data"
    print(f"Deleted project {args.name.strip()!r} ({rows}).")
    return 0


def _grouping(args: argparse.Namespace, with_engine: WithEngine) -> int:
    from collector.grouping import LATEST_VERSION, VERSIONS
    from lookout.projects import get_grouping, set_grouping

    if args.set_version is None:
        config = with_engine(lambda engine: get_grouping(engine, args.project))
    else:
        if args.set_version not in VERSIONS:
            raise ConfigError(f"grouping version must be one of {', '.join(map(str, VERSIONS))}")
        if not 0 <= args.transition_days <= 3650:
            raise ConfigError("--transition-days must be between 0 and 3650")
        config = with_engine(lambda engine: set_grouping(
            engine, args.project, args.set_version, args.transition_days * 86400))
    until = _when(config.fallback_until) if config.fallback_until else "none"
    print(f"project {config.name!r} (id {config.id}): grouping version {config.version} "
          f"(latest {LATEST_VERSION}); previous-version fallback until: {until}")
    return 0


def _retention(args: argparse.Namespace, settings: Settings, with_engine: WithEngine) -> int:
    from lookout.project_retention import get_retention, parse_days, set_retention

    changes = {kind: parse_days(kind, getattr(args, kind)) for kind in RETENTION_KINDS
               if getattr(args, kind) is not None}
    if changes:
        with_engine(lambda engine: set_retention(engine, args.project, changes))
    shown = with_engine(lambda engine: get_retention(engine, settings, args.project))
    print(f"project {args.project.strip()!r} keeps:")
    for row in shown:
        own_setting = getattr(settings, f"retention_{row.kind}_days") is not None
        source = ("this project" if row.overridden else
                  f"LOOKOUT_RETENTION_{row.kind.upper()}_DAYS" if own_setting else
                  "LOOKOUT_RETENTION_DAYS")
        print(f"  {row.kind}\t{row.days} days\t({source})")
    return 0


def _key(args: argparse.Namespace, settings: Settings, with_engine: WithEngine) -> int:
    from lookout import projects as p

    if args.key_action == "add":
        project = with_engine(lambda engine: p.add_key(engine, args.project))
        print(f"Added a key to {project.name!r}. Its DSN:")
        print(p.dsn_for(settings.base_url, project.id, project.public_key))
    elif args.key_action == "list":
        for key in with_engine(lambda engine: p.list_keys(engine, args.project)):
            state = "active" if key.active else "revoked"
            print(f"{key.public_key}\t{state}\tcreated {_when(key.created_at)}")
    else:
        left = with_engine(lambda engine: p.revoke_key(engine, args.project, args.key))
        print(f"Revoked the key; {args.project.strip()!r} has {left} active "
              f"key{'s' if left != 1 else ''} left (ingest stops accepting it within 30 s).")
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt on; pass --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != password:
        raise ConfigError("passwords do not match")
    return password


def _user(args: argparse.Namespace, with_engine: WithEngine) -> int:
    from lookout import accounts as a

    email = getattr(args, "email", "").strip().lower()
    if args.action == "create":
        password = _read_password(args.password_stdin)
        user_id = with_engine(lambda engine: a.create_user(engine, args.email, password,
                                                           admin=args.admin))
        print(f"Created user {email} (id {user_id}).")
    elif args.action == "list":
        for user in with_engine(a.list_users):
            role = "admin" if user.is_admin else "member"
            print(f"{user.id}\t{user.email}\t{role}\tcreated {_when(user.created_at)}")
    elif args.action == "passwd":
        password = _read_password(args.password_stdin)
        with_engine(lambda engine: a.set_password(engine, args.email, password))
        print(f"Changed the password of {email}.")
    else:
        with_engine(lambda engine: a.delete_user(engine, args.email))
        print(f"Deleted user {email}; their sessions have ended.")
    return 0


def _token(args: argparse.Namespace, with_engine: WithEngine) -> int:
    from lookout import accounts as a

    if args.action == "create":
        print(with_engine(lambda engine: a.create_token(engine, args.name)))
    elif args.action == "list":
        for token in with_engine(a.list_tokens):
            print(f"{token.id}\t{token.name}\tcreated {_when(token.created_at)}\t"
                  f"last used {_when(token.last_used_at)}")
    else:
        n = with_engine(lambda engine: a.revoke_token(engine, args.token))
        print(f"Revoked {n} token{'s' if n != 1 else ''}.")
    return 0
