"""Results kept or derived between evaluations equal a fresh evaluation of the same window.

The engine keeps per-series marks (newest reset and stale marker) and sliding sums from one
evaluation to the next; evaluating the same expressions on a fresh copy of the window, where
nothing is remembered, must give the same answers as the long-lived one after every append.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.promql import Sample, compile_expr
from collector.core.promql.rangefuncs import RANGE_FUNCTIONS, RangeArgs, ms
from collector.core.promql.selectors import range_samples
from collector.core.window import STALE, RecentWindow

EXPRS = [
    "rate(c[1m])", "increase(c[2m])", "delta(c[1m])", "resets(c[2m])", "changes(c[1m])",
    "irate(c[1m])", "max_over_time(c[1m])", "rate(c[1m] offset 30s)",
]

# A step: the seconds to the next sample (15 s apart on average) and what it holds.
values = st.one_of(
    st.floats(min_value=0, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, 5.0, 1e3, 1e3, 1e3, STALE]),
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
            for name in ("rate", "delta"):
                want = RANGE_FUNCTIONS[name][0](ts, vs, args)
                got = compile_expr(f"{name}(c[1m])").evaluate(live, at)
                assert _same(got, [] if want is None else [Sample({"host": "h"}, want)]), (name, at, samples)
