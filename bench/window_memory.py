"""Where a collector's memory goes at fleet scale: the recent window, then the rule engine's caches.

    .venv/bin/python bench/window_memory.py [--hosts 10000] [--reports 16] [--write]
    .venv/bin/python bench/window_memory.py --hosts 3000 --steady-hours 6.25 [--write]

Feeds a ``RecentWindow`` the fleet simulator's reports (bench/fleet_bench.py: 60 samples a
host, the values moving like a real host's) for ``--reports`` rounds at 15 s, then evaluates
the shipped rule pack once at the last instant. Reports resident memory (VmRSS) before, after
the first report of every host (each series created, one sample), after the last report, and
after the evaluation round (the engine keeps per-series state between rounds). Per series:
the fixed cost (after one report) and the cost of each further sample.

With ``--steady-hours``: that long of reports to two windows, each in its own process, side by
side: one keeping every series as far back as the shipped pack's longest range (how the window
was kept before per-metric depths: 6 h, for predict_linear over [6h]), one keeping each metric
as far back as the pack reads it (the collector's fit, collector/services/alerts.py). Both are
trimmed every simulated minute as the server's heartbeat loop does. At the end each evaluates
the pack once, and each metric's count_over_time over the longest range a rule reads it; the
two must agree, or the shallower window lost something a rule reads (exit 1).

Not the server: no HTTP, store or alert state; it isolates the two structures that grow with
the fleet. The ingest benchmark (bench/fleet_bench.py) gives the server's own peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import multiprocessing
import os
import platform
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import orjson  # noqa: E402
from fleet_bench import HostSim, sample_template  # noqa: E402
from rules_bench import load_rules  # noqa: E402
from sections import write_section  # noqa: E402

from collector.config.server import RetentionConfig  # noqa: E402
from collector.core.promql import DEFAULT_LOOKBACK, EvaluationCache, compile_expr  # noqa: E402
from collector.core.promql.nodes import merge_reaches  # noqa: E402
from collector.core.window import RecentWindow  # noqa: E402
from collector.services.ingest import TRIM_SLACK  # noqa: E402

INTERVAL = 15.0
LAYOUTS = ("uniform", "per-name")
WINDOW_DEFAULT = RetentionConfig().window


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


START = 1_800_000_000.0


class Fleet:
    """``hosts`` simulated hosts (the same ones on every run), fed to a window a report at a time."""

    def __init__(self, hosts: int, reboots: list[float | None] | None = None) -> None:
        self.template = sample_template()
        rnd = random.Random(1)
        self.sims = [HostSim(rnd, START, reboots[i] if reboots else None) for i in range(hosts)]
        self.names = [f"host-{i:05d}" for i in range(hosts)]
        self.base = [{"host": n, "customer": "bench"} for n in self.names]

    def report(self, window: RecentWindow, ts: float) -> None:
        """Every host's report at ``ts``."""
        template = self.template
        for sim, name, base in zip(self.sims, self.names, self.base, strict=True):
            values = sim.values(template, ts)
            window.append_report(
                name, base, ts, [(s["name"], s["labels"], v) for s, v in zip(template, values, strict=True)]
            )


def measure(hosts: int, reports: int) -> dict[str, float]:
    fleet = Fleet(hosts)
    gc.collect()
    before = rss_mb()
    window = RecentWindow(3600.0)
    after_first = before
    ts = START
    for k in range(reports):
        ts = START + INTERVAL * k
        fleet.report(window, ts)
        if k == 0:
            gc.collect()
            after_first = rss_mb()
    gc.collect()
    after_all = rss_mb()
    texts, _ = load_rules()
    exprs = [compile_expr(t) for t in texts]
    started = time.process_time()
    cache = EvaluationCache()
    for e in exprs:
        e.evaluate(window, ts + 1.0, cache=cache)
    del cache
    gc.collect()
    evaluated = rss_mb()
    series = window.series_count()
    return {
        "hosts": hosts,
        "series": series,
        "reports": reports,
        "window_first_mb": after_first - before,
        "window_mb": after_all - before,
        "engine_mb": evaluated - after_all,
        "fixed_b": (after_first - before) * 2**20 / series,
        "per_sample_b": (after_all - after_first) * 2**20 / (series * max(1, reports - 1)),
        "round_s": time.process_time() - started,
    }


