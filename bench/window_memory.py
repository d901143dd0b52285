"""Where a collector's memory goes at fleet scale: the recent window, then the rule engine's caches.

    .venv/bin/python bench/window_memory.py [--hosts 10000] [--reports 16] [--write]

Feeds a ``RecentWindow`` the fleet simulator's reports (bench/fleet_bench.py: 60 samples a
host, the values moving like a real host's) for ``--reports`` rounds at 15 s, then evaluates
the shipped rule pack once at the last instant. Reports resident memory (VmRSS) before, after
the first report of every host (each series created, one sample), after the last report, and
after the evaluation round (the engine keeps per-series state between rounds). Per series:
the fixed cost (after one report) and the cost of each further sample.

Not the server: no HTTP, store or alert state; it isolates the two structures that grow with
the fleet. The ingest benchmark (bench/fleet_bench.py) gives the server's own peak RSS.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet_bench import HostSim, sample_template  # noqa: E402
from rules_bench import load_rules  # noqa: E402
from sections import write_section  # noqa: E402

from collector.core.promql import EvaluationCache, compile_expr  # noqa: E402
from collector.core.window import RecentWindow  # noqa: E402

INTERVAL = 15.0


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def measure(hosts: int, reports: int) -> dict[str, float]:
    template = sample_template()
    rnd = random.Random(1)
    start = 1_800_000_000.0
    sims = [HostSim(rnd, start) for _ in range(hosts)]
    names = [f"host-{i:05d}" for i in range(hosts)]
    base = [{"host": n, "customer": "bench"} for n in names]
    gc.collect()
    before = rss_mb()
    window = RecentWindow(3600.0)
    after_first = before
    ts = start
    for k in range(reports):
        ts = start + INTERVAL * k
        for i in range(hosts):
            values = sims[i].values(template, ts)
            window.append_report(
                names[i], base[i], ts,
                [(s["name"], s["labels"], v) for s, v in zip(template, values, strict=True)],
            )
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=10000)
    p.add_argument("--reports", type=int, default=16)
    p.add_argument("--write", action="store_true", help="write the section of BENCHMARKS.md")
    args = p.parse_args()
    r = measure(args.hosts, args.reports)
    cmd = f".venv/bin/python bench/window_memory.py --hosts {args.hosts} --reports {args.reports} --write"
    text = render(r, cmd)
    print(text)
    if args.write:
        write_section("memory", text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
