"""The shipped Prometheus, Alertmanager and Grafana files against real servers.

One site per module: a real `upkeep serve`, a real `upkeep-agent run` enrolled to it (1 s interval,
its own /metrics on), Debian's Prometheus with the shipped scrape config and rule pack, and Debian's
Alertmanager with the shipped webhook pointing at the collector. Then:

- every target of every shipped job is up;
- a check the agent reports as CRITICAL makes the shipped CheckCritical rule fire in Prometheus,
  Alertmanager posts it to the collector, and exactly one ticket opens, however often it is resent;
- every query of every dashboard panel, with its variables set to the site's real customer and
  host, returns data through Prometheus' HTTP API.

The only test overrides are addresses, 1 s intervals, and CheckCritical's ``for`` (1 s instead of
5 m): what is tested is that the rule, not the clock, fires.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support import free_port, require_binary
from tests.support.collector import Collector
from tests.support.prometheus import (
    RULES,
    PrometheusServer,
    alertmanager,
    alertmanager_config,
    prometheus,
    scrape_config,
    wait_until,
)

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
CUSTOMER = "acme"
FAST_RULE = "CheckCritical"
AGENT = [sys.executable, "-c", "import sys; from agent.cli import main; sys.exit(main())"]


@dataclass
class Site:
    collector: Collector
    prometheus: PrometheusServer
    alertmanager_url: str
    host: str
    admin: str

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.admin}"}
        return httpx.request(method, f"{self.collector.base_url}{path}", headers=headers, timeout=30, **kw)

    def tickets(self) -> list[dict[str, Any]]:
        r = self.api("GET", "/api/v1/tickets", params={"customer": CUSTOMER, "limit": 1000})
        assert r.status_code == 200, r.text
        body = r.json()
        return list(body["tickets"] if isinstance(body, dict) else body)


def fast_rules(workdir: Path) -> list[Path]:
    """The shipped rule files, with FAST_RULE's ``for`` shortened; every other rule is unchanged."""
    out = []
    found = False
    for src in sorted(RULES.glob("*.yml")):
        doc = yaml.safe_load(src.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == FAST_RULE:
                    rule["for"] = "1s"
                    found = True
        dst = workdir / f"rules-{src.name}"
        dst.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        out.append(dst)
    assert found, f"the shipped rules have no {FAST_RULE}"
    return out


def start_agent(
    workdir: Path, collector: Collector, enrollment_token: str
) -> tuple[subprocess.Popen[bytes], str, str]:
    """A real agent for CUSTOMER: one check OK, one CRITICAL (a port nobody listens on).

    Returns the process, its /metrics address and the host name the collector gave it.
    """
    metrics_port = free_port()
    cfg = {
        "collector": {"allow_plaintext": True},
        "state_dir": str(workdir / "agent-state"),
        "interval": "1s",
        "jitter": 0,
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "checks": [
            {
                "name": "collector-health",
                "kind": "http",
                "url": f"{collector.base_url}/healthz",
                "timeout": "0.5s",
            },
            {"name": "backup-service", "kind": "tcp", "port": free_port(), "timeout": "0.5s"},
        ],
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run(
        [*AGENT, "enroll", collector.base_url, enrollment_token, "--config", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    host = re.search(r"enrolled as host (\S+)", done.stdout)
    assert host, done.stdout
    log = (workdir / "agent.log").open("wb")
    proc = subprocess.Popen([*AGENT, "run", "--config", str(path)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc, f"127.0.0.1:{metrics_port}", host.group(1)


def api_token(collector: Collector, admin: str, path: str, body: dict[str, Any]) -> str:
    """A token made through the API (one `upkeep` process per token is slow on a loaded machine)."""
    r = httpx.post(
        f"{collector.base_url}{path}", json=body, headers={"Authorization": f"Bearer {admin}"}, timeout=30
    )
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_binary("prometheus", "/usr/bin/prometheus")
    require_binary("prometheus-alertmanager", "/usr/bin/prometheus-alertmanager")
    work = tmp_path_factory.mktemp("live")
    config = {
        "customers": [{"name": CUSTOMER, "timezone": "UTC", "contract": {"window": "7x24"}}],
        "engineers": [{"name": "li-wei"}, {"name": "anna-schmidt"}],
        # Rules are evaluated by Prometheus here: the ticket must come through Alertmanager.
        "alerting": {"shipped_rules": False},
    }
    collector = Collector(work / "collector", config)
    collector.start()
    agent = None
    try:
        admin = collector.token("admin", name="test-admin")
        enrollment = api_token(collector, admin, "/api/v1/enrollment-tokens", {"customer": CUSTOMER})
        agent, agent_addr, host = start_agent(work, collector, enrollment)
        with (
            alertmanager(
                alertmanager_config(
                    work,
                    webhook_url=f"{collector.base_url}/api/v1/integrations/alertmanager",
                    token=api_token(
                        collector, admin, "/api/v1/tokens", {"role": "engineer", "name": "alertmanager"}
                    ),
                    repeat_interval="1s",
                ),
                work,
            ) as am,
            prometheus(
                scrape_config(
                    work,
                    collector=f"127.0.0.1:{collector.port}",
                    token=api_token(
                        collector, admin, "/api/v1/tokens", {"role": "viewer", "name": "prometheus"}
                    ),
                    agents=[agent_addr],
                    agent_labels={"customer": CUSTOMER, "host": host},
                    alertmanager=f"127.0.0.1:{am.port}",
                    rule_files=fast_rules(work),
                ),
                work,
            ) as prom,
        ):
            yield Site(collector, prom, am.url, host, admin)
    finally:
        if agent is not None:
            agent.terminate()
            agent.wait(timeout=30)
        collector.stop()


def test_every_shipped_job_is_scraped(site: Site) -> None:
    def all_up() -> dict[str, str]:
        targets = site.prometheus.targets()
        health = {t["labels"]["job"]: t["health"] for t in targets}
        return health if set(health.values()) == {"up"} and len(health) == 3 else {}

    health = wait_until("every target up", all_up)
    assert set(health) == {"upkeep-collector", "upkeep-federate", "upkeep-agents"}
    # /federate keeps the collector's host and customer labels (honor_labels).
    series = wait_until(
        "federated series", lambda: site.prometheus.query('node_load1{job="upkeep-federate"}')
    )
    assert series[0]["metric"]["host"] == site.host
    assert series[0]["metric"]["customer"] == CUSTOMER
    # The agents job keeps only the agent's own figures, so node series are not stored twice.
    assert wait_until("agent figures", lambda: site.prometheus.query('{job="upkeep-agents"}'))
    assert not site.prometheus.query('node_load1{job="upkeep-agents"}')


def alertmanager_sent(site: Site, counter: str = "alertmanager_notifications_total") -> float:
    """Alertmanager's own count of webhook notifications (or of failed ones)."""
    text = httpx.get(f"{site.alertmanager_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(counter + "{") and 'integration="webhook"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_shipped_rule_fires_in_prometheus_and_alertmanager_opens_exactly_one_ticket(site: Site) -> None:
    def firing() -> list[dict[str, Any]]:
        return [
            a
            for a in site.prometheus.alerts()
            if a["labels"]["alertname"] == FAST_RULE and a["state"] == "firing"
        ]

    alerts = wait_until(f"{FAST_RULE} firing in Prometheus", firing)
    assert alerts[0]["labels"]["host"] == site.host
    assert alerts[0]["labels"]["check"] == "backup-service"

    def alert_tickets() -> list[dict[str, Any]]:
        return [t for t in site.tickets() if t.get("source") == "alertmanager"]

    wait_until("the ticket from Alertmanager", alert_tickets)
    # Alertmanager got the alert without the scrape's job and instance (alert_relabel_configs).
    received = httpx.get(f"{site.alertmanager_url}/api/v2/alerts", timeout=10).json()
    labels = next(a["labels"] for a in received if a["labels"]["alertname"] == FAST_RULE)
    # Exactly the series' labels and the rule's, as the collector's own evaluation labels it:
    # the same fingerprint, so both paths would meet on one ticket.
    assert set(labels) == {"alertname", "severity", "check", "kind", "host", "customer"}, labels
    assert labels["customer"] == CUSTOMER
    # Alertmanager resends every second here; wait for several more deliveries.
    sent = alertmanager_sent(site)
    wait_until("three more webhook deliveries", lambda: alertmanager_sent(site) >= sent + 3)
    tickets = alert_tickets()
    assert len(tickets) == 1, json.dumps(tickets, indent=1)
    assert alertmanager_sent(site, "alertmanager_notifications_failed_total") == 0, (
        "the collector took every resend"
    )
    assert tickets[0]["customer"] == CUSTOMER
    assert tickets[0].get("host") == site.host


def work_the_service_desk(site: Site) -> None:
    """A customer's call answered, resolved and rated, and an inspection: the service-desk figures."""
    r = site.api("POST", "/api/v1/tickets", json={"customer": CUSTOMER, "title": "printer queue stuck"})
    assert r.status_code == 201, r.text
    ref = r.json()["number"]
    for action, body in (
        ("take", {"engineer": "li-wei"}),
        (
            "resolve",
            {
                "report": {
                    "cause": "spooler hung",
                    "actions": "restarted the spooler",
                    "result": "prints again",
                }
            },
        ),
        ("survey", {"rating": 5, "comment": "quick"}),
    ):
        r = site.api("POST", f"/api/v1/tickets/{ref}/{action}", json=body)
        assert r.status_code == 200, f"{action}: {r.text}"
    # The monthly inspection, started by hand; it answers once complete.
    r = site.api("POST", "/api/v1/inspections", json={"customer": CUSTOMER})
    assert r.status_code == 201, r.text


def panel_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in DASHBOARDS:
        dash = json.loads(path.read_text(encoding="utf-8"))
        for panel in dash["panels"]:
            for target in panel.get("targets", []):
                out.append((path.stem, panel["title"], target["expr"]))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), expr)


def test_every_dashboard_query_returns_data(site: Site) -> None:
    work_the_service_desk(site)
    # The values Grafana would offer: the variables' own label_values queries, run for real.
    customers = site.prometheus.label_values("customer", 'up{host!=""}')
    assert CUSTOMER in customers
    hosts = site.prometheus.label_values("host", f'up{{host!="",customer=~"{CUSTOMER}"}}')
    assert site.host in hosts
    values = {"customer": CUSTOMER, "host": site.host, "__rate_interval": "1m", "__range": "1h"}
    queries = panel_queries()
    assert len(queries) > 30

    last: list[str] = []

    def every_panel_has_data() -> bool:
        last[:] = [
            f"{board} / {title}: {expr}"
            for board, title, expr in queries
            if not site.prometheus.query(substitute(expr, values))
        ]
        return not last

    try:
        wait_until("every panel's data", every_panel_has_data, timeout=90)
    except AssertionError:
        pytest.fail("panels without data:\n" + "\n".join(last))
