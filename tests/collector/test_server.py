"""A real `upkeep serve` on 127.0.0.1, driven with real HTTP clients and the real command line."""

from __future__ import annotations

import gzip
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.collector.reports import agent_id, report
from tests.support.collector import Collector, running_collector, upkeep_command

CONFIG = {
    "customers": [{"name": "acme"}, {"name": "globex"}],
    "ingest": {"max_body_bytes": 200_000, "max_decompressed_bytes": 2_000_000, "max_rate_per_minute": 30},
}


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    with running_collector(tmp_path_factory.mktemp("collector"), CONFIG) as c:
        yield c


@pytest.fixture(scope="module")
def admin(collector: Collector) -> dict[str, str]:
    """The first admin token comes from the command line, as on a new site."""
    return {"Authorization": f"Bearer {collector.token('admin')}"}


def api_token(c: Collector, admin: dict[str, str], role: str, customer: str | None = None) -> dict[str, str]:
    r = httpx.post(f"{c.base_url}/api/v1/tokens", json={"role": role, "customer": customer}, headers=admin)
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class Agent:
    """A simulated agent: enrolled over HTTP, pushing with its host token."""

    def __init__(self, c: Collector, customer: str = "acme", hostname: str = "db") -> None:
        self.c = c
        self.id = agent_id()
        got = c.enroll(customer, self.id, hostname)
        self.token = got["host_token"]
        self.name = got["host"]
        self.host_id = got["host_id"]
        self.seq = 0

    def next(self, **extra: Any) -> dict[str, Any]:
        self.seq += 1
        return report(self.id, self.seq, time.time(), **extra)

    def push(
        self, body: Any, *, gzip_it: bool = False, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        h = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json", **(headers or {})}
        if gzip_it:
            data = gzip.compress(data)
            h["Content-Encoding"] = "gzip"
        return httpx.post(f"{self.c.base_url}/api/v1/reports", content=data, headers=h, timeout=30)


def _error(r: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]
    if field is not None:
        assert body["field"] == field
    return dict(body)


def test_health_ready_and_openapi(collector: Collector) -> None:
    assert httpx.get(f"{collector.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{collector.base_url}/readyz").status_code == 200
    paths = httpx.get(f"{collector.base_url}/openapi.json").json()["paths"]
    assert {
        "/api/v1/reports",
        "/api/v1/enroll",
        "/api/v1/hosts",
        "/api/v1/hosts/{ident}",
        "/api/v1/tokens",
    } <= set(paths)


def test_reports_plain_gzip_batch_and_duplicates(collector: Collector, admin: dict[str, str]) -> None:
    a = Agent(collector, hostname="web")
    first = a.next()
    assert a.push(first).json() == {"accepted": 1, "duplicates": 0}
    assert a.push(a.next(), gzip_it=True).json() == {"accepted": 1, "duplicates": 0}
    batch = {"reports": [first, a.next(), a.next()]}
    assert a.push(batch, gzip_it=True).json() == {"accepted": 2, "duplicates": 1}
    host = httpx.get(f"{collector.base_url}/api/v1/hosts/{a.name}", headers=admin)
    assert host.status_code == 200
    assert host.json()["checks"][0]["name"] == "nginx"
    assert host.json()["facts"]["hostname"] == "web"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (orjson.dumps({"reports": "x"}), "reports"),
        (b'{"a":' * 3000 + b"1" + b"}" * 3000, "body"),
    ],
)
def test_malformed_bodies_get_422(collector: Collector, body: bytes, field: str) -> None:
    a = Agent(collector)
    _error(a.push(body), 422, field)


def test_wrong_types_and_skewed_clocks_get_422(collector: Collector) -> None:
    a = Agent(collector)
    _error(a.push(a.next(samples=1) | {"samples": [{"name": "x", "value": "high"}]}), 422, "samples[0].value")
    _error(a.push(report(a.id, 99, time.time() + 3600)), 422, "ts")
    _error(a.push(report(a.id, 99, time.time() - 30 * 86400)), 422, "ts")
    deep: Any = 1
    for _ in range(50):
        deep = {"x": deep}
    _error(a.push(a.next() | {"facts": deep}), 422)


