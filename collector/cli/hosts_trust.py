"""`upkeep hosts trust HOST`: record the SSH host key of a host that has no agent.

Hosts with an agent need nothing: the agent reports its host's keys over its own
authenticated channel and the collector trusts exactly those. For any other host the
engineer checks the fingerprint shown here against the host (``ssh-keygen -lf
/etc/ssh/ssh_host_ed25519_key.pub`` on its console) and confirms; the key is then recorded
in the known-hosts file in the data directory. Only the key exchange happens: nothing is
logged into and no command runs.
"""

from __future__ import annotations

import argparse
import sys

from collector.cli.context import add_config_options, open_context
from collector.errors import Forbidden


def register(hosts_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = hosts_sub.add_parser("trust", help="show a host's SSH key fingerprint and record it as trusted")
    add_config_options(p)
    p.add_argument("host", help="a host name (inventory or remote.hosts)")
    p.add_argument("--fingerprint", default=None, metavar="SHA256:...",
                   help="record the key only if it has this fingerprint (no prompt)")
    p.add_argument("--yes", action="store_true", help="record the key shown without asking")
    p.set_defaults(func=trust)


def trust(args: argparse.Namespace) -> int:
    from collector.remote.known_hosts import fingerprint

    with open_context(args, areas=("diagnosis",)) as ctx:
        svc = ctx.area("diagnosis")
        target, key = svc.scan_host(args.host)
        fp = fingerprint(key)
        where = f"{target.endpoint.address}:{target.endpoint.port}"
        print(f"{args.host} ({where}) presents {key.get_name()} {fp}")
        trusted = svc.check.trusted(target.endpoint)
        if any(k.asbytes() == key.asbytes() for k in trusted):
            print("already trusted")
            return 0
        if trusted:
            print("WARNING: this differs from the key trusted now; if the host was not reinstalled, "
                  "this may be a man-in-the-middle attack:", file=sys.stderr)
            for k in trusted:
                print(f"  trusted: {k.get_name()} {fingerprint(k)}", file=sys.stderr)
        if args.fingerprint is not None:
            if args.fingerprint != fp:
                raise Forbidden(f"{args.host} presents {fp}, not {args.fingerprint}; nothing recorded")
        elif not args.yes:
            if not sys.stdin.isatty():
                raise Forbidden("check the fingerprint, then run again with --fingerprint " + fp)
            answer = input("Trust this key? [y/N] ").strip().lower()
            if answer not in {"y", "yes"}:
                print("nothing recorded")
                return 1
        svc.known_hosts.add(target.endpoint.address, target.endpoint.port, key)
        print(f"recorded in {svc.known_hosts.path}")
    return 0
