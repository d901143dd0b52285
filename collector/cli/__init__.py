"""The `upkeep` command.

Every subcommand module exposes ``register(subparsers)`` and sets ``func`` on its
parsers; ``func(args)`` returns the exit code. A mistake the user made is one line
on stderr (exit 2 for configuration and usage), never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from collector.errors import ConfigError, UpkeepError

COMMAND_MODULES = (
    "serve",
    "db",
    "enroll",
    "tokens",
    "hosts",
    "alerts",
    "rules",
    "tickets",
    "maintenance",
    "kb",
    "playbook",
    "inspect",
    "report",
    "schedule",
    "demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="upkeep", description="upkeep service-center command line")
    parser.add_argument("--config", type=Path, default=None, help="collector.yaml")
    parser.add_argument("--data-dir", type=Path, default=None, help="the collector's data directory")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"collector.cli.{name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as exc:
        print(f"upkeep: {exc}", file=sys.stderr)
        return 2
    except UpkeepError as exc:
        print(f"upkeep: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