def render(r: dict[str, float], cmd: str) -> str:
    total = r["window_mb"] + r["engine_mb"]
    return "\n".join([
        "## Memory at fleet scale: the recent window and the rule engine's caches",
        "",
        f"`{cmd}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        f"{r['hosts']:,} simulated hosts (bench/fleet_bench.py's reports, 60 samples each), "
        f"{r['reports']} reports each at 15 s, then one evaluation round of the shipped rule pack. "
        "Resident memory (VmRSS) differences in one process; no HTTP server, store or alert state.",
        "",
        "| part | MB | per series |",
        "|---|---:|---:|",
        f"| window after each host's first report ({r['series']:,} series, one sample each) "
        f"| {r['window_first_mb']:,.0f} | {r['fixed_b']:,.0f} B |",
        f"| window after {r['reports']} reports | {r['window_mb']:,.0f} "
        f"| +{r['per_sample_b']:.1f} B a sample |",
        f"| rule engine's per-series state after one round ({r['round_s']:.1f} s CPU) "
        f"| {r['engine_mb']:,.0f} | {r['engine_mb'] * 2**20 / r['series']:,.0f} B |",
        f"| both | {total:,.0f} | {total * 2**20 / r['series']:,.0f} B |",
        "",
        "The ingest goal (under 300 MB at 30,000 hosts, about 1.8 million series) leaves about 170 B a "
        "series for everything; the fixed cost per series above is what a denser window layout must cut.",
        "",
    ])


def run_depth(layout: str, hosts: int, reports: int, queue: Any) -> None:
    texts, _ = load_rules()
    exprs = [compile_expr(t) for t in texts]
    end = START + INTERVAL * (reports - 1)
    # One host in a hundred reboots in the last 20 minutes, so that some rules fire.
    fleet = Fleet(hosts, [end - 1200.0 + 30.0 * (i // 100) % 1200.0 if i % 100 == 7 else None
                          for i in range(hosts)])
    gc.collect()
    before = rss_mb()
    reaches = merge_reaches(e.reaches(DEFAULT_LOOKBACK) for e in exprs)
    if layout == "uniform":
        window = RecentWindow(max(WINDOW_DEFAULT, max(reaches.values()) + INTERVAL))
    else:
        window = RecentWindow(WINDOW_DEFAULT)
        window.fit(reaches, floor=max(WINDOW_DEFAULT, DEFAULT_LOOKBACK + INTERVAL), margin=INTERVAL)
    cpu = time.process_time()
    ts = START
    for k in range(reports):
        ts = START + INTERVAL * k
        fleet.report(window, ts)
        if k % 4 == 3:  # a minute: the heartbeat loop's trim
            for _ in window.trim_steps(ts, slack=min(TRIM_SLACK, window.retention / 10)):
                pass
    gc.collect()
    after = rss_mb()
    cache = EvaluationCache()
    results = []
    for e in exprs:
        value = e.evaluate(window, ts + 1.0, cache=cache)
        if isinstance(value, list):
            results.append(sorted((sorted(s.labels.items()), s.value) for s in value))
        else:
            results.append(value)
    # And what each metric's series hold as far back as the rules read them.
    for name, far in reaches.items():
        if name is not None:
            value = compile_expr(f"count_over_time({name}[{far:g}s])").evaluate(window, ts + 1.0)
            assert isinstance(value, list)
            results.append(sorted((sorted(s.labels.items()), s.value) for s in value))
    digest = hashlib.sha256(orjson.dumps(results)).hexdigest()
    queue.put({
        "layout": layout,
        "mb": after - before,
        "series": window.series_count(),
        "samples": window.sample_count(),
        "deepest_h": window.deepest / 3600.0,
        "retention_min": window.retention / 60.0,
        "alerts": sum(len(r) for r in results[: len(exprs)] if isinstance(r, list)),
        "rows": sum(len(r) for r in results if isinstance(r, list)),
        "digest": digest,
        "cpu_s": time.process_time() - cpu,
    })


def measure_depth(hosts: int, hours: float) -> dict[str, Any]:
    reports = int(hours * 3600 / INTERVAL)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=run_depth, args=(layout, hosts, reports, queue)) for layout in LAYOUTS]
    for p in procs:
        p.start()
    got = {r["layout"]: r for r in (queue.get() for _ in procs)}
    for p in procs:
        p.join()
        if p.exitcode:
            raise SystemExit(f"a window run failed (exit {p.exitcode})")
    return {"hosts": hosts, "hours": hours, "reports": reports, **got}


def render_depth(r: dict[str, Any], cmd: str) -> str:
    u, p = r["uniform"], r["per-name"]
    same = "yes" if u["digest"] == p["digest"] else "**no**"
    rows = []
    for name, x in (
        ("every metric as deep as the longest rule", u),
        ("each metric as deep as the rules read it", p),
    ):
        rows.append(
            f"| {name} | {x['retention_min']:,.0f} min, deepest {x['deepest_h']:.2f} h | {x['series']:,} "
            f"| {x['samples']:,} | {x['mb']:,.0f} |"
        )
    return "\n".join([
        "## The recent window at steady state: per-metric depth",
        "",
        f"`{cmd}` — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
        f"Python {platform.python_version()}.",
        "",
        f"{r['hosts']:,} simulated hosts, {r['hours']:g} h of reports at 15 s ({r['reports']:,} each, "
        "60 samples), trimmed every simulated minute, then one round of the shipped rule pack; the two "
        "windows side by side, each in its own process. MB: resident memory (VmRSS) the window added.",
        "",
        "| window | every series kept / deepest metric | series | samples held | MB |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        f"Per-metric depth holds {u['mb'] / max(p['mb'], 1e-9):.1f}x less. "
        f"Same results from both windows: {same} (the pack's rules: {u['alerts']:,} rows; "
        f"with count_over_time of each metric over the longest range a rule reads it: {u['rows']:,} rows).",
        "",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=10000)
    p.add_argument("--reports", type=int, default=16)
    p.add_argument("--steady-hours", type=float, default=0.0,
                   help="instead: that long at steady state, every metric as deep as the longest rule "
                        "against each as deep as the rules read it")
    p.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    args = p.parse_args()
    cmd = f".venv/bin/python bench/window_memory.py --hosts {args.hosts}"
    if args.steady_hours:
        r = measure_depth(args.hosts, args.steady_hours)
        text = render_depth(r, f"{cmd} --steady-hours {args.steady_hours:g} --write")
        same = r["uniform"]["digest"] == r["per-name"]["digest"]
    else:
        text = render(measure(args.hosts, args.reports), f"{cmd} --reports {args.reports} --write")
        same = True
    print(text)
    if args.write:
        write_section("depth" if args.steady_hours else "memory", text)
    return 0 if same else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
