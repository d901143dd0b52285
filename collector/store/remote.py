"""Playbook runs: the run, each host's result, each step's result, and the findings.

Promises to the other areas:

- A run's ``id`` is 32 lower-case hex characters; times are Unix seconds (float), UTC.
- ``run_hosts`` holds one row per host of a run, with the customer the host belonged to
  when it ran, so customer scoping never needs the inventory; ``findings`` there is a
  list of ``{"name", "severity", "text", "values"}``.
- ``run_steps`` holds what each step ran (redacted), its exit code, duration, bounded
  output, captured values and verdict.
- :func:`runs_for_host` is the host's health-record view of runs, newest first.

Every query takes a SQLAlchemy ``Connection`` so the caller decides the transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from collector.store.metadata import metadata

playbook_runs = Table(
    "playbook_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("playbook", String(128), nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("ticket_id", String(64), nullable=True, index=True),
    Column("requested_by", String(128), nullable=False, default=""),
    Column("params", JSON, nullable=False, default=dict),
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False, index=True),
    Column("finished_at", Float, nullable=True),
    Column("summary", JSON, nullable=False, default=dict),
)

run_hosts = Table(
    "run_hosts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), nullable=False, index=True),
    Column("host", String(255), nullable=False, index=True),
    Column("customer", String(64), nullable=False, index=True),
    Column("status", String(24), nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("fingerprint", String(128), nullable=False, default=""),
    Column("duration", Float, nullable=False, default=0.0),
    Column("finished_at", Float, nullable=False),
    Column("findings", JSON, nullable=False, default=list),
)

run_steps = Table(
    "run_steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_host_id", Integer, nullable=False, index=True),
    Column("seq", Integer, nullable=False),
    Column("step", String(128), nullable=False),
    Column("command", Text, nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("duration", Float, nullable=False),
    Column("output", Text, nullable=False),
    Column("truncated", Boolean, nullable=False, default=False),
    Column("captured", JSON, nullable=False, default=dict),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

TRIGGERS = ("manual", "ticket", "schedule", "api")


@dataclass(frozen=True)
class StepRecord:
    step: str
    command: str
    verdict: str
    exit_code: int | None
    duration: float
    output: str
    captured: dict[str, Any]
    reason: str = ""
    truncated: bool = False


@dataclass(frozen=True)
class HostRecord:
    host: str
    customer: str
    status: str
    reason: str = ""
    fingerprint: str = ""
    duration: float = 0.0
    finished_at: float = 0.0
    findings: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """A playbook run: what ran, where, why, and (when ``hosts`` is loaded) what each host said."""

    id: str
    playbook: str
    trigger: str
    status: str
    started_at: float
    finished_at: float | None = None
    ticket_id: str | None = None
    requested_by: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)
    hosts: list[HostRecord] = field(default_factory=list)

    def to_json(self, *, steps: bool = True) -> dict[str, Any]:
        data = asdict(self)
        if not steps:
            for h in data["hosts"]:
                h.pop("steps", None)
        return data


def new_run_id() -> str:
    return uuid.uuid4().hex


def insert_run(conn: Connection, run: Run) -> None:
    conn.execute(insert(playbook_runs).values(
        id=run.id, playbook=run.playbook, trigger=run.trigger, ticket_id=run.ticket_id,
        requested_by=run.requested_by, params=run.params, status=run.status,
        started_at=run.started_at, finished_at=run.finished_at, summary=run.summary,
    ))


def finish_run(
    conn: Connection, run_id: str, *, status: str, finished_at: float, summary: dict[str, int]
) -> None:
    conn.execute(update(playbook_runs).where(playbook_runs.c.id == run_id).values(
        status=status, finished_at=finished_at, summary=summary,
    ))


def insert_host_result(conn: Connection, run_id: str, record: HostRecord) -> None:
    """Store one host's result with its steps (one transaction per host keeps a crash's loss small)."""
    row = conn.execute(insert(run_hosts).values(
        run_id=run_id, host=record.host, customer=record.customer, status=record.status,
        reason=record.reason, fingerprint=record.fingerprint, duration=record.duration,
        finished_at=record.finished_at, findings=record.findings,
    ))
    host_row_id = row.inserted_primary_key[0]
    if record.steps:
        conn.execute(insert(run_steps), [
            {"run_host_id": host_row_id, "seq": i, "step": s.step, "command": s.command,
             "exit_code": s.exit_code, "duration": s.duration, "output": s.output,
             "truncated": s.truncated, "captured": s.captured, "verdict": s.verdict, "reason": s.reason}
            for i, s in enumerate(record.steps)
        ])


def _run(row: Any) -> Run:
    m = row._mapping
    return Run(
        id=m["id"], playbook=m["playbook"], trigger=m["trigger"], status=m["status"],
        started_at=m["started_at"], finished_at=m["finished_at"], ticket_id=m["ticket_id"],
        requested_by=m["requested_by"], params=m["params"] or {}, summary=m["summary"] or {},
    )


def _visible_run_ids(customers: Sequence[str]) -> Any:
    return select(run_hosts.c.run_id).where(run_hosts.c.customer.in_(list(customers)))


def list_runs(conn: Connection, *, customers: Iterable[str] | None = None, host: str | None = None,
              playbook: str | None = None, ticket_id: str | None = None, limit: int = 100) -> list[Run]:
    """Runs newest first, without host details; ``customers`` limits to runs touching their hosts."""
    customers = list(customers) if customers is not None else None
    q = select(playbook_runs).order_by(playbook_runs.c.started_at.desc(), playbook_runs.c.id).limit(limit)
    if customers is not None:
        q = q.where(playbook_runs.c.id.in_(_visible_run_ids(customers)))
    if host is not None:
        on_host = select(run_hosts.c.run_id).where(run_hosts.c.host == host)
        if customers is not None:
            # The host filter must not reveal a run on another customer's host of the same name.
            on_host = on_host.where(run_hosts.c.customer.in_(list(customers)))
        q = q.where(playbook_runs.c.id.in_(on_host))
    if playbook is not None:
        q = q.where(playbook_runs.c.playbook == playbook)
    if ticket_id is not None:
        q = q.where(playbook_runs.c.ticket_id == ticket_id)
    return [_run(r) for r in conn.execute(q)]


def get_run(conn: Connection, run_id: str, *, customers: Iterable[str] | None = None,
            steps: bool = True) -> Run | None:
    """The run with its hosts (only ``customers``' hosts when given), or None when not visible."""
    row = conn.execute(select(playbook_runs).where(playbook_runs.c.id == run_id)).first()
    if row is None:
        return None
    q = select(run_hosts).where(run_hosts.c.run_id == run_id).order_by(run_hosts.c.host)
    if customers is not None:
        q = q.where(run_hosts.c.customer.in_(list(customers)))
    host_rows = list(conn.execute(q))
    if customers is not None and not host_rows:
        return None
    step_rows: dict[int, list[StepRecord]] = {}
    if steps and host_rows:
        for s in conn.execute(select(run_steps).where(run_steps.c.run_host_id.in_([h.id for h in host_rows]))
                              .order_by(run_steps.c.run_host_id, run_steps.c.seq)):
            sm = s._mapping
            step_rows.setdefault(sm["run_host_id"], []).append(StepRecord(
                step=sm["step"], command=sm["command"], verdict=sm["verdict"], exit_code=sm["exit_code"],
                duration=sm["duration"], output=sm["output"], captured=sm["captured"] or {},
                reason=sm["reason"], truncated=bool(sm["truncated"]),
            ))
    hosts = [
        HostRecord(
            host=h.host, customer=h.customer, status=h.status, reason=h.reason, fingerprint=h.fingerprint,
            duration=h.duration, finished_at=h.finished_at, findings=h.findings or [],
            steps=step_rows.get(h.id, []),
        )
        for h in host_rows
    ]
    base = _run(row)
    return Run(**{**base.__dict__, "hosts": hosts})


def runs_for_host(conn: Connection, host: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The host's health-record entries for playbook runs, newest first: one line per run."""
    q = (
        select(playbook_runs.c.id, playbook_runs.c.playbook, playbook_runs.c.trigger,
               playbook_runs.c.ticket_id, playbook_runs.c.started_at, run_hosts.c.status,
               run_hosts.c.reason, run_hosts.c.findings, run_hosts.c.finished_at)
        .join(run_hosts, run_hosts.c.run_id == playbook_runs.c.id)
        .where(run_hosts.c.host == host)
        .order_by(playbook_runs.c.started_at.desc())
        .limit(limit)
    )
    out = []
    for r in conn.execute(q):
        m = r._mapping
        findings = m["findings"] or []
        out.append({
            "run_id": m["id"], "playbook": m["playbook"], "trigger": m["trigger"],
            "ticket_id": m["ticket_id"],
            "started_at": m["started_at"], "finished_at": m["finished_at"], "status": m["status"],
            "reason": m["reason"], "findings": findings,
            "worst": _worst(findings),
        })
    return out


_RANK = {"ok": 0, "info": 1, "warning": 2, "critical": 3}


def _worst(findings: list[dict[str, Any]]) -> str | None:
    ranked = [f.get("severity") for f in findings if f.get("severity") in _RANK]
    return max(ranked, key=lambda s: _RANK[s]) if ranked else None


def count_runs(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(playbook_runs)).scalar_one())
