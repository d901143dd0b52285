"""`upkeep report monthly|engineers`: service reports computed from the ticket history."""

from __future__ import annotations

import argparse
import sys

from collector.cli.context import add_config_options, open_context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("report", help="monthly service reports and engineer figures")
    rsub = p.add_subparsers(dest="report_command", metavar="KIND", required=True)
    m = rsub.add_parser("monthly", help="a customer's service report for a month")
    add_config_options(m)
    m.add_argument("--customer", required=True)
    m.add_argument("--month", required=True, help="YYYY-MM, in the customer's time zone")
    m.add_argument("--format", choices=("html", "md", "json"), default="md")
    m.add_argument("--output", "-o", default="-", help="a file, or - for standard output")
    m.add_argument("--store", action="store_true", help="also keep it with the stored reports")
    m.set_defaults(func=monthly)
    e = rsub.add_parser("engineers", help="per engineer: tickets, SLA compliance, MTTR, satisfaction")
    add_config_options(e)
    e.add_argument("--month", required=True, help="YYYY-MM (UTC)")
    e.add_argument("--format", choices=("html", "md", "json"), default="md")
    e.add_argument("--output", "-o", default="-")
    e.set_defaults(func=engineers)


def _write(body: str, output: str) -> None:
    if output == "-":
        sys.stdout.write(body)
        return
    with open(output, "w", encoding="utf-8") as fh:
        fh.write(body)
    print(f"wrote {output}", file=sys.stderr)


def monthly(args: argparse.Namespace) -> int:
    from collector.reports.render import render_all
    from collector.services.service_reports import monthly_model
    from collector.store import schedule as store

    with open_context(args) as ctx:
        now = ctx.clock.now()
        docs = render_all(monthly_model(ctx, args.customer, args.month, now))
        if args.store:
            with ctx.engine.begin() as conn:
                store.save_report(conn, kind="monthly", customer=args.customer, period=args.month,
                                  now=now.timestamp(), documents=docs)
    _write(docs[args.format], args.output)
    return 0


def engineers(args: argparse.Namespace) -> int:
    from collector.reports.render import render
    from collector.services.service_reports import engineers_model

    with open_context(args) as ctx:
        body = render(engineers_model(ctx, args.month, ctx.clock.now()), args.format)
    _write(body, args.output)
    return 0
