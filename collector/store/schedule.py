"""Tables and queries of scheduled work: scheduler jobs, job runs, inspections, findings, reports.

Promises to the other areas:

- Times are Unix seconds (float), UTC, as everywhere in the store.
- ``scheduler_jobs`` has exactly the shape of APScheduler's SQLAlchemyJobStore table, so the
  job store finds it created by the migration; nothing but the job store writes it.
- ``scheduled_runs`` holds one row per (job, scheduled time), unique: a second collector that
  believes it leads can never run the same slot of the same job again, whatever the timing.
- An inspection's findings keep the key of the finding (stable month to month) and the id of
  the ticket it opened, if any.

Every query takes a SQLAlchemy ``Connection`` so the caller decides the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from collector.store.metadata import metadata

_ID = BigInteger().with_variant(Integer(), "sqlite")
JOBS_TABLE = "scheduler_jobs"

scheduler_jobs = Table(
    JOBS_TABLE,
    metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)

scheduled_runs = Table(
    "scheduled_runs",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("job_id", String(191), nullable=False),
    Column("scheduled_for", Float, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    # running, ok, error, missed
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=False, default=""),
    Column("runner", String(128), nullable=False, default=""),
    UniqueConstraint("job_id", "scheduled_for", name="uq_scheduled_runs_slot"),
)

inspections = Table(
    "inspections",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("customer", String(64), nullable=False, index=True),
    # A single host when the engineer asked for one, else NULL (all the customer's hosts).
    Column("host", String(255), nullable=True),
    Column("trigger", String(16), nullable=False),
    # running, completed, failed
    Column("status", String(16), nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
    Column("period_start", Float, nullable=False),
    Column("period_end", Float, nullable=False),
    Column("summary", JSON, nullable=False, default=dict),
    Column("hosts", JSON, nullable=False, default=list),
    Column("run_ids", JSON, nullable=False, default=list),
    Column("error", Text, nullable=False, default=""),
)

inspection_findings = Table(
    "inspection_findings",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("inspection_id", _ID, ForeignKey("inspections.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("host", String(255), nullable=False, index=True),
    Column("key", String(255), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("category", String(32), nullable=False),
    Column("title", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("recommendation", Text, nullable=False),
    Column("evidence", JSON, nullable=False, default=dict),
    Column("ticket", String(64), nullable=True),
)

reports = Table(
    "service_reports",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    # inspection, monthly, engineers
    Column("kind", String(16), nullable=False),
    Column("customer", String(64), nullable=True, index=True),
    Column("period", String(7), nullable=False),
    Column("inspection_id", _ID, ForeignKey("inspections.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Column("created_at", Float, nullable=False),
    Column("json", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("markdown", Text, nullable=False),
)

FORMATS = {"json": "json", "html": "html", "md": "markdown"}


# --- scheduled runs -------------------------------------------------------------------------------

def claim_run(conn: Connection, job_id: str, scheduled_for: float, now: float, runner: str,
              status: str = "running") -> int | None:
    """Record that this slot of the job runs now; None if any collector has claimed it already.

    Runs in a SAVEPOINT so that a refused claim leaves the caller's transaction usable.
    """
    try:
        with conn.begin_nested():
            result = conn.execute(insert(scheduled_runs).values(
                job_id=job_id, scheduled_for=scheduled_for, started_at=now, status=status,
                error="", runner=runner,
            ))
    except IntegrityError:
        return None
    return int(result.inserted_primary_key[0])


def finish_run(conn: Connection, run_id: int, status: str, now: float, error: str = "") -> None:
    conn.execute(update(scheduled_runs).where(scheduled_runs.c.id == run_id).values(
        status=status, finished_at=now, error=error[:2000]))


def recent_runs(conn: Connection, job_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    q = select(scheduled_runs).order_by(scheduled_runs.c.scheduled_for.desc(), scheduled_runs.c.id.desc())
    if job_id is not None:
        q = q.where(scheduled_runs.c.job_id == job_id)
    return [dict(r._mapping) for r in conn.execute(q.limit(limit))]


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    """The latest run of every job, by job id."""
    latest = (select(scheduled_runs.c.job_id, func.max(scheduled_runs.c.scheduled_for).label("at"))
              .group_by(scheduled_runs.c.job_id).subquery())
    q = select(scheduled_runs).join(latest, (scheduled_runs.c.job_id == latest.c.job_id)
                                    & (scheduled_runs.c.scheduled_for == latest.c.at))
    return {r.job_id: dict(r._mapping) for r in conn.execute(q)}


# --- inspections ----------------------------------------------------------------------------------

def insert_inspection(conn: Connection, *, customer: str, host: str | None, trigger: str, now: float,
                      period_start: float, period_end: float) -> int:
    result = conn.execute(insert(inspections).values(
        customer=customer, host=host, trigger=trigger, status="running", started_at=now,
        period_start=period_start, period_end=period_end, summary={}, hosts=[], run_ids=[], error="",
    ))
    return int(result.inserted_primary_key[0])


def complete_inspection(conn: Connection, inspection_id: int, *, status: str, now: float,
                        summary: dict[str, Any], hosts: list[dict[str, Any]], run_ids: Sequence[str],
                        error: str = "") -> None:
    conn.execute(update(inspections).where(inspections.c.id == inspection_id).values(
        status=status, finished_at=now, summary=summary, hosts=hosts, run_ids=list(run_ids),
        error=error[:2000]))


def insert_findings(conn: Connection, inspection_id: int, findings: Sequence[dict[str, Any]]) -> None:
    if findings:
        conn.execute(insert(inspection_findings), [
            {"inspection_id": inspection_id, "host": f["host"], "key": f["key"], "severity": f["severity"],
             "category": f["category"], "title": f["title"], "details": f["details"],
             "recommendation": f["recommendation"], "evidence": f.get("evidence", {}),
             "ticket": f.get("ticket")}
            for f in findings
        ])


def get_inspection(conn: Connection, inspection_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(inspections).where(inspections.c.id == inspection_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["findings"] = findings_of(conn, inspection_id)
    return out


def findings_of(conn: Connection, inspection_id: int, host: str | None = None) -> list[dict[str, Any]]:
    q = select(inspection_findings).where(inspection_findings.c.inspection_id == inspection_id)
    if host is not None:
        q = q.where(inspection_findings.c.host == host)
    return [dict(r._mapping) for r in conn.execute(q.order_by(inspection_findings.c.id))]


def list_inspections(conn: Connection, *, customers: Sequence[str] | None = None, host: str | None = None,
                     since: float | None = None, until: float | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
    """Inspections newest first; ``customers`` limits to those customers (a scoped caller)."""
    q = select(inspections).order_by(inspections.c.started_at.desc(), inspections.c.id.desc())
    if customers is not None:
        q = q.where(inspections.c.customer.in_(list(customers)))
    if since is not None:
        q = q.where(inspections.c.started_at >= since)
    if until is not None:
        q = q.where(inspections.c.started_at < until)
    rows = [dict(r._mapping) for r in conn.execute(q.limit(limit if host is None else limit * 10))]
    if host is not None:
        rows = [r for r in rows if r["host"] == host or any(h.get("host") == host for h in r["hosts"])]
    return rows[:limit]


def update_finding_ticket(conn: Connection, inspection_id: int, key: str, ticket: str) -> None:
    conn.execute(update(inspection_findings).where(
        (inspection_findings.c.inspection_id == inspection_id) & (inspection_findings.c.key == key)
    ).values(ticket=ticket))


def latest_completed(conn: Connection) -> list[dict[str, Any]]:
    """Each customer's latest completed inspection with its findings' severities (for /metrics)."""
    latest = (select(inspections.c.customer, func.max(inspections.c.id).label("id"))
              .where(inspections.c.status == "completed").group_by(inspections.c.customer).subquery())
    rows = conn.execute(select(inspections.c.id, inspections.c.customer, inspections.c.finished_at)
                        .join(latest, inspections.c.id == latest.c.id)).all()
    out = []
    for r in rows:
        sev = conn.execute(select(inspection_findings.c.severity, func.count())
                           .where(inspection_findings.c.inspection_id == r.id)
                           .group_by(inspection_findings.c.severity)).all()
        out.append({"customer": r.customer, "finished_at": r.finished_at, "severities": dict(sev)})
    return out


def inspection_counts(conn: Connection) -> list[tuple[str, str, int]]:
    """(customer, status, count) over all inspections."""
    q = select(inspections.c.customer, inspections.c.status, func.count()).group_by(
        inspections.c.customer, inspections.c.status)
    return [(r[0], r[1], int(r[2])) for r in conn.execute(q)]


# --- stored reports -------------------------------------------------------------------------------

def save_report(conn: Connection, *, kind: str, customer: str | None, period: str, now: float,
                documents: dict[str, str], inspection_id: int | None = None) -> int:
    """Store a report's three renderings; a monthly report replaces the one for the same month."""
    if inspection_id is None:
        conn.execute(delete(reports).where(
            (reports.c.kind == kind) & (reports.c.period == period)
            & (reports.c.customer == customer if customer is not None else reports.c.customer.is_(None))))
    result = conn.execute(insert(reports).values(
        kind=kind, customer=customer, period=period, inspection_id=inspection_id, created_at=now,
        json=documents["json"], html=documents["html"], markdown=documents["md"]))
    return int(result.inserted_primary_key[0])


def get_report(conn: Connection, *, kind: str, customer: str | None = None, period: str | None = None,
               inspection_id: int | None = None) -> dict[str, Any] | None:
    q = select(reports).where(reports.c.kind == kind)
    if inspection_id is not None:
        q = q.where(reports.c.inspection_id == inspection_id)
    if customer is not None:
        q = q.where(reports.c.customer == customer)
    if period is not None:
        q = q.where(reports.c.period == period)
    row = conn.execute(q.order_by(reports.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def list_reports(conn: Connection, *, customers: Sequence[str] | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
    q = select(reports.c.id, reports.c.kind, reports.c.customer, reports.c.period, reports.c.inspection_id,
               reports.c.created_at).order_by(reports.c.id.desc())
    if customers is not None:
        q = q.where(reports.c.customer.in_(list(customers)))
    return [dict(r._mapping) for r in conn.execute(q.limit(limit))]
