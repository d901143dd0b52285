"""`upkeep rules check` / `upkeep rules test`, recording rules, and the promises of the shipped pack."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from collector.cli import main as upkeep_main
from collector.core.alerting.rulefile import AlertingRule, build_rule_set

ROOT = Path(__file__).resolve().parents[2]
PACK = sorted((ROOT / "rules").glob("*.yml"))
Capture = pytest.CaptureFixture[str]
PLAYBOOKS = {"disk-usage", "memory-top", "cpu-hogs", "service-status", "network", "kernel-errors",
             "time-sync", "disk-health", "monthly-inspection"}


def write(path: Path, doc: object) -> Path:
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_check_names_file_rule_and_unsupported_construct(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no configuration, no data directory: only the parser is needed
    bad = write(tmp_path / "bad.yml", {"groups": [{"name": "g", "rules": [
        {"alert": "Quant", "expr": "quantile(0.9, node_load1) > 1"},
        {"alert": "Broken", "expr": "node_load1 >"},
        {"alert": "Tmpl", "expr": "up == 0", "annotations": {"summary": "{{ query \"up\" }}"}},
        {"alert": "Both", "record": "x", "expr": "up"},
        {"alert": "Dur", "expr": "up", "for": "5 minutes"},
        {"alert": "Extra", "expr": "up", "severity": "critical"},
    ]}]})
    good = write(tmp_path / "good.yml", {"groups": [{"name": "g", "rules": [{"alert": "Up", "expr": "up"}]}]})
    assert upkeep_main(["rules", "check", str(bad), str(good)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:g/Quant: unsupported: quantile" in out
    assert f"{bad}:g/Broken: could not parse expression" in out
    assert f'{bad}:g/Tmpl: summary: template: __alert_Tmpl: function "query" not defined' in out
    assert f"{bad}:g/Both: only one of 'record' and 'alert' must be set" in out
    assert f'{bad}:g/Dur: not a valid duration string: "5 minutes"' in out
    assert f"{bad}:g/Extra: field severity not found" in out
    assert f"SUCCESS: {good}: 1 rules found" in out
    assert upkeep_main(["rules", "check", str(good)]) == 0
    assert upkeep_main(["rules", "check", str(tmp_path / "missing.yml")]) == 1
    write(tmp_path / "yaml.yml", "groups: [\n")
    assert upkeep_main(["rules", "check", str(tmp_path / "yaml.yml")]) == 1
    assert "not valid YAML" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yml", "good.yml", "yaml.yml"]


# Also run under promtool by test_promtool_differential.py.
RECORDING_RULES = {"groups": [{"name": "g", "rules": [
    {"record": "host:load_per_cpu", "expr": "node_load1 / 2"},
    {"alert": "LoadPerCpu", "expr": "host:load_per_cpu > 1", "for": "2m",
     "annotations": {"summary": "{{ $labels.host }} {{ $value }}"}},
]}]}
RECORDING_TEST = {
    "rule_files": ["rec.yml"], "evaluation_interval": "1m",
    "tests": [{"interval": "1m",
               "input_series": [{"series": 'node_load1{host="a"}', "values": "1 1 5 5 5 5 5"}],
               "alert_rule_test": [
                   {"eval_time": "3m", "alertname": "LoadPerCpu", "exp_alerts": []},
                   {"eval_time": "4m", "alertname": "LoadPerCpu", "exp_alerts": [
                       {"exp_labels": {"host": "a"}, "exp_annotations": {"summary": "a 2.5"}}]}],
               "promql_expr_test": [
                   {"expr": "host:load_per_cpu", "eval_time": "5m",
                    "exp_samples": [{"labels": 'host:load_per_cpu{host="a"}', "value": 2.5}]}]}],
}


def test_recording_rules_feed_the_rules_after_them(tmp_path: Path, capsys: Capture) -> None:
    write(tmp_path / "rec.yml", RECORDING_RULES)
    test = write(tmp_path / "rec_test.yml", RECORDING_TEST)
    assert upkeep_main(["rules", "test", str(test)]) == 0, capsys.readouterr().out


def test_a_failing_rule_test_is_reported_with_both_sides(tmp_path: Path, capsys: Capture) -> None:
    write(tmp_path / "r.yml", {"groups": [{"name": "g", "rules": [{"alert": "Up", "expr": "up == 0"}]}]})
    test = write(tmp_path / "t.yml", {
        "rule_files": ["r.yml"],
        "tests": [{"name": "expects nothing", "input_series": [{"series": 'up{job="a"}', "values": "0 0"}],
                   "alert_rule_test": [{"eval_time": "1m", "alertname": "Up", "exp_alerts": []}]}],
    })
    assert upkeep_main(["rules", "test", str(test)]) == 1
    out = capsys.readouterr().out
    assert "FAIL: expects nothing" in out
    assert 'got:[\n  0: Labels:{alertname="Up", job="a"}' in out


def test_every_shipped_rule_is_labelled_annotated_and_tested() -> None:
    rules = build_rule_set([(str(p), p.read_text()) for p in PACK])
    tested: set[str] = set()
    for t in (ROOT / "rules" / "tests").glob("*.yml"):
        for group in yaml.safe_load(t.read_text())["tests"]:
            tested |= {c["alertname"] for c in group.get("alert_rule_test", []) if c.get("exp_alerts")}
    names = []
    for r in rules.rules():
        assert isinstance(r, AlertingRule)
        names.append(r.name)
        assert r.static_labels.get("severity") in {"critical", "major", "warning", "info"}, r.name
        assert {"summary", "description"} <= set(r.annotations), r.name
        playbook = r.annotations.get("playbook")
        assert playbook is None or playbook.source in PLAYBOOKS, r.name
        assert r.name in tested, f"{r.name} has no unit test that sees it fire"
    assert len(names) == len(set(names))
    # Aggregations keep host and customer, so every alert reaches the right customer's queue.
    for r in rules.rules():
        if " by (" in r.expr_text:
            assert "by (host, customer)" in r.expr_text, r.name
