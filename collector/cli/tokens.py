"""`upkeep tokens create|list|revoke`: engineers' API tokens."""

from __future__ import annotations

import argparse
import json

from collector.cli.context import add_config_options, open_context, print_new_token
from collector.errors import InvalidInput, NotFound
from collector.store.tokens import ROLES


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("tokens", help="API tokens for engineers")
    tsub = p.add_subparsers(dest="tokens_command", metavar="ACTION", required=True)
    c = tsub.add_parser("create", help="print a new API token (shown only once)")
    add_config_options(c)
    c.add_argument("--role", required=True, choices=ROLES)
    c.add_argument("--customer", default=None, help="limit the token to one customer's hosts and data")
    c.add_argument("--name", default=None)
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=create)
    ls = tsub.add_parser("list", help="API tokens (never their secrets)")
    add_config_options(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_tokens)
    rv = tsub.add_parser("revoke", help="revoke a token (effective on its next request)")
    add_config_options(rv)
    rv.add_argument("token", help="token id or name")
    rv.set_defaults(func=revoke)


def create(args: argparse.Namespace) -> int:
    from collector.store.tokens import create_api_token

    with open_context(args, areas=()) as ctx:
        if args.customer is not None and ctx.config.customer(args.customer) is None:
            raise InvalidInput(f"unknown customer {args.customer!r}", field="--customer")
        with ctx.engine.begin() as conn:
            tok, secret = create_api_token(
                conn,
                role=args.role,
                customer=args.customer,
                name=args.name or args.role,
                now=ctx.clock.now().timestamp(),
            )
    print_new_token(tok.to_json(), secret, as_json=args.json)
    return 0


def list_tokens(args: argparse.Namespace) -> int:
    from collector.store.tokens import list_api_tokens

    with open_context(args, areas=()) as ctx, ctx.engine.connect() as conn:
        rows = list_api_tokens(conn)
    if args.json:
        print(json.dumps([t.to_json() for t in rows], indent=2))
        return 0
    print(f"{'ID':<14}{'NAME':<20}{'ROLE':<10}{'CUSTOMER':<16}STATE")
    for t in rows:
        state = "revoked" if t.revoked_at else "active"
        print(f"{t.id:<14}{t.name:<20}{t.role:<10}{t.customer or '*':<16}{state}")
    return 0


def revoke(args: argparse.Namespace) -> int:
    from collector.store.tokens import revoke_api_token

    with open_context(args, areas=()) as ctx, ctx.engine.begin() as conn:
        if not revoke_api_token(conn, args.token, ctx.clock.now().timestamp()):
            raise NotFound("token", args.token)
    print(f"revoked token {args.token}")
    return 0
