"""Operators and functions on hand-built windows, with hand-computed results."""

from __future__ import annotations

import math

import pytest

from collector.core.promql import (
    EvaluationError,
    PromQLError,
    UnsupportedExpression,
    compile_expr,
)
from collector.core.window import STALE, RecentWindow


def _window(*series: tuple[str, dict[str, str], list[tuple[float, float]]]) -> RecentWindow:
    w = RecentWindow(retention=1e9)
    for name, labels, samples in series:
        host = labels.get("host", "h")
        for t, v in samples:
            w.append(host, name, labels, t, v)
    return w


def _eval(text: str, w: RecentWindow, t: float) -> dict[tuple[tuple[str, str], ...], float]:
    result = compile_expr(text).evaluate(w, t)
    assert isinstance(result, list)
    return {tuple(sorted(s.labels.items())): s.value for s in result}


def _one(text: str, w: RecentWindow, t: float) -> float:
    (value,) = _eval(text, w, t).values()
    return value


# -- selectors, staleness, lookback --------------------------------------------------------------

def test_the_lookback_includes_its_start_and_a_stale_marker_ends_a_series() -> None:
    w = _window(("up", {"host": "a"}, [(0, 1), (60, 1), (120, STALE)]), ("up", {"host": "b"}, [(0, 1)]))
    a, b = (("__name__", "up"), ("host", "a")), (("__name__", "up"), ("host", "b"))
    assert _eval("up", w, 300.0) == {b: 1.0}  # b's sample is exactly 300 s old: still seen (Prometheus 2.x)
    assert _eval("up", w, 300.001) == {}
    assert _eval("up", w, 119.0) == {a: 1.0, b: 1.0}


def test_range_functions_skip_stale_markers() -> None:
    w = _window(("x", {}, [(0, 1), (60, STALE), (120, 5)]))
    assert _one("count_over_time(x[5m])", w, 120.0) == 2.0
    assert _one("changes(x[5m])", w, 120.0) == 1.0


def test_regex_matchers_are_fully_anchored_and_match_missing_labels_as_empty() -> None:
    w = _window(("x", {"host": "abc"}, [(0, 1)]), ("x", {"host": "b"}, [(0, 2)]), ("x", {}, [(0, 3)]))
    assert sorted(_eval('x{host=~"b"}', w, 0).values()) == [2.0]
    assert sorted(_eval('x{host=~"a.*"}', w, 0).values()) == [1.0]
    assert sorted(_eval('x{host=~"|b"}', w, 0).values()) == [2.0, 3.0]
    assert sorted(_eval('x{host!~"[ab].*"}', w, 0).values()) == [3.0]
    assert sorted(_eval('x{host!="b"}', w, 0).values()) == [1.0, 3.0]
    assert sorted(_eval('{__name__=~"x|y", host=~"[[:alpha:]]+"}', w, 0).values()) == [1.0, 2.0]


def test_offset_moves_the_evaluation_time_back() -> None:
    w = _window(("x", {}, [(0, 1), (60, 2), (120, 3)]))
    assert _one("x offset 1m", w, 120.0) == 2.0
    assert _one("x offset 90s", w, 120.0) == 1.0
    with pytest.raises(UnsupportedExpression, match="negative offset"):
        compile_expr("x offset -1m")


# -- rate family ---------------------------------------------------------------------------------

def test_rate_extrapolates_to_the_range_edges_and_handles_resets() -> None:
    # Samples every 15 s; the range [60 s, 120 s] holds 60, 75, ... 120: no extrapolation needed.
    w = _window(("c", {}, [(t, t / 15 * 3) for t in range(0, 135, 15)]))
    assert _one("rate(c[1m])", w, 120.0) == pytest.approx(0.2)
    assert _one("increase(c[1m])", w, 120.0) == pytest.approx(12.0)
    # With the range edge 10 s before the first sample (< 1.1 x 15 s), extrapolate by those 10 s.
    assert _one("increase(c[70s])", w, 120.0) == pytest.approx(12.0 * 70 / 60)
    reset = _window(("c", {}, [(0, 10), (15, 20), (30, 5), (45, 15)]))
    # 10 + (20 - 10) ... reset to 5 counts the 20 reached: raw increase 15 - 10 + 20 = 25 over 45 s.
    assert _one("increase(c[45s])", reset, 45.0) == pytest.approx(25.0)
    assert _one("resets(c[1m])", reset, 45.0) == 1.0
    assert _one("irate(c[1m])", reset, 45.0) == pytest.approx(10 / 15)


