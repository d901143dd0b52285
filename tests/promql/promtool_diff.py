"""Differential testing against the real promtool: our engine writes the expectations, promtool judges.

A case is a set of input series (promtool notation) and expressions evaluated at some times. We
evaluate each with our engine and write the results as ``exp_samples`` of a promtool unit-test
file; ``promtool test rules`` then evaluates the same expressions with Prometheus' own engine and
fails on any difference (values are compared exactly).
"""

from __future__ import annotations

import json
import math
import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from collector.core.promql import EvaluationError, compile_expr, format_labels, load_input_series

INTERVAL = 60.0


@dataclass
class Case:
    """One promtool test group: series and the (expression, evaluation time) pairs to check."""

    series: list[dict[str, str]]
    queries: list[tuple[str, float]]
    skipped: list[tuple[str, float, str]] = field(default_factory=list)


def _yaml_float(v: float) -> str:
    if v != v:
        return ".nan"
    if math.isinf(v):
        return ".inf" if v > 0 else "-.inf"
    return repr(v)


def _q(text: str) -> str:
    """A YAML scalar: JSON strings are valid YAML double-quoted strings."""
    return json.dumps(text)


def render(cases: Sequence[Case]) -> str:
    """The promtool unit-test file, with our engine's results as the expected samples."""
    lines = ["rule_files: [empty.yml]", "evaluation_interval: 1m", "tests:"]
    for case in cases:
        window = load_input_series(case.series, INTERVAL)
        lines += [f"  - interval: {int(INTERVAL)}s", "    input_series:"]
        for s in case.series:
            lines += [f"      - series: {_q(s['series'])}", f"        values: {_q(s['values'])}"]
        lines.append("    promql_expr_test:")
        for text, at in case.queries:
            try:
                value = compile_expr(text).evaluate(window, at)
            except EvaluationError as e:
                case.skipped.append((text, at, str(e)))
                continue
            samples = value if isinstance(value, list) else [(None, value)]
            lines += [f"      - expr: {_q(text)}", f"        eval_time: {int(at)}s"]
            if not samples:
                lines.append("        exp_samples: []")
                continue
            lines.append("        exp_samples:")
            for s in samples:
                labels, v = ({}, s[1]) if isinstance(s, tuple) else (s.labels, s.value)
                lines.append(f"          - labels: {_q(format_labels(labels))}")
                lines.append(f"            value: {_yaml_float(v)}")
    return "\n".join(lines) + "\n"


def run_promtool(promtool: str, text: str, folder: Path) -> subprocess.CompletedProcess[str]:
    (folder / "empty.yml").write_text("groups: []\n", encoding="utf-8")
    test_file = folder / "diff_test.yml"
    test_file.write_text(text, encoding="utf-8")
    return subprocess.run(
        [promtool, "test", "rules", test_file.name], cwd=folder, capture_output=True, text=True, timeout=120
    )


