"""The shipped pack is quiet on a healthy fleet: an hour of realistic data with ordinary bursts fires nothing.

Two hosts report every 15 s for a simulated hour: a build that pins the CPUs for ten
minutes, a nightly backup that keeps a disk busy, log rotation, a short memory dip, a sensor
that runs warm for a few minutes, a check that flaps to WARNING once, a spool that fills for a
minute. Every rule of rules/ is evaluated every 15 s over it, and none may fire. The same pack
over a host whose disk really is full does fire, so the silence is not from rules that never work.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from collector.core.alerting.evaluator import RuleEvaluator
from collector.core.alerting.model import AlertChange
from collector.core.alerting.rulefile import build_rule_set
from collector.core.window import RecentWindow

ROOT = Path(__file__).resolve().parents[2]
STEP = 15.0
START = 1_764_000_000.0


def shipped_pack() -> RuleEvaluator:
    files = sorted((ROOT / "rules").glob("*.yml"))
    rules = build_rule_set([(str(f), f.read_text()) for f in files])
    return RuleEvaluator(rules, lookback=300.0, default_interval=STEP)


class HealthyHost:
    """Counters and gauges of a machine doing ordinary work, with the bursts such work has."""

    def __init__(self, name: str, rng: random.Random, *, full_disk: bool = False) -> None:
        self.name, self.rng, self.full_disk = name, rng, full_disk
        self.cpu_idle = [0.0, 0.0]
        self.cpu_user = [0.0, 0.0]
        self.io = {"sda": 0.0, "sdb": 0.0}
        self.net = {"rx": 0.0, "tx": 0.0, "rx_drop": 0.0, "err": 0.0}
        self.var_avail = 300e9
        self.log_avail = 500e9

    def samples(self, minute: float) -> list[tuple[str, dict[str, str], float]]:
        rng = self.rng
        build = 20 <= minute < 30
        backup = 33 <= minute < 45
        busy = 1.0 if build else rng.uniform(0.1, 0.3)
        for cpu in range(2):
            self.cpu_idle[cpu] += STEP * (1 - busy)
            self.cpu_user[cpu] += STEP * busy
        self.io["sda"] += STEP * (1.0 if backup else rng.uniform(0.02, 0.2))
        self.io["sdb"] += STEP * rng.uniform(0.0, 0.05)
        self.net["rx"] += STEP * rng.uniform(800, 1200)
        self.net["tx"] += STEP * rng.uniform(500, 900)
        self.net["rx_drop"] += STEP * rng.choice([0.0, 0.0, 0.1])
        self.var_avail -= STEP * 20_000  # 1.7 GB a day on a 1 TB disk
        # Logs grow 50 MB a minute, then rotation at 45 min compresses them back.
        self.log_avail = 500e9 if minute == 45 else self.log_avail - STEP / 60 * 50e6
        mem_avail = 7e9 if 50 <= minute < 55 else rng.uniform(0.4, 0.6) * 64e9
        temp = 88.0 if 40 <= minute < 46 else rng.uniform(45, 70)
        load = 6.0 if build else rng.uniform(0.2, 1.5)
        fs = {"device": "/dev/sda1", "fstype": "ext4", "mountpoint": "/"}
        var = {"device": "/dev/sdb1", "fstype": "xfs", "mountpoint": "/var"}
        run = {"device": "tmpfs", "fstype": "tmpfs", "mountpoint": "/run"}
        root_avail = 2e9 if self.full_disk else self.log_avail
        out = [
            *[("node_cpu_seconds_total", {"cpu": str(c), "mode": m}, v)
              for m, values in (("idle", self.cpu_idle), ("user", self.cpu_user))
              for c, v in enumerate(values)],
            ("node_load1", {}, load), ("node_load5", {}, load * 0.8), ("node_load15", {}, load * 0.6),
            ("node_memory_MemTotal_bytes", {}, 64e9), ("node_memory_MemAvailable_bytes", {}, mem_avail),
            ("node_memory_SwapTotal_bytes", {}, 8e9), ("node_memory_SwapFree_bytes", {}, 7.6e9),
            ("node_filesystem_size_bytes", fs, 1e12), ("node_filesystem_avail_bytes", fs, root_avail),
            ("node_filesystem_files", fs, 6e7), ("node_filesystem_files_free", fs, 5e7),
            ("node_filesystem_size_bytes", var, 1e12), ("node_filesystem_avail_bytes", var, self.var_avail),
            ("node_filesystem_files", var, 6e7), ("node_filesystem_files_free", var, 5.9e7),
            ("node_filesystem_size_bytes", run, 3e9), ("node_filesystem_avail_bytes", run, 2.99e9),
            ("node_filesystem_files", run, 1e6), ("node_filesystem_files_free", run, 9.99e5),
            *[("node_disk_io_time_seconds_total", {"device": d}, v) for d, v in self.io.items()],
            ("node_network_receive_packets_total", {"device": "eth0"}, self.net["rx"]),
            ("node_network_transmit_packets_total", {"device": "eth0"}, self.net["tx"]),
            ("node_network_receive_errs_total", {"device": "eth0"}, self.net["err"]),
            ("node_network_transmit_errs_total", {"device": "eth0"}, self.net["err"]),
            ("node_network_receive_drop_total", {"device": "eth0"}, self.net["rx_drop"]),
            ("node_network_transmit_drop_total", {"device": "eth0"}, 0.0),
            ("node_boot_time_seconds", {}, START - 86400 * 30 + rng.choice([0.0, 1.0])),
            ("node_hwmon_temp_celsius", {"chip": "platform_coretemp_0", "sensor": "temp1"}, temp),
            ("upkeep_check_status", {"check": "nginx", "kind": "process"}, 0.0),
            ("upkeep_check_status", {"check": "ntp", "kind": "command"}, 1.0 if 30 <= minute < 32 else 0.0),
            ("upkeep_check_status", {"check": "site", "kind": "http"}, 0.0),
            ("upkeep_agent_spool_reports", {}, 5.0 if minute == 40 else 0.0),
        ]
        return out


def simulate(hosts: list[HealthyHost], minutes: int) -> tuple[list[AlertChange], RuleEvaluator]:
    evaluator = shipped_pack()
    window = RecentWindow(retention=evaluator.rules.max_range() + 60)
    changes: list[AlertChange] = []
    for i in range(int(minutes * 60 / STEP) + 1):
        t = START + i * STEP
        for h in hosts:
            base = {"host": h.name, "customer": "acme"}
            samples = h.samples(i * STEP / 60)
            samples.append(("node_time_seconds", {}, t + 0.2))
            window.append_report(h.name, base, t, samples)
            window.append(h.name, "up", base, t, 1.0)
        outcome = evaluator.evaluate(window, t)
        assert outcome.failures == {}, outcome.failures
        changes.extend(outcome.changes)
    return changes, evaluator


def test_a_healthy_fleet_stays_quiet_for_an_hour() -> None:
    rng = random.Random(7)
    hosts = [HealthyHost(f"web{i}", rng) for i in range(2)]
    changes, evaluator = simulate(hosts, 60)
    assert [c for c in changes if c.state == "firing"] == []
    assert [a.alertname for a in evaluator.alerts() if a.state.value == "firing"] == []


def test_the_same_pack_fires_on_a_host_whose_disk_is_full() -> None:
    rng = random.Random(7)
    changes, _ = simulate([HealthyHost("db1", rng, full_disk=True)], 10)
    fired = {c.alertname for c in changes if c.state == "firing"}
    assert fired == {"FilesystemSpaceCritical"}
    assert not math.isnan(changes[0].value)
