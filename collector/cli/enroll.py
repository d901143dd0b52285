"""`upkeep enroll create|list|revoke`: enrollment tokens for agents."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from collector.cli.context import add_config_options, open_context, print_new_token
from collector.config.types import parse_duration
from collector.errors import InvalidInput, NotFound


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("enroll", help="enrollment tokens (what `upkeep-agent enroll` needs)")
    esub = p.add_subparsers(dest="enroll_command", metavar="ACTION", required=True)
    c = esub.add_parser("create", help="print a new enrollment token for a customer")
    add_config_options(c)
    c.add_argument("--customer", required=True)
    c.add_argument("--expires", default="24h", help="how long it may be used (default 24h)")
    c.add_argument("--once", action="store_true", help="good for one host only")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=create)
    ls = esub.add_parser("list", help="enrollment tokens (never their secrets)")
    add_config_options(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_tokens)
    rv = esub.add_parser("revoke", help="stop an enrollment token from enrolling more hosts")
    add_config_options(rv)
    rv.add_argument("token_id")
    rv.set_defaults(func=revoke)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def create(args: argparse.Namespace) -> int:
    from collector.services.enrollment import create_enrollment_token

    try:
        expires = parse_duration(args.expires)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="--expires") from None
    with open_context(args, areas=()) as ctx:
        tok, secret = create_enrollment_token(
            ctx, args.customer, expires_in=expires, once=args.once, now=ctx.clock.now().timestamp()
        )
    print_new_token(tok.to_json(), secret, as_json=args.json)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    from collector.store.tokens import list_enrollment_tokens

    with open_context(args, areas=()) as ctx, ctx.engine.connect() as conn:
        rows = list_enrollment_tokens(conn)
        now = ctx.clock.now().timestamp()
    if args.json:
        print(json.dumps([t.to_json() for t in rows], indent=2))
        return 0
    print(f"{'ID':<14}{'CUSTOMER':<16}{'EXPIRES':<22}{'ONCE':<6}STATE")
    for t in rows:
        state = (
            "usable" if t.usable(now) else ("revoked" if t.revoked_at else "used" if t.used_at else "expired")
        )
        print(f"{t.id:<14}{t.customer:<16}{_when(t.expires_at):<22}{'yes' if t.once else 'no':<6}{state}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    from collector.store.tokens import revoke_enrollment_token

    with open_context(args, areas=()) as ctx, ctx.engine.begin() as conn:
        if not revoke_enrollment_token(conn, args.token_id, ctx.clock.now().timestamp()):
            raise NotFound("enrollment token", args.token_id)
    print(f"revoked enrollment token {args.token_id}")
    return 0
