"""The inspections area: monthly preventive inspections, service reports, health records, the scheduler.

``install(ctx)`` puts an ``InspectionService`` in ``ctx.areas["inspections"]`` and a
``Scheduler`` in ``ctx.areas["scheduler"]``; the server starts the scheduler's loop (one
collector leads it, see collector.scheduling.leader), the command line never does.

An inspection runs the configured playbooks over the customer's hosts (the diagnosis
area's fan-out), adds the period's evidence the collector already holds, judges it
(collector.core.inspection) and stores the findings and the report. Findings at or above
``schedule.inspection.ticket_severity`` open tickets through the ticket area, which keeps
one open ticket per finding key, so next month's inspection does not duplicate them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.config.contracts import ContractConfig, CustomerConfig
from collector.core.inspection import (
    HostEvidence,
    InspectionPolicy,
    assess,
    at_or_above,
    counts_by_severity,
    days_until_full,
)
from collector.errors import InvalidInput, NotFound
from collector.reports.render import render_all
from collector.services import AppContext
from collector.services.inspection_evidence import gather
from collector.services.inspection_playbooks import merge_host_run
from collector.store import schedule as store
from collector.store.inventory import Host, list_hosts

log = logging.getLogger("upkeep.inspections")

def month_bounds(month: str, tz: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of ``YYYY-MM`` in ``tz``, as UTC."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=ZoneInfo(tz))
    except ValueError:
        raise InvalidInput(f"{month!r} is not a month like 2026-03", field="month") from None
    nxt = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=ZoneInfo(tz))
    return start.astimezone(UTC), nxt.astimezone(UTC)


def previous_month(when: datetime, tz: str) -> str:
    local = when.astimezone(ZoneInfo(tz))
    first = local.replace(day=1)
    last = first - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def contract_json(contract: ContractConfig) -> dict[str, Any]:
    window = contract.window if isinstance(contract.window, str) else (
        f"{','.join(contract.window.days)} {contract.window.start}-{contract.window.end}")
    return {
        "window": window,
        "starts": contract.starts.isoformat() if contract.starts else None,
        "warranty_end": contract.warranty_end.isoformat() if contract.warranty_end else None,
        "support_end": contract.support_end.isoformat() if contract.support_end else None,
        "inspection_cron": contract.inspection_cron,
        "report_cron": contract.report_cron,
    }


class InspectionService:
    """Inspections, stored reports and reminders of one collector."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        s = ctx.config.schedule.inspection
        self.settings = s
        self.policy = InspectionPolicy(
            availability_warning=s.availability_warning, availability_major=s.availability_major,
            reboots_warning=s.reboots_warning, cpu_warning=s.cpu_warning, cpu_major=s.cpu_major,
            memory_warning=s.memory_warning, memory_major=s.memory_major,
            load_per_cpu_warning=s.load_per_cpu_warning, disk_used_warning=s.disk_used_warning,
            disk_used_major=s.disk_used_major, fill_horizon_days=s.fill_horizon_days,
            fill_critical_days=s.fill_critical_days, latest_agent_version=s.latest_agent_version,
        )

    # --- customers --------------------------------------------------------------------------

    def customer(self, name: str) -> CustomerConfig:
        """The customer's configuration (a customer known only from its hosts gets a default contract)."""
        found = self.ctx.config.customer(name)
        if found is not None:
            return found
        with self.engine.connect() as conn:
            if not list_hosts(conn, name):
                raise NotFound("customer", name)
        return CustomerConfig(name=name)

    # --- running an inspection --------------------------------------------------------------

    def run(self, customer: str, *, host: str | None = None, trigger: str = "manual",
            now: datetime | None = None) -> dict[str, Any]:
        """Inspect ``customer`` (or one of its hosts) now; the stored inspection with its findings.

        A scheduled inspection covers the previous calendar month in the customer's time zone;
        one started by hand covers ``schedule.inspection.lookback`` up to now.
        """
        now = now or self.ctx.clock.now()
        cust = self.customer(customer)
        with self.engine.connect() as conn:
            hosts = [h for h in list_hosts(conn, customer) if h.status != "revoked"]
        if host is not None:
            hosts = [h for h in hosts if host in (h.name, h.id)]
            if not hosts:
                raise NotFound("host", host)
        if trigger == "schedule":
            start, end = month_bounds(previous_month(now, cust.timezone), cust.timezone)
            end = min(end, now)
            label = previous_month(now, cust.timezone)
        else:
            start, end = now - timedelta(seconds=self.settings.lookback), now
            label = now.astimezone(ZoneInfo(cust.timezone)).strftime("%Y-%m-%d")
        with self.engine.begin() as conn:
            ident = store.insert_inspection(conn, customer=customer, host=host, trigger=trigger,
                                            now=now.timestamp(), period_start=start.timestamp(),
                                            period_end=end.timestamp())
        try:
            return self._inspect(ident, cust, hosts, start, end, label, trigger, now)
        except Exception as exc:
            with self.engine.begin() as conn:
                store.complete_inspection(conn, ident, status="failed",
                                          now=self.ctx.clock.now().timestamp(), summary={}, hosts=[],
                                          run_ids=[], error=f"{type(exc).__name__}: {exc}")
            raise

    def _playbooks(self, hosts: list[Host], ident: int,
                   trigger: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
        """Per host: {"reason": why not inspected or "", "steps": [...], "findings": [...]}; run ids."""
        out: dict[str, dict[str, Any]] = {
            h.name: {"reason": "", "steps": [], "findings": [], "observations": []} for h in hosts}
        run_ids: list[str] = []
        if not hosts:
            return out, run_ids
        diagnosis = self.ctx.areas.get("diagnosis")
        runner = getattr(diagnosis, "run_playbook", None)
        if runner is None:
            for h in hosts:
                out[h.name]["reason"] = "the playbook runner is not available in this collector"
            return out, run_ids
        for name in self.settings.playbooks:
            try:
                run = runner(name, [h.name for h in hosts], {},
                             trigger="schedule" if trigger == "schedule" else "manual",
                             requested_by=f"inspection {ident}")
            except Exception as exc:  # a playbook that cannot start leaves every host uninspected
                log.warning("inspection %s: playbook %s did not start: %s", ident, name, exc)
                for h in hosts:
                    out[h.name]["reason"] = out[h.name]["reason"] or f"playbook {name} did not start: {exc}"
                continue
            run_id = getattr(run, "id", None)
            if run_id is not None:
                run_ids.append(str(run_id))
            results = getattr(run, "hosts", None) or getattr(run, "results", None) or []
            if isinstance(results, dict):
                results = list(results.values())
            for r in results:
                merge_host_run(out, name, r)
        return out, run_ids

    def _inspect(self, ident: int, cust: CustomerConfig, hosts: list[Host], start: datetime, end: datetime,
                 label: str, trigger: str, now: datetime) -> dict[str, Any]:
        remote, run_ids = self._playbooks(hosts, ident, trigger)
        facts = {}
        with self.engine.connect() as conn:
            for h in hosts:
                facts[h.name] = gather(conn, h, start.timestamp(), end.timestamp())
        evidence: list[HostEvidence] = []
        for h in hosts:
            ev = facts[h.name].evidence
            r = remote.get(h.name, {})
            evidence.append(HostEvidence(**{
                **{k: getattr(ev, k) for k in HostEvidence.__dataclass_fields__},
                "not_inspected": r.get("reason") or None,
                "playbook_findings": tuple(r.get("findings", ())),
            }))
        findings = [f.to_dict() for f in assess(evidence, self.policy, now)]
        opened = self._open_tickets(cust.name, findings, now)
        host_rows = []
        for h in hosts:
            hf = facts[h.name]
            for fs, trend in zip(hf.evidence.filesystems, hf.trends["filesystems"], strict=True):
                days = days_until_full(fs, now)
                trend["days_until_full"] = round(days, 1) if days is not None else None
            reason = remote[h.name]["reason"]
            host_rows.append({"host": h.name, "inspected": not reason, "reason": reason,
                              "steps": remote[h.name]["steps"],
                              "observations": remote[h.name]["observations"], "trends": hf.trends,
                              **hf.summary})
        by_sev = counts_by_severity(_as_findings(findings))
        summary = {
            "hosts": len(hosts), "inspected": sum(1 for r in host_rows if r["inspected"]),
            "not_inspected": sum(1 for r in host_rows if not r["inspected"]), "findings": len(findings),
            "by_severity": by_sev, "tickets_opened": opened, "period_label": label,
        }
        finished = self.ctx.clock.now()
        with self.engine.begin() as conn:
            store.insert_findings(conn, ident, findings)
            store.complete_inspection(conn, ident, status="completed", now=finished.timestamp(),
                                      summary=summary, hosts=host_rows, run_ids=run_ids)
            record = store.get_inspection(conn, ident)
            assert record is not None
            model = self.inspection_model(record, cust, finished)
            store.save_report(conn, kind="inspection", customer=cust.name, period=label[:7],
                              now=finished.timestamp(), documents=render_all(model), inspection_id=ident)
        log.info("inspection %s of %s: %d hosts, %d findings, %d tickets opened", ident, cust.name,
                 len(hosts), len(findings), opened)
        return record

    def _open_tickets(self, customer: str, findings: list[dict[str, Any]], now: datetime) -> int:
        """Open a ticket per finding at or above the threshold; record each finding's ticket number."""
        tickets = self.ctx.areas.get("tickets")
        if tickets is None:
            return 0
        opened = 0
        wanted = {f.key for f in at_or_above(_as_findings(findings), self.settings.ticket_severity)}
        for f in findings:
            if f["key"] not in wanted:
                continue
            details = f"{f['details']}\n\nRecommendation: {f['recommendation']}".strip()
            row = tickets.open_from_finding(customer, f["host"], f["key"], f["title"], f["severity"],
                                            details, now)
            if row is not None:
                opened += 1
                f["ticket"] = row.number
            else:
                f["ticket"] = _open_ticket_number(self.engine, f["host"], f["key"])
        return opened

    # --- queries ----------------------------------------------------------------------------

    def get(self, ident: int, customers: tuple[str, ...] | None = None) -> dict[str, Any]:
        with self.engine.connect() as conn:
            record = store.get_inspection(conn, ident)
        if record is None or (customers is not None and record["customer"] not in customers):
            raise NotFound("inspection", ident)
        return record

    def list(self, *, customers: tuple[str, ...] | None = None, customer: str | None = None,
             host: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        scope = customers if customer is None else (
            (customer,) if customers is None or customer in customers else ())
        with self.engine.connect() as conn:
            return store.list_inspections(conn, customers=scope, host=host, limit=limit)

    def report(self, ident: int, fmt: str, customers: tuple[str, ...] | None = None) -> str:
        """The stored inspection report in ``fmt`` (html, md or json)."""
        if fmt not in store.FORMATS:
            raise InvalidInput("format must be html, md or json", field="format")
        record = self.get(ident, customers)
        with self.engine.connect() as conn:
            saved = store.get_report(conn, kind="inspection", inspection_id=ident)
        if saved is None:
            raise NotFound("inspection report", ident)
        del record
        return str(saved[store.FORMATS[fmt]])

    def inspection_model(self, record: dict[str, Any], cust: CustomerConfig, now: datetime) -> dict[str, Any]:
        """The report model of a stored inspection (what the JSON report is)."""
        return {
            "kind": "inspection", "id": record["id"], "status": record["status"],
            "trigger": record["trigger"],
            "customer": {"name": cust.name, "display_name": cust.display_name, "timezone": cust.timezone},
            "contract": contract_json(cust.contract),
            "period": {"label": record["summary"].get("period_label", ""), "start": record["period_start"],
                       "end": record["period_end"]},
            "started_at": record["started_at"], "finished_at": record["finished_at"],
            "generated_at": now.timestamp(),
            "summary": {k: v for k, v in record["summary"].items() if k != "period_label"},
            "findings": [{k: f[k] for k in ("key", "host", "severity", "category", "title", "details",
                                             "recommendation", "ticket", "evidence")}
                         for f in record["findings"]],
            "hosts": record["hosts"],
        }

    # --- scheduled reports and reminders ----------------------------------------------------

    def scheduled_service_report(self, customer: str, scheduled_for: datetime, now: datetime) -> int:
        """Store the service report of the month before ``scheduled_for`` (customer's time zone)."""
        from collector.services.service_reports import monthly_model

        cust = self.customer(customer)
        month = previous_month(scheduled_for, cust.timezone)
        model = monthly_model(self.ctx, customer, month, now)
        with self.engine.begin() as conn:
            return store.save_report(conn, kind="monthly", customer=customer, period=month,
                                     now=now.timestamp(), documents=render_all(model))

    def contract_reminder(self, customer: str, what: str, days: int, now: datetime) -> None:
        """Open a low-priority ticket: the warranty or support period ends in ``days`` days."""
        cust = self.customer(customer)
        end = cust.contract.warranty_end if what == "warranty" else cust.contract.support_end
        label = "warranty" if what == "warranty" else "free support period"
        title = f"The {label} of {cust.display_name or cust.name} ends on {end} ({days} days)"
        tickets = self.ctx.areas.get("tickets")
        if tickets is None:
            log.warning("reminder without a ticket area: %s", title)
            return
        tickets.open_from_finding(customer, None, f"contract:{what}:{end}:{days}d", title, "info",
                                  "Contact the customer about renewing the contract before it ends.", now)


def _as_findings(rows: list[dict[str, Any]]) -> list[Any]:
    from collector.core.inspection import Finding

    return [Finding(r["key"], r["host"], r["severity"], r["category"], r["title"], r["details"],
                    r["recommendation"]) for r in rows]


def _open_ticket_number(engine: Any, host: str, key: str) -> str | None:
    from collector.store.tickets import get_by_open_key

    with engine.connect() as conn:
        row = get_by_open_key(conn, f"{host or '-'}|finding:{key}")
    return row.number if row is not None else None


def install(ctx: AppContext) -> None:
    """Build the inspection service and the scheduler into ctx.areas; the server runs the scheduler."""
    from collector.scheduling.definitions import desired_jobs, reminder_kept
    from collector.scheduling.leader import leadership_for
    from collector.scheduling.scheduler import Scheduler
    from collector.services.inspection_metrics import InspectionMetrics

    svc = InspectionService(ctx)
    ctx.areas["inspections"] = svc
    ctx.metrics.append(InspectionMetrics(ctx.engine))
    cfg = ctx.config.schedule
    leader = leadership_for(ctx.engine, cfg.leader_lock_key)
    sched = Scheduler(ctx.engine, ctx.clock, leader=leader, workers=cfg.workers, context=ctx)
    ctx.areas["scheduler"] = sched
    ctx.closers.append(sched.shutdown)
    if not cfg.enabled:
        return

    def on_lead(now: datetime) -> None:
        sched.sync(desired_jobs(ctx.config, now), now, keep=lambda job_id: reminder_kept(job_id, ctx.config))

    async def scheduler_loop(stop: asyncio.Event) -> None:
        await asyncio.to_thread(sched.start_loop, on_lead, retry=cfg.leader_retry, max_idle=cfg.max_idle)
        try:
            await stop.wait()
        finally:
            await asyncio.to_thread(sched.shutdown)

    ctx.background.append(scheduler_loop)