def test_rate_does_not_extrapolate_a_counter_below_zero() -> None:
    w = _window(("c", {}, [(30, 1), (45, 4), (60, 7)]))
    # Extrapolating 30 s back would go below zero; it stops where the counter would be 0 (5 s back).
    assert _one("increase(c[60s])", w, 60.0) == pytest.approx(6 * 35 / 30)
    assert _one("delta(c[60s])", w, 60.0) == pytest.approx(6 * (30 + 7.5) / 30)


def test_a_single_sample_gives_no_rate() -> None:
    w = _window(("c", {}, [(0, 1)]))
    assert _eval("rate(c[5m])", w, 60.0) == {}
    assert _eval("deriv(c[5m])", w, 60.0) == {}


def test_deriv_and_predict_linear_fit_a_least_squares_line() -> None:
    w = _window(("g", {}, [(0, 100), (60, 90), (120, 80), (180, 70)]))
    assert _one("deriv(g[5m])", w, 180.0) == pytest.approx(-1 / 6)
    assert _one("predict_linear(g[5m], 600)", w, 180.0) == pytest.approx(70 - 100)


# -- operators -----------------------------------------------------------------------------------

def test_arithmetic_drops_the_name_and_comparisons_keep_it_unless_bool() -> None:
    w = _window(("x", {"host": "a"}, [(0, 5)]))
    assert _eval("x * 2", w, 0) == {(("host", "a"),): 10.0}
    assert list(_eval("x atan2 0", w, 0)) == [(("__name__", "x"), ("host", "a"))]  # as in Prometheus 2.x
    assert _eval("x > 1", w, 0) == {(("__name__", "x"), ("host", "a")): 5.0}
    assert _eval("1 < x", w, 0) == {(("__name__", "x"), ("host", "a")): 5.0}
    assert _eval("x > bool 7", w, 0) == {(("host", "a"),): 0.0}
    assert _eval("x < 1", w, 0) == {}


def test_division_and_modulo_follow_ieee_not_python() -> None:
    w = _window(("x", {}, [(0, 5)]), ("z", {}, [(0, 0)]))
    assert _one("x / z", w, 0) == math.inf
    assert math.isnan(_one("z / z", w, 0))
    assert math.isnan(_one("x % z", w, 0))
    assert _one("-x % 3", w, 0) == -2.0
    assert _one("x ^ 1000", w, 0) == math.inf


def test_nan_compares_false_but_unequal() -> None:
    w = _window(("z", {}, [(0, 0)]))
    assert _eval("(z / z) > 0", w, 0) == {}
    assert _eval("(z / z) == (z / z)", w, 0) == {}
    assert len(_eval("(z / z) != 0", w, 0)) == 1


def test_one_to_one_matching_with_on_and_ignoring() -> None:
    w = _window(
        ("used", {"host": "a", "dev": "sda"}, [(0, 30)]),
        ("size", {"host": "a", "dev": "sda"}, [(0, 120)]),
        ("size", {"host": "a", "dev": "sdb"}, [(0, 50)]),
    )
    assert _eval("used / size", w, 0) == {(("dev", "sda"), ("host", "a")): 0.25}
    assert _eval("used / on(host, dev) size", w, 0) == {(("dev", "sda"), ("host", "a")): 0.25}
    # One-to-one matching leaves the ignored labels out of the result.
    assert _eval('used / ignoring(dev) size{dev="sdb"}', w, 0) == {(("host", "a"),): 0.6}
    with pytest.raises(EvaluationError, match="many-to-many matching not allowed"):
        compile_expr("used / on(host) size").evaluate(w, 0)


def test_group_left_copies_labels_from_the_one_side() -> None:
    w = _window(
        ("cpu", {"host": "a", "cpu": "0"}, [(0, 1)]),
        ("cpu", {"host": "a", "cpu": "1"}, [(0, 3)]),
        ("info", {"host": "a", "role": "db"}, [(0, 1)]),
    )
    got = _eval("cpu * on(host) group_left(role) info", w, 0)
    assert got == {
        (("cpu", "0"), ("host", "a"), ("role", "db")): 1.0,
        (("cpu", "1"), ("host", "a"), ("role", "db")): 3.0,
    }
    with pytest.raises(EvaluationError, match="many-to-one matching must be explicit"):
        compile_expr("cpu * on(host) info").evaluate(w, 0)


