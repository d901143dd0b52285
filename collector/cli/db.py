"""`upkeep db upgrade|current`: schema migrations (also applied on every start)."""

from __future__ import annotations

import argparse

from collector.cli.context import add_config_options, config_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dsub.add_parser("upgrade", help="apply every pending migration")
    add_config_options(up)
    up.set_defaults(func=upgrade)
    cur = dsub.add_parser("current", help="print the schema revision")
    add_config_options(cur)
    cur.set_defaults(func=current)


def upgrade(args: argparse.Namespace) -> int:
    from collector.store.engine import create_engine_for
    from collector.store.migrate import current_revision, upgrade

    engine = create_engine_for(config_from(args))
    try:
        upgrade(engine)
        print(f"schema at revision {current_revision(engine)}")
    finally:
        engine.dispose()
    return 0


def current(args: argparse.Namespace) -> int:
    from collector.store.engine import create_engine_for
    from collector.store.migrate import current_revision, head_revision

    engine = create_engine_for(config_from(args))
    try:
        rev = current_revision(engine)
        head = head_revision()
        print(f"{rev or 'empty'} (head {head})")
    finally:
        engine.dispose()
    return 0
