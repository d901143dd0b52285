"""Rule evaluation cost: the shipped rule pack over a recent window of N node_exporter-like hosts.

    .venv/bin/python bench/rules_bench.py [--hosts 1000,3000,10000] [--repeat 3] [--no-write]

Each host has the series node_exporter and the agent report (CPU per mode, memory, filesystems,
disks, network, load, boot time, clock, temperatures, ``up``, ``upkeep_check_status``): 15 s
samples, six hours of them for the filesystem series the 6 h predictions read and 35 minutes for
the rest. Every alert ``expr`` of rules/*.yml is compiled and the whole pack evaluated at one
instant; the figure is the median over ``--repeat`` evaluations. Growth is reported as the time
per host at each size relative to the smallest: 1.0 is perfectly linear.

Series of one kind share their timestamp and value arrays (read-only during evaluation), which
keeps a 10,000-host window in memory without changing what evaluation does per series.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from array import array
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sections import write_section  # noqa: E402

from collector.core.promql import CompiledExpr, EvaluationCache, PromQLError, compile_expr  # noqa: E402
from collector.core.window import RecentWindow, Series  # noqa: E402
from collector.services.heap import HeapSettler  # noqa: E402

STEP = 15.0
NOW = 1_700_000_000.0
SHORT = 35 * 60
LONG = 6 * 3600
VARIANTS = 16  # distinct value arrays per kind of series

FALLBACK_RULES = [
    'node_filesystem_avail_bytes{fstype!~"tmpfs|squashfs"} / node_filesystem_size_bytes < 0.1',
    "predict_linear(node_filesystem_avail_bytes[6h], 4 * 3600) < 0",
    "predict_linear(node_filesystem_avail_bytes[1h], 86400) < 0",
    "node_filesystem_files_free / node_filesystem_files < 0.05",
    '100 * (1 - avg by (host) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 90',
    'sum by (host) (rate(node_cpu_seconds_total{mode="iowait"}[5m])) > 0.5',
    "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1",
    "1 - node_memory_SwapFree_bytes / node_memory_SwapTotal_bytes > 0.8 and node_memory_SwapTotal_bytes > 0",
    'node_load15 / on(host) count by (host) (node_cpu_seconds_total{mode="idle"}) > 2',
    "up == 0",
    'absent(up{job="node"})',
    "changes(node_boot_time_seconds[30m]) > 0",
    "rate(node_disk_io_time_seconds_total[5m]) > 0.9",
    "rate(node_network_receive_errs_total[10m]) + rate(node_network_transmit_errs_total[10m]) > 1",
    "abs(node_time_seconds - timestamp(up)) > 60",
    "node_hwmon_temp_celsius > 85",
    "upkeep_check_status == 2",
    "upkeep_check_status == 1",
    "increase(node_network_receive_drop_total[10m]) > 100",
    "deriv(node_hwmon_temp_celsius[10m]) > 0.1",
    "max_over_time(node_load1[10m]) > 50",
    "irate(node_disk_written_bytes_total[5m]) > 5e8",
    "topk by (host) (1, rate(node_disk_read_bytes_total[5m])) > 1e9",
    "count by (host) (upkeep_check_status > 0) > 3",
    'label_replace(up, "node", "$1", "host", "(.*)") == 0',
]


def load_rules() -> tuple[list[str], str]:
    files = sorted((ROOT / "rules").glob("*.yml"))
    exprs: list[str] = []
    for f in files:
        doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups") or []:
            for rule in group.get("rules") or []:
                if "expr" in rule:
                    exprs.append(str(rule["expr"]))
    if exprs:
        return exprs, ", ".join(str(f.relative_to(ROOT)) for f in files)
    return FALLBACK_RULES, "bench/rules_bench.py's own representative set"


def _times(span: float) -> array:
    n = int(span / STEP)
    return array("d", (NOW - (n - 1 - i) * STEP for i in range(n)))


class Shapes:
    """Value arrays for each kind of series, a few variants each, built once."""

    def __init__(self) -> None:
        self.short_ts = _times(SHORT)
        self.long_ts = _times(LONG)
        n, m = len(self.short_ts), len(self.long_ts)
        self.v: dict[str, list[array]] = {}
        for k in range(VARIANTS):
            def counter(rate: float, n: int = n, k: int = k) -> array:
                return array("d", (1e6 + (k + 1) * rate * i * STEP for i in range(n)))

            def gauge(base: float, amp: float, n: int = n, k: int = k) -> array:
                return array("d", (base + amp * math.sin(i / 7 + k) for i in range(n)))

            self.v.setdefault("cpu", []).append(counter(0.1))
            self.v.setdefault("disk", []).append(counter(0.05))
            self.v.setdefault("bytes", []).append(counter(2e6))
            self.v.setdefault("errs", []).append(counter(0.01 * (k % 3)))
            self.v.setdefault("packets", []).append(counter(500.0))
            self.v.setdefault("mem", []).append(gauge(4e9, 1e8))
            self.v.setdefault("load", []).append(gauge(1.0 + k / 4, 0.5))
            self.v.setdefault("temp", []).append(gauge(50.0 + k, 3.0))
            self.v.setdefault("const_total", []).append(array("d", [16e9] * n))
            self.v.setdefault("fs_size", []).append(array("d", [1e11 * (1 + k % 4)] * n))
            self.v.setdefault("fs_files", []).append(array("d", [6.5e6] * n))
            self.v.setdefault("fs_files_free", []).append(gauge(3e6, 1e4))
            self.v.setdefault("fs_avail", []).append(
                array("d", (5e10 - (k - 4) * 1e3 * i * STEP + 1e7 * math.sin(i / 30) for i in range(m)))
            )
            self.v.setdefault("boot", []).append(array("d", [NOW - 86400 * (k + 1)] * n))
            self.v.setdefault("time", []).append(array("d", (t + (k == 3) * 90 for t in self.short_ts)))
            self.v.setdefault("one", []).append(array("d", [1.0] * n))
            self.v.setdefault("status", []).append(array("d", [float(k % 4 == 0)] * n))


SERIES_KINDS: list[tuple[str, dict[str, str], str, bool]] = []  # name, labels, shape, long history
for cpu in range(4):
    for mode in ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"):
        SERIES_KINDS.append(("node_cpu_seconds_total", {"cpu": str(cpu), "mode": mode}, "cpu", False))
for name, shape in (("node_memory_MemAvailable_bytes", "mem"), ("node_memory_MemTotal_bytes", "const_total"),
                    ("node_memory_SwapFree_bytes", "mem"), ("node_memory_SwapTotal_bytes", "const_total"),
                    ("node_memory_Cached_bytes", "mem")):
    SERIES_KINDS.append((name, {}, shape, False))
for mp, dev, fstype in (("/", "sda1", "ext4"), ("/var", "sda2", "xfs"), ("/boot", "sda3", "vfat")):
    labels = {"mountpoint": mp, "device": dev, "fstype": fstype}
    SERIES_KINDS += [
        ("node_filesystem_avail_bytes", labels, "fs_avail", True),
        ("node_filesystem_size_bytes", labels, "fs_size", False),
        ("node_filesystem_files", labels, "fs_files", False),
        ("node_filesystem_files_free", labels, "fs_files_free", False),
    ]
for dev in ("sda", "sdb"):
    SERIES_KINDS += [
        ("node_disk_io_time_seconds_total", {"device": dev}, "disk", False),
        ("node_disk_read_bytes_total", {"device": dev}, "bytes", False),
        ("node_disk_written_bytes_total", {"device": dev}, "bytes", False),
    ]
for dev in ("eth0", "eth1"):
    for d in ("receive", "transmit"):
        SERIES_KINDS += [
            (f"node_network_{d}_bytes_total", {"device": dev}, "bytes", False),
            (f"node_network_{d}_packets_total", {"device": dev}, "packets", False),
            (f"node_network_{d}_errs_total", {"device": dev}, "errs", False),
            (f"node_network_{d}_drop_total", {"device": dev}, "errs", False),
        ]
for name in ("node_load1", "node_load5", "node_load15"):
    SERIES_KINDS.append((name, {}, "load", False))
for chip, sensor in (("coretemp", "temp1"), ("coretemp", "temp2")):
    SERIES_KINDS.append(("node_hwmon_temp_celsius", {"chip": chip, "sensor": sensor}, "temp", False))
SERIES_KINDS += [
    ("node_boot_time_seconds", {}, "boot", False),
    ("node_time_seconds", {}, "time", False),
    ("up", {"job": "node"}, "one", False),
    ("upkeep_agent_spool_reports", {}, "status", False),
]
for check, kind in (("disk", "disk"), ("nginx", "process"), ("backup", "command"), ("ntp", "command"),
                    ("raid", "command")):
    SERIES_KINDS.append(("upkeep_check_status", {"check": check, "kind": kind}, "status", False))


def build_window(hosts: int, shapes: Shapes) -> RecentWindow:
    window = RecentWindow(retention=LONG + 600)
    for h in range(hosts):
        host = f"host-{h:05d}"
        base = {"host": host, "customer": f"cust-{h % 97:02d}"}
        window.append_report(host, base, 0.0, [(name, labels, 0.0) for name, labels, _, _ in SERIES_KINDS])
        # The report created one series per kind, in order; give each its history in one step.
        created: list[Series] = list(window._by_host[host].values())
        for i, (series, (_, _, shape, long_history)) in enumerate(zip(created, SERIES_KINDS, strict=True)):
            series.ts = shapes.long_ts if long_history else shapes.short_ts
            series.vs = shapes.v[shape][(h + i) % VARIANTS]
    return window


def advance(shapes: Shapes) -> None:
    """One more sample for every series: each shared array grows by one step."""
    for arr in {id(a): a for a in (shapes.short_ts, shapes.long_ts)}.values():
        arr.append(arr[-1] + STEP)
    for variants in shapes.v.values():
        for a in variants:
            a.append(2 * a[-1] - a[-2])


def evaluate_all(exprs: list[CompiledExpr], window: RecentWindow, t: float) -> tuple[float, int]:
    """One rule-evaluation round, as the collector runs it: every expression, one shared cache."""
    cache = EvaluationCache()
    gc.collect()
    start = time.process_time()
    alerts = 0
    for e in exprs:
        value = e.evaluate(window, t, cache=cache)
        alerts += len(value) if isinstance(value, list) else 0
    return time.process_time() - start, alerts


def measure(
    exprs: list[CompiledExpr], window: RecentWindow, shapes: Shapes, repeat: int
) -> tuple[float, float, int]:
    """The first round (caches cold) and the median of the next ``repeat``, each after one new sample."""
    cold, alerts = evaluate_all(exprs, window, NOW)
    warm: list[float] = []
    for r in range(1, repeat + 1):
        advance(shapes)
        seconds, alerts = evaluate_all(exprs, window, NOW + r * STEP)
        warm.append(seconds)
    return cold, statistics.median(warm), alerts


def measure_size(exprs: list[CompiledExpr], n: int, repeat: int) -> tuple[int, int, int, float, float, int]:
    """Hosts, series, samples, the first round and the steady one for a window of ``n`` hosts."""
    shapes = Shapes()
    window = build_window(n, shapes)
    series, samples = window.series_count(), window.sample_count()
    # As the collector's rule loop does once the window has grown (collector/services/heap.py).
    HeapSettler().maybe_settle(series, 0.0)
    cold, warm, alerts = measure(exprs, window, shapes, repeat)
    return n, series, samples, cold, warm, alerts


# -- the peer: Prometheus' own engine over the same series -------------------------------------

def _openmetrics(window: RecentWindow, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for name in sorted(window.names()):
            for s in window.series_named(name):
                inner = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()) if k != "__name__")
                head = f"{name}{{{inner}}} "
                out.writelines(f"{head}{v!r} {t:.3f}\n" for t, v in zip(s.ts, s.vs, strict=True))
        out.write("# EOF\n")


def peer_rounds(hosts: int, texts: list[str], repeat: int) -> tuple[float, float, float] | None:
    """Wall time of our first round, the median of our next rounds, and the median round of the
    same queries in a real Prometheus over the same series; None without Prometheus installed."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus is None or promtool is None:
        return None
    shapes = Shapes()
    window = build_window(hosts, shapes)
    exprs = [compile_expr(t) for t in texts]

    def our_round() -> float:
        cache = EvaluationCache()
        start = time.perf_counter()
        for e in exprs:
            e.evaluate(window, NOW, cache=cache)
        return time.perf_counter() - start

    first = our_round()
    ours = statistics.median(our_round() for _ in range(repeat))
    results = [e.evaluate(window, NOW) for e in exprs]
    ours_found = [len(r) if isinstance(r, list) else 1 for r in results]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _openmetrics(window, folder / "series.om")
        subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "series.om", "data"],
                       cwd=folder, check=True, capture_output=True, timeout=1800)
        (folder / "prometheus.yml").write_text("global: {}\n", encoding="utf-8")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = subprocess.Popen(
            [prometheus, "--config.file=prometheus.yml", "--storage.tsdb.path=data",
             "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    time.sleep(0.2)

            found: list[int] = []

            def prometheus_round() -> float:
                found.clear()
                start = time.perf_counter()
                for t in texts:
                    query = urllib.parse.urlencode({"query": t, "time": f"{NOW:.3f}"})
                    with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=120) as r:
                        answer = json.load(r)
                    if answer["status"] != "success":
                        raise RuntimeError(f"Prometheus failed {t!r}")
                    found.append(len(answer["data"]["result"]))
                return time.perf_counter() - start

            prometheus_round()  # load what the queries touch, as a running server has it
            if found != ours_found:
                raise RuntimeError(f"Prometheus and upkeep disagree on result sizes: {found} != {ours_found}")
            theirs = statistics.median(prometheus_round() for _ in range(repeat))
        finally:
            server.terminate()
            server.wait(timeout=30)

    return first, ours, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1000,3000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    parser.add_argument(
        "--peer-hosts", type=int, default=100, help="hosts for the side-by-side run with Prometheus; 0: none"
    )
    parser.add_argument("--measure-one", type=int, default=0, help=argparse.SUPPRESS)  # one size, as JSON
    args = parser.parse_args()
    sizes = [int(x) for x in args.hosts.split(",")]
    texts, source = load_rules()
    compiled: list[CompiledExpr] = []
    refused: list[str] = []
    for t in texts:
        try:
            compiled.append(compile_expr(t))
        except PromQLError as e:
            refused.append(f"{t.strip()[:60]!r}: {e}")
    if args.measure_one:
        print(json.dumps(measure_size(compiled, args.measure_one, args.repeat)))
        return 0
    rows: list[tuple[int, int, int, float, float, int]] = []
    load = os.getloadavg()
    for n in sizes:
        # Each size in a process of its own, as a collector has one window: in one process the
        # later sizes would run on a heap laid out by the earlier ones, with expressions whose
        # caches were built over another window.
        out = subprocess.run(
            [sys.executable, __file__, "--measure-one", str(n), "--repeat", str(args.repeat)],
            check=True, capture_output=True, text=True,
        )
        n, series, samples, cold, warm, alerts = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append((n, series, samples, cold, warm, alerts))
        print(f"{n:>6} hosts  {series:>8} series  first {cold * 1000:9.1f} ms  then {warm * 1000:9.1f} ms"
              f"  ({alerts} alerts)", flush=True)
    base = rows[0][4] / rows[0][0]
    lines = [
        "<!-- bench:rules -->",
        "### Rule evaluation (collector/core/promql)",
        "",
        f"One evaluation round of every alert expression of {source} ({len(compiled)} expressions, one",
        "shared EvaluationCache) over the recent window. *First*: the round right after the window is",
        "built, when selector, label and regression caches and the per-series reset and stale-marker",
        "marks are cold. *Steady*: median of the next",
        f"{args.repeat} rounds, each after one new sample per series (as every 15 s in operation).",
        f"{len(SERIES_KINDS)} series per host, 15 s samples (6 h for the filesystem series the predictions",
        "read, 35 min for the rest); each size in a process of its own. Growth: steady time per host",
        "relative to the smallest size",
        "(1.00 = linear). Times are CPU time of the evaluating process (time.process_time): the",
        "machine's 2 cores were shared with other work while measured, which inflates wall time",
        f"(load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after; CPU time suffers too, through",
        f"shared caches). Python {platform.python_version()}, {platform.machine()}.",
        "",
        *_goal(rows),
        "",
        "| hosts | series | samples | first round | steady round (median) | steady per host | growth |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, series, samples, cold, warm, _ in rows:
        lines.append(
            f"| {n:,} | {series:,} | {samples:,} | {cold * 1000:,.0f} ms | {warm * 1000:,.0f} ms"
            f" | {warm / n * 1e6:,.0f} µs | {warm / n / base:.2f} |"
        )
    if args.peer_hosts:
        found = peer_rounds(args.peer_hosts, [c.text for c in compiled], args.repeat)
        if found is not None:
            first, ours, theirs = found
            print(f"peer at {args.peer_hosts} hosts: ours {first * 1000:.1f} ms first, {ours * 1000:.1f} ms"
                  f" then; Prometheus {theirs * 1000:.1f} ms")
            lines += [
                "",
                f"Side by side with the peer, Prometheus {_version('prometheus')}: its own engine over the",
                "same series (written to a TSDB with promtool), the same expressions as instant queries",
                f"over HTTP at the same instant; {args.peer_hosts} hosts, wall time, median of {args.repeat}",
                "rounds after one warm-up round. Ours: the first round (cold caches), then the median of",
                "rounds at the same instant (warm caches, as a steady rule loop has them). Both engines",
                "return the same number of samples for every expression (checked).",
                "",
                "| hosts | upkeep first round | upkeep warm round | Prometheus | ratio (warm / Prometheus) |",
                "|---:|---:|---:|---:|---:|",
                f"| {args.peer_hosts:,} | {first * 1000:,.1f} ms | {ours * 1000:,.1f} ms"
                f" | {theirs * 1000:,.1f} ms | {ours / theirs:.2f} |",
            ]
    if refused:
        lines += ["", "Refused at compile time (not evaluated): " + "; ".join(refused)]
    lines += ["", "Command: `.venv/bin/python bench/rules_bench.py --hosts "
              f"{args.hosts} --repeat {args.repeat} --peer-hosts {args.peer_hosts}`", "<!-- /bench:rules -->"]
    section = "\n".join(lines)
    print(section)
    if not args.no_write:
        write_section("rules", section)
    return 0


GOAL_HOSTS = 10_000
GOAL_SECONDS = 1.0


def _goal(rows: list[tuple[int, int, int, float, float, int]]) -> list[str]:
    """The goal's line: a steady round at 10,000 hosts under 1 s, cost growing linearly."""
    at = [warm for n, _, _, _, warm, _ in rows if n == GOAL_HOSTS]
    if not at:
        return [f"Goal: a steady round at {GOAL_HOSTS:,} hosts under {GOAL_SECONDS:g} s (not measured here)."]
    verdict = "met" if at[0] < GOAL_SECONDS else "**not met**"
    return [f"Goal: a steady round at {GOAL_HOSTS:,} hosts under {GOAL_SECONDS:g} s of CPU: {verdict}"
            f" ({at[0] * 1000:,.0f} ms)."]


def _version(binary: str) -> str:
    found = shutil.which(binary)
    if found is None:
        return "?"
    out = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=30)
    words = (out.stdout or out.stderr).split()
    return words[2] if len(words) > 2 else "?"


if __name__ == "__main__":
    raise SystemExit(main())
