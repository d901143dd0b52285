"""promtool's series notation: properties of the parser, and promtool reading the same strings."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.promql import (
    PromQLError,
    load_input_series,
    parse_series_values,
    run_promql_expr_tests,
)
from tests.promql.promtool_diff import Case, render, run_promtool
from tests.support import require_binary

# Multiples of 1/8 keep repeated additions exact, so a model can add them in any order.
values = st.integers(min_value=-8000, max_value=8000).map(lambda n: n / 8)
counts = st.integers(min_value=0, max_value=12)


def _num(v: float) -> str:
    return repr(v)


@st.composite
def items(draw: st.DrawFn) -> tuple[str, list[float | None]]:
    """One notation item and the values it stands for."""
    kind = draw(st.sampled_from(["value", "blank", "blanks", "repeat", "run", "stale"]))
    if kind == "value":
        v = draw(values)
        return _num(v), [v]
    if kind == "blank":
        return "_", [None]
    if kind == "blanks":
        n = draw(counts)
        return f"_x{n}", [None] * n
    if kind == "stale":
        return "stale", [math.nan]
    if kind == "repeat":
        v, n = draw(values), draw(counts)
        return f"{_num(v)}x{n}", [v] * (n + 1)
    start, step, n = draw(values), draw(values), draw(counts)
    sign = "-" if step < 0 else "+"
    return f"{_num(start)}{sign}{_num(abs(step))}x{n}", [start + i * step for i in range(n + 1)]


def _same(a: list[float | None], b: list[float | None]) -> bool:
    def same(x: float | None, y: float | None) -> bool:
        return x == y or (x is not None and y is not None and math.isnan(x) and math.isnan(y))

    return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))


@settings(deadline=None)  # a loaded CI machine must not turn slowness into a failure
@given(st.lists(items(), max_size=8))
def test_a_notation_string_expands_to_the_values_of_its_items(
    parts: list[tuple[str, list[float | None]]],
) -> None:
    text = " ".join(p for p, _ in parts)
    expected = [v for _, vs in parts for v in vs]
    assert _same(parse_series_values(text, 60.0), expected)


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=True, width=64)), max_size=20))
def test_plain_values_and_blanks_round_trip(vals: list[float | None]) -> None:
    text = " ".join("_" if v is None else ("Inf" if v == math.inf else "-Inf" if v == -math.inf else repr(v))
                    for v in vals)
    assert _same(parse_series_values(text, 15.0), vals)


@settings(deadline=None)
@given(st.text(alphabet="0123456789.+-x_ eE", max_size=20) | st.text(max_size=12))
def test_any_text_either_parses_or_raises_a_promql_error(text: str) -> None:
    try:
        out = parse_series_values(text, 60.0)
    except PromQLError:
        return
    assert all(v is None or isinstance(v, float) for v in out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1+2x3", [1.0, 3.0, 5.0, 7.0]),
        ("1-1x5", [1.0, 0.0, -1.0, -2.0, -3.0, -4.0]),
        ("0 _ 3 stale", [0.0, None, 3.0, math.nan]),
        ("_x3", [None, None, None]),
        ("1x5", [1.0] * 6),
        ("-2 +3", [-2.0, 3.0]),
        ("0x3 1e3", [0.0, 0.0, 0.0, 0.0, 1000.0]),  # no hexadecimal: promtool reads 0x3 as a repeat
        ("5 -1x2", [5.0, -1.0, -1.0, -1.0]),  # white space separates items...
        ("5-1x2", [5.0, 4.0, 3.0]),  # ...so this is a run and that was not
        ("Inf -inf NaN", [math.inf, -math.inf, math.nan]),
        ("", []),
    ],
)
def test_documented_examples(text: str, expected: list[float | None]) -> None:
    assert _same(parse_series_values(text, 60.0), expected)


@pytest.mark.parametrize(
    "text", ["1x", "1+x3", "x3", "1+2x-1", "abc", "1 + ", "-stale", "stale+1x2", "0x1F", "_x"]
)
def test_malformed_notation_is_refused(text: str) -> None:
    with pytest.raises(PromQLError):
        parse_series_values(text, 60.0)


def test_loaded_series_and_expression_tests_work_together() -> None:
    window = load_input_series(
        [
            {"series": 'up{job="node", host="a"}', "values": "1 1 0 0 stale"},
            {"series": "c", "values": "0+10x10"},
        ],
        60.0,
    )
    failures = run_promql_expr_tests(
        [
            {"expr": "up == 0", "eval_time": "3m",
             "exp_samples": [{"labels": 'up{job="node", host="a"}', "value": 0}]},
            {"expr": "up", "eval_time": "4m", "exp_samples": []},
            {"expr": "increase(c[5m])", "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 50}]},
            {"expr": "time()", "eval_time": 90, "exp_samples": [{"labels": "{}", "value": 90}]},
            {"expr": "sum(c)", "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 101}]},
            {"expr": "sum(", "eval_time": "1m", "exp_samples": []},
        ],
        window,
    )
    assert [(f.expr, f.message.split(":")[0]) for f in failures] == [
        ("sum(c)", "unexpected samples"),
        ("sum(", "error"),
    ]
    assert "100.0" in str(failures[0])


def _random_notation(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 8)):
        kind = rng.choice(["value", "blank", "blanks", "repeat", "run", "down", "stale"])
        v = rng.randint(-400, 400) / 4
        n = rng.randint(0, 4)
        parts.append({
            "value": repr(v), "blank": "_", "blanks": f"_x{n}", "repeat": f"{v!r}x{n}",
            "run": f"{v!r}+{rng.randint(0, 40) / 4!r}x{n}", "down": f"{v!r}-{rng.randint(0, 40) / 4!r}x{n}",
            "stale": "stale",
        }[kind])
    return " ".join(parts)


@pytest.mark.prometheus
def test_promtool_reads_the_notation_as_we_do(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rng = random.Random(42)
    cases = []
    for i in range(6):
        series = [{"series": f'x{{n="{j}"}}', "values": _random_notation(rng)} for j in range(4)]
        steps = max(len(parse_series_values(s["values"], 60.0)) for s in series)
        queries = [(q, float(60 * t)) for t in range(steps + 2) for q in ("x", "timestamp(x)")]
        cases.append(Case(series, queries))
        del i
    result = run_promtool(promtool, render(cases), tmp_path)
    assert result.returncode == 0, result.stderr[:5000]
