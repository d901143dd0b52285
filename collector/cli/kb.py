"""`upkeep kb search TEXT`: the knowledge-base articles and earlier tickets' service reports."""

from __future__ import annotations

import argparse
import json

from collector.cli.context import add_config_options, open_context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("kb", help="the knowledge base")
    ksub = p.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    s = ksub.add_parser("search", help="search articles and earlier resolutions")
    add_config_options(s)
    s.add_argument("text", nargs="+")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=search)


def search(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        found = ctx.areas["tickets"].kb_search(" ".join(args.text), limit=args.limit)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    if not found["articles"] and not found["resolutions"]:
        print("nothing found")
        return 0
    for a in found["articles"]:
        print(f"article  {a['path']}: {a['title']}\n         {a['excerpt']}")
    for r in found["resolutions"]:
        print(f"ticket   {r['number']} ({(r['resolved_at'] or '')[:10]}): {r['title']}")
        print(f"         cause: {r['cause']}; actions: {r['actions']}")
    return 0
