"""The column-wise rollup fold against a sample-by-sample reference, and merging folds in parts."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.rollup import Agg, bucket_of, fold, labels_key, merge

SERIES = [("node_load1", {}), ("node_filesystem_avail_bytes", {"mountpoint": "/"}),
          ("node_filesystem_avail_bytes", {"mountpoint": "/var"}), ("up", {"job": "x"})]


def reference(reports: list[tuple[float, list[Any]]]) -> dict[int, dict[tuple[str, str], Agg]]:
    """One sample at a time, in log order: what the rollups mean."""
    out: dict[int, dict[tuple[str, str], Agg]] = {}
    for ts, samples in reports:
        aggs = out.setdefault(bucket_of(ts), {})
        for name, labels, value in samples:
            key = (name, labels_key(labels))
            a = aggs.get(key)
            if a is None:
                aggs[key] = [value, value, value, 1, value, ts]
                continue
            a[0], a[1] = min(a[0], value), max(a[1], value)
            a[2] += value
            a[3] += 1
            if ts >= a[5]:
                a[4], a[5] = value, ts
    return out


# A few shapes (series in an order, one repeated) so that runs of one shape, what the
# column-wise path folds, are common; values small integers so that sums are exact.
SHAPES = [[0, 1, 2], [0, 1, 2], [2, 0], [], [3, 3, 1]]


@st.composite
def reports_st(draw: st.DrawFn) -> list[tuple[float, list[Any]]]:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        ts = 1_800_000_000.0 + 37.5 * draw(st.integers(0, 40))
        shape = SHAPES[draw(st.sampled_from(range(len(SHAPES))))]
        values = draw(st.lists(st.integers(-5, 5).map(float), min_size=len(shape), max_size=len(shape)))
        out.append((ts, [[SERIES[i][0], dict(SERIES[i][1]), v] for i, v in zip(shape, values, strict=True)]))
    return out


@settings(max_examples=400, deadline=None)
@given(reports_st(), st.data())
def test_the_fold_matches_sample_by_sample_and_merges_in_parts(
    reports: list[Any], data: st.DataObject
) -> None:
    want = reference(reports)
    assert fold(reports) == want
    cut = data.draw(st.integers(0, len(reports)))
    merged = fold(reports[:cut])
    for bucket, aggs in fold(reports[cut:]).items():
        into = merged.setdefault(bucket, {})
        for key, agg in aggs.items():
            if key in into:
                merge(into[key], agg)
            else:
                into[key] = agg
    assert merged == want


def test_a_steady_host_folds_column_wise_with_last_by_sample_time() -> None:
    base = 1_800_000_000.0  # a multiple of 300
    shape = [("node_load1", {}), ("node_filesystem_avail_bytes", {"mountpoint": "/"})]
    reports = [(base + 15 * k, [[n, dict(lab), float(k * (i + 1))] for i, (n, lab) in enumerate(shape)])
               for k in range(20)]
    reports.append((base + 30, [[n, dict(lab), -1.0] for n, lab in shape]))  # a late replay, older time
    got = fold(reports)
    assert list(got) == [int(base)]
    load = got[int(base)][("node_load1", "{}")]
    assert load == [-1.0, 19.0, sum(range(20)) - 1.0, 21, 19.0, base + 285]
    disk = got[int(base)][("node_filesystem_avail_bytes", '{"mountpoint":"/"}')]
    assert disk[:4] == [-1.0, 38.0, 2 * sum(range(20)) - 1.0, 21]
