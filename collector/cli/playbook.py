"""`upkeep playbook check|list|show|run`: diagnosis playbooks from the command line.

``check`` needs no collector: it validates files and prints every problem as
``FILE:PART: reason`` (exit 1 when any). ``run`` shows each host's progress live on a
terminal and exits 0 only when every host passed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any

from collector.cli.context import add_config_options, config_from, open_context
from collector.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("playbook", help="remote-diagnosis playbooks: check, list, show, run")
    psub = p.add_subparsers(dest="playbook_command", metavar="ACTION", required=True)

    ck = psub.add_parser("check", help="validate playbook files (unknown keys, bad regexes, undefined names)")
    ck.add_argument("files", nargs="+", type=Path, metavar="FILE")
    ck.set_defaults(func=check)

    ls = psub.add_parser("list", help="the playbooks available (shipped and configured)")
    add_config_options(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_playbooks)

    sh = psub.add_parser("show", help="one playbook: parameters, steps, findings")
    add_config_options(sh)
    sh.add_argument("name")
    sh.add_argument("--json", action="store_true")
    sh.set_defaults(func=show)

    rn = psub.add_parser("run", help="run a playbook on hosts over SSH")
    add_config_options(rn)
    rn.add_argument("name")
    where = rn.add_argument_group("hosts (one or more of)")
    where.add_argument("--host", action="append", default=[], metavar="HOST")
    where.add_argument("--customer", default=None)
    where.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    rn.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    rn.add_argument("--forks", type=int, default=None, help="hosts at a time (default: remote.forks, 20)")
    rn.add_argument("--json", action="store_true", help="print the stored run as JSON")
    rn.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"expected NAME=VALUE, got {item!r}", field=what)
        out[key] = value
    return out


def check(args: argparse.Namespace) -> int:
    from collector.remote.catalog import check_file

    bad = 0
    for path in args.files:
        problems = check_file(path)
        for problem in problems:
            print(problem)
        if problems:
            bad += 1
        else:
            print(f"{path}: ok")
    return 1 if bad else 0


def _catalog(args: argparse.Namespace) -> Any:
    from collector.remote.catalog import Catalog

    return Catalog(config_from(args).remote.playbook_paths)


def list_playbooks(args: argparse.Namespace) -> int:
    playbooks = _catalog(args).load()
    if args.json:
        print(json.dumps([{"name": p.name, "description": p.description, "source": p.source}
                          for p in playbooks.values()], indent=2))
        return 0
    width = max((len(n) for n in playbooks), default=8) + 2
    for name in sorted(playbooks):
        description = playbooks[name].description
        print(f"{name:<{width}}{description.splitlines()[0] if description else ''}")
    return 0


def show(args: argparse.Namespace) -> int:
    pb = _catalog(args).get(args.name)
    if args.json:
        from collector.api.runs import _playbook_json

        print(json.dumps(_playbook_json(pb, full=True), indent=2))
        return 0
    print(f"{pb.name}  ({pb.source})")
    if pb.description:
        print(f"  {pb.description}")
    if pb.parameters:
        print("parameters:")
        for p in pb.parameters:
            extra = " (required)" if p.required and p.default is None else f" = {p.default!r}"
            print(f"  {p.name}: {p.type}{extra}  {p.description}".rstrip())
    print("steps:")
    for s in pb.steps:
        what = s.run if s.run is not None else f"fetch {s.fetch.path if s.fetch else ''}"
        cond = f"  [when {s.when.source}]" if s.when else ""
        sudo = "sudo " if s.sudo else ""
        print(f"  {s.name} ({s.timeout:g}s){cond}: {sudo}{' '.join(what.split())}")
    if pb.findings:
        print("findings:")
        for f in pb.findings:
            print(f"  {f.severity:<9}{f.name}: {f.text}")
    return 0


class _Progress:
    """Live per-host lines on a terminal (events arrive from worker threads)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        if event.kind == "step" and event.step is not None:
            line = f"{event.host:<24} {event.step.step:<22} {event.step.verdict}"
            if event.step.reason:
                line += f"  ({event.step.reason})"
        else:
            line = f"{event.host:<24} {event.kind if event.kind == 'connecting' else '=>'} {event.detail}"
        with self.lock:
            print(line, file=self.stream, flush=True)


def run(args: argparse.Namespace) -> int:
    labels = _pairs(args.label, "--label")
    params = _pairs(args.param, "--param")
    if not (args.host or args.customer or labels):
        raise InvalidInput("name --host, --customer or --label", field="hosts")
    if args.forks is not None and args.forks < 1:
        raise InvalidInput("must be at least 1", field="--forks")
    with open_context(args, areas=("diagnosis",)) as ctx:
        svc = ctx.area("diagnosis")
        refs = svc.select_hosts(hosts=args.host, customer=args.customer, labels=labels or None)
        if not refs:
            raise InvalidInput("no host matches", field="hosts")
        progress = _Progress(sys.stderr) if sys.stderr.isatty() and not args.json else None
        result = svc.run_playbook(args.name, [r.name for r in refs], params, trigger="manual",
                                  progress=progress, forks=args.forks, requested_by="cli")
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(f"run {result.id}: {result.playbook} on {len(result.hosts)} host(s)")
        for h in result.hosts:
            print(f"{h.host:<24} {h.status:<18} {h.reason}".rstrip())
            for f in h.findings:
                print(f"{'':<24} {f['severity']:<9} {f['text']}")
    return 0 if all(h.status == "passed" for h in result.hosts) else 1
