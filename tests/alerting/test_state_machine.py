"""The alert state machine against random evaluation sequences (Hypothesis) and Prometheus' examples."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.alerting.model import ActiveAlert, AlertState, fingerprint
from collector.core.alerting.state import Candidate, advance

LABELS = {"alertname": "DiskFull", "host": "web1", "customer": "acme"}


def _cand(value: float = 1.0, labels: dict[str, str] | None = None) -> Candidate:
    return Candidate(labels or LABELS, {"summary": f"at {value}"}, value)


@st.composite
def runs(draw: st.DrawFn) -> tuple[float, float, list[tuple[float, bool]]]:
    hold = draw(st.sampled_from([0.0, 15.0, 60.0, 300.0]))
    keep = draw(st.sampled_from([0.0, 15.0, 60.0, 600.0]))
    gaps = draw(st.lists(st.sampled_from([1.0, 15.0, 30.0, 60.0, 240.0]), min_size=1, max_size=60))
    present = draw(st.lists(st.booleans(), min_size=len(gaps), max_size=len(gaps)))
    t, steps = 1_000_000.0, []
    for gap, p in zip(gaps, present, strict=True):
        t += gap
        steps.append((t, p))
    return hold, keep, steps


@settings(max_examples=300, deadline=None)
@given(runs())
def test_firing_and_resolving_follow_for_and_keep_firing_for(
    run: tuple[float, float, list[tuple[float, bool]]],
) -> None:
    hold, keep, steps = run
    active: dict[str, ActiveAlert] = {}
    firing = False
    streak_start: float | None = None  # when the condition became continuously true
    first_absent: float | None = None  # first absence since the last time the condition held
    events: list[str] = []
    for t, present in steps:
        step = advance("r", active, [_cand()] if present else [], t, hold=hold, keep_firing_for=keep)
        if present:
            streak_start = t if streak_start is None else streak_start
            first_absent = None
        else:
            streak_start = None
            first_absent = t if first_absent is None else first_absent
        for change in step.changes:
            events.append(change.state)
            if change.state == "firing":
                # Pending never fires before `for`, and only on an unbroken streak of evaluations.
                assert present
                assert streak_start is not None
                assert t - streak_start >= hold
                assert change.active_at.timestamp() == streak_start
                assert not firing
                firing = True
            else:
                # keep_firing_for holds: a resolution comes only once it has run out since the first absence.
                assert firing
                assert not present
                assert first_absent is not None
                assert t - first_absent >= keep
                assert change.resolved_at is not None
                assert change.resolved_at.timestamp() == t
                firing = False
        alert = step.active.get(fingerprint(LABELS))
        if firing:
            assert alert is not None
            assert alert.state is AlertState.FIRING
            if not present:
                assert first_absent is not None
                assert t - first_absent < keep
        elif present:
            # Not firing while present means still pending, and only because `for` has not run out.
            assert alert is not None
            assert alert.state is AlertState.PENDING
            assert streak_start is not None
            assert t - streak_start < hold
        else:
            assert alert is None
        active = step.active
    # Resolved is emitted once per firing: the events alternate, starting with firing.
    assert all(e == ("firing" if i % 2 == 0 else "resolved") for i, e in enumerate(events))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sets(st.sampled_from(["a", "b", "c"])), min_size=1, max_size=30))
def test_label_sets_are_independent(present_hosts: list[set[str]]) -> None:
    active: dict[str, ActiveAlert] = {}
    firing: set[str] = set()
    for i, hosts in enumerate(present_hosts):
        cands = [_cand(labels={**LABELS, "host": h}) for h in sorted(hosts)]
        step = advance("r", active, cands, 100.0 * i, hold=0.0)
        for c in step.changes:
            assert c.host is not None
            if c.state == "firing":
                assert c.host in hosts
                assert c.host not in firing
                firing.add(c.host)
            else:
                assert c.host not in hosts
                assert c.host in firing
                firing.remove(c.host)
        assert firing == hosts
        active = step.active


def test_a_pending_alert_that_clears_leaves_without_a_word() -> None:
    s1 = advance("r", {}, [_cand()], 0.0, hold=300.0)
    assert s1.changes == []
    assert s1.active[fingerprint(LABELS)].state is AlertState.PENDING
    s2 = advance("r", s1.active, [], 60.0, hold=300.0)
    assert s2.changes == []
    assert s2.active == {}


def test_value_and_annotations_follow_the_latest_evaluation_but_timers_do_not() -> None:
    s1 = advance("r", {}, [_cand(1.0)], 0.0, hold=60.0)
    s2 = advance("r", s1.active, [_cand(2.0)], 30.0, hold=60.0)
    a = s2.active[fingerprint(LABELS)]
    assert (a.value, a.annotations["summary"], a.active_at) == (2.0, "at 2.0", 0.0)
    s3 = advance("r", s2.active, [_cand(3.0)], 60.0, hold=60.0)
    [change] = s3.changes
    assert change.state == "firing"
    assert change.value == 3.0
    assert change.fired_at is not None
    assert change.fired_at.timestamp() == 60.0
    assert change.active_at.timestamp() == 0.0


def test_the_change_carries_host_customer_playbook_and_a_stable_fingerprint() -> None:
    cand = Candidate({"alertname": "X", "host": "h", "customer": "c", "severity": "major"},
                     {"playbook": "disk-usage"}, 5.0)
    [change] = advance("r", {}, [cand], 10.0, hold=0.0).changes
    got = (change.host, change.customer, change.playbook, change.severity)
    assert got == ("h", "c", "disk-usage", "major")
    assert change.fingerprint == fingerprint(dict(reversed(list(cand.labels.items()))))
    assert len(change.fingerprint) == 16


def test_fingerprint_is_alertmanagers_fnv1a() -> None:
    # The empty label set hashes to FNV-1a's offset basis, as in prometheus/common's model.
    assert fingerprint({}) == "cbf29ce484222325"
    assert fingerprint({"a": "b"}) != fingerprint({"a": "c"}) != fingerprint({"ab": ""})