def test_size_limits_and_gzip_bombs(collector: Collector) -> None:
    a = Agent(collector)
    _error(a.push(b"x" * 300_000), 413)
    bomb = gzip.compress(b" " * 5_000_000)  # 5 MB out of a few KB in
    _error(a.push(bomb, headers={"Content-Encoding": "gzip"}), 413)
    _error(a.push(b"\x1f\x8b garbage", headers={"Content-Encoding": "gzip"}), 422)

    # Refused by Content-Length before the body is sent at all.
    with socket.create_connection(("127.0.0.1", collector.port), timeout=10) as s:
        s.sendall(
            b"POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + a.token.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n"
        )
        answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")

    # A chunked body (no Content-Length) is cut off as soon as it crosses the limit.
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 10_000

    r = httpx.post(
        f"{collector.base_url}/api/v1/reports",
        content=chunks(),
        headers={"Authorization": f"Bearer {a.token}"},
        timeout=30,
    )
    _error(r, 413)
    # Other routes have a limit too.
    _error(httpx.post(f"{collector.base_url}/api/v1/enroll", content=b"x" * 2_000_000), 413)


def test_tokens_are_checked(collector: Collector, admin: dict[str, str]) -> None:
    a = Agent(collector)
    url = f"{collector.base_url}/api/v1/reports"
    _error(httpx.post(url, content=orjson.dumps(a.next())), 401)
    _error(httpx.post(url, content=orjson.dumps(a.next()), headers={"Authorization": "Bearer uph_nope"}), 401)
    _error(httpx.post(url, content=orjson.dumps(a.next()), headers=admin), 401)
    other = Agent(collector)
    _error(other.push(a.next()), 403)  # another agent's report under this host's token
    assert a.push(a.next()).status_code == 200

    collector.cli("hosts", "revoke", a.name)
    _error(a.push(a.next()), 401)  # the very next request
    hosts = {h["name"]: h for h in collector.hosts_json()}
    assert hosts[a.name]["status"] == "revoked"


def test_a_host_far_above_its_rate_gets_429(collector: Collector) -> None:
    a = Agent(collector)
    codes = [a.push(a.next()).status_code for _ in range(40)]
    assert codes[:30] == [200] * 30
    assert 429 in codes[30:]
    r = a.push(a.next())
    _error(r, 429)
    assert int(r.headers["Retry-After"]) >= 1


def test_enrollment_rules(collector: Collector) -> None:
    url = f"{collector.base_url}/api/v1/enroll"
    _error(httpx.post(url, json={"token": "upe_nope", "agent_id": agent_id(), "facts": {}}), 401)
    once = collector.enrollment_token("globex", once=True)
    aid = agent_id()
    r = httpx.post(url, json={"token": once, "agent_id": aid, "facts": {"hostname": "g1"}})
    assert r.status_code == 201
    assert r.json()["customer"] == "globex"
    _error(httpx.post(url, json={"token": once, "agent_id": agent_id(), "facts": {}}), 401)
    reusable = collector.enrollment_token("acme")
    _error(httpx.post(url, json={"token": reusable, "agent_id": "short", "facts": {}}), 422, "agent_id")
    _error(httpx.post(url, json={"token": reusable, "agent_id": aid, "facts": {}}), 409)  # globex's agent
    _error(httpx.post(url, json={"token": reusable}), 422, "agent_id")
    expired = collector.enrollment_token("acme", expires="1ms")
    time.sleep(0.01)
    _error(httpx.post(url, json={"token": expired, "agent_id": agent_id(), "facts": {}}), 401)
    done = collector.cli("enroll", "create", "--customer", "initech", check=False)
    assert done.returncode != 0
    assert "initech" in done.stderr


def test_roles_and_customer_scope(collector: Collector, admin: dict[str, str]) -> None:
    acme = Agent(collector, "acme", "scope-a")
    globex = Agent(collector, "globex", "scope-g")
    base = collector.base_url
    viewer = api_token(collector, admin, "viewer", "acme")
    names = {h["name"] for h in httpx.get(f"{base}/api/v1/hosts", headers=viewer).json()}
    assert acme.name in names
    assert globex.name not in names
    assert httpx.get(f"{base}/api/v1/hosts?customer=globex", headers=viewer).json() == []
    assert httpx.get(f"{base}/api/v1/hosts/{acme.host_id}", headers=viewer).status_code == 200
    hidden = httpx.get(f"{base}/api/v1/hosts/{globex.host_id}", headers=viewer)
    missing = httpx.get(f"{base}/api/v1/hosts/ffffffffffffffffffffffffffffffff", headers=viewer)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"].replace(globex.host_id, "X") == missing.json()["error"].replace(
        "ffffffffffffffffffffffffffffffff", "X"
    )
    _error(httpx.post(f"{base}/api/v1/tokens", json={"role": "viewer"}, headers=viewer), 403)
    engineer = api_token(collector, admin, "engineer")
    _error(httpx.post(f"{base}/api/v1/hosts/{acme.name}/revoke", headers=engineer), 403)
    _error(httpx.get(f"{base}/api/v1/hosts"), 401)

    made = httpx.post(f"{base}/api/v1/tokens", json={"role": "viewer", "name": "temp"}, headers=admin)
    assert made.status_code == 201
    temp = {"Authorization": f"Bearer {made.json()['token']}"}
    assert httpx.get(f"{base}/api/v1/hosts", headers=temp).status_code == 200
    collector.cli("tokens", "revoke", made.json()["id"])  # another process revokes it
    _error(httpx.get(f"{base}/api/v1/hosts", headers=temp), 401)
    listed = collector.cli("tokens", "list", "--json").stdout
    assert made.json()["token"] not in listed
    _error(httpx.post(f"{base}/api/v1/tokens", json={"role": "god"}, headers=admin), 422, "role")


