"""The evaluator: group intervals, limits, scalar and string results, recorded series, reloads."""

from __future__ import annotations

import yaml

from collector.core.alerting.evaluator import RECORDED_HOST, RuleEvaluator
from collector.core.alerting.model import AlertState
from collector.core.alerting.rulefile import RuleSet, build_rule_set
from collector.core.window import RecentWindow, is_stale


def rules(*groups: dict[str, object]) -> RuleSet:
    return build_rule_set([("site.yml", yaml.safe_dump({"groups": list(groups)}))])


def window(**loads: float) -> RecentWindow:
    w = RecentWindow(3600.0)
    for host, load in loads.items():
        w.append_report(host, {"host": host, "customer": "acme"}, 0.0, [("node_load1", {}, load)])
    return w


def test_a_group_runs_at_its_own_interval() -> None:
    ev = RuleEvaluator(rules(
        {"name": "fast", "rules": [{"alert": "A", "expr": "vector(1)"}]},
        {"name": "slow", "interval": "1m", "rules": [{"alert": "B", "expr": "vector(1)"}]},
    ), default_interval=15.0)
    w = window()
    ran = [ev.evaluate(w, t).groups for t in (0.0, 15.0, 30.0, 45.0, 60.0)]
    assert ran == [2, 1, 1, 1, 2]


def test_a_scalar_result_is_one_alert_and_a_string_is_an_error() -> None:
    ev = RuleEvaluator(rules({"name": "g", "rules": [
        {"alert": "Scalar", "expr": "scalar(vector(3))"},
        {"alert": "Text", "expr": '"hello"'},
    ]}))
    out = ev.evaluate(window(), 0.0)
    got = [(c.alertname, c.labels, c.value) for c in out.changes]
    assert got == [("Scalar", {"alertname": "Scalar"}, 3.0)]
    [key] = out.failures
    assert "not a vector or scalar" in out.failures[key]


def test_the_group_limit_clears_the_rule_and_reports() -> None:
    busy = {"alert": "Busy", "expr": "node_load1 > 1"}
    ev = RuleEvaluator(rules({"name": "g", "limit": 1, "rules": [busy]}))
    out = ev.evaluate(window(a=5.0, b=5.0), 0.0)
    assert ev.alerts() == []
    assert "exceeded limit of 1 with 2 alerts" in next(iter(out.failures.values()))


def test_labels_that_render_empty_are_dropped_and_templates_see_the_sample() -> None:
    ev = RuleEvaluator(rules({"name": "g", "rules": [{
        "alert": "Load", "expr": "node_load1 > 1",
        "labels": {"customer": "", "band": "{{ if gt $value 4.0 }}high{{ end }}",
                   "metric": "{{ $labels.__name__ }}"},
    }]}), external_labels={"site": "hq"})
    ev.evaluate(window(a=5.0, b=2.0), 0.0)
    got = sorted((a.labels["host"], a.labels.get("band"), "customer" in a.labels, a.labels["metric"])
                 for a in ev.alerts())
    assert got == [("a", "high", False, "node_load1"), ("b", None, False, "node_load1")]


def test_recorded_series_go_stale_when_the_rule_stops_producing_them() -> None:
    ev = RuleEvaluator(rules({"name": "g", "rules": [{"record": "busy:load", "expr": "node_load1 > 1"}]}))
    w = window(a=5.0)
    ev.evaluate(w, 10.0)
    w.append_report("a", {"host": "a", "customer": "acme"}, 20.0, [("node_load1", {}, 0.5)])
    ev.evaluate(w, 30.0)
    [series] = list(w.series_named("busy:load"))
    assert series.host == RECORDED_HOST
    assert list(series.ts) == [10.0, 30.0]
    assert series.vs[0] == 5.0
    assert is_stale(series.vs[1])


def test_a_reload_keeps_the_state_of_unchanged_rules_and_resolves_removed_ones() -> None:
    group = {"name": "g", "rules": [{"alert": "Keep", "expr": "node_load1 > 1"},
                                    {"alert": "Drop", "expr": "node_load1 > 1"}]}
    ev = RuleEvaluator(rules(group))
    ev.evaluate(window(a=5.0), 0.0)
    assert {a.alertname for a in ev.alerts() if a.state is AlertState.FIRING} == {"Keep", "Drop"}
    changes = ev.replace_rules(rules({"name": "g", "rules": [group["rules"][0]]}), 30.0)  # type: ignore[index]
    assert [(c.alertname, c.state) for c in changes] == [("Drop", "resolved")]
    [kept] = ev.alerts()
    assert (kept.alertname, kept.active_at) == ("Keep", 0.0)
