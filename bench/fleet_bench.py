"""Fleet simulator: N agents push realistic reports every 15 s to a real `upkeep serve`,
and the same load goes to Prometheus' pushgateway in the same run, as the reference.

    .venv/bin/python bench/fleet_bench.py --hosts 30000 --duration 60 --write

Each simulated agent sends ~60 samples (node_exporter names) and 3 checks per
report on its own 15 s schedule (random phase). Latency is measured from the
moment a report was due, so a collector that falls behind shows it. Reported:
sustained acknowledged reports/s (after warm-up), p50/p99 latency, the collector's
peak RSS, and that every acknowledged report is in the database exactly once.
The load generator runs on the same machine (its own processes).
Not a test: nothing here is timed by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from sections import write_section  # noqa: E402

PUSHGATEWAY = "/usr/bin/prometheus-pushgateway"
INTERVAL = 15.0


# -- the simulated agent's report ----------------------------------------------------------------
def sample_template() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for cpu in range(2):
        for mode in ("idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"):
            out.append({"name": "node_cpu_seconds_total", "labels": {"cpu": str(cpu), "mode": mode}})
    for mp in ("/", "/boot", "/var", "/home"):
        for n in ("node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_filesystem_files_free"):
            out.append({"name": n, "labels": {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": mp}})
    for dev in ("eth0", "lo"):
        for n in ("receive_bytes", "transmit_bytes", "receive_errs", "transmit_errs"):
            out.append({"name": f"node_network_{n}_total", "labels": {"device": dev}})
    for n in (
        "node_load1",
        "node_load5",
        "node_load15",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_boot_time_seconds",
        "node_time_seconds",
        "upkeep_processes",
        "upkeep_threads",
        "upkeep_agent_collection_duration_seconds",
        "upkeep_agent_spool_reports",
    ):
        out.append({"name": n, "labels": {}})
    for c in ("nginx", "disk", "ntp"):
        out.append({"name": "upkeep_check_status", "labels": {"check": c, "kind": "process"}})
        out.append({"name": "upkeep_check_duration_seconds", "labels": {"check": c, "kind": "process"}})
    out.append({"name": "node_disk_io_time_seconds_total", "labels": {"device": "sda"}})
    out.append({"name": "node_disk_read_bytes_total", "labels": {"device": "sda"}})
    out.append({"name": "node_disk_written_bytes_total", "labels": {"device": "sda"}})
    out.append({"name": "node_context_switches_total", "labels": {}})
    out.append({"name": "node_intr_total", "labels": {}})
    out.append({"name": "node_procs_running", "labels": {}})
    return out


CHECKS = [
    {"name": c, "kind": "process", "status": 0, "output": f"PROCS OK: {c}", "duration": 0.004}
    for c in ("nginx", "disk", "ntp")
]


class HostSim:
    """One simulated host's figures, moving the way a real host's do.

    Counters (CPU seconds, bytes, interrupts) only grow, at plausible rates; gauges (load,
    available memory, free space) wander a little around their own level; sizes, totals and
    the boot time stay put. So the shipped rules see a healthy fleet, as a service center's
    usually is, except for the hosts told to ``reboot_at`` a moment in the run: their boot
    time jumps, which fires HostRebooted and opens a ticket, as a patch night would.
    """

    GIB = 1024.0**3
    CPU_SHARE: ClassVar[dict[str, float]] = {
        "idle": 0.86, "user": 0.08, "system": 0.035, "iowait": 0.01,
        "irq": 0.001, "softirq": 0.003, "steal": 0.001, "nice": 0.0,
    }

    def __init__(self, rnd: random.Random, now: float, reboot_at: float | None = None) -> None:
        self.rnd = rnd
        self.uptime = rnd.uniform(3, 90) * 86400.0
        self.boot = now - self.uptime
        self.reboot_at = reboot_at
        self.last = now
        self.mem_total = rnd.choice((8.0, 16.0, 32.0, 64.0)) * self.GIB
        self.mem_level = rnd.uniform(0.35, 0.75)
        self.load_level = rnd.uniform(0.05, 1.5)
        self.fs = {mp: (size * self.GIB, rnd.uniform(0.3, 0.8) * size * self.GIB, rnd.uniform(0.6, 0.95))
                   for mp, size in (("/", 50.0), ("/boot", 1.0), ("/var", 20.0), ("/home", 200.0))}
        self.counters: dict[int, float] = {}

    def values(self, template: list[dict[str, Any]], ts: float) -> list[float]:
        rnd = self.rnd
        if self.reboot_at is not None and ts >= self.reboot_at:
            self.boot, self.counters, self.reboot_at = ts - 40.0, {}, None
        dt = max(0.0, ts - self.last)
        self.last = ts
        up = ts - self.boot
        out: list[float] = []
        for k, s in enumerate(template):
            name, labels = s["name"], s["labels"]
            if name == "node_cpu_seconds_total":
                share = self.CPU_SHARE[labels["mode"]]
                v = self.counters.get(k, up * share) + dt * share * rnd.uniform(0.8, 1.2)
                self.counters[k] = v
            elif name.endswith("_total"):
                rate = 5e4 if "bytes" in name else 2e3 if "switches" in name or "intr" in name else 0.01
                v = self.counters.get(k, up * rate) + dt * rate * rnd.uniform(0.5, 1.5)
                self.counters[k] = v
            elif name.startswith("node_filesystem_"):
                size, avail, files = self.fs[labels["mountpoint"]]
                if name == "node_filesystem_size_bytes":
                    v = size
                elif name == "node_filesystem_avail_bytes":
                    v = avail - rnd.uniform(0, 4096)
                else:
                    v = float(int(files * size / 16384))
            elif name.startswith("node_load"):
                v = max(0.0, self.load_level * rnd.uniform(0.8, 1.2))
            elif name == "node_memory_MemTotal_bytes":
                v = self.mem_total
            elif name == "node_memory_MemAvailable_bytes":
                v = self.mem_total * self.mem_level * rnd.uniform(0.97, 1.03)
            elif name == "node_memory_SwapFree_bytes":
                v = 2 * self.GIB
            elif name == "node_boot_time_seconds":
                v = float(int(self.boot))
            elif name == "node_time_seconds":
                v = ts
            elif name == "upkeep_processes":
                v = float(rnd.randint(180, 220))
            elif name == "upkeep_threads":
                v = float(rnd.randint(500, 700))
            elif name == "node_procs_running":
                v = float(rnd.randint(1, 4))
            elif name in ("upkeep_agent_collection_duration_seconds", "upkeep_check_duration_seconds"):
                v = rnd.uniform(0.0008, 0.005)
            else:  # check status, spool backlog
                v = 0.0
            out.append(v)
        return out


def report_body(aid: str, seq: int, ts: float, template: list[dict[str, Any]], values: list[float]) -> bytes:
    samples = [
        {"name": s["name"], "labels": s["labels"], "value": v} for s, v in zip(template, values, strict=True)
    ]
    return orjson.dumps(
        {
            "v": 1,
            "agent_id": aid,
            "seq": seq,
            "ts": ts,
            "interval": INTERVAL,
            "agent_version": "0.1.0",
            "samples": samples,
            "checks": CHECKS,
        }
    )


def exposition_body(template: list[dict[str, Any]], values: list[float]) -> bytes:
    lines = []
    seen = set()
    for s, v in zip(template, values, strict=True):
        if s["name"] not in seen:
            lines.append(f"# TYPE {s['name']} untyped")
            seen.add(s["name"])
        labels = ",".join(f'{k}="{v}"' for k, v in s["labels"].items())
        lines.append(f"{s['name']}{{{labels}}} {v!r}")
    return ("\n".join(lines) + "\n").encode()


# -- the load generator (one process per slice of hosts) -----------------------------------------
async def _connection(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port)


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def generate(args: argparse.Namespace) -> dict[str, Any]:
    hosts = json.loads(Path(args.hosts_file).read_text())[args.slice_start : args.slice_end]
    template = sample_template()
    rnd = random.Random(args.slice_start)
    start = time.time() + 1.0
    end = start + args.duration
    measure_from = start + args.warmup
    queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
    latencies: list[float] = []
    timeline: list[tuple[float, float]] = []
    counts: dict[str, Any] = {
        "ok": 0, "ok_measured": 0, "answered_window": 0, "errors": 0, "status": {}, "unserved": 0
    }
    acked: dict[str, int] = {}
    seqs = [0] * len(hosts)
    phases = [rnd.random() * args.interval for _ in hosts]
    # A few hosts reboot during the measured part of the run (``--reboots``, a share of the fleet).
    sims = [
        HostSim(rnd, start, rnd.uniform(measure_from, end) if rnd.random() < args.reboots else None)
        for _ in hosts
    ]

    async def schedule() -> None:
        order = sorted(range(len(hosts)), key=lambda i: phases[i])
        cycle = 0
        while True:
            base = start + cycle * args.interval
            for i in order:
                due = base + phases[i]
                if due >= end:
                    for _ in range(args.connections):
                        queue.put_nowait(None)
                    return
                delay = due - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                queue.put_nowait((due, i))
            cycle += 1

    async def worker() -> None:
        reader, writer = await _connection("127.0.0.1", args.port)
        while True:
            item = await queue.get()
            if item is None or time.time() > end + 5.0:
                break  # what is still queued was not served in time: it counts as not sent
            due, i = item
            h = hosts[i]
            if args.target == "upkeep":
                seqs[i] += 1
                body = report_body(h["agent_id"], seqs[i], due, template, sims[i].values(template, due))
                req = (
                    f"POST /api/v1/reports HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {h['token']}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
            else:
                body = exposition_body(template, sims[i].values(template, due))
                req = (
                    f"PUT /metrics/job/upkeep/instance/{h['name']} HTTP/1.1\r\nHost: bench\r\n"
                    f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
            try:
                status = await _exchange(reader, writer, req)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                counts["errors"] += 1
                writer.close()
                reader, writer = await _connection("127.0.0.1", args.port)
                continue
            done = time.time()
            counts["status"][str(status)] = counts["status"].get(str(status), 0) + 1
            if 200 <= status < 300:
                counts["ok"] += 1
                if args.target == "upkeep":
                    acked[h["agent_id"]] = max(acked.get(h["agent_id"], 0), seqs[i])
                if measure_from <= done <= end:
                    counts["answered_window"] += 1
                if due >= measure_from:
                    counts["ok_measured"] += 1
                    latencies.append(done - due)
                    timeline.append((round(due - start, 3), round(done - due, 4)))
            else:
                counts["errors"] += 1
        writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(args.connections)]
    await schedule()
    _done, slow = await asyncio.wait(workers, timeout=max(1.0, end + 15.0 - time.time()))
    for w in slow:
        w.cancel()
    counts["unserved"] = queue.qsize()
    finished = time.time()
    return {
        "ok": counts["ok"],
        "ok_measured": counts["ok_measured"],
        "answered_window": counts["answered_window"],
        "errors": counts["errors"],
        "status": counts["status"],
        "latencies": latencies,
        "timeline": timeline,
        "measured_seconds": max(0.001, end - measure_from),
        "lag": max(0.0, finished - end),
        "acked": acked,
        "unserved": counts["unserved"],
    }


# -- orchestration -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready")


def provision(root: Path, n: int) -> tuple[Path, Path]:
    """Config and n enrolled hosts written straight into a fresh store (enrolling 30k over HTTP is
    not what is measured); returns (config path, hosts file for the generators)."""
    import uuid

    import yaml
    from sqlalchemy import insert

    from collector.config import load_config
    from collector.store.engine import open_store
    from collector.store.inventory import hosts
    from collector.store.tokens import hash_token

    port = free_port()
    cfg = root / "collector.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "listen": f"127.0.0.1:{port}",
                "data_dir": str(root / "data"),
                "customers": [{"name": "bench"}],
                "ingest": {"max_rate_per_minute": 1000},
                "retention": {"window": "1h"},
            }
        )
    )
    engine = open_store(load_config(cfg))
    rows, out = [], []
    now = time.time()
    for i in range(n):
        aid = uuid.uuid4().hex
        token = f"uph_bench{i}_{uuid.uuid4().hex}"
        rows.append(
            {
                "id": uuid.uuid4().hex,
                "name": f"host-{i:05d}",
                "customer": "bench",
                "agent_id": aid,
                "labels": {},
                "facts": {"hostname": f"host-{i:05d}"},
                "checks": [],
                "agent_version": "0.1.0",
                "interval": INTERVAL,
                "first_seen": now,
                "last_seen": now,
                "status": "up",
                "token_hash": hash_token(token),
                "revoked_at": None,
            }
        )
        out.append({"agent_id": aid, "token": token, "name": f"host-{i:05d}"})
    with engine.begin() as conn:
        for k in range(0, n, 5000):
            conn.execute(insert(hosts), rows[k : k + 5000])
    engine.dispose()
    hosts_file = root / "hosts.json"
    hosts_file.write_text(json.dumps(out))
    return cfg, hosts_file


def run_load(
    target: str, port: int, hosts_file: Path, n: int, args: argparse.Namespace, watch_pid: int
) -> dict[str, Any]:
    import psutil

    per = (n + args.processes - 1) // args.processes
    procs = []
    outs = []
    for k in range(args.processes):
        a, b = k * per, min(n, (k + 1) * per)
        out = hosts_file.with_name(f"{target}-gen{k}.json")
        outs.append(out)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--generator",
                    "--target",
                    target,
                    "--port",
                    str(port),
                    "--hosts-file",
                    str(hosts_file),
                    "--slice-start",
                    str(a),
                    "--slice-end",
                    str(b),
                    "--duration",
                    str(args.duration),
                    "--warmup",
                    str(args.warmup),
                    "--connections",
                    str(args.connections),
                    "--reboots",
                    str(args.reboots),
                    "--interval",
                    str(args.interval),
                    "--out",
                    str(out),
                ],
            )
        )
    watched = psutil.Process(watch_pid)
    peak = 0
    while any(p.poll() is None for p in procs):
        try:
            peak = max(peak, watched.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.5)
    results = [json.loads(out.read_text()) for out in outs]
    lat = sorted(x for r in results for x in r["latencies"])
    if args.timeline:
        Path(args.timeline).write_text(json.dumps(sorted(x for r in results for x in r["timeline"])))
    measured = results[0]["measured_seconds"]
    acked: dict[str, int] = {}
    for r in results:
        acked.update(r["acked"])
    status: dict[str, int] = {}
    for r in results:
        for k, v in r["status"].items():
            status[k] = status.get(k, 0) + v
    return {
        "target": target,
        "hosts": n,
        "offered_per_s": n / args.interval,
        # Answers (2xx) given while measured, whenever their reports were due: what the target
        # sustains. Latency is over the reports due while measured.
        "reports_per_s": sum(r["answered_window"] for r in results) / measured,
        "p50_ms": 1000 * statistics.median(lat) if lat else float("nan"),
        "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))] if lat else float("nan"),
        "errors": sum(r["errors"] for r in results),
        "unserved": sum(r["unserved"] for r in results),
        "status": status,
        "ok": sum(r["ok"] for r in results),
        "peak_rss_mb": peak / 1e6,
        "acked": acked,
    }


def server_side(port: int) -> dict[str, float]:
    """The collector's own view: mean request-to-commit latency, and the machine's load average
    (the machine is shared; a loaded one explains a lot)."""
    import re

    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    total = re.search(r"^upkeep_ingest_latency_seconds_sum ([0-9.e+-]+)$", text, re.MULTILINE)
    count = re.search(r"^upkeep_ingest_latency_seconds_count ([0-9.e+-]+)$", text, re.MULTILINE)
    mean = float(total.group(1)) / float(count.group(1)) if total and count and float(count.group(1)) else 0.0
    return {"server_mean_ms": 1000 * mean, "loadavg_1m": os.getloadavg()[0]}


def bench_upkeep(n: int, args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="upkeep-bench-"))
    try:
        cfg, hosts_file = provision(root, n)
        import yaml

        port = int(yaml.safe_load(cfg.read_text())["listen"].rsplit(":", 1)[1])
        upkeep = Path(sys.executable).parent / "upkeep"
        proc = subprocess.Popen(
            [str(upkeep), "--config", str(cfg), "serve", "--log-level", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/readyz", proc)
            res = run_load("upkeep", port, hosts_file, n, args, proc.pid)
            res.update(server_side(port))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        import sqlite3

        with sqlite3.connect(root / "data" / "upkeep.db") as db:
            stored = dict(db.execute("SELECT agent_id, max(seq) FROM reports GROUP BY agent_id").fetchall())
            total, distinct = db.execute(
                "SELECT count(*), count(DISTINCT agent_id || ':' || seq) FROM reports"
            ).fetchone()
        acked = res.pop("acked")
        res["all_acked_stored"] = all(stored.get(a, 0) >= s for a, s in acked.items())
        res["stored_once"] = total == distinct
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_pushgateway(n: int, args: argparse.Namespace) -> dict[str, Any] | None:
    if not Path(PUSHGATEWAY).exists():
        return None
    root = Path(tempfile.mkdtemp(prefix="upkeep-bench-pgw-"))
    try:
        import yaml  # noqa: F401

        hosts_file = root / "hosts.json"
        hosts_file.write_text(json.dumps([{"name": f"host-{i:05d}"} for i in range(n)]))
        port = free_port()
        proc = subprocess.Popen(
            [
                PUSHGATEWAY,
                f"--web.listen-address=127.0.0.1:{port}",
                f"--persistence.file={root / 'pgw.data'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/-/ready", proc)
            res = run_load("pushgateway", port, hosts_file, n, args, proc.pid)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        res.pop("acked")
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)




def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, nargs="+", default=[30000])
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load per target")
    p.add_argument("--warmup", type=float, default=15.0, help="first seconds not measured")
    p.add_argument("--processes", type=int, default=2, help="load generator processes")
    p.add_argument("--connections", type=int, default=64, help="connections per generator process")
    p.add_argument("--no-pushgateway", action="store_true")
    p.add_argument("--interval", type=float, default=INTERVAL,
                   help="seconds between a host's reports (15 in operation; shorter probes capacity)")
    p.add_argument("--reboots", type=float, default=0.005,
                   help="share of hosts that reboot during the run (their HostRebooted alert opens a ticket)")
    p.add_argument("--timeline", default="", help="write (time since start, latency) of each measured report")
    p.add_argument("--write", action="store_true", help="rewrite the ingest section of BENCHMARKS.md")
    # generator mode (internal)
    p.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--target", default="upkeep", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--hosts-file", default="", help=argparse.SUPPRESS)
    p.add_argument("--slice-start", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--slice-end", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", default="", help=argparse.SUPPRESS)
    p.add_argument("--render", default="", help="write the section from a saved run's output (JSON lines)")
    args = p.parse_args()
    if args.render:
        runs = [
            json.loads(line) for line in Path(args.render).read_text().splitlines() if line.startswith("{")
        ]
        ups = [r for r in runs if r["target"] == "upkeep"]
        gws = {r["hosts"]: r for r in runs if r["target"] == "pushgateway"}
        write_section("ingest", render([(u["hosts"], u, gws.get(u["hosts"])) for u in ups], args))
        return 0
    if args.generator:
        # A file, not stdout: the result is larger than a pipe buffer, and the parent only
        # reads after the generators have finished.
        Path(args.out).write_text(json.dumps(asyncio.run(generate(args))))
        return 0

    rows = []
    for n in args.hosts:
        up = bench_upkeep(n, args)
        print(json.dumps(up), flush=True)
        gw = None if args.no_pushgateway else bench_pushgateway(n, args)
        if gw:
            print(json.dumps(gw), flush=True)
        rows.append((n, up, gw))
    if args.write:
        write_section("ingest", render(rows, args))
    return 0


def _ms(value: float | None) -> str:
    """A latency cell: '-' when no report due while measured was answered at all."""
    return "-" if value is None or value != value else f"{value:.1f}"


def render(rows: list[tuple[int, dict[str, Any], dict[str, Any] | None]], args: argparse.Namespace) -> str:
    cmd = (
        "python bench/fleet_bench.py --hosts "
        + " ".join(str(n) for n, _, _ in rows)
        + (
            f" --duration {args.duration:g} --warmup {args.warmup:g} --processes {args.processes}"
            f" --connections {args.connections}"
            + (f" --interval {args.interval:g}" if args.interval != INTERVAL else "")
            + " --write"
        )
    )
    lines = [
        "## Ingest: a simulated fleet pushing to `upkeep serve` vs Prometheus' pushgateway",
        "",
        f"Command: `{cmd}` (machine: {os.cpu_count()} cores, shared; load generator on the same machine).",
        f"Each agent pushes one report (60 samples, 3 checks) every {args.interval:g} s; upkeep stores it",
        "durably (SQLite, WAL, synchronous=FULL, group commit) before answering; the pushgateway (default",
        "consistency check, keeps only the last push in memory) gets the same samples in text format.",
        "The simulated hosts move like real ones (counters grow, gauges wander around their level) and",
        f"{args.reboots:.1%} of them reboot while measured, which opens tickets through HostRebooted.",
        f"The first {args.warmup:g} s of {args.duration:g} are warm-up (each host's first report creates",
        "its series).",
        "Reports/s: answers given while measured. Latency: from the moment a report was due to its",
        "answer (median, p99), over the reports due while measured; a target that fell behind during",
        "warm-up carries that lag ('-': none of the reports due while measured was answered).",
        "",
        "| hosts | offered/s | upkeep stored/s | p50 ms | p99 ms | server mean ms | peak RSS MB |"
        " all acked stored once | pushgateway pushes/s | p50 ms | p99 ms | RSS MB | upkeep / pushgateway |"
        " load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, up, gw in rows:
        ok = "yes" if up["all_acked_stored"] and up["stored_once"] else "NO"
        g = gw or {}
        ratio = f"{up['reports_per_s'] / g['reports_per_s']:.1f}x" if g.get("reports_per_s") else "-"
        lines.append(
            f"| {n} | {up['offered_per_s']:.0f} | {up['reports_per_s']:.0f} | {up['p50_ms']:.1f}"
            f" | {up['p99_ms']:.1f} | {up.get('server_mean_ms', float('nan')):.1f}"
            f" | {up['peak_rss_mb']:.0f} | {ok} | {g.get('reports_per_s', float('nan')):.0f}"
            f" | {_ms(g.get('p50_ms'))} | {_ms(g.get('p99_ms'))}"
            f" | {g.get('peak_rss_mb', float('nan')):.0f} | {ratio}"
            f" | {up.get('loadavg_1m', float('nan')):.1f} |"
        )
    lines += [
        "",
        "Answered per second over the whole run (warm-up included, so the hosts' first reports, which",
        "create their series, count too): "
        + "; ".join(
            f"{n} hosts: upkeep {up['ok'] / args.duration:.0f}/s"
            + (f", pushgateway {gw['ok'] / args.duration:.0f}/s" if gw else "")
            for n, up, gw in rows
        )
        + ".",
    ]
    big = max(rows, key=lambda r: r[0])
    up = big[1]
    met = up["reports_per_s"] >= 2000 and up["p99_ms"] < 100 and up["peak_rss_mb"] < 300
    whole = [f"{n} hosts {up_['ok'] / gw['ok']:.0f}x" for n, up_, gw in rows if gw and gw.get("ok")]
    lines += [
        "",
        f"Ratio upkeep / pushgateway in answered reports over the whole run: {', '.join(whole) or '-'}.",
        "Goal (2,000 durably stored reports/s at 30,000 hosts, p99 under 100 ms, RSS under 300 MB): "
        + ("met." if met and big[0] >= 30000 else "**not met** in this run (figures above)."),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