def test_and_or_unless() -> None:
    w = _window(
        ("x", {"host": "a"}, [(0, 1)]), ("x", {"host": "b"}, [(0, 2)]), ("y", {"host": "b"}, [(0, 9)])
    )
    assert _eval("x and y", w, 0) == {(("__name__", "x"), ("host", "b")): 2.0}
    assert _eval("x unless y", w, 0) == {(("__name__", "x"), ("host", "a")): 1.0}
    assert len(_eval("y or x", w, 0)) == 2
    assert _eval("x and on() vector(1)", w, 0).keys() == _eval("x", w, 0).keys()


def test_results_holding_one_label_set_twice_are_refused() -> None:
    w = _window(("a", {"host": "h"}, [(0, 1), (60, 2)]), ("b", {"host": "h"}, [(0, 1), (60, 2)]))
    for text in ('rate({__name__=~"a|b"}[5m])', '{__name__=~"a|b"} * 2', 'abs({__name__=~"a|b"})',
                 'label_replace({__name__=~"a|b"}, "__name__", "c", "", "")'):
        with pytest.raises(EvaluationError, match="same labelset"):
            compile_expr(text).evaluate(w, 60.0)
    assert len(_eval('{__name__=~"a|b"}', w, 60.0)) == 2


# -- aggregations ----------------------------------------------------------------------------------

def test_aggregations_with_by_and_without() -> None:
    w = _window(
        ("m", {"host": "a", "mode": "idle"}, [(0, 1)]),
        ("m", {"host": "a", "mode": "user"}, [(0, 3)]),
        ("m", {"host": "b", "mode": "idle"}, [(0, 10)]),
    )
    assert _eval("sum by (host) (m)", w, 0) == {(("host", "a"),): 4.0, (("host", "b"),): 10.0}
    assert _eval("avg without (mode) (m)", w, 0) == {(("host", "a"),): 2.0, (("host", "b"),): 10.0}
    assert _eval("count(m)", w, 0) == {(): 3.0}
    assert _eval("max by (mode) (m)", w, 0) == {(("mode", "idle"),): 10.0, (("mode", "user"),): 3.0}
    assert _eval("stddev by (host) (m)", w, 0) == {(("host", "a"),): 1.0, (("host", "b"),): 0.0}
    assert _eval("topk(1, m)", w, 0) == {(("__name__", "m"), ("host", "b"), ("mode", "idle")): 10.0}
    assert _eval("bottomk by (host) (1, m)", w, 0) == {
        (("__name__", "m"), ("host", "a"), ("mode", "idle")): 1.0,
        (("__name__", "m"), ("host", "b"), ("mode", "idle")): 10.0,
    }
    with pytest.raises(EvaluationError, match="overflows int64"):
        compile_expr("topk(scalar(nothing), m)").evaluate(w, 0)


# -- functions -------------------------------------------------------------------------------------

def test_label_replace_follows_go_template_expansion() -> None:
    w = _window(("x", {"host": "web-01"}, [(0, 1)]))

    def labels(text: str) -> dict[str, str]:
        (sample,) = compile_expr(text).evaluate(w, 0)  # type: ignore[misc]
        return sample.labels

    assert labels('label_replace(x, "n", "$2", "host", "(.*)-(.*)")')["n"] == "01"
    assert "n" not in labels('label_replace(x, "n", "$1x", "host", "(.*)-(.*)")')  # $1x names group "1x"
    assert labels('label_replace(x, "n", "${1}x", "host", "(.*)-(.*)")')["n"] == "webx"
    assert labels('label_replace(x, "n", "$$1", "host", ".*")')["n"] == "$1"
    assert "n" not in labels('label_replace(x, "n", "$1", "host", "db-(.*)")')  # no match: unchanged
    assert "host" not in labels('label_replace(x, "host", "", "host", ".*")')  # empty result deletes
    assert labels('label_replace(x, "n", "$role", "host", "(?P<role>[a-z]+)-.*")')["n"] == "web"
    with pytest.raises(PromQLError, match="invalid destination label"):
        compile_expr('label_replace(x, "1a", "", "host", ".*")')


