"""`upkeep maintenance add|list|end`: windows in which alerts open no ticket.

upkeep maintenance add --customer acme --duration 2h --reason "firmware upgrade"
upkeep maintenance add --host db1 --starts 2026-12-01T01:00+08:00 --ends 2026-12-01T03:00+08:00
upkeep maintenance add --customer acme --every sun --at 02:00 --duration 2h   (customer's time zone)
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from collector.cli.context import add_config_options, open_context
from collector.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("maintenance", help="maintenance windows (alerts inside open no ticket)")
    msub = p.add_subparsers(dest="maintenance_command", metavar="ACTION", required=True)
    add = msub.add_parser("add", help="add a one-off or weekly window")
    add_config_options(add)
    add.add_argument("--customer")
    add.add_argument("--host", action="append", default=[], help="a host it covers (repeatable)")
    add.add_argument("--label", action="append", default=[], help="NAME=VALUE every covered alert carries")
    add.add_argument("--starts", help="ISO 8601 time with offset (default: now)")
    add.add_argument("--ends", help="ISO 8601 time with offset")
    add.add_argument("--duration", help="e.g. 2h (one-off: from the start; weekly: each time)")
    add.add_argument("--every", help="weekly on these days, e.g. sun or sat,sun")
    add.add_argument("--at", help="weekly start time, e.g. 02:00")
    add.add_argument("--timezone", help="for a weekly window (default: the customer's)")
    add.add_argument("--reason", default="")
    add.add_argument("--as", dest="actor", default=None)
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=add_window)
    ls = msub.add_parser("list", help="windows that are open or still to come")
    add_config_options(ls)
    ls.add_argument("--all", action="store_true", help="include finished windows")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_windows)
    end = msub.add_parser("end", help="end a window now")
    add_config_options(end)
    end.add_argument("id", type=int)
    end.set_defaults(func=end_window)


def add_window(args: argparse.Namespace) -> int:
    labels: dict[str, str] = {}
    for item in args.label:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"{item!r} is not NAME=VALUE", field="label")
        labels[name] = value
    spec: dict[str, Any] = {
        "customer": args.customer,
        "hosts": args.host,
        "labels": labels,
        "reason": args.reason,
    }
    if args.every:
        spec["recurrence"] = {
            "days": args.every.split(","),
            "at": args.at or "",
            "duration": args.duration,
            "timezone": args.timezone,
        }
        spec["starts"] = args.starts
        spec["ends"] = args.ends
    else:
        spec.update(starts=args.starts, ends=args.ends, duration=args.duration)
    with open_context(args) as ctx:
        w = ctx.areas["tickets"].add_maintenance(
            actor=args.actor or getpass.getuser(), now=ctx.clock.now(), **spec
        )
    if args.json:
        print(json.dumps(w, indent=2))
    else:
        print(f"maintenance window {w['id']} added")
    return 0


def list_windows(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        rows = ctx.areas["tickets"].list_maintenance(now=ctx.clock.now(), include_finished=args.all)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'ID':<6}{'OPEN':<6}{'CUSTOMER':<12}{'SCOPE':<28}WHEN")
    for w in rows:
        scope = ",".join(w["hosts"]) or ",".join(f"{k}={v}" for k, v in w["labels"].items()) or "all hosts"
        r = w["recurrence"]
        when = (
            f"every {','.join(r['days'])} {r['at']} for {r['duration'] / 3600:g}h ({r['timezone']})"
            if r
            else f"{w['starts']} .. {w['ends']}"
        )
        print(f"{w['id']:<6}{'yes' if w['open'] else 'no':<6}{w['customer'] or '-':<12}{scope:<28}{when}")
    return 0


def end_window(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        ctx.areas["tickets"].end_maintenance(args.id, now=ctx.clock.now())
    print(f"maintenance window {args.id} ended")
    return 0
