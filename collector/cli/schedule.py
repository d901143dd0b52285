"""`upkeep schedule list|runs`: the scheduler's jobs and what they did."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

from collector.cli.context import add_config_options, open_context


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("schedule", help="scheduled jobs: next runs, recent runs")
    ssub = p.add_subparsers(dest="schedule_command", metavar="ACTION", required=True)
    ls = ssub.add_parser("list", help="every job with its next run in the customer's time zone")
    add_config_options(ls)
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_jobs)
    rn = ssub.add_parser("runs", help="recent runs (ok, error, missed) of every job or of one")
    add_config_options(rn)
    rn.add_argument("--job", default=None)
    rn.add_argument("--limit", type=int, default=30)
    rn.add_argument("--json", action="store_true")
    rn.set_defaults(func=list_runs)


def _utc(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%MZ") if ts else "-"


def list_jobs(args: argparse.Namespace) -> int:
    """Jobs in the job store; before any collector has led, the jobs the configuration asks for."""
    from collector.scheduling.definitions import desired_jobs
    from collector.scheduling.scheduler import local
    from collector.store import schedule as store

    with open_context(args) as ctx:
        sched = ctx.area("scheduler")
        sched.start()
        now = ctx.clock.now()
        stored = {j.id: j for j in sched.jobs()}
        wanted = {s.id: s for s in desired_jobs(ctx.config, now)}
        with ctx.engine.connect() as conn:
            last = store.last_runs(conn)
        rows = []
        for job_id in sorted(set(stored) | set(wanted)):
            job, spec = stored.get(job_id), wanted.get(job_id)
            tz = job.timezone if job else spec.timezone  # type: ignore[union-attr]
            nxt = job.next_run if job else spec.trigger.get_next_fire_time(None, now)  # type: ignore[union-attr]
            shown = local(nxt, tz)
            prev = last.get(job_id)
            rows.append({
                "id": job_id, "name": job.name if job else spec.name,  # type: ignore[union-attr]
                "timezone": tz, "next_run_local": shown.strftime("%Y-%m-%d %H:%M %Z") if shown else "-",
                "next_run_utc": nxt.isoformat() if nxt else None,
                "stored": job is not None,
                "last_run": ({"scheduled_for": prev["scheduled_for"], "status": prev["status"]}
                             if prev else None),
            })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'JOB':<40}{'NEXT RUN (LOCAL)':<26}{'TIME ZONE':<20}LAST")
    for r in sorted(rows, key=lambda r: (r["next_run_utc"] or "9999", r["id"])):
        prev = r["last_run"]
        last = f"{_utc(prev['scheduled_for'])} {prev['status']}" if prev else "-"
        mark = "" if r["stored"] else " (not yet stored: no collector has led yet)"
        print(f"{r['id']:<40}{r['next_run_local']:<26}{r['timezone']:<20}{last}{mark}")
    return 0


def list_runs(args: argparse.Namespace) -> int:
    from collector.store import schedule as store

    with open_context(args) as ctx, ctx.engine.connect() as conn:
        runs = store.recent_runs(conn, args.job, args.limit)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    print(f"{'JOB':<40}{'SCHEDULED FOR':<19}{'STARTED':<19}{'STATUS':<8}ERROR")
    for r in runs:
        print(f"{r['job_id']:<40}{_utc(r['scheduled_for']):<19}{_utc(r['started_at']):<19}{r['status']:<8}"
              f"{r['error']}")
    return 0
