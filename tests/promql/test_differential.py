"""Our engine against the real promtool, over random series, for every supported construct."""

from __future__ import annotations

from pathlib import Path

import promql_parser as pp
import pytest

from collector.core.promql.aggregate import SUPPORTED as AGGREGATIONS
from collector.core.promql.binary import ARITHMETIC, COMPARISON, SET_OPERATORS
from collector.core.promql.functions import DATE_FUNCTIONS, MATH_FUNCTIONS
from collector.core.promql.rangefuncs import RANGE_FUNCTIONS
from tests.promql.promtool_diff import EXPRESSIONS, Case, eval_times, random_series, render, run_promtool
from tests.support import require_binary

pytestmark = pytest.mark.prometheus

SEEDS = tuple(range(1, 11))
OTHER_FUNCTIONS = {
    "absent", "absent_over_time", "label_replace", "label_join", "sort", "sort_desc", "scalar", "vector",
    "time", "timestamp",
}


_MATCH_OPS = (
    (pp.MatchOp.Equal, "="), (pp.MatchOp.NotEqual, "!="), (pp.MatchOp.Re, "=~"), (pp.MatchOp.NotRe, "!~"),
)


def _constructs(text: str) -> set[str]:
    found: set[str] = set()

    def visit(e: object) -> None:
        if isinstance(e, pp.Call):
            found.add(e.func.name)
        elif isinstance(e, pp.AggregateExpr | pp.BinaryExpr):
            found.add(str(e.op))
            mod = e.modifier
            if isinstance(e, pp.BinaryExpr) and mod is not None:
                if mod.return_bool:
                    found.add("bool")
                if mod.group_labels is not None and str(mod.card).endswith("ManyToOne"):
                    found.add("group_left")
                if str(mod.card).endswith("OneToMany"):
                    found.add("group_right")
                if mod.matching is not None:
                    found.add("on" if mod.matching.type == pp.LabelModifierType.Include else "ignoring")
            if isinstance(e, pp.AggregateExpr) and e.modifier is not None:
                found.add("without" if e.modifier.type == pp.AggModifierType.Without else "by")
        elif isinstance(e, pp.UnaryExpr):
            found.add("unary -")
        elif isinstance(e, pp.VectorSelector | pp.MatrixSelector):
            vs = e if isinstance(e, pp.VectorSelector) else e.vector_selector
            if vs.offset is not None:
                found.add("offset")
            for m in vs.matchers.matchers:
                found.update(sym for op, sym in _MATCH_OPS if m.op == op)

    pp.walk(pp.parse(text), visit)
    return found


def test_the_differential_expressions_cover_every_supported_construct() -> None:
    covered: set[str] = set()
    for text in EXPRESSIONS:
        covered |= _constructs(text)
    supported = (
        set(RANGE_FUNCTIONS) | set(MATH_FUNCTIONS) | set(DATE_FUNCTIONS) | OTHER_FUNCTIONS | AGGREGATIONS
        | set(ARITHMETIC) | set(COMPARISON) | SET_OPERATORS
        | {"bool", "on", "ignoring", "group_left", "group_right", "by", "without", "unary -", "offset",
           "=", "!=", "=~", "!~"}
    )
    assert supported - covered == set()


@pytest.mark.slow
def test_the_engine_agrees_with_promtool_on_random_series(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    cases = [
        Case(random_series(seed), [(e, t) for e in EXPRESSIONS for t in eval_times(seed)]) for seed in SEEDS
    ]
    result = run_promtool(promtool, render(cases), tmp_path)
    assert result.returncode == 0, result.stderr[:20000]
    assert "SUCCESS" in result.stdout
    # An expression we refused to evaluate would not have been compared at all.
    assert [c.skipped for c in cases] == [[] for _ in cases]


def test_a_wrong_expectation_makes_promtool_fail(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    case = Case(random_series(1), [("sum by (host) (rate(c_total[5m]))", 600.0)])
    text = render([case])
    first_value = next(line for line in text.splitlines() if line.strip().startswith("value:"))
    number = float(first_value.split(":", 1)[1])
    wrong = text.replace(first_value, first_value.split(":")[0] + f": {number * (1 + 1e-12)!r}", 1)
    assert wrong != text
    result = run_promtool(promtool, wrong, tmp_path)
    assert result.returncode != 0
    assert "sum by (host) (rate(c_total[5m]))" in result.stderr
