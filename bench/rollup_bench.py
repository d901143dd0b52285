"""How fast the report log folds into 5-minute rollups.

    .venv/bin/python bench/rollup_bench.py [--hosts 2000] [--reports 20] [--repeat 3] [--write]

Logs ``--reports`` reports at 15 s from each of ``--hosts`` simulated hosts (bench/fleet_bench.py's
60-sample reports) through the ingest service into a SQLite store, then times ``run_rollups``
over all of them (process CPU time; the garbage collector set as ``upkeep serve`` sets it).
Each repeat is a fresh store. At 2,000 reports a second, a collector needs 2,000 divided by
the figure of a core for its rollups.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402
from fleet_bench import HostSim, sample_template  # noqa: E402
from sections import write_section  # noqa: E402

from collector.cli.serve import GC_THRESHOLDS  # noqa: E402
from collector.config import build_config  # noqa: E402
from collector.core.window import RecentWindow  # noqa: E402
from collector.ports import FixedClock  # noqa: E402
from collector.services import AppContext  # noqa: E402
from collector.services import ingest as ingest_area  # noqa: E402
from collector.services.enrollment import create_enrollment_token, enroll  # noqa: E402
from collector.services.ingest_parse import parse_body  # noqa: E402
from collector.services.rollups import run_rollups  # noqa: E402
from collector.store.engine import open_store  # noqa: E402

START = 1_800_000_000.0


def one_run(hosts: int, reports: int, seed: int) -> tuple[int, float]:
    with tempfile.TemporaryDirectory() as d:
        config = build_config({"data_dir": d, "customers": [{"name": "bench"}]})
        now = START + 15 * reports
        ctx = AppContext(config=config, engine=open_store(config),
                         clock=FixedClock(datetime.fromtimestamp(now, UTC)), window=RecentWindow(3600.0))
        ctx.closers.append(ctx.engine.dispose)
        ingest_area.install(ctx)
        try:
            svc = ctx.area("ingest")
            template, rnd = sample_template(), random.Random(seed)
            _tok, secret = create_enrollment_token(ctx, "bench", expires_in=3600, once=False, now=now)
            fleet = []
            for i in range(hosts):
                aid = uuid.uuid4().hex
                token = enroll(ctx, secret, aid, {"hostname": f"host-{i:05d}"}, now).host_token
                fleet.append((aid, svc.authenticate(token), HostSim(rnd, START)))
            for k in range(reports):
                ts = START + 15 * k
                for aid, caller, sim in fleet:
                    values = sim.values(template, ts)
                    doc = {"agent_id": aid, "seq": k + 1, "ts": ts, "checks": [], "samples": [
                        {"name": s["name"], "labels": s["labels"], "value": v}
                        for s, v in zip(template, values, strict=True)]}
                    parsed = parse_body(orjson.dumps(doc), now=now, limits=config.ingest,
                                        max_age=config.retention.reports)
                    svc.store_sync(caller, parsed, now)
            gc.collect()
            started = time.process_time()
            folded = run_rollups(ctx, now)
            return folded, time.process_time() - started
        finally:
            ctx.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=2000)
    p.add_argument("--reports", type=int, default=20)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    args = p.parse_args()
    gc.set_threshold(*GC_THRESHOLDS)
    rates = []
    for r in range(args.repeat):
        folded, cpu = one_run(args.hosts, args.reports, r + 1)
        if folded != args.hosts * args.reports:
            raise SystemExit(f"folded {folded} reports, expected {args.hosts * args.reports}")
        rates.append(folded / cpu)
        print(f"run {r + 1}: {folded} reports in {cpu:.2f} s CPU", flush=True)
    rate = statistics.median(rates)
    cmd = (f".venv/bin/python bench/rollup_bench.py --hosts {args.hosts} --reports {args.reports}"
           f" --repeat {args.repeat} --write")
    text = "\n".join([
        "## Rollups: folding the report log",
        "",
        f"`{cmd}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        f"{args.hosts:,} hosts x {args.reports} reports of 60 samples (one 5-minute bucket each), logged "
        "through the ingest service into SQLite, then one `run_rollups` over all of them.",
        "",
        "| runs | reports folded a CPU-second (median) | each run | a core's share at 2,000 reports/s |",
        "|---:|---:|---|---:|",
        f"| {args.repeat} | {rate:,.0f} | {', '.join(f'{x:,.0f}' for x in rates)} | {2000 / rate:.0%} |",
        "",
    ])
    print(text)
    if args.write:
        write_section("rollups", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