def test_absent_takes_labels_from_equality_matchers_only() -> None:
    w = _window(("x", {}, [(0, 1)]))
    assert _eval('absent(nope{job="a", env=~"p.*", dup="1", dup="2"})', w, 0) == {(("job", "a"),): 1.0}
    assert _eval("absent(x)", w, 0) == {}
    assert _eval("absent(sum(nope))", w, 0) == {(): 1.0}
    assert _eval('absent_over_time(nope{job="a"}[5m])', w, 0) == {(("job", "a"),): 1.0}
    assert _eval("absent_over_time(x[5m])", w, 100.0) == {}


def test_scalar_vector_time_and_timestamp() -> None:
    w = _window(("x", {"host": "a"}, [(30, 1)]), ("x", {"host": "b"}, [(45, 2)]))
    assert math.isnan(compile_expr("scalar(x)").evaluate(w, 60.0))  # type: ignore[arg-type]
    assert compile_expr('scalar(x{host="a"})').evaluate(w, 60.0) == 1.0
    assert compile_expr("time()").evaluate(w, 60.0) == 60.0
    assert _eval("timestamp(x)", w, 60.0) == {(("host", "a"),): 30.0, (("host", "b"),): 45.0}
    assert _eval("timestamp(-x)", w, 60.0) == {(("host", "a"),): 60.0, (("host", "b"),): 60.0}
    assert _eval("vector(time())", w, 60.0) == {(): 60.0}


def test_rounding_and_clamping() -> None:
    w = _window(("x", {}, [(0, -2.5)]))
    assert _one("round(x)", w, 0) == -2.0  # ties go up, as in Prometheus
    assert _one("round(x, 2)", w, 0) == -2.0
    assert _one("ceil(x)", w, 0) == -2.0
    assert _one("floor(x)", w, 0) == -3.0
    assert _one("abs(x)", w, 0) == 2.5
    assert _one("clamp(x, -1, 1)", w, 0) == -1.0
    assert _one("clamp_min(x, 0)", w, 0) == 0.0
    assert _one("clamp_max(x, -3)", w, 0) == -3.0
    assert _eval("clamp(x, 1, -1)", w, 0) == {}


# -- the interface ---------------------------------------------------------------------------------

def test_results_are_copies_the_caller_may_change() -> None:
    w = _window(("x", {"host": "a"}, [(0, 1)]))
    (sample,) = compile_expr("x").evaluate(w, 0)  # type: ignore[misc]
    sample.labels["severity"] = "page"
    (again,) = compile_expr("x").evaluate(w, 0)  # type: ignore[misc]
    assert "severity" not in again.labels


def test_max_range_and_metric_names() -> None:
    e = compile_expr("predict_linear(fs_avail[1h], 4 * 3600) < 0 and on(host) up offset 10m == 1")
    assert e.max_range() == 3600.0
    assert e.metric_names() == {"fs_avail", "up"}
    assert compile_expr("changes(boot[30m] offset 1h)").max_range() == 5400.0
    assert compile_expr("up offset 10m").max_range(lookback=300.0) == 900.0


def test_reaches_give_each_metric_its_own_longest_read() -> None:
    e = compile_expr(
        "predict_linear(fs_avail[6h], 3600) < 0 and on(host) rate(cpu[5m] offset 1h) > 0"
        " and on(host) fs_avail < 10 and on(host) up == 1"
    )
    assert e.reaches(lookback=300.0) == {"fs_avail": 21600.0, "cpu": 3900.0, "up": 300.0}
    assert max(e.reaches().values()) == e.max_range()
    # A selector naming no metric may read any series: it reaches under None.
    assert compile_expr('count_over_time({__name__=~"node_.*"}[2h]) > 0').reaches() == {None: 7200.0}
    assert compile_expr('{job="x"} offset 5m').reaches(lookback=60.0) == {None: 360.0}
    assert compile_expr("1 + 1").reaches() == {}
    assert compile_expr('"text"').evaluate(RecentWindow(), 0) == "text"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("x @ 100", "@ modifier"),
        ("x @ start()", "@ modifier"),
        ("rate(x[5m:1m])", "subquery"),
        ("max_over_time(rate(x[1m])[5m:])", "subquery"),
        ('count_values("v", x)', "count_values"),
        ("quantile(0.9, x)", "quantile"),
        ("histogram_quantile(0.9, x)", "histogram_quantile"),
        ("holt_winters(x[5m], 0.5, 0.5)", None),
        ('x{a="b" or c="d"}', "'or' between label matchers"),
        ("label_replace(x, time() > 0, 'a', 'b', 'c')", None),
    ],
)
def test_anything_else_is_refused_at_compile_time(text: str, name: str | None) -> None:
    with pytest.raises(PromQLError) as caught:
        compile_expr(text)
    if name is not None:
        assert isinstance(caught.value, UnsupportedExpression)
        assert caught.value.name == name