def test_metrics_and_federate(collector: Collector) -> None:
    a = Agent(collector, "globex", "fed")
    assert a.push(a.next(samples=2, value=3.5)).status_code == 200
    text = httpx.get(f"{collector.base_url}/metrics").text
    assert "upkeep_reports_ingested_total" in text
    assert 'upkeep_reports_rejected_total{reason="invalid"}' in text
    assert 'upkeep_hosts{customer="globex",status="up"}' in text
    assert "upkeep_ingest_latency_seconds_bucket" in text
    assert "upkeep_store_size_bytes" in text
    assert "process_resident_memory_bytes" in text
    window = [ln.split(" ") for ln in text.splitlines() if ln.startswith("upkeep_window")]
    figures = {name: float(value) for name, value in window}
    assert figures['upkeep_window_series{metric="node_filesystem_avail_bytes"}'] >= 1
    assert figures['upkeep_window_series{metric="up"}'] >= 1
    # The shipped pack reads free space over 6 h, the load only at the latest sample.
    assert figures['upkeep_window_depth_seconds{metric="node_filesystem_avail_bytes"}'] > 6 * 3600
    assert 300 < figures['upkeep_window_depth_seconds{metric="node_load1"}'] < 3600

    fed = httpx.get(f"{collector.base_url}/federate", params={"match[]": f'{{host="{a.name}"}}'})
    assert fed.status_code == 200
    lines = [ln for ln in fed.text.splitlines() if not ln.startswith("#")]
    assert f'node_load1{{customer="globex",host="{a.name}"}} 3.5' in " ".join(lines)
    assert any(ln.startswith(f'up{{customer="globex",host="{a.name}"}} 1.0 ') for ln in lines)
    fed = httpx.get(
        f"{collector.base_url}/federate",
        params=[("match[]", 'node_filesystem_avail_bytes{mountpoint=~"/m.*"}'), ("match[]", "up")],
    )
    assert 'mountpoint="/m1"' in fed.text
    assert "node_load1" not in fed.text
    _error(httpx.get(f"{collector.base_url}/federate", params={"match[]": "rate(x[5m])"}), 422, "match[]")
    _error(httpx.get(f"{collector.base_url}/federate", params={"match[]": "{x="}), 422, "match[]")
    _error(httpx.get(f"{collector.base_url}/federate"), 422, "match[]")


def test_hosts_command_line(collector: Collector) -> None:
    a = Agent(collector, "acme", "cli-host")
    assert a.push(a.next()).status_code == 200
    listed = collector.cli("hosts", "list").stdout
    assert a.name in listed
    shown = collector.cli("hosts", "show", a.name).stdout
    assert "nginx" in shown
    assert "acme" in shown
    missing = collector.cli("hosts", "show", "no-such-host", check=False)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1


def test_a_wrong_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("listen: 127.0.0.1:1\nstorage:\n  sqlite_synchronous: SOMETIMES\n")
    done = subprocess.run(
        [*upkeep_command(), "--config", str(cfg), "serve"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "storage.sqlite_synchronous" in done.stderr
    cfg.write_text("lisen: 127.0.0.1:1\n")
    done = subprocess.run(
        [*upkeep_command(), "--config", str(cfg), "db", "upgrade"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "lisen: unknown key" in done.stderr


def test_serve_without_a_config_file(tmp_path: Path) -> None:
    from tests.support import free_port

    port = free_port()
    proc = subprocess.Popen(
        [*upkeep_command(), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", "d"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (tmp_path / "d" / "upkeep.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
