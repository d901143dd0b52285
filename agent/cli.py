"""The `upkeep-agent` command: run, once, check-config, enroll.

Every mistake an operator can make (a wrong config key, an unusable state directory, a
refused enrollment) ends as one line on stderr and a non-zero exit, never a traceback:
exit 2 for configuration, 1 for everything else.

`run` stays running for months on customer machines, so it imports only what it uses:
``upkeep-agent run [--config FILE]`` is recognised without argparse, and the other
commands' modules are imported when they are asked for.
"""

from __future__ import annotations

import os
import sys

from agent import __version__
from agent.config import load_config
from agent.errors import AgentError, ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from agent.config import AgentConfig


def _parser() -> argparse.ArgumentParser:
    import argparse
    from pathlib import Path

    p = argparse.ArgumentParser(prog="upkeep-agent", description="upkeep's host agent")
    p.add_argument("--version", action="version", version=f"upkeep-agent {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in (("run", "collect and push at the configured interval until SIGTERM"),
                       ("once", "collect one report and print it as JSON (nothing is sent)"),
                       ("check-config", "validate the configuration and exit")):
        sp = sub.add_parser(name, help=text, description=text)
        sp.add_argument("--config", type=Path, default=None,
                        help="agent.yaml (default /etc/upkeep/agent.yaml when it exists)")
    sp = sub.add_parser("enroll", help="exchange an enrollment token for this host's token",
                        description="POST /api/v1/enroll; stores the host token and the collector URL "
                                    "in the state directory")
    sp.add_argument("url", help="the collector, e.g. https://collector.example:8443")
    sp.add_argument("token", help="the enrollment token from the service center")
    sp.add_argument("--config", type=Path, default=None)
    return p


def _plain_run(argv: list[str]) -> tuple[bool, str | None]:
    """(True, config) for ``run``, ``run --config FILE`` or ``run --config=FILE``; else (False, None).

    Anything else (help, a typo, an option abbreviated) goes through argparse and its messages.
    """
    if not argv or argv[0] != "run":
        return False, None
    rest = argv[1:]
    if not rest:
        return True, None
    if len(rest) == 2 and rest[0] == "--config" and rest[1] and not rest[1].startswith("-"):
        return True, rest[1]
    if len(rest) == 1 and rest[0].startswith("--config=") and len(rest[0]) > len("--config="):
        return True, rest[0][len("--config="):]
    return False, None


def _once(cfg: AgentConfig) -> int:
    import json

    from agent.checks.runner import CheckRunner
    from agent.collection import Collection
    from agent.state import AgentState

    # `once` is a look, not a delivery: it uses the installation's id when the state
    # directory is readable, and never takes a sequence number (seq 0 is never sent).
    try:
        state: AgentState | None = AgentState(cfg.state_dir)
        agent_id = state.agent_id if state else os.urandom(16).hex()
    except (AgentError, OSError):
        state, agent_id = None, os.urandom(16).hex()
    runner = CheckRunner(cfg.checks, state.subdir("logfile") if state else None)
    report = Collection(cfg, agent_id, runner).collect(seq=0)
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


def _check_config(cfg: AgentConfig) -> int:
    from agent.checks import make_check

    for c in cfg.checks:
        make_check(c, None)
    where = cfg.collector.url or "the URL stored at enrollment"
    listen = f"{cfg.metrics_listen[0]}:{cfg.metrics_listen[1]}" if cfg.metrics_listen else "off"
    print(f"{cfg.source or 'defaults'}: OK ({len(cfg.checks)} checks, interval {cfg.interval:g}s, "
          f"collector {where}, /metrics {listen})")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    plain_run, config = _plain_run(argv)
    if plain_run:
        command = "run"
    else:
        args = _parser().parse_args(argv)
        command, config = args.command, args.config
    try:
        # The daemon parses its YAML in a child process: the parser never stays in its memory.
        cfg = load_config(config, parse_apart=command == "run")
        if command == "once":
            return _once(cfg)
        if command == "check-config":
            return _check_config(cfg)
        if command == "enroll":
            from agent.enroll import enroll

            print(enroll(cfg, args.url, args.token))
            return 0
        from agent.daemon import run

        return run(cfg)
    except ConfigError as exc:
        print(f"upkeep-agent: {exc}", file=sys.stderr)
        return 2
    except AgentError as exc:
        print(f"upkeep-agent: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        # The state directory or a file in it: permissions, a full or read-only disk.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"upkeep-agent: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
