"""`upkeep inspect run|list|show|report`: preventive inspections from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from collector.cli.context import add_config_options, open_context

SEVERITY_WORDS = {"critical": "CRIT", "major": "MAJOR", "warning": "WARN", "info": "INFO"}


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("inspect", help="preventive inspections: run one now, list, show, get the report")
    isub = p.add_subparsers(dest="inspect_command", metavar="ACTION", required=True)
    run = isub.add_parser("run", help="inspect a customer's hosts (or one host) now")
    add_config_options(run)
    run.add_argument("--customer", required=True)
    run.add_argument("--host", default=None, help="only this host (name or id)")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=run_inspection)
    ls = isub.add_parser("list", help="inspections, newest first")
    add_config_options(ls)
    ls.add_argument("--customer", default=None)
    ls.add_argument("--host", default=None)
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_inspections)
    sh = isub.add_parser("show", help="one inspection with its findings")
    add_config_options(sh)
    sh.add_argument("id", type=int)
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=show_inspection)
    rp = isub.add_parser("report", help="write an inspection's stored report")
    add_config_options(rp)
    rp.add_argument("id", type=int)
    rp.add_argument("--format", choices=("html", "md", "json"), default="html")
    rp.add_argument("--output", "-o", default="-", help="a file, or - for standard output")
    rp.set_defaults(func=inspection_report)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ") if ts else "-"


def _print_inspection(r: dict[str, Any]) -> None:
    s = r["summary"]
    print(f"inspection #{r['id']}  {r['customer']}{' / ' + r['host'] if r['host'] else ''}  {r['status']}"
          f"  ({r['trigger']}, {_when(r['started_at'])})")
    if r.get("error"):
        print(f"  error: {r['error']}")
    if s:
        sev = s.get("by_severity", {})
        print(f"  hosts {s.get('hosts', 0)}, inspected {s.get('inspected', 0)}, "
              f"not inspected {s.get('not_inspected', 0)}; findings {s.get('findings', 0)} "
              f"(critical {sev.get('critical', 0)}, major {sev.get('major', 0)}, "
              f"warning {sev.get('warning', 0)}, info {sev.get('info', 0)}); "
              f"tickets opened {s.get('tickets_opened', 0)}")
    for f in r.get("findings", []):
        ticket = f"  [{f['ticket']}]" if f.get("ticket") else ""
        print(f"  {SEVERITY_WORDS.get(f['severity'], f['severity']):<6}{f['title']}{ticket}")
        print(f"        -> {f['recommendation']}")


def run_inspection(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        record = ctx.area("inspections").run(args.customer, host=args.host, trigger="manual")
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        _print_inspection(record)
        ident = record["id"]
        print(f"  report: upkeep inspect report {ident} --format html -o inspection-{ident}.html")
    return 0


def list_inspections(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        rows = ctx.area("inspections").list(customer=args.customer, host=args.host, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(f"{'ID':>5}  {'CUSTOMER':<14}{'STARTED':<19}{'TRIGGER':<10}{'STATUS':<11}{'HOSTS':>5}"
          f"{'FINDINGS':>9}  CRIT/MAJOR")
    for r in rows:
        s = r["summary"] or {}
        sev = s.get("by_severity", {})
        print(f"{r['id']:>5}  {r['customer']:<14}{_when(r['started_at']):<19}{r['trigger']:<10}"
              f"{r['status']:<11}{s.get('hosts', 0):>5}{s.get('findings', 0):>9}  "
              f"{sev.get('critical', 0)}/{sev.get('major', 0)}")
    return 0


def show_inspection(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        record = ctx.area("inspections").get(args.id)
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        _print_inspection(record)
        for h in record["hosts"]:
            state = "inspected" if h.get("inspected") else f"NOT inspected: {h.get('reason')}"
            avail = h.get("availability")
            shown = f"{avail * 100:.2f}%" if avail is not None else "-"
            print(f"  host {h['host']:<24} {state}; availability {shown}")
    return 0


def inspection_report(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        body = ctx.area("inspections").report(args.id, args.format)
    if args.output == "-":
        sys.stdout.write(body)
    else:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(body)
        print(f"wrote {args.output}")
    return 0
