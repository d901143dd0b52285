"""What every `upkeep` subcommand starts from: the configuration and an application context.

``config_from(args)`` reads ``--config`` (and ``--listen``/``--data-dir`` where the
command has them) through collector.config.load_config; ``open_context(args)``
builds the same AppContext the server builds (store migrated, areas installed) and
closes it afterwards. Background loops are not started outside the server.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from collector.config import CollectorConfig, load_config
from collector.services import AppContext


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """Accept the global --config/--data-dir after the subcommand too, without shadowing them."""
    parser.add_argument("--config", default=argparse.SUPPRESS, help="collector.yaml")
    parser.add_argument("--data-dir", default=argparse.SUPPRESS, help="the collector's data directory")


def config_from(args: argparse.Namespace) -> CollectorConfig:
    from pathlib import Path

    config = getattr(args, "config", None)
    data_dir = getattr(args, "data_dir", None)
    return load_config(
        Path(config) if config else None,
        listen=getattr(args, "listen", None),
        data_dir=Path(data_dir) if data_dir else None,
    )


@contextmanager
def open_context(args: argparse.Namespace, *, areas: Sequence[str] | None = None) -> Iterator[AppContext]:
    """The context for one command; ``areas=()`` for commands that only need the store."""
    from collector.app import build_context
    from collector.services import AREAS

    ctx = build_context(config_from(args), areas=AREAS if areas is None else areas)
    try:
        yield ctx
    finally:
        ctx.close()


def print_new_token(token_json: dict[str, Any], secret: str, *, as_json: bool) -> None:
    """Show a token's secret the one time it exists in clear (with its record under ``--json``)."""
    print(json.dumps({**token_json, "token": secret}) if as_json else secret)
