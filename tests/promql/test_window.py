"""The recent window's own bookkeeping: a host's steady reports, and trimming in steps."""

from __future__ import annotations

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
