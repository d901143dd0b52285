"""Rule unit tests in promtool's test-file format, run on upkeep's own evaluator.

A test file names ``rule_files``, an ``evaluation_interval`` (default 1m) and ``tests``; each
test has ``input_series`` in promtool's series notation (``1+2x10``, ``_``, ``stale``), an
``interval`` (default: the evaluation interval), ``alert_rule_test`` cases (``eval_time``,
``alertname``, ``exp_alerts`` of ``exp_labels``/``exp_annotations``) and ``promql_expr_test``
cases. As promtool does, every group is evaluated at 0, 1, 2... evaluation intervals up to the
last ``eval_time``; a case is checked after the evaluation at the last step not after its
``eval_time``, and only firing alerts count.

The caller reads the files: this module gets the parsed test document and the loaded rules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.core.alerting.durations import format_duration, parse_prometheus_duration
from collector.core.alerting.evaluator import RuleEvaluator
from collector.core.alerting.model import AlertState
from collector.core.alerting.rulefile import RuleGroup, RuleSet
from collector.core.promql import load_input_series, run_promql_expr_tests

_FILE_KEYS = {"rule_files", "evaluation_interval", "group_eval_order", "tests"}
_TEST_KEYS = {"interval", "input_series", "alert_rule_test", "promql_expr_test", "external_labels",
              "external_url", "name"}

Pairs = tuple[tuple[str, str], ...]


class RuleTestFileError(ValueError):
    """A test file that does not have promtool's shape."""


@dataclass
class RuleTestResult:
    """One test group of a test file: its name and what failed (nothing when it passed)."""

    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _text(value: Any) -> str:
    # YAML scalars in exp_labels arrive as strings in Go; keep true/false as Go spells them.
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _duration(value: Any, what: str) -> float:
    if value is None:
        return 0.0
    try:
        return parse_prometheus_duration(str(value))
    except ValueError as exc:
        raise RuleTestFileError(f"{what}: {exc}") from None


def _pairs(mapping: Mapping[str, Any] | None) -> Pairs:
    return tuple(sorted((str(k), _text(v)) for k, v in (mapping or {}).items()))


def _show(alerts: Sequence[tuple[Pairs, Pairs]]) -> str:
    if not alerts:
        return "[]"
    rows = []
    for i, (labels, annos) in enumerate(alerts):
        ls = ", ".join(f'{k}="{v}"' for k, v in labels)
        an = ", ".join(f'{k}="{v}"' for k, v in annos)
        rows.append(f"  {i}: Labels:{{{ls}}} Annotations:{{{an}}}")
    return "[\n" + "\n".join(rows) + "\n]"


def rule_files_of(doc: Any) -> list[str]:
    """The ``rule_files`` entries of a test document (validated)."""
    if not isinstance(doc, dict):
        raise RuleTestFileError("a test file must be a mapping")
    unknown = set(doc) - _FILE_KEYS
    if unknown:
        raise RuleTestFileError(f"field {sorted(unknown)[0]} not found in type main.unitTestFile")
    files = doc.get("rule_files") or []
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise RuleTestFileError("rule_files must be a list of paths")
    return files


def _ordered(groups: Sequence[RuleGroup], order: Sequence[str]) -> list[RuleGroup]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(groups, key=lambda g: rank.get(g.name, 0))


def run_rule_tests(doc: Mapping[str, Any], rules: RuleSet) -> list[RuleTestResult]:
    """Run every test group of a parsed test document against ``rules``."""
    rule_files_of(doc)
    eval_interval = _duration(doc.get("evaluation_interval"), "evaluation_interval") or 60.0
    order = [str(g) for g in doc.get("group_eval_order") or []]
    if len(set(order)) != len(order):
        raise RuleTestFileError("group name repeated in evaluation order")
    groups = _ordered(rules.groups, order)
    results = []
    for i, tg in enumerate(doc.get("tests") or []):
        if not isinstance(tg, dict):
            raise RuleTestFileError(f"tests[{i}] must be a mapping")
        unknown = set(tg) - _TEST_KEYS
        if unknown:
            raise RuleTestFileError(f"field {sorted(unknown)[0]} not found in type main.testGroup")
        name = str(tg.get("name") or f"test {i + 1}")
        results.append(RuleTestResult(name, _run_group(tg, RuleSet(tuple(groups)), eval_interval)))
    return results


def _run_group(tg: Mapping[str, Any], rules: RuleSet, eval_interval: float) -> list[str]:
    interval = _duration(tg.get("interval"), "interval") or eval_interval
    series = tg.get("input_series") or []
    try:
        window = load_input_series(list(series), interval)
    except Exception as exc:  # the series notation's own errors, reported as a failure of this test
        return [f"    input_series: {exc}"]
    evaluator = RuleEvaluator(
        rules, lookback=300.0, default_interval=eval_interval,
        external_labels={str(k): _text(v) for k, v in (tg.get("external_labels") or {}).items()},
        external_url=str(tg.get("external_url") or ""),
    )
    cases: dict[float, list[Mapping[str, Any]]] = {}
    for case in tg.get("alert_rule_test") or []:
        if not case.get("alertname"):
            return ["    an item under alert_rule_test misses required attribute alertname"]
        cases.setdefault(_duration(case.get("eval_time"), "eval_time"), []).append(case)
    expr_tests = list(tg.get("promql_expr_test") or [])
    max_t = max([*cases, *(_duration(c.get("eval_time"), "eval_time") for c in expr_tests), 0.0])
    times = sorted(cases)
    failures: list[str] = []
    steps = int(max_t // eval_interval + 1e-9)
    for n in range(steps + 1):
        ts = n * eval_interval
        outcome = evaluator.evaluate(window, ts, every_group=True)
        if outcome.failures:
            names = {r.key: r.name for r in rules.rules()}
            failures.extend(f"    rule: {names.get(k, k)}, time: {format_duration(ts)}, err: {e}"
                            for k, e in outcome.failures.items())
            return failures
        while times and ts <= times[0] < ts + eval_interval:
            t = times.pop(0)
            for case in cases[t]:
                failures.extend(_check_alerts(case, t, evaluator))
    failures.extend(f"    {f}" for f in run_promql_expr_tests(expr_tests, window))
    return failures


def _check_alerts(case: Mapping[str, Any], t: float, evaluator: RuleEvaluator) -> list[str]:
    alertname = str(case["alertname"])
    got = sorted(
        (tuple(sorted(a.labels.items())), tuple(sorted(a.annotations.items())))
        for a in evaluator.alerts()
        if a.alertname == alertname and a.state is AlertState.FIRING
    )
    exp = sorted(
        (_pairs({**(a.get("exp_labels") or {}), "alertname": alertname}), _pairs(a.get("exp_annotations")))
        for a in case.get("exp_alerts") or []
    )
    if got == exp:
        return []
    return [f"    alertname: {alertname}, time: {format_duration(t)},\n"
            f"        exp:{_show(exp)},\n        got:{_show(got)}"]
