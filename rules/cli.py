"""``lookout rules check [FILE]``: validate a rules file without starting anything."""

from __future__ import annotations

import argparse
import sys

from lookout.errors import ConfigError
from lookout.settings import Settings
from rules.config import RulesError, load_rules


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:  # type: ignore[type-arg]
    rules = sub.add_parser("rules", help="alert rules").add_subparsers(
        dest="action", required=True, parser_class=parser_class)
    check = rules.add_parser("check", help="validate a rules file (default LOOKOUT_RULES_FILE)")
    check.add_argument("file", nargs="?")


def run(args: argparse.Namespace, settings: Settings) -> int:
    path = args.file or settings.rules_file
    if not path:
        raise ConfigError("no rules file: pass FILE or set LOOKOUT_RULES_FILE")
    try:
        rules = load_rules(path)
    except RulesError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return 1
    print(f"{path}: {len(rules)} rule{'s' if len(rules) != 1 else ''} OK")
    return 0