# One or more expressions for every function, aggregation and operator the engine supports
# (test_differential checks that none is missing). Order-dependent folds (avg, stddev) and libm
# functions (exp, ln, atan2) are compared after rounding: promtool adds series in a random order
# and Go's math library may differ from C's in the last bit.
EXPRESSIONS: tuple[str, ...] = (
    'c_total',
    'g{dev="sda"}',
    'g{dev!="sda"}',
    'g{host=~"h[12]"}',
    'g{host!~"h1|h3"}',
    'g offset 2m',
    'c_total{mode="idle"} offset 90s',
    '{__name__=~"g|size", dev="sdb"}',
    'rate(c_total[5m])',
    'irate(c_total[5m])',
    'increase(c_total[3m])',
    'delta(g[5m])',
    'idelta(g[5m])',
    'deriv(g[10m])',
    'predict_linear(g[10m], 3600)',
    'avg_over_time(g[5m])',
    'min_over_time(g[5m])',
    'max_over_time(g[5m])',
    'sum_over_time(g[5m])',
    'count_over_time(g[5m])',
    'last_over_time(g[5m])',
    'stddev_over_time(g[5m])',
    'stdvar_over_time(g[5m])',
    'quantile_over_time(0.9, g[5m])',
    'changes(g[10m])',
    'resets(c_total[10m])',
    'absent_over_time(g{host="h9"}[5m])',
    'absent_over_time(g[5m])',
    'present_over_time(g[5m])',
    'rate(c_total[5m] offset 1m)',
    'g + 1',
    '2 * g',
    'g - g offset 1m',
    'g / size',
    'g % 7',
    'g ^ 2',
    '10 - g',
    'round(g atan2 size, 0.000000001)',
    'g > 50',
    'g > bool 50',
    '50 < g',
    'g == g',
    'g != bool 0',
    'g >= size',
    'g / on(host, dev) size',
    'c_total / on(host) group_left(role) info',
    'info * on(host) group_right g',
    'g and g > 50',
    'g or size',
    'g unless g > 100',
    'up == 0',
    '(g > 0) and on(host) (up == 1)',
    '-g',
    '1 + 2',
    '2 > bool 1',
    'sum(g)',
    'sum by (host) (g)',
    'sum without (dev) (g)',
    'round(avg by (host) (g), 0.000001)',
    'round(avg(c_total), 0.000001)',
    'min by (dev) (g)',
    'max(g)',
    'count(g)',
    'group by (host) (g)',
    'round(stddev by (host) (g), 0.000001)',
    'round(stdvar(g), 0.000001)',
    'topk(2, g)',
    'bottomk(1, g)',
    'topk by (host) (1, g)',
    'count by (host) (c_total)',
    'sum by (host) (rate(c_total[5m]))',
    'abs(g)',
    'ceil(g)',
    'floor(g)',
    'round(g)',
    'round(g, 5)',
    'clamp(g, 0, 100)',
    'clamp_min(g, 0)',
    'clamp_max(g, 100)',
    'absent(g)',
    'absent(nonexistent{job="x"})',
    'absent(g{host="zz",dev=~"a"})',
    'time()',
    'timestamp(g)',
    'timestamp(sum(g))',
    'vector(1)',
    'scalar(sum(g))',
    'scalar(max(g))',
    'label_replace(g, "h", "$1", "host", "h(.*)")',
    'label_replace(g, "x", "${1}_y", "dev", "sd(.)")',
    'label_join(g, "hd", "-", "host", "dev")',
    'sqrt(abs(g))',
    'round(log2(abs(g) + 1), 0.000000001)',
    'count by (__name__, host) (g atan2 size)',
    'count by (__name__) (g atan2 0)',
    'g / on() group_left sum(g)',
    'vector(1) + on() group_right g',
    'scalar(up{host="h1"}) * g > 0',
    'max by (host) (g) > on(host) min by (host) (g)',
    'sum by (__name__) (g)',
    'quantile_over_time(1.5, g[5m])',
    'round(g, 0.3)',
    'last_over_time(g[1m] offset 2m)',
    'g unless ignoring(dev) size',
    'timestamp(g) - time()',
    'g == bool 0',
    'predict_linear(c_total[4m] offset 1m, 600)',
    'absent(up{host="h3"} == 1)',
    'absent_over_time(up{host="h3"}[1m])',
    'minute(timestamp(up))',
    'g % -3',
    '1 / (g - g)',
    'round(log10(abs(g) + 1), 0.000000001)',
    'g / ignoring(dev) group_left sum without (dev) (size)',
    'g{dev="sda"} - ignoring(dev) g{dev="sdb"}',
    'round(ln(abs(g) + 1), 0.000000001)',
    'round(exp(g / 100), 0.000000001)',
    'sgn(g)',
    'sort(g)',
    'sort_desc(g)',
    'hour()',
    'day_of_week(vector(time()))',
    '(g / size) < 0.5',
    'predict_linear(g[10m], 4 * 3600) < 0',
    'count by (host) (c_total{mode="idle"})',
    '100 * (1 - avg by (host) (rate(c_total{mode="idle"}[5m])))',
    'changes(up[10m]) > 0',
    'absent(up{host="h3"})',
    'minute()',
    'month(vector(time()))',
    'year()',
    'day_of_month(vector(1700000000))',
    'g <= bool size',
    'timestamp(g offset 1m)',
    'topk(1 + 1, g)',
    'g{dev="sda"} != g{dev="sda"} offset 1m',
    'sum by (host) (g) / on(host) group_left count by (host) (g)',
    'last_over_time(up[10m])',
    'absent_over_time(nothing{host="h1", dev=~"x"}[5m])',
    'sum without (mode) (rate(c_total[5m])) > bool 0',
    'label_replace(up, "dst", "a$1b", "host", "(h)(.)")',
    'clamp(g, 100, 0)',
    'g unless on(host) up == 0',
    'up or on(host) vector(0)',
    'count(g > 1000) or vector(0)',
)


