"""Sliding least-squares fits over long ranges agree with the exact, sample-by-sample fit."""

from __future__ import annotations

import math
import random
from array import array
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.core.promql import EvaluationCache, compile_expr, rangefuncs
from collector.core.promql.floatops import kahan_inc
from collector.core.promql.regression import LONG_RANGE
from collector.core.window import STALE, RecentWindow
from tests.promql.promtool_diff import Case, render, run_promtool
from tests.support import require_binary


def _exact(window: RecentWindow, text: str, t: float) -> dict:
    """The same expression over a copy of the window with only the range's samples (a short range)."""
    result = compile_expr(text).evaluate(window, t)
    assert isinstance(result, list)
    return {tuple(sorted(s.labels.items())): s.value for s in result}


def _reference_fit(ts: list[float], vs: list[float], at: float) -> tuple[float, float]:
    n = len(ts)
    mx = math.fsum(ts) / n
    my = math.fsum(vs) / n
    cov = math.fsum((t - mx) * (v - my) for t, v in zip(ts, vs, strict=True))
    var = math.fsum((t - mx) ** 2 for t in ts)
    slope = cov / var
    return slope, my + slope * (at - mx)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sliding_fits_follow_the_window_as_it_moves(seed: int) -> None:
    rng = random.Random(seed)
    window = RecentWindow(retention=1e9)
    samples: list[tuple[float, float]] = []
    v = 5e10
    t = 1_700_000_000.0
    for _ in range(600):
        t += 15.0 + rng.choice([0.0, 0.0, 0.5])
        v += rng.uniform(-2e6, 1e6)
        stale = rng.random() < 0.02
        window.append("h", "avail", {"host": "h"}, t, STALE if stale else v)
        if not stale:
            samples.append((t, v))
    expr = compile_expr("predict_linear(avail[1h], 3600)")
    slope_expr = compile_expr("deriv(avail[1h])")
    # Evaluate at successive instants, as the rule loop does, so the sums grow (the range still
    # reaches before the first sample), then slide, and get rebuilt.
    for k in range(60):
        at = samples[LONG_RANGE + 8 * k][0] + 3.0
        inside = [(a, b) for a, b in samples if at - 3600 <= a <= at]
        assert len(inside) > LONG_RANGE
        slope, value = _reference_fit([a for a, _ in inside], [b for _, b in inside], at)
        (got,) = expr.evaluate(window, at)  # type: ignore[misc]
        (got_slope,) = slope_expr.evaluate(window, at)  # type: ignore[misc]
        assert got.value == pytest.approx(slope * 3600 + value, rel=1e-9)
        assert got_slope.value == pytest.approx(slope, rel=1e-9)


def test_a_flat_series_predicts_its_own_value() -> None:
    window = RecentWindow(retention=1e9)
    for i in range(2 * LONG_RANGE):
        window.append("h", "avail", {}, 15.0 * i, 42.0)
    (got,) = compile_expr("predict_linear(avail[1h], 86400)").evaluate(window, 15.0 * (2 * LONG_RANGE - 1))  # type: ignore[misc]
    assert got.value == 42.0
    (slope,) = compile_expr("deriv(avail[1h])").evaluate(window, 15.0 * (2 * LONG_RANGE - 1))  # type: ignore[misc]
    assert slope.value == 0.0


