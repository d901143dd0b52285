"""The shipped Grafana dashboards and provisioning: valid, in sync with their source, well formed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def all_panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for p in dash["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))
    return panels


def test_the_three_dashboards_are_shipped() -> None:
    assert [p.name for p in DASHBOARDS] == ["fleet-overview.json", "host-detail.json", "service-desk.json"]


def test_the_json_files_are_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboards.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panel_ids_are_unique_and_every_query_uses_the_datasource_variable(path: Path) -> None:
    dash = load(path)
    ids = [p["id"] for p in all_panels(dash)]
    assert len(ids) == len(set(ids)), ids
    queries = [p for p in all_panels(dash) if p["type"] != "row"]
    assert queries
    for panel in queries:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].strip()


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_panels_do_not_overlap(path: Path) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in all_panels(load(path)):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        xs = range(pos["x"], pos["x"] + pos["w"])
        cells = {(x, y) for x in xs for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_template_variables(path: Path) -> None:
    dash = load(path)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["customer"]["query"]["query"].startswith("label_values(")
    if path.stem != "service-desk":
        assert "$customer" in variables["host"]["query"]["query"], "hosts are narrowed by the customer"
    text = json.dumps(dash["panels"])
    for name in variables:
        if name != "datasource":
            assert f"${name}" in text, f"variable {name} is used by no panel"
    # Every $variable a panel names is defined (Grafana's own $__ variables aside).
    used = set(re.findall(r"\$\{?(\w+)", text))
    for name in used:
        if not name.startswith("__"):
            assert name in variables, f"panel uses undefined ${name}"


def test_uids_are_unique_and_stable() -> None:
    uids = [load(p)["uid"] for p in DASHBOARDS]
    assert uids == ["upkeep-fleet", "upkeep-host", "upkeep-service-desk"]


def test_provisioning_files() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "upkeep.yml").read_text())
    assert ds["apiVersion"] == 1
    assert ds["datasources"][0]["type"] == "prometheus"
    boards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "upkeep.yml").read_text())
    provider = boards["providers"][0]
    assert provider["type"] == "file"
    assert provider["options"]["path"]


def substitute(expr: str, values: dict[str, str]) -> str:
    """A panel's PromQL with Grafana's variables replaced the way Grafana does for Prometheus."""
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return expr


SAMPLE_VALUES = {
    "customer": ".*",
    "host": "db-01",
    "__rate_interval": "1m",
    "__range": "6h",
    "__interval": "15s",
}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_every_query_is_promql(path: Path) -> None:
    dash = load(path)
    exprs = [t["expr"] for p in all_panels(dash) for t in p.get("targets", [])]
    exprs += [
        v["query"]["query"].removeprefix("label_values(").rsplit(",", 1)[0]
        for v in dash["templating"]["list"]
        if v["type"] == "query"
    ]
    for expr in exprs:
        try:
            promql_parser.parse(substitute(expr, SAMPLE_VALUES))
        except ValueError as exc:
            pytest.fail(f"{path.name}: {expr}: {exc}")
