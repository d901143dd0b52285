"""promtool's ``promql_expr_test`` entries, checked against our engine.

An entry names an expression, an evaluation time and the samples expected; like promtool
2.x, values must match exactly and the order of samples does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import promql_parser as pp

from collector.core.promql.model import PromQLError, Sample, format_labels

if TYPE_CHECKING:
    from collector.core.window import RecentWindow


@dataclass(frozen=True)
class TestFailure:
    """One failed entry: what was expected, what came back, or why it could not run."""

    __test__ = False  # not a pytest test class

    expr: str
    eval_time: float
    message: str
    expected: list[tuple[dict[str, str], float]] = field(default_factory=list)
    got: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"expr: {self.expr!r}, time: {self.eval_time:g}s: {self.message}"]
        if self.expected or self.got:
            lines.append("    exp: " + _show(self.expected))
            lines.append("    got: " + _show(self.got))
        return "\n".join(lines)


def _show(samples: list[tuple[dict[str, str], float]]) -> str:
    if not samples:
        return "(none)"
    return ", ".join(f"{format_labels(lb)} {v!r}" for lb, v in samples)


def parse_labels(text: str) -> dict[str, str]:
    """A series' labels in PromQL notation (``up{job="x"}``, ``{a="b"}``, ``{}``) as a dict."""
    stripped = text.strip()
    if stripped in ("", "{}"):
        return {}
    try:
        e = pp.parse(stripped)
    except ValueError as err:
        raise PromQLError(f"labels {text!r}: {err}") from err
    if not isinstance(e, pp.VectorSelector) or e.offset is not None or e.at is not None:
        raise PromQLError(f"labels {text!r}: expected a metric name and labels")
    labels: dict[str, str] = {}
    if e.name:
        labels["__name__"] = e.name
    for m in e.matchers.matchers:
        if m.op != pp.MatchOp.Equal:
            raise PromQLError(f"labels {text!r}: only name=\"value\" pairs are allowed")
        if m.value:
            labels[m.name] = m.value
    return labels


def parse_duration(value: Any) -> float:
    """A promtool duration ("5m", "1h30m", "0") or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if text == "0":
        return 0.0
    try:
        return pp.parse_duration(text).total_seconds()
    except ValueError as e:
        raise PromQLError(f"invalid duration {value!r}: {e}") from e


def _key(item: tuple[dict[str, str], float]) -> tuple:
    return tuple(sorted(item[0].items()))


def run_promql_expr_tests(
    tests: Sequence[Mapping[str, Any]], window: RecentWindow, *, lookback: float = 300.0
) -> list[TestFailure]:
    """Check each ``{expr, eval_time, exp_samples: [{labels, value}]}`` entry; the failures, in order."""
    from collector.core.promql import compile_expr

    failures: list[TestFailure] = []
    for entry in tests:
        text = str(entry.get("expr", ""))
        try:
            at = parse_duration(entry.get("eval_time", 0))
            expected = [
                (parse_labels(str(s.get("labels", ""))), float(s.get("value", 0.0)))
                for s in entry.get("exp_samples") or []
            ]
        except (PromQLError, TypeError, ValueError) as e:
            failures.append(TestFailure(text, 0.0, str(e)))
            continue
        try:
            value = compile_expr(text).evaluate(window, at, lookback=lookback)
        except PromQLError as e:
            failures.append(TestFailure(text, at, f"error: {e}", expected))
            continue
        if isinstance(value, str):
            failures.append(TestFailure(text, at, "a string result cannot be compared", expected))
            continue
        got_samples = value if isinstance(value, list) else [Sample({}, value)]
        got = [(s.labels, s.value) for s in got_samples]
        if not _same(expected, got):
            failures.append(
                TestFailure(text, at, "unexpected samples", sorted(expected, key=_key), sorted(got, key=_key))
            )
    return failures


def _same(expected: list[tuple[dict[str, str], float]], got: list[tuple[dict[str, str], float]]) -> bool:
    if len(expected) != len(got):
        return False
    for (el, ev), (gl, gv) in zip(sorted(expected, key=_key), sorted(got, key=_key), strict=True):
        if el != gl:
            return False
        if ev != gv and not (ev != ev and gv != gv):
            return False
    return True
