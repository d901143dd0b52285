"""Real Prometheus and Alertmanager servers for tests, configured from the shipped deploy/ files.

``scrape_config(...)`` turns deploy/prometheus/prometheus.yml into a test copy (the test's ports,
short intervals, tmp token files); ``PrometheusServer`` and ``AlertmanagerServer`` start Debian's
binaries on 127.0.0.1 with tmp storage and stop them again. ``query`` reads Prometheus' HTTP API.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support import free_port, require_binary

ROOT = Path(__file__).resolve().parents[2]
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
RULES = ROOT / "rules"


def wait_until(what: str, probe: Callable[[], Any], *, timeout: float = 60.0, every: float = 0.25) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    Waiting on an observable condition (never on a fixed sleep) keeps the tests right on a
    loaded machine; the timeout is only the point where we give up.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = probe()
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def scrape_config(
    workdir: Path,
    *,
    collector: str,
    token: str | None,
    agents: list[str] | None = None,
    agent_labels: dict[str, str] | None = None,
    alertmanager: str | None = None,
    rule_files: list[Path] | None = None,
    interval: str = "1s",
) -> Path:
    """The shipped scrape configuration with the test's addresses, written into ``workdir``.

    Only addresses, intervals and file paths change; jobs, paths, match[] and honor_labels are
    the shipped ones, so the test exercises what operators install.
    """
    cfg = yaml.safe_load(SCRAPE_CONFIG.read_text(encoding="utf-8"))
    cfg["global"]["scrape_interval"] = interval
    cfg["global"]["evaluation_interval"] = interval
    cfg["rule_files"] = [str(p) for p in (rule_files or [])]
    if alertmanager:
        cfg["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [alertmanager]
    else:
        del cfg["alerting"]["alertmanagers"]
    token_file = workdir / "upkeep.token"
    token_file.write_text(token or "")
    for job in cfg["scrape_configs"]:
        name = job["job_name"]
        if name in {"upkeep-collector", "upkeep-federate"}:
            job["scheme"] = "http"
            job["static_configs"] = [{"targets": [collector]}]
            if token is None:
                job.pop("authorization", None)
            else:
                job["authorization"]["credentials_file"] = str(token_file)
        elif name == "upkeep-agents":
            sd_file = workdir / "agents.yml"
            sd_file.write_text(yaml.safe_dump([{"targets": agents or [], "labels": agent_labels or {}}]))
            job["file_sd_configs"] = [{"files": [str(sd_file)], "refresh_interval": "1s"}]
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def alertmanager_config(
    workdir: Path, *, webhook_url: str, token: str, repeat_interval: str | None = None
) -> Path:
    """The shipped Alertmanager configuration pointed at the test's collector, with short waits."""
    cfg = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    cfg["route"]["group_wait"] = "1s"
    cfg["route"]["group_interval"] = "1s"
    if repeat_interval:
        cfg["route"]["repeat_interval"] = repeat_interval
    token_file = workdir / "alertmanager.token"
    token_file.write_text(token)
    hook = cfg["receivers"][0]["webhook_configs"][0]
    hook["url"] = webhook_url
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path = workdir / "alertmanager.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


class _Server:
    """A child process serving HTTP on 127.0.0.1:port, stopped with SIGTERM."""

    ready_path = "/-/ready"

    def __init__(self, argv: list[str], port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log = log.open("wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            return httpx.get(self.url + self.ready_path, timeout=2).status_code == 200

        wait_until(f"{self.url}{self.ready_path}", ready, timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class PrometheusServer(_Server):
    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or matrix/scalar as Prometheus returns it)."""
        r = httpx.post(f"{self.url}/api/v1/query", data={"query": expr}, timeout=10)
        body = r.json()
        if body.get("status") != "success":
            raise AssertionError(f"query failed: {expr}\n{body.get('error')}")
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def label_values(self, label: str, selector: str) -> list[str]:
        """What Grafana's ``label_values(selector, label)`` variable query offers."""
        r = httpx.get(f"{self.url}/api/v1/label/{label}/values", params={"match[]": selector}, timeout=10)
        return list(r.json()["data"])

    def targets(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v1/targets", timeout=10).json()["data"]["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v1/alerts", timeout=10).json()["data"]["alerts"])


@contextlib.contextmanager
def prometheus(config: Path, workdir: Path) -> Iterator[PrometheusServer]:
    """A real Prometheus on a free port with tmp storage, ready to query."""
    binary = require_binary("prometheus", "/usr/bin/prometheus")
    port = free_port()
    storage = workdir / "prometheus-data"
    storage.mkdir(exist_ok=True)
    server = PrometheusServer(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--log.level=warn",
        ],
        port,
        workdir / "prometheus.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def alertmanager(config: Path, workdir: Path) -> Iterator[_Server]:
    """A real Alertmanager on a free port, clustering off, with tmp storage."""
    binary = require_binary("prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
    port = free_port()
    storage = workdir / "alertmanager-data"
    storage.mkdir(exist_ok=True)
    server = _Server(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        port,
        workdir / "alertmanager.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
