"""The engine's public interface answers as documented."""

from __future__ import annotations

import pytest

from collector.core.promql import (
    PromQLError,
    UnsupportedExpression,
    compile_expr,
    load_input_series,
)


def test_a_selector_and_a_rate_evaluate_over_loaded_series() -> None:
    window = load_input_series([{"series": 'x{a="1"}', "values": "0+10x20"}], 60.0)
    assert [(s.labels, s.value) for s in compile_expr("x").evaluate(window, 600.0)] == [
        ({"__name__": "x", "a": "1"}, 100.0)
    ]
    (rate,) = compile_expr("rate(x[5m])").evaluate(window, 600.0)
    assert rate.labels == {"a": "1"}
    assert rate.value == pytest.approx(10 / 60)


@pytest.mark.parametrize(
    ("text", "name"),
    [("x @ 5", "@ modifier"), ("x[5m:1m]", "subquery"), ('count_values("v", x)', "count_values"),
     ("histogram_quantile(0.9, x)", "histogram_quantile")],
)
def test_unsupported_constructs_are_refused_by_name(text: str, name: str) -> None:
    with pytest.raises(UnsupportedExpression) as caught:
        compile_expr(text)
    assert caught.value.name == name


def test_a_syntax_error_quotes_the_expression() -> None:
    with pytest.raises(PromQLError, match="sum\\(x"):
        compile_expr("sum(x")
