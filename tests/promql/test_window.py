"""The recent window's own bookkeeping: a host's steady reports, and trimming in steps."""

from __future__ import annotations

from collector.core.promql import EvaluationCache, compile_expr
from collector.core.window import RecentWindow, is_stale

BASE = {"host": "h", "customer": "acme"}


def _samples(k: float) -> list[tuple[str, dict[str, str], float]]:
    disk = {"mountpoint": "/", "fstype": "ext4"}
    return [("node_load1", {}, k), ("node_filesystem_avail_bytes", disk, 2 * k)]


def _dump(w: RecentWindow) -> dict[tuple, tuple[list[float], list[float]]]:
    return {s.key: (list(s.ts), list(s.vs)) for s in w.all_series()}


def test_a_report_with_the_same_labels_in_another_order_feeds_the_same_series() -> None:
    w = RecentWindow(3600.0)
    assert w.append_report("h", BASE, 10.0, _samples(1.0)) == 2
    disk = {"fstype": "ext4", "mountpoint": "/"}
    reordered = [("node_load1", {}, 2.0), ("node_filesystem_avail_bytes", disk, 4.0)]
    assert w.append_report("h", BASE, 20.0, reordered) == 2
    assert w.series_count() == 2
    assert sorted(tuple(s.vs) for s in w.all_series()) == [(1.0, 2.0), (2.0, 4.0)]
    # A report without one of the series marks it stale; the next full one feeds it again.
    assert w.append_report("h", BASE, 30.0, _samples(3.0)[:1]) == 1
    disk = next(s for s in w.all_series() if s.name == "node_filesystem_avail_bytes")
    assert is_stale(disk.vs[-1])
    assert w.append_report("h", BASE, 40.0, _samples(4.0)) == 2
    assert list(disk.ts) == [10.0, 20.0, 30.0, 40.0]


def test_trimming_in_steps_matches_one_trim_and_skips_a_window_with_nothing_old() -> None:
    def fill() -> RecentWindow:
        w = RecentWindow(100.0)
        for i in range(50):
            start = 0.0 if i % 2 else 60.0  # odd hosts older: they lose their first samples
            for k in range(5):
                w.append_report(f"h{i}", {"host": f"h{i}", "customer": "acme"}, start + 20 * k, _samples(k))
        w.append("gone", "up", {"host": "gone"}, 5.0, 1.0)  # its only sample goes: the series too
        return w

    whole, stepped = fill(), fill()
    whole.trim(130.0)
    steps = 0
    for _ in stepped.trim_steps(130.0, step=7):
        steps += 1
    assert steps > 5
    assert _dump(stepped) == _dump(whole)
    assert all(t >= 30.0 for ts, _ in _dump(whole).values() for t in ts)
    assert not list(whole.series_named("up"))
    # Nothing older than retention + slack: the walk is skipped (it would have trimmed).
    before = _dump(stepped)
    assert list(stepped.trim_steps(145.0, slack=20.0)) == []
    assert _dump(stepped) == before
    # A late, older sample lowers the floor, so the next trim sees it.
    stepped.append_report("late", {"host": "late", "customer": "acme"}, 1.0, _samples(9.0))
    stepped.trim(135.0)
    assert not any(s.host == "late" for s in stepped.all_series())


def test_a_trim_cut_short_keeps_its_floor_so_the_next_one_finishes_it() -> None:
    w = RecentWindow(100.0)
    for i in range(30):
        w.append_report(f"h{i}", {"host": f"h{i}", "customer": "acme"}, 0.0, _samples(1.0))
        w.append_report(f"h{i}", {"host": f"h{i}", "customer": "acme"}, 200.0, _samples(2.0))
    steps = w.trim_steps(250.0, step=3)
    next(steps)
    steps.close()  # the caller stopped (the server is closing)
    assert any(s.ts[0] == 0.0 for s in w.all_series())
    w.trim(250.0)
    assert all(list(s.ts) == [200.0] for s in w.all_series())


def test_each_metric_is_trimmed_to_its_own_depth() -> None:
    w = RecentWindow(100.0)
    w.keep({"node_filesystem_avail_bytes": 1000.0, "node_load1": 50.0, "unseen": 5000.0})
    assert w.depth("node_filesystem_avail_bytes") == 1000.0
    assert w.depth("node_load1") == 100.0  # never shallower than the retention
    assert w.depth("anything") == 100.0
    assert w.deepest == 5000.0
    for k in range(150):  # 1,500 s of reports every 10 s
        w.append_report("h", BASE, 10.0 * k, _samples(float(k)))
    w.trim(1490.0)
    (load,) = w.series_named("node_load1")
    (disk,) = w.series_named("node_filesystem_avail_bytes")
    assert list(load.ts) == [10.0 * k for k in range(139, 150)]  # (1390, 1490]: 100 s
    assert list(disk.ts) == [10.0 * k for k in range(49, 150)]  # 1000 s
    assert list(disk.vs) == [2.0 * k for k in range(49, 150)]
    # Within a slack of its depth a name is not walked; past it, it is.
    w.append_report("h", BASE, 1500.0, _samples(150.0))
    w.append_report("h", BASE, 1510.0, _samples(151.0))
    assert list(w.trim_steps(1515.0, slack=30.0)) == []
    assert load.ts[0] == 1390.0
    assert disk.ts[0] == 490.0
    w.trim(1515.0)
    assert load.ts[0] == 1420.0
    assert disk.ts[0] == 520.0
    # Depths replaced: the metric given none falls back to the retention at the next trim.
    w.keep({})
    assert w.deepest == 100.0
    w.trim(1515.0)
    assert disk.ts[0] == 1420.0
    # A series left without samples goes, and its name with it.
    w.trim(10_000.0)
    assert w.series_count() == 0
    assert list(w.names()) == []


