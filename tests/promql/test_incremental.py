"""Results kept or derived between evaluations equal a fresh evaluation of the same window.

The engine keeps per-series marks (newest reset and stale marker) and sliding sums from one
evaluation to the next; evaluating the same expressions on a fresh copy of the window, where
nothing is remembered, must give the same answers as the long-lived one after every append.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.core.promql import EvaluationError, Sample, compile_expr
from collector.core.promql.rangefuncs import RANGE_FUNCTIONS, RangeArgs, ms
from collector.core.promql.scan import marks
from collector.core.promql.selectors import range_samples
from collector.core.window import STALE, RecentWindow

EXPRS = [
    "rate(c[1m])", "increase(c[2m])", "delta(c[1m])", "resets(c[2m])", "changes(c[1m])",
    "irate(c[1m])", "max_over_time(c[1m])", "rate(c[1m] offset 30s)",
]

# A step: the seconds to the next sample (15 s apart on average) and what it holds.
values = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, 0.0, -0.0, 1.0, 5.0, 1e3, 1e3, 1e3, STALE]),
)
steps = st.lists(st.tuples(st.sampled_from([5.0, 15.0, 15.0, 30.0]), values), min_size=1, max_size=60)


def _copy(samples: list[tuple[float, float]]) -> RecentWindow:
    w = RecentWindow(retention=1e9)
    for t, v in samples:
        w.append("h", "c", {"host": "h"}, t, v)
    return w


def _same(a: object, b: object) -> bool:
    assert isinstance(a, list)
    assert isinstance(b, list)
    if len(a) != len(b):
        return False
    return all(
        x.labels == y.labels and (x.value == y.value or (math.isnan(x.value) and math.isnan(y.value)))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(steps, st.integers(min_value=1, max_value=4))
def test_marks_kept_between_evaluations_give_fresh_results(
    walk: list[tuple[float, float]], every: int
) -> None:
    exprs = [compile_expr(text) for text in EXPRS]
    live = RecentWindow(retention=1e9)
    samples: list[tuple[float, float]] = []
    t = 1000.0
    for i, (gap, v) in enumerate(walk):
        t += gap
        # A counter mostly grows, so that ranges without a reset (the quick path) turn up too.
        before = samples[-1][1] if samples else 0.0
        # Every seventh sample restarts the counter at a small value: a reset unless it is stale.
        value = v if v != v else v / 1e4 if i % 7 == 6 else (before if before == before else 0.0) + v
        live.append("h", "c", {"host": "h"}, t, value)
        samples.append((t, value))
        if i % every:
            continue
        fresh = _copy(samples)
        for e in exprs:
            for at in (t, t + 7.0):
                kept = e.evaluate(live, at)
                assert _same(kept, e.evaluate(fresh, at)), (e.text, at, samples)
            (series,) = live.series_named("c")
            ts, vs = range_samples(series, at - 60.0, at)
            args = RangeArgs(ms(at) - 60_000, ms(at), ms(at), 60.0)
            for name in ("rate", "delta", "changes", "resets", "min_over_time", "max_over_time"):
                want = RANGE_FUNCTIONS[name][0](ts, vs, args)
                got = compile_expr(f"{name}(c[1m])").evaluate(live, at)
                assert _same(got, [] if want is None else [Sample({"host": "h"}, want)]), (name, at, samples)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.0, 1.0, -3.0, 250.0, STALE]), min_size=1, max_size=200),
    st.sampled_from([1, 1, 1, 2, 3]),
    st.booleans(),
)
@example([0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0], 2, True)  # a flat series starts to move
@example([1.0, STALE, 0.0, 250.0, 0.0, -3.0], 1, False)
def test_sliding_fits_kept_between_evaluations_agree_with_fresh_ones(
    moves: list[float], per_round: int, flat: bool
) -> None:
    # 200 samples (more than the exact-fit limit) in a 45 min range, then a round after every
    # ``per_round`` new samples; a stale marker turns up now and then. A flat series that starts
    # to move (or stops) checks the count of changes that tells a constant from a line.
    texts = ["deriv(g[45m])", "predict_linear(g[45m], 3600)"]
    exprs = [compile_expr(text) for text in texts]
    samples = [(1000.0 + 15 * i, 1e6 + (0.0 if flat else 40.0 * i + i % 7)) for i in range(200)]
    live = _named("g", samples)
    for e in exprs:
        e.evaluate(live, samples[-1][0])
    t, v = samples[-1]
    for i, move in enumerate(moves):
        t += 15.0
        v = v + move if move == move else v
        value = move if move != move else v
        live.append("h", "g", {"host": "h"}, t, value)
        samples.append((t, value))
        if i % per_round:
            continue
        fresh = _named("g", samples)
        for e in exprs:
            kept, want = e.evaluate(live, t), e.evaluate(fresh, t)
            assert isinstance(kept, list)
            assert isinstance(want, list)
            assert [s.labels for s in kept] == [s.labels for s in want]
            for a, b in zip(kept, want, strict=True):
                assert a.value == pytest.approx(b.value, rel=1e-9, abs=1e-9), (e.text, t)


def _named(name: str, samples: list[tuple[float, float]]) -> RecentWindow:
    w = RecentWindow(retention=1e9)
    for t, v in samples:
        w.append("h", name, {"host": "h"}, t, v)
    return w


BINARY = [
    "a / b", "a > b", "a >= on (host) b", "a and b", "a unless on (host) b", "a - on (host) group_left b",
    "100 * a / b < 50",
]
rounds = st.lists(
    st.dictionaries(
        st.tuples(st.sampled_from("ab"), st.sampled_from(["h1", "h2"]), st.sampled_from(["x", "y"])),
        st.sampled_from([1.0, 2.0, 40.0, 80.0, STALE]),
        max_size=8,
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(rounds)
# Two left series match one right series on ``host``: an error only while the filter keeps both.
@example([
    {("a", "h1", "x"): 1.0, ("a", "h1", "y"): 80.0, ("b", "h1", "x"): 40.0},
    {("a", "h1", "x"): 80.0},
    {("a", "h1", "y"): 1.0},
])
def test_operators_kept_between_evaluations_give_fresh_results(walk: list[dict]) -> None:
    # Series come, go and change value between rounds; an expression compiled once (and so
    # remembering its matches and label maps) must answer as one compiled anew, errors included.
    kept = [compile_expr(text) for text in BINARY]
    w = RecentWindow(retention=1e9)
    for r, samples in enumerate(walk):
        t = 1000.0 + 60.0 * r
        for (name, host, dev), v in samples.items():
            w.append(host, name, {"host": host, "dev": dev}, t, v)
        for e in kept:
            want = _outcome(compile_expr(e.text), w, t)
            assert _outcome(e, w, t) == want, (e.text, r)


def _outcome(e: object, w: RecentWindow, t: float) -> object:
    try:
        result = e.evaluate(w, t)  # type: ignore[attr-defined]
    except EvaluationError as exc:
        return str(exc)
    return sorted((sorted(s.labels.items()), s.value) for s in result)


def test_a_filter_that_keeps_two_matches_for_one_series_fails_only_then() -> None:
    w = RecentWindow(retention=1e9)
    e = compile_expr("a >= on (host) b")
    for dev, v in (("x", 1.0), ("y", 80.0)):
        w.append("h1", "a", {"host": "h1", "dev": dev}, 1000.0, v)
    w.append("h1", "b", {"host": "h1", "dev": "x"}, 1000.0, 40.0)
    assert _outcome(e, w, 1000.0) == [([("host", "h1")], 80.0)]
    w.append("h1", "a", {"host": "h1", "dev": "x"}, 1060.0, 80.0)
    assert "multiple matches" in str(_outcome(e, w, 1060.0))
    w.append("h1", "a", {"host": "h1", "dev": "x"}, 1120.0, 2.0)
    assert _outcome(e, w, 1120.0) == [([("host", "h1")], 80.0)]


marks_values = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.0, 5.0, math.inf, -math.inf, STALE]),
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
)


@settings(max_examples=80, deadline=None)
@given(st.lists(marks_values, min_size=1, max_size=150), st.lists(st.integers(1, 40), max_size=6))
def test_marks_taken_in_batches_equal_marks_taken_sample_by_sample(
    values: list[float], cuts: list[int]
) -> None:
    # The same samples scanned one at a time (the per-sample path) and in batches of any size
    # (the C-level path for batches without stale markers) give the same marks.
    one, batched = RecentWindow(retention=1e9), RecentWindow(retention=1e9)
    stops = set()
    at = 0
    for c in cuts:
        at += c
        stops.add(at)
    for i, v in enumerate(values):
        for w in (one, batched):
            w.append("h", "c", {}, 10.0 * (i + 1), v)
        (s1,) = one.series_named("c")
        marks(s1)
        if i in stops:
            (s2,) = batched.series_named("c")
            marks(s2)
    (s1,) = one.series_named("c")
    (s2,) = batched.series_named("c")
    assert list(marks(s1)) == list(marks(s2))
    # And both equal a fresh scan of the whole series.
    fresh = _copy([(10.0 * (i + 1), v) for i, v in enumerate(values)])
    (s3,) = fresh.series_named("c")
    assert list(marks(s3)) == list(marks(s1))


def test_a_flat_range_before_a_change_fits_exactly_with_an_offset() -> None:
    # The series changes after the range ends (offset): the range itself is one value, so the
    # slope is exactly 0 and the prediction that value, however the sliding sums rounded.
    samples = [(15.0 * i, 1e6 + 7.0 * i) for i in range(300)]
    samples += [(15.0 * i, 123456.789) for i in range(300, 700)]
    samples += [(15.0 * i, 5.0 * i) for i in range(700, 760)]
    w = _named("g", samples)
    e = compile_expr("predict_linear(g[45m] offset 15m, 600)")
    d = compile_expr("deriv(g[45m] offset 15m)")
    for k in range(400, 760, 3):
        t = 15.0 * k
        fresh = _named("g", [p for p in samples if p[0] <= t])
        for expr in (e, d):
            got, want = expr.evaluate(w, t), expr.evaluate(fresh, t)
            assert isinstance(got, list)
            assert isinstance(want, list)
            assert [s.value for s in got] == pytest.approx([s.value for s in want], rel=1e-9, abs=1e-9)
        if 15.0 * (k - 60 - 180) >= 15.0 * 300 and 15.0 * k - 900 < 15.0 * 700:
            (flat,) = e.evaluate(w, t)  # type: ignore[misc]
            assert flat.value == 123456.789
            (slope,) = d.evaluate(w, t)  # type: ignore[misc]
            assert slope.value == 0.0


def test_selections_kept_between_evaluations_follow_series_that_come_and_go() -> None:
    # A compiled selector keeps its selection while the window's series of that name stay the
    # same; a new host, a dropped host, trimmed series and another window must all show.
    e = compile_expr('up{job="node"}')
    w = RecentWindow(retention=100.0)
    for host in ("a", "b"):
        w.append(host, "up", {"host": host, "job": "node"}, 10.0, 1.0)
    w.append("c", "up", {"host": "c", "job": "other"}, 10.0, 1.0)

    def hosts(window: RecentWindow, t: float) -> list[str]:
        result = e.evaluate(window, t)
        assert isinstance(result, list)
        return sorted(s.labels["host"] for s in result)

    assert hosts(w, 10.0) == ["a", "b"]
    w.append("d", "up", {"host": "d", "job": "node"}, 20.0, 1.0)
    assert hosts(w, 20.0) == ["a", "b", "d"]
    w.drop_host("a")
    assert hosts(w, 20.0) == ["b", "d"]
    w.append("d", "up", {"host": "d", "job": "node"}, 150.0, 1.0)
    w.trim(150.0)  # b's only sample is older than the retention: b goes
    assert hosts(w, 150.0) == ["d"]
    other = RecentWindow(retention=100.0)
    other.append("x", "up", {"host": "x", "job": "node"}, 10.0, 1.0)
    assert hosts(other, 10.0) == ["x"]
    assert hosts(w, 150.0) == ["d"]
    # A name that goes away entirely and comes back.
    w.trim(1000.0)
    assert hosts(w, 1000.0) == []
    w.append("e", "up", {"host": "e", "job": "node"}, 1000.0, 1.0)
    assert hosts(w, 1000.0) == ["e"]


# Per round and series: how many samples it gains (0 to 2) and what they do.
# Most rounds are steady ones: every series gains one rising sample; or one each, one of them a
# reset or a stale marker; or two each, the first of them a reset.
_STEADY = [(1, "up")] * 3
gains = st.lists(
    st.one_of(
        st.just(_STEADY), st.just(_STEADY), st.just(_STEADY),
        st.just([(1, "up"), (1, "reset"), (1, "up")]), st.just([(1, "stale"), (1, "up"), (1, "up")]),
        st.just([(2, "reset")] * 3),
        st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["up", "up", "flat", "reset", "stale"])),
                 min_size=3, max_size=3),
    ),
    min_size=1, max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(gains, st.lists(st.sampled_from([0.0, 0.0, 5.0, -10.0, -14.5]), min_size=1, max_size=4))
def test_rates_carried_between_evaluations_give_fresh_results(
    walk: list[list[tuple[int, str]]], skews: list[float]
) -> None:
    # Several series, each gaining no sample, one or two between rounds (the steady rounds take
    # the columns in one go only while every series gained exactly one clean sample, or none);
    # resets and stale markers come and go, and an evaluation now and then lands between samples.
    texts = ["rate(c[1m])", "increase(c[2m])", "delta(c[1m])"]
    exprs = [compile_expr(text) for text in texts]
    live = RecentWindow(retention=1e9)
    samples: dict[str, list[tuple[float, float]]] = {h: [] for h in ("a", "b", "c")}
    t = 1000.0
    for r, moves in enumerate(walk):
        for (host, got), (count, kind) in zip(samples.items(), moves, strict=True):
            for k in range(count):
                at = t + 15.0 * k / 2 + 1.0
                before = next((v for _, v in reversed(got) if v == v), 0.0)
                value = {"up": before + 3.0 + r, "flat": before, "reset": 1.0, "stale": STALE}[kind]
                live.append(host, "c", {"host": host}, at, value)
                got.append((at, value))
        t += 15.0
        at = t + skews[r % len(skews)]
        fresh = RecentWindow(retention=1e9)
        for host, got in samples.items():
            for st_, v in got:
                fresh.append(host, "c", {"host": host}, st_, v)
        for e in exprs:
            # The series were created in another order in the fresh window: compare by host.
            got = e.evaluate(live, at), compile_expr(e.text).evaluate(fresh, at)
            kept, want = (sorted(g, key=_host) for g in got)  # type: ignore[arg-type]
            assert _same(kept, want), (e.text, r, samples)


def _host(s: Sample) -> str:
    return s.labels["host"]


def test_a_rate_kept_clean_looks_again_at_samples_it_has_not_seen() -> None:
    # Evaluations that skip ahead of samples, or go back in time, must not take a range as clean
    # (no reset inside) when samples it now holds were never looked at.
    def counter(times_values: list[tuple[float, float]]) -> RecentWindow:
        w = RecentWindow(retention=1e9)
        for t, v in times_values:
            w.append("h", "c", {"host": "h"}, t, v)
        return w

    samples = [(15.0 * i, 10.0 * i) for i in range(1, 9)] + [(135.0, 2.0)]  # the last one a reset
    live = counter(samples)
    e = compile_expr("rate(c[1m])")
    for at in (120.0, 121.0, 140.0, 100.0, 140.0):  # before the reset, after it, back, forth
        fresh = counter(list(samples))
        assert _same(e.evaluate(live, at), compile_expr(e.text).evaluate(fresh, at)), at
    # Back in time to a range holding an earlier reset the later ranges no longer held.
    samples = [(15.0 * i, 10.0 * i) for i in range(1, 7)] + [(107.0, 65.0), (108.0, 1.0)]
    samples += [(15.0 * i, 10.0 * (i - 6)) for i in range(8, 12)]
    live = counter(samples)
    for at in (170.0, 171.0, 166.0, 170.0):
        assert _same(e.evaluate(live, at), compile_expr(e.text).evaluate(counter(samples), at)), at
