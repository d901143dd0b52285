"""`upkeep alerts list [--json]`: the pending and firing alerts, as the collector last persisted them."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from collector.cli.context import add_config_options, open_context
from collector.services.alerts import alert_json


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `upkeep alerts list`."""
    parser = sub.add_parser("alerts", help="pending and firing alerts")
    asub = parser.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    listing = asub.add_parser("list", help="list active alerts")
    add_config_options(listing)
    listing.add_argument("--json", action="store_true", help="one JSON array")
    listing.add_argument("--state", choices=("pending", "firing"), default=None)
    listing.add_argument("--customer", default=None, help="only this customer's alerts")
    listing.set_defaults(func=run_list)


def run_list(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        customers = (args.customer,) if args.customer else None
        alerts = ctx.area("alerts").active(customers=customers, state=args.state)
    if args.json:
        print(json.dumps([alert_json(a) for a in alerts], indent=2))
        return 0
    if not alerts:
        print("no active alerts")
        return 0
    print(f"{'STATE':8} {'SEVERITY':9} {'ALERT':28} {'HOST':24} {'CUSTOMER':14} SINCE")
    for a in alerts:
        since = datetime.fromtimestamp(a.active_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{a.state.value:8} {a.labels.get('severity', ''):9} {a.alertname:28} "
              f"{a.labels.get('host', ''):24} {a.labels.get('customer', ''):14} {since}")
    return 0
