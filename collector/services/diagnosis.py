"""Remote diagnosis: running playbooks on hosts over SSH and keeping what they found.

The service is installed as ``ctx.areas["diagnosis"]`` (a :class:`DiagnosisService`).
What other areas call:

``run_playbook(name, targets, params, *, trigger, ticket_id=None, progress=None,
requested_by="", forks=None) -> Run``
    Runs playbook ``name`` on ``targets`` (inventory host names, or hosts listed only in
    ``remote.hosts`` for hosts without an agent) with ``params`` (strings are coerced to
    the parameter types). ``trigger`` is ``manual``, ``ticket``, ``schedule`` or ``api``.
    Every host's result is stored as soon as the host finishes; the returned ``Run`` holds
    every host with its steps and findings. Raises ``Forbidden`` when remote diagnosis is
    disabled, ``NotFound`` for an unknown playbook or host, ``InvalidInput`` for a bad
    parameter. A host that may not be worked on is recorded as ``not-allowed``; a host
    that cannot be reached, logged into or whose key is not verified is recorded with its
    status and reason, and the others go on. ``progress`` receives
    ``collector.remote.fanout.HostEvent`` values from worker threads.

``allowed_automatically(playbook, host) -> bool``
    Whether a ticket may start ``playbook`` on ``host`` (a name) without an engineer:
    remote diagnosis is enabled, the host (or its customer) is allowed, and the playbook
    is listed in ``remote.automatic``. Call it before ``run_playbook(..., trigger="ticket")``;
    ``run_playbook`` checks it again per host for ``trigger="ticket"``.

``runs_for_host(host, limit=50)``, ``list_runs(...)``, ``get_run(run_id, customers=None)``
    Reading runs back (the health record, the API and the CLI).

``trust_host(host, *, expected=None) -> (key_type, fingerprint)`` / ``scan_host(host)``
    What ``upkeep hosts trust`` uses: read the key (no login, no command), then record it
    in the known-hosts file in the data directory (only if its fingerprint is ``expected``,
    when given).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.core.playbook.model import Playbook
from collector.core.playbook.params import ParameterError, resolve_parameters
from collector.errors import Forbidden, InvalidInput, NotFound
from collector.remote.catalog import Catalog
from collector.remote.connection import Timeouts, scan_host_key
from collector.remote.fanout import Fleet, HostEvent, HostRun
from collector.remote.known_hosts import HostKeyCheck, KnownHosts, fingerprint
from collector.remote.resolve import known_hosts_path, resolve_target
from collector.remote.targets import KeyRing, Target
from collector.services import AppContext
from collector.store import remote as runs_store
from collector.store.remote import HostRecord, Run, StepRecord

NOT_ALLOWED = "not-allowed"


@dataclass(frozen=True)
class HostRef:
    """A host as diagnosis sees it: name, customer, labels and agent facts (may be empty)."""

    name: str
    customer: str
    labels: Mapping[str, str]
    facts: Mapping[str, Any]


class DiagnosisService:
    """Runs playbooks over SSH and stores their results (see the module docstring)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.config = ctx.config.remote
        self.catalog = Catalog(self.config.playbook_paths)
        self.known_hosts = KnownHosts(known_hosts_path(self.config, Path(ctx.config.data_dir)))
        self.check = HostKeyCheck(self.known_hosts)
        self.keys = KeyRing(self.config.key_file)
        self.timeouts = Timeouts(connect=self.config.connect_timeout, command=self.config.command_timeout)
        secrets = list(self.config.redact)
        secrets += [os.environ[name] for name in self.config.redact_env if os.environ.get(name)]
        self.fleet = Fleet(check=self.check, keys=self.keys, timeouts=self.timeouts,
                           output_cap=self.config.output_cap, secrets=tuple(secrets))

    # -- playbooks ---------------------------------------------------------------------------

    def playbooks(self) -> dict[str, Playbook]:
        return self.catalog.load()

    def playbook(self, name: str) -> Playbook:
        return self.catalog.get(name)

    # -- hosts -------------------------------------------------------------------------------

    def host(self, name: str) -> HostRef:
        """The inventory host, else a host configured in ``remote.hosts``; NotFound otherwise."""
        from collector.store.inventory import get_host

        with self.ctx.engine.connect() as conn:
            found = get_host(conn, name)
        if found is not None:
            return HostRef(found.name, found.customer, found.labels or {}, found.facts or {})
        settings = self.config.hosts.get(name)
        if settings is not None:
            return HostRef(name, settings.customer or "", {}, {})
        raise NotFound("host", name)

    def select_hosts(
        self, *, hosts: Sequence[str] = (), customer: str | None = None,
        labels: Mapping[str, str] | None = None, scope: Sequence[str] | None = None,
    ) -> list[HostRef]:
        """Hosts by name, or every inventory host of a customer and/or with all these labels."""
        from collector.store.inventory import list_hosts

        if hosts:
            chosen = [self.host(h) for h in hosts]
        else:
            with self.ctx.engine.connect() as conn:
                found = list_hosts(conn, customer)
            chosen = [HostRef(h.name, h.customer, h.labels or {}, h.facts or {}) for h in found
                      if h.status != "revoked"]
            chosen += [HostRef(n, s.customer or "", {}, {}) for n, s in self.config.hosts.items()
                       if (customer is None or s.customer == customer) and n not in {c.name for c in chosen}
                       and not labels]
            if labels:
                chosen = [h for h in chosen if all(h.labels.get(k) == v for k, v in labels.items())]
        if scope is not None:
            chosen = [h for h in chosen if h.customer in scope]
        return chosen

    def target(self, host: HostRef) -> Target:
        return resolve_target(self.config, host.name, host.customer, host.facts)

    def allowed_automatically(self, playbook: str, host: str) -> bool:
        """Whether a ticket may run ``playbook`` on ``host`` without an engineer."""
        try:
            ref = self.host(host)
        except NotFound:
            return False
        return self.config.allows_automatically(playbook, ref.name, ref.customer)

    # -- running -----------------------------------------------------------------------------

    def run_playbook(
        self,
        name: str,
        targets: Sequence[str],
        params: Mapping[str, Any],
        *,
        trigger: str,
        ticket_id: str | int | None = None,
        progress: Callable[[HostEvent], None] | None = None,
        requested_by: str = "",
        forks: int | None = None,
    ) -> Run:
        """Run playbook ``name`` on ``targets`` and store it (see the module docstring)."""
        if not self.config.enabled:
            raise Forbidden("remote diagnosis is disabled; set remote.enabled: true in the configuration")
        if trigger not in runs_store.TRIGGERS:
            raise InvalidInput(f"must be one of {', '.join(runs_store.TRIGGERS)}", field="trigger")
        playbook = self.playbook(name)
        try:
            resolved = resolve_parameters(playbook, params)
        except ParameterError as exc:
            raise InvalidInput(str(exc), field=f"params.{exc.name}" if exc.name else "params") from None
        refs = [self.host(t) for t in dict.fromkeys(targets)]
        if not refs:
            raise InvalidInput("no hosts to run on", field="targets")
        now = self.ctx.clock.now().timestamp()
        run = Run(id=runs_store.new_run_id(), playbook=playbook.name, trigger=trigger, status="running",
                  started_at=now, ticket_id=None if ticket_id is None else str(ticket_id),
                  requested_by=requested_by, params=dict(resolved))
        with self.ctx.engine.begin() as conn:
            runs_store.insert_run(conn, run)
        allowed, refused = [], []
        for ref in refs:
            if trigger == "ticket":
                ok = self.config.allows_automatically(playbook.name, ref.name, ref.customer)
            else:
                ok = self.config.allows(ref.name, ref.customer)
            (allowed if ok else refused).append(ref)
        for ref in refused:
            why = ("not allowed to run automatically here (remote.automatic, remote.allowed_*)"
                   if trigger == "ticket" else "remote diagnosis is not allowed on this host "
                   "(remote.allowed_hosts / remote.allowed_customers)")
            self._store_host(run.id, HostRun(ref.name, ref.customer, NOT_ALLOWED, why))
            if progress is not None:
                progress(HostEvent(ref.name, "done", f"{NOT_ALLOWED}: {why}"))
        self.fleet.run([self.target(r) for r in allowed], playbook, resolved,
                       forks=forks or self.config.forks, progress=progress,
                       on_done=lambda host_run: self._store_host(run.id, host_run))
        stored = self.get_run(run.id)
        assert stored is not None
        summary: dict[str, int] = {}
        for h in stored.hosts:
            summary[h.status] = summary.get(h.status, 0) + 1
        with self.ctx.engine.begin() as conn:
            runs_store.finish_run(conn, run.id, status="finished",
                                  finished_at=self.ctx.clock.now().timestamp(), summary=summary)
        final = self.get_run(run.id)
        assert final is not None
        return final

    def _store_host(self, run_id: str, host_run: HostRun) -> None:
        outcome = host_run.outcome
        record = HostRecord(
            host=host_run.host, customer=host_run.customer, status=host_run.status, reason=host_run.reason,
            fingerprint=host_run.fingerprint, duration=host_run.duration,
            finished_at=self.ctx.clock.now().timestamp(),
            findings=[{"name": f.name, "severity": f.severity, "text": f.text, "values": _jsonable(f.values)}
                      for f in (outcome.findings if outcome else [])],
            steps=[StepRecord(step=s.step, command=s.command, verdict=s.verdict, exit_code=s.exit_code,
                              duration=s.duration, output=s.output, captured=_jsonable(s.captured),
                              reason=s.reason, truncated=s.truncated)
                   for s in (outcome.steps if outcome else [])],
        )
        with self.ctx.engine.begin() as conn:
            runs_store.insert_host_result(conn, run_id, record)

    # -- reading -----------------------------------------------------------------------------

    def get_run(self, run_id: str, *, customers: Sequence[str] | None = None) -> Run | None:
        with self.ctx.engine.connect() as conn:
            return runs_store.get_run(conn, run_id, customers=customers)

    def list_runs(self, **filters: Any) -> list[Run]:
        if filters.get("ticket_id") is not None:
            filters["ticket_id"] = str(filters["ticket_id"])
        with self.ctx.engine.connect() as conn:
            return runs_store.list_runs(conn, **filters)

    def runs_for_host(self, host: str, limit: int = 50) -> list[dict[str, Any]]:
        """The host's health-record entries for playbook runs, newest first."""
        with self.ctx.engine.connect() as conn:
            return runs_store.runs_for_host(conn, host, limit=limit)

    # -- host keys ---------------------------------------------------------------------------

    def scan_host(self, host: str) -> tuple[Target, Any]:
        """The host's target and the key it presents now (bastions verified; no login to the host)."""
        target = self.target(self.host(host))
        key = scan_host_key(target, check=self.check, keys=self.keys, timeouts=self.timeouts)
        return target, key

    def trust_host(self, host: str, *, expected: str | None = None) -> tuple[str, str]:
        """Record the host's current key; with ``expected``, only if its fingerprint is that one."""
        target, key = self.scan_host(host)
        fp = fingerprint(key)
        if expected is not None and expected != fp:
            raise Forbidden(f"{host} presents {key.get_name()} {fp}, not {expected}; nothing recorded")
        self.known_hosts.add(target.endpoint.address, target.endpoint.port, key)
        return key.get_name(), fp


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def install(ctx: AppContext) -> None:
    """Build the diagnosis service into ctx.areas["diagnosis"]."""
    ctx.areas["diagnosis"] = DiagnosisService(ctx)
