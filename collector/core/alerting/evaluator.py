"""Evaluating rule groups over the recent window: expressions in, alert state and recorded series out.

The evaluator keeps each alerting rule's active alerts between calls; it is handed the window and
the evaluation time, and never looks at a clock. Rules of a group run in order, so a recording
rule's output is visible to the rules after it at the same time, as in Prometheus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.core.alerting.model import ActiveAlert, AlertChange, fingerprint
from collector.core.alerting.rulefile import AlertingRule, RecordingRule, RuleGroup, RuleSet
from collector.core.alerting.state import Candidate, advance, resolve_all
from collector.core.alerting.template import TemplateData
from collector.core.promql import EvaluationCache
from collector.core.window import STALE, RecentWindow

# Recorded series live under this pseudo-host in the window, so that a host's report (which marks
# the host's own series it does not carry as stale) never touches them.
RECORDED_HOST = "\x00recorded"
_DUPLICATE = "vector contains metrics with the same labelset after applying "


class EvaluationError(ValueError):
    """A rule whose result cannot become alerts or series (kept per rule as its last error)."""


@dataclass
class RuleHealth:
    """What the last evaluation of one rule did."""

    last_evaluation: float | None = None
    last_error: str | None = None
    duration: float = 0.0


@dataclass
class Evaluation:
    """One evaluation's outcome: the alert changes and the rules that failed (key -> error)."""

    changes: list[AlertChange] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    groups: int = 0


def _vector(result: Any) -> list[tuple[dict[str, str], float]]:
    if isinstance(result, str):
        raise EvaluationError("rule result is not a vector or scalar")
    if isinstance(result, int | float):
        return [({}, float(result))]
    return [(dict(s.labels), float(s.value)) for s in result]