def test_short_ranges_use_the_exact_fit() -> None:
    window = RecentWindow(retention=1e9)
    for i in range(LONG_RANGE // 2):
        window.append("h", "g", {}, 15.0 * i, float(i % 7))
    a = _exact(window, "deriv(g[1h])", 15.0 * (LONG_RANGE // 2))
    assert len(a) == 1


@pytest.mark.prometheus
def test_sliding_fits_agree_with_promtool_to_the_rounding(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    rng = random.Random(7)
    series = []
    for dev in ("a", "b", "c"):
        v = rng.randint(0, 100_000) / 64
        values = []
        for i in range(260):
            values.append("stale" if i == 200 and dev == "c" else repr(v))
            v += rng.randint(-640, 600) / 64
        series.append({"series": f'avail{{dev="{dev}"}}', "values": " ".join(values)})
    # 3 h of 1-minute samples is 181 per range: the sliding sums, moved along as time goes on.
    times = [float(60 * m) for m in range(185, 259, 7)]
    queries = [(q, t) for t in times for q in (
        "round(predict_linear(avail[3h], 3600), 0.001)",
        "round(deriv(avail[3h]) * 1000, 0.001)",
    )]
    result = run_promtool(promtool, render([Case(series, queries)]), tmp_path)
    assert result.returncode == 0, result.stderr[:5000]


def test_a_long_range_of_one_infinite_value_fits_to_nan_as_a_short_one_does() -> None:
    # Prometheus: a constant infinite series has neither slope nor intercept.
    window = RecentWindow(retention=1e9)
    for i in range(2 * LONG_RANGE):
        window.append("h", "g", {}, 15.0 * i, math.inf)
    t = 15.0 * (2 * LONG_RANGE - 1)
    for text in ("deriv(g[1h])", "predict_linear(g[1h], 60)", "deriv(g[5m])", "predict_linear(g[5m], 60)"):
        (got,) = compile_expr(text).evaluate(window, t)  # type: ignore[misc]
        assert math.isnan(got.value), text


@example(seed=141, level=1000.0, drift=0.0, jump_at=560, noise=3.0)  # sums near 2.4e11 after the jump
@settings(max_examples=30, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.sampled_from([5e10, 1e3, 0.0, -7e9]),
    st.sampled_from([0.0, -1e4, 2.5e4]),
    st.integers(min_value=0, max_value=899),
    st.sampled_from([3e6, 3.0]),
)
def test_shorter_ranges_set_up_from_a_longer_ones_passes_agree_with_exact_fits(
    seed: int, level: float, drift: float, jump_at: int, noise: float
) -> None:
    # A first evaluation fits the 3 h range and, from the same passes, the 1 h and 40 min ones
    # of the same series; each must agree with the exact fit of its own samples, then and after
    # the ranges have slid along. A jump somewhere makes some shorter ranges badly conditioned
    # relative to the longer one's origin: those are summed afresh.
    rng = random.Random(seed)
    t0 = 1_700_000_000.0
    values, v = [], level
    for i in range(900):
        v += rng.uniform(-noise, noise) + drift + (1e9 if i == jump_at else 0.0)
        values.append(v)
    window = RecentWindow(retention=1e9)
    for i in range(800):
        window.append("h", "g", {"host": "h"}, t0 + 15.0 * i, values[i])
    ranges = (10800, 3600, 2400)
    exprs = [compile_expr(f"predict_linear(g[{r}s], 600)") for r in ranges]
    slopes = [compile_expr(f"deriv(g[{r}s])") for r in ranges]
    for k in range(800, 900, 7):
        for i in range(max(800, k - 7), k):
            window.append("h", "g", {"host": "h"}, t0 + 15.0 * i, values[i])
        at = t0 + 15.0 * (k - 1)
        for r, e in zip(ranges, exprs, strict=True):
            inside = [(t0 + 15.0 * i, values[i]) for i in range(k) if at - r <= t0 + 15.0 * i]
            slope, value = _reference_fit([a for a, _ in inside], [b for _, b in inside], at)
            (got,) = e.evaluate(window, at)  # type: ignore[misc]
            assert got.value == pytest.approx(slope * 600 + value, rel=1e-9, abs=1e-6), (r, k)
        for r, d in zip(ranges, slopes, strict=True):
            inside = [(t0 + 15.0 * i, values[i]) for i in range(k) if at - r <= t0 + 15.0 * i]
            slope, _ = _reference_fit([a for a, _ in inside], [b for _, b in inside], at)
            (got,) = d.evaluate(window, at)  # type: ignore[misc]
            # To a millionth of the slope the noise alone could show, or what the values' own
            # rounding (at the level, or after the jump) allows over the range: the sums of a
            # sliding fit carry the rounding of samples that left it, a few units in the last
            # place of the sum of the range's values.
            size = max(abs(level), 2e9)
            tolerance = (1e-6 * noise + 100 * math.ulp(size) + 2 * math.ulp(len(inside) * size)) / r
            assert got.value == pytest.approx(slope, rel=1e-9, abs=tolerance), (r, k)


def test_a_rounds_short_range_fits_are_shared_between_its_calls_and_equal_unshared_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(7)
    window = RecentWindow(retention=1e9)
    hosts = [f"h{i}" for i in range(30)]
    for k in range(LONG_RANGE // 2):  # a young window: every range below holds all samples
        for h in hosts:
            stale = k == 4 and h == "h3"
            value = STALE if stale else 1e10 - rng.uniform(0, 1e6) * k
            window.append(h, "avail", {"host": h}, 15.0 * k, value)
    t = 15.0 * (LONG_RANGE // 2)
    texts = ["predict_linear(avail[6h], 86400)", "predict_linear(avail[1h], 86400)",
             "predict_linear(avail[6h], 7 * 86400)", "deriv(avail[2h])", "deriv(avail[1h])"]

    def by_host(result: object) -> dict[str, float]:
        assert isinstance(result, list)
        return {s.labels["host"]: s.value for s in result}

    alone = [by_host(compile_expr(x).evaluate(window, t)) for x in texts]
    calls = 0
    real = rangefuncs._regression

    def counted(*args: object) -> tuple[float, float]:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rangefuncs, "_regression", counted)
    cache = EvaluationCache()
    shared = [by_host(compile_expr(x).evaluate(window, t, cache=cache)) for x in texts]
    # Bit for bit the values each call computes on its own...
    assert shared == alone
    assert all(len(v) == len(hosts) for v in shared)
    # ...from one fit per series for the predict_linear() calls and one for the deriv() calls.
    assert calls == 2 * len(hosts)


def _kahan_regression(ts: list[float], vs: list[float], intercept_ms: int) -> tuple[float, float]:
    """Prometheus' linearRegression step by step, through floatops.kahan_inc."""
    n = sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    if all(v == vs[0] for v in vs):
        return (math.nan, math.nan) if math.isinf(vs[0]) else (0.0, vs[0])
    for t, v in zip(ts, vs, strict=True):
        n += 1.0
        x = (round(t * 1000.0) - intercept_ms) / 1e3
        sx, cx = kahan_inc(x, sx, cx)
        sy, cy = kahan_inc(v, sy, cy)
        sxy, cxy = kahan_inc(x * v, sxy, cxy)
        sx2, cx2 = kahan_inc(x * x, sx2, cx2)
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = cov / var if var else (math.nan if cov == 0 else math.copysign(math.inf, cov))
    return slope, sy / n - slope * sx / n


_VALUE = st.one_of(
    st.floats(-1e12, 1e12), st.sampled_from([0.0, 1.0, 5e10, math.inf, -math.inf]),
    st.floats(-1.0, 1.0).map(lambda v: v * 1e-9),
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 7200), _VALUE), min_size=1, max_size=30),
    st.integers(0, 10**7),
)
def test_the_exact_fit_takes_prometheus_compensated_steps(
    points: list[tuple[float, float]], ahead: int
) -> None:
    points.sort()
    ts = array("d", [1.7e9 + t for t, _ in points])
    vs = array("d", [v for _, v in points])
    intercept = round(ts[-1] * 1000.0) + ahead
    got = rangefuncs._regression(ts, vs, intercept)
    want = _kahan_regression(list(ts), list(vs), intercept)
    assert [str(x) for x in got] == [str(x) for x in want]  # bit for bit, NaN included