# -- caches ------------------------------------------------------------------------------------------

def test_results_follow_the_window_as_series_come_and_go() -> None:
    w = _window(("x", {"host": "a"}, [(0, 1)]))
    expr = compile_expr('sum by (host) (x{host=~"a|b"}) * 2')
    assert _eval(expr.text, w, 0) == {(("host", "a"),): 2.0}
    assert expr.evaluate(w, 0)[0].value == 2.0  # type: ignore[index]
    w.append("b", "x", {"host": "b"}, 10, 5)
    assert {s.labels["host"]: s.value for s in expr.evaluate(w, 10)} == {"a": 2.0, "b": 10.0}  # type: ignore[union-attr]
    w.trim(1e9 + 5)  # retention 1e9: the sample at 0 goes, and series a with it
    assert {s.labels["host"]: s.value for s in expr.evaluate(w, 10)} == {"b": 10.0}  # type: ignore[union-attr]


def test_a_shared_cache_gives_the_results_of_separate_evaluations() -> None:
    from collector.core.promql import EvaluationCache

    w = _window(("x", {"host": "a"}, [(0, 1), (60, 2)]), ("x", {"host": "b"}, [(0, 5), (60, 5)]))
    texts = ["rate(x[5m]) > 0", "rate(x[5m]) * 60", "sum(rate(x[5m]))", "x", "timestamp(x)", "x offset 1m"]

    def values(t: float, cache: EvaluationCache | None) -> list[list[float]]:
        out = []
        for text in texts:
            result = compile_expr(text).evaluate(w, t, cache=cache)
            assert isinstance(result, list)
            out.append(sorted(s.value for s in result))
        return out

    cache = EvaluationCache()
    assert values(60.0, cache) == values(60.0, None)
    w.append("a", "x", {"host": "a"}, 120, 8)
    # A new instant starts the cache over, so the new sample is seen.
    assert values(120.0, cache) == values(120.0, None)
    assert values(120.0, cache)[3] == [5.0, 8.0]


def test_functions_dropping_the_name_share_each_series_labels_without_it() -> None:
    from collector.core.promql.nodes import Context

    w = _window(
        ("c", {"host": "a", "cpu": "0"}, [(float(t), float(t)) for t in range(0, 300, 15)]),
        ("c", {"host": "b", "cpu": "0"}, [(float(t), 2.0 * t) for t in range(0, 300, 15)]),
        ("c", {"host": "b", "cpu": "1"}, [(285.0, 1.0)]),  # one sample: no rate, no deriv
    )
    ctx = Context(w, 290.0, 300.0, {})
    rate = compile_expr("rate(c[5m])").root.eval(ctx)
    deriv = compile_expr("deriv(c[5m])").root.eval(ctx)
    count = compile_expr("count_over_time(c[5m])").root.eval(ctx)
    assert len(rate.labels) == len(deriv.labels) == 2
    assert len(count.labels) == 3
    for a, b in zip(rate.labels, deriv.labels, strict=True):
        assert a is b  # one dict per series, whichever function asked
        assert "__name__" not in a
    assert {id(lb) for lb in rate.labels} < {id(lb) for lb in count.labels}
    # The caller's copies are its own: changing them changes nothing held.
    out = compile_expr("rate(c[5m])").evaluate(w, 290.0)
    assert isinstance(out, list)
    out[0].labels["cpu"] = "changed"
    assert {lb["cpu"] for lb in rate.labels} == {"0"}
    held = {(("cpu", "0"), ("host", "a")), (("cpu", "0"), ("host", "b"))}
    assert set(_eval("rate(c[5m])", w, 290.0)) == held


def test_matching_signatures_are_made_of_the_windows_shared_label_pairs() -> None:
    from collector.core.promql.binary import Matching
    from collector.core.window import shared_pair

    sig = Matching("one-to-one", False, ("cpu",), ()).signature()
    got = sig({"__name__": "x", "host": "a", "cpu": "0", "mode": "idle"})
    assert got == (("host", "a"), ("mode", "idle"))
    again = sig({"mode": "idle", "host": "a", "__name__": "y"})
    assert got == again
    for pair, other in zip(got, again, strict=True):
        assert pair is other is shared_pair(*pair)  # held once, however many series carry it
