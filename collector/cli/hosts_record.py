"""`upkeep hosts record HOST`: the host's health record (loaded by `upkeep hosts`)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from collector.cli.context import add_config_options, open_context


def register(hsub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = hsub.add_parser("record", help="a host's health record: tickets, alerts, runs, inspections, trends")
    add_config_options(p)
    p.add_argument("host", help="host name or id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=show_record)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ") if ts else "-"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.2f}%"


def _last(points: list[list[float]]) -> float | None:
    return points[-1][1] if points else None


def load_record(args: argparse.Namespace) -> dict[str, Any]:
    """The health record of ``args.host`` (NotFound for a host that does not exist)."""
    from collector.services.health_record import record_model

    with open_context(args) as ctx:
        return dict(record_model(ctx, args.host, None, ctx.clock.now()))


def show_record(args: argparse.Namespace) -> int:
    rec = load_record(args)
    if args.json:
        print(json.dumps(rec, indent=2, default=str))
        return 0
    h = rec["host"]
    facts = h.get("facts", {})
    print(f"{h['name']}  ({h['id']})  customer {h['customer']}  status {h['status']}")
    system = facts.get("os_release") or facts.get("os") or "-"
    print(f"  system       {system}, agent {h['agent_version'] or '-'}")
    print(f"  first seen   {_when(h['first_seen'])}   last seen {_when(h['last_seen'])}")
    print_story(rec)
    return 0


def print_story(rec: dict[str, Any]) -> None:
    """The record past the host's own facts: contract, figures, trends, tickets, alerts, runs, inspections."""
    c, f = rec["contract"], rec["figures"]
    if c:
        print(f"  contract     window {c['window']}; warranty ends {c['warranty_end'] or '-'}"
              f" ({c['warranty_days_left'] if c['warranty_days_left'] is not None else '-'} days); "
              f"support ends {c['support_end'] or '-'}"
              f" ({c['support_days_left'] if c['support_days_left'] is not None else '-'} days)")
    print(f"  last {rec['trends']['days']} days availability {_pct(f['availability'])}, "
          f"reboots {f['reboots']}, alerts {f['alerts']}, tickets opened {f['tickets_opened']}")
    t = rec["trends"]
    print(f"  latest       cpu {_pct(_last(t['cpu']))}, memory {_pct(_last(t['memory']))}, "
          f"load {_last(t['load']) if t['load'] else '-'}")
    for fs in t["filesystems"]:
        print(f"  filesystem   {fs['mountpoint']:<16} used {_pct(fs['used'])}")
    print(f"  tickets      {len(rec['tickets']['open'])} open, {len(rec['tickets']['past'])} past")
    for tk in rec["tickets"]["open"] + rec["tickets"]["past"][:10]:
        print(f"    {tk['number']:<18}{tk['state']:<17}{tk['priority']:<9}{_when(tk['opened_at'])}  "
              f"{tk['title']}")
    print(f"  alerts       {len(rec['alerts']['active'])} active")
    for a in rec["alerts"]["active"]:
        print(f"    {a['alertname']:<30}{a['state']:<9}since {_when(a['since'])}")
    print(f"  playbook runs {len(rec['playbook_runs'])}")
    for r in rec["playbook_runs"][:10]:
        print(f"    {_when(r.get('started_at'))}  {r.get('playbook', '-')!s:<24}{r.get('status', '-')!s:<18}"
              f"{r.get('reason') or ''}")
    print(f"  inspections  {len(rec['inspections'])}")
    for i in rec["inspections"]:
        print(f"    #{i['id']:<5}{_when(i['started_at'])}  {i['status']:<10}{len(i['findings'])} finding(s)")
        for x in i["findings"]:
            print(f"        {x['severity']:<9}{x['title']}")
