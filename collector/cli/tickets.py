"""`upkeep tickets list|show|open|ack|assign|take|comment|wait|resume|resolve|survey|close|reopen|cancel|
dispatch|arrive|diagnose`: the same use cases as ``/api/v1/tickets``, on the same store.

Commands act as the engineer named by ``--as`` (default: the login name). ``--json`` prints
what the API returns.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from collector.cli.context import add_config_options, open_context
from collector.errors import InvalidInput

SIMPLE = {
    "ack": "acknowledge: the first response the customer sees",
    "resume": "back to work after waiting on the customer",
}
WITH_TEXT = {
    "comment": ("text", "add a comment (visible to the customer unless --internal)"),
    "wait": ("reason", "wait on the customer (the SLA clock stops)"),
    "close": ("reason", "archive a resolved ticket without a survey answer"),
    "reopen": ("reason", "reopen a resolved or closed ticket"),
    "cancel": ("reason", "the request was withdrawn"),
}


def _common(p: argparse.ArgumentParser, *, ticket: bool = True) -> None:
    add_config_options(p)
    if ticket:
        p.add_argument("ticket", help="ticket number (T-2026-000123) or id")
    p.add_argument("--as", dest="actor", default=None, help="the engineer acting (default: login name)")
    p.add_argument("--json", action="store_true", help="print the ticket as JSON")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tickets", help="service tickets: list, open, work, resolve, survey")
    tsub = p.add_subparsers(dest="tickets_command", metavar="ACTION", required=True)

    ls = tsub.add_parser("list", help="tickets, newest first")
    add_config_options(ls)
    ls.add_argument("--customer")
    ls.add_argument("--state", help="comma-separated states")
    ls.add_argument("--open", action="store_true", help="only open tickets")
    ls.add_argument("--assignee")
    ls.add_argument("--host")
    ls.add_argument("--limit", type=int, default=100)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_tickets)

    sh = tsub.add_parser("show", help="one ticket: history, SLA, knowledge")
    _common(sh)
    sh.set_defaults(func=show_ticket)

    op = tsub.add_parser("open", help="record a customer's request (a hotline call)")
    _common(op, ticket=False)
    op.add_argument("--customer", required=True)
    op.add_argument("--title", required=True)
    op.add_argument("--description", default="")
    op.add_argument("--category", default="")
    op.add_argument("--urgency", default="normal", help="critical, high, normal or low")
    op.add_argument("--host", default=None)
    op.add_argument("--contact-name", default="")
    op.add_argument("--contact-phone", default="")
    op.add_argument("--contact-email", default="")
    op.add_argument("--skill", action="append", default=[], help="a skill the work needs (repeatable)")
    op.set_defaults(func=open_ticket)

    for name, help_text in SIMPLE.items():
        c = tsub.add_parser(name, help=help_text)
        _common(c)
        c.set_defaults(func=act, action=name)
    for name, (arg, help_text) in WITH_TEXT.items():
        c = tsub.add_parser(name, help=help_text)
        _common(c)
        c.add_argument(arg, nargs="?" if arg == "reason" else None, default="")
        if name == "comment":
            c.add_argument("--internal", action="store_true", help="not visible to the customer")
        c.set_defaults(func=act, action=name, text_field=arg)

    asg = tsub.add_parser("assign", help="assign (or reassign, hand over) to an engineer")
    _common(asg)
    asg.add_argument("engineer")
    asg.add_argument("--reason", default="")
    asg.set_defaults(func=act, action="assign")
    tk = tsub.add_parser("take", help="take the ticket yourself (assign and acknowledge)")
    _common(tk)
    tk.set_defaults(func=act, action="take")

    rs = tsub.add_parser("resolve", help="resolve with a service report")
    _common(rs)
    rs.add_argument("--cause", required=True)
    rs.add_argument("--actions", required=True, help="the actions taken")
    rs.add_argument("--result", required=True)
    rs.add_argument("--part", action="append", default=[], help="a part replaced (repeatable)")
    rs.set_defaults(func=act, action="resolve")

    sv = tsub.add_parser("survey", help="record the customer's satisfaction answer (1-5)")
    _common(sv)
    sv.add_argument("rating", type=int)
    sv.add_argument("--comment", default="")
    sv.set_defaults(func=act, action="survey")

    for name, help_text in (("dispatch", "an engineer leaves for the site"), ("arrive", "arrived on site")):
        c = tsub.add_parser(name, help=help_text)
        _common(c)
        c.set_defaults(func=act, action=name)

    sw = tsub.add_parser("sweep", help="run one SLA sweep now (the server runs it on its own every interval)")
    add_config_options(sw)
    sw.add_argument("--now", default=None, help="ISO 8601 time with offset to sweep as of (replays, tests)")
    sw.add_argument("--json", action="store_true")
    sw.set_defaults(func=sweep)

    dg = tsub.add_parser("diagnose", help="run a diagnosis playbook on the ticket's host")
    _common(dg)
    dg.add_argument("playbook")
    dg.add_argument("--param", action="append", default=[], help="NAME=VALUE (repeatable)")
    dg.set_defaults(func=diagnose)


def _actor(args: argparse.Namespace) -> str:
    return args.actor or getpass.getuser()


def _when(text: str | None) -> str:
    return (text or "-").replace("T", " ")[:19]


def print_ticket(t: dict[str, Any]) -> None:
    print(f"{t['number']}  {t['title']}")
    print(f"  state      {t['state']}{'  (flapping)' if t.get('flapping') else ''}")
    print(f"  customer   {t['customer']}   host {t.get('host') or '-'}   source {t['source']}")
    print(f"  priority   {t['priority']}   assignee {t.get('assignee') or '-'}")
    print(f"  opened     {_when(t['opened_at'])}   first response {_when(t.get('first_response_at'))}")
    for kind, s in (t.get("sla") or {}).items():
        marks = ", ".join(s["marks"]) or "ok"
        state = "paused" if s["paused"] else f"due {_when(s['due'])}"
        print(f"  {kind:<10} {state}   met {_when(s['met_at'])}   [{marks}]")
    if t.get("report"):
        r = t["report"]
        print(
            f"  report     cause: {r['cause']}; actions: {r['actions']}; result: {r['result']}"
            + (f"; parts: {', '.join(r['parts'])}" if r.get("parts") else "")
        )
    if t.get("survey_link"):
        print(f"  survey     {t['survey_link']}")
    print("  history")
    for e in t.get("events", []):
        data = {k: v for k, v in e["data"].items() if k not in ("from", "to")}
        move = f" {e['data']['from']} -> {e['data']['to']}" if "from" in e["data"] else ""
        print(f"    {_when(e['at'])}  {e['actor']:<12} {e['kind']}{move}  {json.dumps(data) if data else ''}")
    k = t.get("knowledge") or {}
    for r in k.get("resolutions", []):
        print(f"  earlier    {r['number']}: {r['cause']} -> {r['actions']}")
    for a in k.get("articles", []):
        print(f"  article    {a['path']}: {a['title']}")


def list_tickets(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        rows = ctx.areas["tickets"].list(
            customer=args.customer,
            states=[s for s in (args.state or "").split(",") if s] or None,
            open_only=args.open,
            assignee=args.assignee,
            host=args.host,
            limit=args.limit,
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'NUMBER':<16}{'STATE':<18}{'PRIO':<10}{'CUSTOMER':<12}{'ASSIGNEE':<12}TITLE")
    for t in rows:
        flag = "~" if t["flapping"] else ""
        print(
            f"{t['number']:<16}{t['state'] + flag:<18}{t['priority']:<10}{t['customer']:<12}"
            f"{t['assignee'] or '-':<12}{t['title']}"
        )
    return 0


def _out(args: argparse.Namespace, t: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(t, indent=2))
    else:
        print_ticket(t)
    return 0


def show_ticket(args: argparse.Namespace) -> int:
    with open_context(args) as ctx:
        t = ctx.areas["tickets"].show(args.ticket, now=ctx.clock.now())
    return _out(args, t)


def open_ticket(args: argparse.Namespace) -> int:
    contact = {
        k: v
        for k, v in (
            ("name", args.contact_name),
            ("phone", args.contact_phone),
            ("email", args.contact_email),
        )
        if v
    }
    with open_context(args) as ctx:
        svc = ctx.areas["tickets"]
        row = svc.open_request(
            customer=args.customer,
            title=args.title,
            description=args.description,
            category=args.category,
            urgency=args.urgency,
            contact=contact,
            host=args.host,
            skills=args.skill,
            actor=_actor(args),
            now=ctx.clock.now(),
        )
        t = svc.show(row.id, now=ctx.clock.now())
    return _out(args, t)


def act(args: argparse.Namespace) -> int:
    action = args.action
    data: dict[str, Any] = {}
    if action == "assign":
        data = {"engineer": args.engineer, "reason": args.reason}
    elif action == "resolve":
        data = {
            "report": {
                "cause": args.cause,
                "actions": args.actions,
                "result": args.result,
                "parts": list(args.part),
            }
        }
    elif action == "survey":
        data = {"rating": args.rating, "comment": args.comment}
    elif getattr(args, "text_field", None):
        data = {args.text_field: getattr(args, args.text_field) or ""}
        if action == "comment":
            data["public"] = not args.internal
    with open_context(args) as ctx:
        svc = ctx.areas["tickets"]
        actor = _actor(args)
        if action == "take":
            with ctx.engine.connect() as conn:
                if not svc.directory.exists(conn, actor):
                    raise InvalidInput(f"unknown engineer {actor!r} (use --as NAME)", field="as")
        t = svc.act(args.ticket, action, actor=actor, data=data, now=ctx.clock.now())
    return _out(args, t)


def diagnose(args: argparse.Namespace) -> int:
    params: dict[str, str] = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidInput(f"{item!r} is not NAME=VALUE", field="param")
        params[name] = value
    with open_context(args) as ctx:
        t = ctx.areas["tickets"].diagnose(
            args.ticket, args.playbook, actor=_actor(args), params=params, now=ctx.clock.now()
        )
    return _out(args, t)


def sweep(args: argparse.Namespace) -> int:
    from datetime import datetime

    with open_context(args) as ctx:
        now = ctx.clock.now()
        if args.now:
            try:
                now = datetime.fromisoformat(args.now.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput(f"{args.now!r} is not an ISO 8601 time", field="now") from None
            if now.tzinfo is None:
                raise InvalidInput("give the time zone (e.g. 2026-11-26T10:00Z)", field="now")
        counts = ctx.areas["tickets"].sweep(now)
    if args.json:
        print(json.dumps(counts))
    else:
        print(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))
    return 0