# -- random inputs -------------------------------------------------------------------------------

HOSTS = ("h1", "h2", "h3")


def _num(rng: random.Random, lo: float, hi: float) -> float:
    """A multiple of 1/1024: sums of these are exact in any order.

    promtool loads series from a Go map, so the order Prometheus adds samples in is random
    from run to run; exact sums keep the comparison exact anyway.
    """
    return round(rng.uniform(lo, hi) * 1024) / 1024


def _fmt(v: float) -> str:
    return repr(v)


def _counter(rng: random.Random, steps: int) -> str:
    items: list[str] = []
    v = _num(rng, 0, 500)
    i = 0
    while i < steps:
        r = rng.random()
        if r < 0.05:
            v = _num(rng, 0, 20)  # a counter reset
        elif r < 0.1 and i > 0:
            items.append("_")
            i += 1
            continue
        elif r < 0.2:
            # promtool's run notation, counted up exactly as promtool counts it
            n = rng.randint(1, 4)
            step = _num(rng, 0, 30)
            items.append(f"{_fmt(v)}+{_fmt(step)}x{n}")
            for _ in range(n):
                v += step
            i += n + 1
            v += _num(rng, 0, 30)
            continue
        items.append(_fmt(v))
        v += _num(rng, 0, 40)
        i += 1
    return " ".join(items)


def _gauge(rng: random.Random, steps: int, *, stale: bool) -> str:
    items: list[str] = []
    v = _num(rng, -20, 120)
    for i in range(steps):
        r = rng.random()
        if stale and i == steps // 2:
            items.append("stale")
            continue
        if r < 0.08:
            items.append("_")
            continue
        if r < 0.14:
            items.append(f"_x{rng.randint(1, 3)}")
            continue
        items.append(_fmt(v))
        if rng.random() < 0.3:
            continue  # an unchanged value, for changes()
        v += _num(rng, -15, 15)
    return " ".join(items)


def random_series(seed: int, steps: int = 30) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    for host in HOSTS:
        for mode in ("idle", "user"):
            out.append({"series": f'c_total{{host="{host}",mode="{mode}"}}', "values": _counter(rng, steps)})
        for dev in ("sda", "sdb"):
            out.append({
                "series": f'g{{host="{host}",dev="{dev}"}}',
                "values": _gauge(rng, steps, stale=rng.random() < 0.3),
            })
            size = _num(rng, 50, 200)
            out.append({"series": f'size{{host="{host}",dev="{dev}"}}', "values": f"{size}x{steps}"})
        up = " ".join(rng.choice(["1", "1", "1", "0"]) for _ in range(steps // 2))
        if host == "h3" and rng.random() < 0.5:
            up += " stale"
        out.append({"series": f'up{{host="{host}"}}', "values": up})
        role = rng.choice(["db", "web"])
        out.append({"series": f'info{{host="{host}",role="{role}"}}', "values": f"1x{steps}"})
    return out


def eval_times(seed: int, steps: int = 30) -> list[float]:
    """Aligned times (range and lookback boundaries land on samples), odd times, and late ones."""
    rng = random.Random(seed * 7919)
    end = steps * INTERVAL
    return sorted({
        600.0,
        900.0,
        930.0,  # mid-series, around the stale markers some gauges carry, and as they come back
        1020.0,
        float(rng.randint(6, steps - 1) * INTERVAL),
        float(rng.randint(300, int(end))),
        float(rng.randint(int(end), int(end) + 400)),
    })
