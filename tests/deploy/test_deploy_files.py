"""The shipped deployment files pass their own tools' checks: promtool, amtool, systemd, load_config."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from collector.config import load_config
from tests.support import require_binary
from tests.support.prometheus import (
    ALERTMANAGER_CONFIG,
    ROOT,
    SCRAPE_CONFIG,
    alertmanager_config,
    scrape_config,
)

EXAMPLES = sorted((ROOT / "deploy" / "examples").glob("*/collector.yaml"))
UNIT = ROOT / "deploy" / "systemd" / "upkeep-collector.service"


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.parent.name)
def test_example_collector_configs_load(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.customers, "an example shows at least one customer"
    assert cfg.engineers


def test_the_small_and_large_examples_are_shipped() -> None:
    assert [p.parent.name for p in EXAMPLES] == ["large", "small"]
    assert load_config(ROOT / "deploy/examples/small/collector.yaml").storage.url is None
    large = load_config(ROOT / "deploy/examples/large/collector.yaml")
    assert large.storage.url is not None
    assert large.storage.url.startswith("postgresql")


def test_the_nginx_example_hashes_reports_on_the_host_token() -> None:
    text = (ROOT / "deploy/examples/large/nginx.conf").read_text()
    ingest = text.split("upstream upkeep_ingest", 1)[1].split("}", 1)[0]
    assert "hash $http_authorization consistent;" in ingest
    assert "location = /api/v1/reports" in text
    assert "ssl_certificate " in text


@pytest.mark.prometheus
def test_promtool_accepts_the_scrape_config_with_the_rule_pack(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "/usr/bin/promtool")
    rules = sorted((ROOT / "rules").glob("*.yml"))
    config = scrape_config(
        tmp_path, collector="127.0.0.1:8470", token="x", alertmanager="127.0.0.1:9093", rule_files=rules
    )
    done = run([promtool, "check", "config", str(config)])
    assert done.returncode == 0, done.stdout + done.stderr
    # The shipped file itself differs only in addresses and paths.
    shipped = yaml.safe_load(SCRAPE_CONFIG.read_text())
    jobs = {j["job_name"]: j for j in shipped["scrape_configs"]}
    assert jobs["upkeep-federate"]["metrics_path"] == "/federate"
    assert jobs["upkeep-federate"]["honor_labels"] is True
    assert jobs["upkeep-federate"]["params"]["match[]"]
    assert jobs["upkeep-collector"]["metrics_path"] == "/metrics"
    assert "upkeep-agents" in jobs


@pytest.mark.prometheus
def test_promtool_accepts_the_large_sites_prometheus_config(tmp_path: Path) -> None:
    promtool = require_binary("promtool", "/usr/bin/promtool")
    cfg = yaml.safe_load((ROOT / "deploy/examples/large/prometheus.yml").read_text())
    (tmp_path / "token").write_text("x")
    cfg["rule_files"] = []
    for job in cfg["scrape_configs"]:
        job["authorization"]["credentials_file"] = str(tmp_path / "token")
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg))
    done = run([promtool, "check", "config", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.prometheus
def test_amtool_accepts_the_alertmanager_config(tmp_path: Path) -> None:
    amtool = require_binary("amtool", "/usr/bin/amtool")
    for path in (
        ALERTMANAGER_CONFIG,
        alertmanager_config(tmp_path, webhook_url="http://127.0.0.1:1/x", token="t"),
    ):
        done = run([amtool, "check-config", str(path)])
        assert done.returncode == 0, done.stdout + done.stderr
    hook = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())["receivers"][0]["webhook_configs"][0]
    assert hook["url"].endswith("/api/v1/integrations/alertmanager")
    assert hook["http_config"]["authorization"]["credentials_file"]


def test_the_collector_unit_is_hardened() -> None:
    lines = {line.strip() for line in UNIT.read_text().splitlines()}
    for directive in (
        "User=upkeep",
        "StateDirectory=upkeep",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
    ):
        assert directive in lines, directive


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (optional)")
    # Any executable satisfies the check; the installed entry point is the faithful one.
    beside = Path(sys.executable).parent / "upkeep"
    upkeep = str(beside) if beside.exists() else sys.executable
    unit = tmp_path / UNIT.name
    unit.write_text(UNIT.read_text().replace("/opt/upkeep/bin/upkeep", upkeep))
    done = run([analyze, "verify", str(unit)])
    assert done.returncode == 0, done.stdout + done.stderr
