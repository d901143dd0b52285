"""A customer site for the inspection tests: hosts behind real sshd servers and a month of rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import update

from collector.config import build_config
from collector.ports import FixedClock
from collector.services import AppContext
from collector.store import reportlog
from collector.store.inventory import hosts, insert_host
from tests.support import free_port
from tests.support.sshd import SshLab, generate_key

GB = 1e9
STEP = reportlog.ROLLUP_STEP


def build_site(tmp_path: Path, lab: SshLab, clock: FixedClock) -> AppContext:
    """acme: web-01 and web-02 (healthy sshd), gone (nothing listens), badkey (enrolled with a wrong key)."""
    from collector.app import build_context

    web1, web2 = lab.servers[0], lab.servers[1]
    remote = {
        "enabled": True, "key_file": str(lab.client_key_path), "allowed_customers": ["acme"],
        "user": lab.user, "connect_timeout": "3s",
        "playbook_paths": [str(Path(__file__).parent / "playbooks")],
        "hosts": {"web-01": {"address": "127.0.0.1", "port": web1.port},
                  "web-02": {"address": "127.0.0.1", "port": web2.port},
                  "gone": {"address": "127.0.0.1", "port": free_port()},
                  "badkey": {"address": "127.0.0.1", "port": web1.port}},
    }
    config = build_config({
        "data_dir": str(tmp_path / "data"),
        "customers": [{"name": "acme", "display_name": "ACME Trading", "timezone": "UTC",
                       "contract": {"starts": "2026-01-10", "window": "7x24"}}],
        "remote": remote,
        "schedule": {"inspection": {"playbooks": ["quick-inspection"]}},
    })
    ctx = build_context(config, clock=clock)
    wrong = generate_key(tmp_path / "wrong_host_key")
    _enroll(ctx, "web-01", web1.host_key, clock.now())
    _enroll(ctx, "web-02", web2.host_key, clock.now())
    _enroll(ctx, "gone", web2.host_key, clock.now())
    _enroll(ctx, "badkey", wrong, clock.now())
    with ctx.engine.begin() as conn:
        conn.execute(update(hosts).where(hosts.c.name == "web-01").values(
            checks=[{"name": "ntp", "kind": "command", "status": 2, "output": "offset 3 s", "duration": 0.1,
                     "ts": clock.now().timestamp()}], agent_version="0.1.0"))
    return ctx


def _enroll(ctx: AppContext, name: str, key: Any, now: datetime) -> None:
    facts = {"hostname": name, "os_release": "Debian GNU/Linux 12", "cpu_count": 2,
             "ssh_host_keys": [{"type": key.get_name(), "key": key.get_base64(), "fingerprint": ""}]}
    with ctx.engine.begin() as conn:
        insert_host(conn, name=name, customer="acme", agent_id=f"agent-{name}", facts=facts,
                    token_hash=f"hash-{name}", now=(now - timedelta(days=90)).timestamp())


def _row(host_id: str, name: str, labels: dict[str, str], bucket: float, value: float) -> dict[str, Any]:
    text = orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
    return {"host_id": host_id, "name": name, "labels": text,
            "bucket": int(bucket), "min": value, "max": value, "sum": value, "count": 1, "last": value,
            "last_ts": bucket + 1}


def seed_month(ctx: AppContext, month_start: datetime, *, gap_days: float = 2.0) -> None:
    """Rollups of one month: web-01 fills /data by 1 GB a day from 40 GB free, busy CPU; web-02 is
    silent for ``gap_days``; gone and badkey report normally."""
    from collector.store.inventory import get_host

    nxt = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    start, end = month_start.timestamp(), nxt.timestamp()
    with ctx.engine.begin() as conn:
        ids = {n: get_host(conn, n).id for n in ("web-01", "web-02", "gone", "badkey")}  # type: ignore[union-attr]
        rows: list[dict[str, Any]] = []
        for name, hid in ids.items():
            t = start
            while t < end:
                silent = name == "web-02" and start + 10 * 86400 <= t < start + (10 + gap_days) * 86400
                if not silent:
                    rows.append(_row(hid, "node_load1", {}, t, 0.5))
                t += STEP
        hid = ids["web-01"]
        cpu_idle = cpu_user = 0.0
        t = start
        while t < end:
            days = (t - start) / 86400
            data = {"mountpoint": "/data", "fstype": "ext4", "device": "/dev/sdb1"}
            rows.append(_row(hid, "node_filesystem_avail_bytes", data, t, (40 - days) * GB))
            rows.append(_row(hid, "node_filesystem_size_bytes", data, t, 100 * GB))
            rows.append(_row(hid, "node_memory_MemAvailable_bytes", {}, t, 2 * GB))
            rows.append(_row(hid, "node_memory_MemTotal_bytes", {}, t, 8 * GB))
            rows.append(_row(hid, "node_boot_time_seconds", {}, t, start - 86400))
            cpu_idle += 3600 * 2 * 0.03  # 97 % busy on 2 CPUs
            cpu_user += 3600 * 2 * 0.97
            rows.append(_row(hid, "node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, t, cpu_idle))
            rows.append(_row(hid, "node_cpu_seconds_total", {"cpu": "0", "mode": "user"}, t, cpu_user))
            t += 3600
        # One aggregate per host, series and bucket (the load rows and the hourly rows share some).
        unique = {(r["host_id"], r["name"], r["labels"], r["bucket"]): r for r in rows}
        fields = ("min", "max", "sum", "count", "last", "last_ts")
        reportlog.merge_rollups(conn, {key: [r[f] for f in fields] for key, r in unique.items()})


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)
