"""`upkeep hosts list|show|revoke` (and extensions such as `hosts trust` when installed)."""

from __future__ import annotations

import argparse
import importlib
import json
from datetime import UTC, datetime

from collector.cli.context import add_config_options, open_context
from collector.errors import NotFound

# Optional modules that add `upkeep hosts ...` subcommands with ``register(hosts_subparsers)``.
HOSTS_EXTENSIONS = ("collector.cli.hosts_trust", "collector.cli.hosts_record")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("hosts", help="the inventory of enrolled hosts")
    hsub = p.add_subparsers(dest="hosts_command", metavar="ACTION", required=True)
    ls = hsub.add_parser("list", help="hosts with customer, status and last report")
    add_config_options(ls)
    ls.add_argument("--customer", default=None)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_hosts)
    sh = hsub.add_parser("show", help="one host: facts, checks and its health record")
    add_config_options(sh)
    sh.add_argument("host", help="host name or id")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=show_host)
    rv = hsub.add_parser("revoke", help="revoke a host's token (effective on its next report)")
    add_config_options(rv)
    rv.add_argument("host", help="host name or id")
    rv.set_defaults(func=revoke_host)
    for name in HOSTS_EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(hsub)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def list_hosts(args: argparse.Namespace) -> int:
    from collector.store.inventory import list_hosts

    with open_context(args, areas=()) as ctx, ctx.engine.connect() as conn:
        rows = list_hosts(conn, args.customer)
    if args.json:
        print(json.dumps([h.to_json() for h in rows], indent=2))
        return 0
    print(f"{'NAME':<28}{'CUSTOMER':<16}{'STATUS':<9}{'LAST SEEN':<22}OS")
    for h in rows:
        os_name = h.facts.get("os_release") or h.facts.get("os") or ""
        print(f"{h.name:<28}{h.customer:<16}{h.status:<9}{_when(h.last_seen):<22}{os_name}")
    return 0


def show_host(args: argparse.Namespace) -> int:
    from collector.cli.hosts_record import load_record, print_story
    from collector.store.inventory import get_host

    with open_context(args, areas=()) as ctx, ctx.engine.connect() as conn:
        host = get_host(conn, args.host)
    if host is None:
        raise NotFound("host", args.host)
    # The host's whole story (DESIGN's health record) follows its facts.
    record = load_record(args)
    if args.json:
        print(json.dumps({**host.to_json(), "record": record}, indent=2, default=str))
        return 0
    f = host.facts
    print(f"{host.name}  ({host.id})")
    print(f"  customer     {host.customer}")
    print(f"  status       {host.status}")
    print(f"  first seen   {_when(host.first_seen)}")
    print(f"  last seen    {_when(host.last_seen)}")
    print(f"  agent        {host.agent_version or '-'}  ({host.agent_id})")
    print(f"  os           {f.get('os_release') or f.get('os') or '-'}  kernel {f.get('kernel', '-')}")
    print(f"  cpu, memory  {f.get('cpu_count', '-')} cpus, {f.get('memory_bytes', '-')} bytes")
    if host.labels:
        print("  labels       " + ", ".join(f"{k}={v}" for k, v in sorted(host.labels.items())))
    names = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
    for c in host.checks:
        print(f"  check {c['name']:<20} {names[c['status']]:<9} {c.get('output', '')}")
    print_story(record)
    return 0


def revoke_host(args: argparse.Namespace) -> int:
    from collector.store.inventory import get_host, revoke_host

    with open_context(args, areas=()) as ctx, ctx.engine.begin() as conn:
        host = get_host(conn, args.host)
        if host is None:
            raise NotFound("host", args.host)
        revoke_host(conn, host.id, ctx.clock.now().timestamp())
    print(f"revoked host {host.name}; its next report will be refused")
    return 0