class RuleEvaluator:
    """Evaluates a RuleSet over a window and carries alert state from one evaluation to the next."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        lookback: float = 300.0,
        default_interval: float = 15.0,
        external_labels: Mapping[str, str] | None = None,
        external_url: str = "",
    ) -> None:
        self.rules = rules
        self.lookback = lookback
        self.default_interval = default_interval
        self.external_labels = dict(external_labels or {})
        self.external_url = external_url
        self.active: dict[str, dict[str, ActiveAlert]] = {}
        self.health: dict[str, RuleHealth] = {}
        self._last_group_eval: dict[str, float] = {}
        self._recorded: dict[str, set[tuple[tuple[str, str], ...]]] = {}

    # -- state across reloads and restarts ------------------------------------------------------
    def replace_rules(self, rules: RuleSet, now: float) -> list[AlertChange]:
        """Swap in a new rule set; alerts of rules that remain keep their state, the others resolve."""
        keep = {r.key for r in rules.alerting_rules()}
        changes: list[AlertChange] = []
        for key in list(self.active):
            if key not in keep:
                changes.extend(resolve_all(self.active.pop(key), now))
        self.rules = rules
        self.health = {k: v for k, v in self.health.items() if k in {r.key for r in rules.rules()}}
        return changes

    def restore(self, alerts: Iterable[ActiveAlert]) -> int:
        """Put back alerts persisted by a previous run; those of rules no longer loaded are skipped."""
        known = {r.key for r in self.rules.alerting_rules()}
        n = 0
        for a in alerts:
            if a.rule in known:
                self.active.setdefault(a.rule, {})[a.fingerprint] = a
                n += 1
        return n

    def alerts(self) -> list[ActiveAlert]:
        """Every pending and firing alert, grouped by rule in rule order."""
        out: list[ActiveAlert] = []
        for r in self.rules.alerting_rules():
            out.extend(sorted(self.active.get(r.key, {}).values(), key=lambda a: sorted(a.labels.items())))
        return out

    # -- evaluation -------------------------------------------------------------------------------
    def due(self, group: RuleGroup, now: float) -> bool:
        last = self._last_group_eval.get(group.key)
        interval = group.interval or self.default_interval
        # A little slack: a loop that wakes a few milliseconds early must not skip a whole interval.
        return last is None or now - last >= interval * 0.95

    def evaluate(
        self, window: RecentWindow, now: float, *, every_group: bool = False
    ) -> Evaluation:
        """Evaluate every group that is due at ``now`` (or all of them) and return what changed."""
        result = Evaluation()
        for _ in self.steps(window, now, result, every_group=every_group):
            pass
        return result

    def steps(
        self, window: RecentWindow, now: float, into: Evaluation, *, every_group: bool = False
    ) -> Iterator[None]:
        """``evaluate`` one rule at a time, into ``into``: yields after each rule so that a caller
        can let other work run in between (the rules must not change until it is exhausted)."""
        # Rules of one round share subexpressions (a filesystem ratio, ``up``): computed once.
        cache = EvaluationCache()
        for group in self.rules.groups:
            if not every_group and not self.due(group, now):
                continue
            self._last_group_eval[group.key] = now
            into.groups += 1
            for rule in group.rules:
                self._evaluate_rule(rule, group, window, now, into, cache)
                if isinstance(rule, RecordingRule):
                    cache = EvaluationCache()  # it wrote to the window: later rules must see that
                yield

    def _evaluate_rule(
        self, rule: AlertingRule | RecordingRule, group: RuleGroup, window: RecentWindow, now: float,
        into: Evaluation, cache: EvaluationCache,
    ) -> None:
        health = self.health.setdefault(rule.key, RuleHealth())
        health.last_evaluation = now
        try:
            if isinstance(rule, AlertingRule):
                into.changes.extend(self._alerting(rule, group, window, now, cache))
            else:
                self._recording(rule, window, now, cache)
            health.last_error = None
        except Exception as exc:  # one broken rule must not stop the others
            health.last_error = str(exc) or type(exc).__name__
            into.failures[rule.key] = health.last_error

    def candidates(
        self, rule: AlertingRule, window: RecentWindow, now: float, cache: EvaluationCache | None = None
    ) -> list[Candidate]:
        """The rule's result at ``now`` as labelled, annotated alert candidates."""
        out: list[Candidate] = []
        seen: set[str] = set()
        for labels, value in _vector(rule.expr.evaluate(window, now, lookback=self.lookback, cache=cache)):
            data = TemplateData(labels, value, self.external_labels, self.external_url)
            alert_labels = {k: v for k, v in labels.items() if k != "__name__"}
            for name, tmpl in rule.labels.items():
                alert_labels[name] = tmpl.render(data)
            alert_labels["alertname"] = rule.name
            # Prometheus drops a label whose value is empty (a template that rendered nothing).
            alert_labels = {k: v for k, v in alert_labels.items() if v != ""}
            fp = fingerprint(alert_labels)
            if fp in seen:
                raise EvaluationError(_DUPLICATE + "alert labels")
            seen.add(fp)
            annotations = {k: t.render(data) for k, t in rule.annotations.items()}
            out.append(Candidate(alert_labels, annotations, value))
        return out

    def _alerting(
        self, rule: AlertingRule, group: RuleGroup, window: RecentWindow, now: float, cache: EvaluationCache
    ) -> list[AlertChange]:
        step = advance(
            rule.key,
            self.active.get(rule.key, {}),
            self.candidates(rule, window, now, cache),
            now,
            hold=rule.hold,
            keep_firing_for=rule.keep_firing_for,
        )
        if group.limit and len(step.active) > group.limit:
            self.active[rule.key] = {}
            raise EvaluationError(f"exceeded limit of {group.limit} with {len(step.active)} alerts")
        self.active[rule.key] = step.active
        return step.changes

    def _recording(
        self, rule: RecordingRule, window: RecentWindow, now: float, cache: EvaluationCache
    ) -> None:
        seen: set[tuple[tuple[str, str], ...]] = set()
        rows: list[tuple[dict[str, str], float]] = []
        for labels, value in _vector(rule.expr.evaluate(window, now, lookback=self.lookback, cache=cache)):
            out = {k: v for k, v in labels.items() if k != "__name__"}
            out.update(rule.labels)
            out = {k: v for k, v in out.items() if v != ""}
            key = tuple(sorted(out.items()))
            if key in seen:
                raise EvaluationError(_DUPLICATE + "rule labels")
            seen.add(key)
            rows.append((out, value))
        for out, value in rows:
            window.append(RECORDED_HOST, rule.name, dict(sorted(out.items())), now, value)
        # Series this rule produced last time but not now end with a stale marker, as in Prometheus.
        for key in self._recorded.get(rule.key, set()) - seen:
            window.append(RECORDED_HOST, rule.name, dict(key), now, STALE)
        self._recorded[rule.key] = seen


def alert_series(alerts: Iterable[ActiveAlert]) -> list[tuple[str, dict[str, str], float]]:
    """The ``ALERTS`` and ``ALERTS_FOR_STATE`` series for the active alerts, as Prometheus writes them."""
    out: list[tuple[str, dict[str, str], float]] = []
    for a in alerts:
        labels = dict(a.labels)
        out.append(("ALERTS", {**labels, "alertstate": a.state.value}, 1.0))
        out.append(("ALERTS_FOR_STATE", labels, float(math.floor(a.active_at))))
    return out
