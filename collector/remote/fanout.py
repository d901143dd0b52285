"""Running one playbook on many hosts at once, each host on its own, within a bound.

A host that cannot be worked on (unknown or changed key, refused login, unreachable,
timed out) is reported for that host with its reason; the others go on. Output and
commands pass through redaction before anything leaves this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from collector.core.playbook.execution import HostOutcome, execute
from collector.core.playbook.model import CommandResult, Playbook, StepResult
from collector.core.playbook.params import resolve_parameters
from collector.core.playbook.redact import redact
from collector.errors import RemoteError
from collector.remote.connection import ConnectFailure, Connection, Timeouts, connect
from collector.remote.known_hosts import ChangedHostKey, HostKeyCheck, UnknownHostKey
from collector.remote.targets import KeyRing, Target

# A host's status: how its run ended (the reasons a host could not be worked on come first).
STATUSES = ("passed", "failed", "host-key-unknown", "host-key-changed", "auth-failed", "unreachable", "error")


@dataclass(frozen=True)
class HostEvent:
    """Progress of one host, for a live display: connecting, a step done, or the host done."""

    host: str
    kind: str  # "connecting" | "step" | "done"
    detail: str = ""
    step: StepResult | None = None


@dataclass
class HostRun:
    host: str
    customer: str
    status: str
    reason: str = ""
    duration: float = 0.0
    outcome: HostOutcome | None = None
    fingerprint: str = ""


Progress = Callable[[HostEvent], None]


class _Guarded:
    """A StepRunner that caps each step's timeout and takes secrets out of the output
    before the core judges it."""

    def __init__(self, conn: Connection, secrets: Sequence[str], max_timeout: float) -> None:
        self._conn = conn
        self._secrets = secrets
        self._max = max_timeout

    def _clean(self, result: CommandResult) -> CommandResult:
        return replace(result, output=redact(result.output, self._secrets)) if self._secrets else result

    def run(self, command: str, *, timeout: float, sudo: bool) -> CommandResult:
        return self._clean(self._conn.run(command, timeout=min(timeout, self._max), sudo=sudo))

    def fetch(self, path: str, *, max_bytes: int, timeout: float) -> CommandResult:
        return self._clean(self._conn.fetch(path, max_bytes=max_bytes, timeout=min(timeout, self._max)))


@dataclass(frozen=True)
class Fleet:
    """What every host's run shares: host-key check, keys, timeouts and limits."""

    check: HostKeyCheck
    keys: KeyRing
    timeouts: Timeouts = field(default_factory=Timeouts)
    output_cap: int = 65536
    secrets: tuple[str, ...] = ()

    def run_host(self, target: Target, playbook: Playbook, params: Mapping[str, Any],
                 progress: Progress | None = None) -> HostRun:
        """Connect once, run every step on that connection, and report; never raises for the host."""
        started = time.monotonic()
        emit = progress or (lambda _e: None)
        emit(HostEvent(target.host, "connecting", target.endpoint.name))
        run = HostRun(target.host, target.customer, "error")
        try:
            with connect(target, check=self.check, keys=self.keys, timeouts=self.timeouts,
                         output_cap=self.output_cap) as conn:
                context = {"host": target.host, "customer": target.customer,
                           "address": target.endpoint.address}

                def on_step(result: StepResult) -> None:
                    emit(HostEvent(target.host, "step", result.verdict, result))

                runner = _Guarded(conn, self.secrets, self.timeouts.command)
                outcome = execute(playbook, params, runner, context=context, on_step=on_step)
            outcome.steps = [replace(s, command=redact(s.command, self.secrets)) for s in outcome.steps]
            run.outcome = outcome
            run.status = outcome.verdict
            failed = [s.step for s in outcome.steps if s.verdict in {"failed", "timeout", "error"}]
            run.reason = f"steps not passed: {', '.join(failed)}" if failed else ""
        except UnknownHostKey as exc:
            run.status, run.reason, run.fingerprint = "host-key-unknown", str(exc), exc.fingerprint
        except ChangedHostKey as exc:
            run.status, run.reason, run.fingerprint = "host-key-changed", str(exc), exc.fingerprint
        except ConnectFailure as exc:
            run.status, run.reason = exc.kind, str(exc)
        except RemoteError as exc:
            run.status, run.reason = "error", str(exc)
        run.reason = redact(run.reason, self.secrets)
        run.duration = time.monotonic() - started
        emit(HostEvent(target.host, "done", run.status if not run.reason else f"{run.status}: {run.reason}"))
        return run

    def run(self, targets: Sequence[Target], playbook: Playbook, params: Mapping[str, Any], *,
            forks: int = 20, progress: Progress | None = None,
            on_done: Callable[[HostRun], None] | None = None) -> list[HostRun]:
        """Every target's HostRun, in the order of ``targets``, at most ``forks`` hosts at a time.

        ``params`` are checked against the playbook (ParameterError) before any host is contacted.
        """
        params = resolve_parameters(playbook, params)
        if not targets:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(forks, len(targets))),
                                thread_name_prefix="playbook") as pool:
            def one(target: Target) -> HostRun:
                run = self.run_host(target, playbook, params, progress)
                if on_done is not None:
                    on_done(run)
                return run

            return list(pool.map(one, targets))