def test_a_late_old_sample_is_trimmed_even_under_a_name_trimmed_just_before() -> None:
    w = RecentWindow(100.0)
    w.keep({"node_filesystem_avail_bytes": 300.0})
    for k in range(40):
        w.append_report("h", BASE, 10.0 * k, _samples(float(k)))
    w.trim(390.0)  # both names walked: each has a floor now
    w.append_report("late", {"host": "late", "customer": "acme"}, 5.0, _samples(9.0))
    w.trim(395.0)
    assert not any(s.host == "late" for s in w.all_series())


def test_history_grafted_after_a_window_deepens_gives_what_a_deep_window_gives() -> None:
    def feed(w: RecentWindow, ks: range, only: str = "") -> None:
        for k in ks:
            for h in ("a", "b"):
                samples = _samples(float(k * k % 7 + k))
                if h == "b" and 20 <= k < 25:
                    samples = samples[:1]  # b's disk goes missing for a while: a stale marker
                samples = [x for x in samples if x[0] == only] if only else samples
                w.append_report(h, {"host": h, "customer": "acme"}, 15.0 * k, samples)

    deep = RecentWindow(300.0)
    deep.keep({"node_filesystem_avail_bytes": 3600.0})
    shallow = RecentWindow(300.0)
    feed(deep, range(200))
    feed(shallow, range(200))
    shallow.trim(15.0 * 199)
    exprs = [compile_expr(t) for t in (
        "predict_linear(node_filesystem_avail_bytes[50m], 3600)",
        "rate(node_filesystem_avail_bytes[40m])",
        "count_over_time(node_filesystem_avail_bytes[1h])",
        "changes(node_load1[1h])",
    )]
    cache = EvaluationCache()
    for e in exprs:  # readers' per-series state, built over the shallow series
        e.evaluate(shallow, 15.0 * 199, cache=cache)
    assert shallow.take_deepened() == {}
    shallow.fit({"node_filesystem_avail_bytes": 3600.0, "node_load1": 60.0}, floor=300.0, margin=0.0)
    assert shallow.take_deepened() == {"node_filesystem_avail_bytes": 300.0}
    assert shallow.take_deepened() == {}
    # The history, as read back from elsewhere (here: a window fed the same reports).
    past = RecentWindow(1e9)
    feed(past, range(200), only="node_filesystem_avail_bytes")
    kept = {s.key: s for s in shallow.series_named("node_filesystem_avail_bytes")}
    assert shallow.graft(past) == 2
    for s in shallow.series_named("node_filesystem_avail_bytes"):
        assert s is not kept[s.key]  # new series: readers start afresh
    (load,) = [s for s in shallow.series_named("node_load1") if s.host == "a"]
    assert len(load.ts) == 21  # not deepened: untouched
    feed(deep, range(200, 210))
    feed(shallow, range(200, 210))
    deep.trim(15.0 * 209)
    shallow.trim(15.0 * 209)
    def disks(w: RecentWindow) -> dict:
        return {
            s.key: (list(s.ts), ["stale" if is_stale(v) else v for v in s.vs])
            for s in w.series_named("node_filesystem_avail_bytes")
        }

    assert disks(shallow) == disks(deep)
    assert any("stale" in vs for _, vs in disks(deep).values())
    for e in exprs[:3]:
        got = e.evaluate(shallow, 15.0 * 209, cache=cache)
        want = e.evaluate(deep, 15.0 * 209)
        assert isinstance(got, list)
        assert isinstance(want, list)
        assert sorted((sorted(x.labels.items()), x.value) for x in got) == sorted(
            (sorted(x.labels.items()), x.value) for x in want
        )


def test_a_series_labels_are_the_samples_with_the_hosts_overriding_and_its_key_is_sorted() -> None:
    w = RecentWindow(100.0)
    base = {"host": "h", "customer": "acme"}
    w.append_report("h", base, 10.0, [("m", {"zone": "z", "host": "spoofed", "a": "1"}, 1.0)])
    w.append("h", "bare", {}, 10.0, 1.0)  # no label at all: the name alone
    (m,) = w.series_named("m")
    assert list(m.labels.items()) == [
        ("zone", "z"), ("a", "1"), ("host", "h"), ("customer", "acme"), ("__name__", "m")
    ]
    assert m.key == tuple(sorted(m.labels.items()))
    (bare,) = w.series_named("bare")
    assert bare.labels == {"__name__": "bare"}
    assert bare.key == (("__name__", "bare"),)
    # Another host with the same shape: its own values in the same places.
    w.append_report("g", {"host": "g", "customer": "other"}, 10.0, [("m", {"zone": "y", "a": "2"}, 1.0)])
    keys = sorted(s.key for s in w.series_named("m"))
    assert keys == sorted(tuple(sorted(s.labels.items())) for s in w.series_named("m"))
    assert (("host", "g") in keys[0]) != (("host", "g") in keys[1])
