"""Dispatch order, flap detection with hysteresis, maintenance windows, knowledge matching (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.core.dispatch import Engineer, Shift, choose
from collector.core.flapping import FlapSettings, FlapState, observe, score
from collector.core.knowledge import applies, parse_article, search
from collector.core.maintenance import MaintenanceWindow, Recurrence, suppressing

SH = ZoneInfo("Asia/Shanghai")
WEEKDAYS = frozenset(range(5))
DAY = Shift(WEEKDAYS, time(9, 0), time(18, 0))
NIGHT = Shift(frozenset(range(7)), time(18, 0), time(9, 0))
THURSDAY_10 = datetime(2026, 11, 26, 10, 0, tzinfo=SH)
THURSDAY_23 = datetime(2026, 11, 26, 23, 0, tzinfo=SH)


def team() -> list[Engineer]:
    return [
        Engineer("li", skills=frozenset({"linux"}), shifts=(DAY,), tz=SH),
        Engineer("wang", skills=frozenset({"linux", "oracle"}), shifts=(DAY,), tz=SH),
        Engineer("zhao", skills=frozenset({"windows"}), shifts=(DAY,), tz=SH),
        Engineer("chen", shifts=(DAY,), on_call=(NIGHT,), tz=SH),
        Engineer("boss", role="lead", customers=frozenset({"other"}), tz=SH),
    ]


def test_skill_match_comes_first() -> None:
    c = choose(team(), customer="acme", skills=["oracle"], load={}, last_assigned={}, now=THURSDAY_10)
    assert c.engineer == "wang"
    assert not c.tell_lead


def test_then_least_loaded_then_round_robin() -> None:
    load = {"li": 2, "wang": 1}
    c = choose(team(), customer="acme", skills=["linux"], load=load, last_assigned={}, now=THURSDAY_10)
    assert c.engineer == "wang"
    last = {"li": THURSDAY_10 - timedelta(minutes=1), "wang": THURSDAY_10 - timedelta(minutes=5)}
    c = choose(team(), customer="acme", skills=["linux"], load={}, last_assigned=last, now=THURSDAY_10)
    assert c.engineer == "wang"  # given a ticket longest ago


def test_nobody_off_duty_unless_nobody_is_on_duty_then_on_call_and_lead_told() -> None:
    c = choose(team(), customer="acme", skills=["linux"], load={}, last_assigned={}, now=THURSDAY_23)
    assert c.engineer == "chen"
    assert c.tell_lead


def test_overnight_shift_covers_the_morning_after() -> None:
    friday_early = datetime(2026, 11, 27, 3, 0, tzinfo=SH)
    assert NIGHT.covers(friday_early)
    assert not DAY.covers(friday_early)


@settings(max_examples=200, deadline=None)
@given(
    loads=st.dictionaries(st.sampled_from(["li", "wang", "zhao", "chen"]), st.integers(0, 8)),
    hour=st.integers(0, 23),
    skill=st.sampled_from(["", "linux", "oracle", "windows", "sap"]),
)
def test_never_off_duty_while_someone_with_room_is_on_duty(
    loads: dict[str, int], hour: int, skill: str
) -> None:
    now = THURSDAY_10.replace(hour=hour)
    engineers = team()
    c = choose(engineers, customer="acme", skills=[skill], load=loads, last_assigned={}, now=now)
    on_duty = [e for e in engineers if e.on_duty(now) and e.serves("acme", "")]
    if on_duty:
        assert c.engineer in {e.name for e in on_duty}
    if c.engineer is not None:
        chosen = next(e for e in engineers if e.name == c.engineer)
        assert chosen.serves("acme", "")


CFG = FlapSettings(history=21, high=0.2, low=0.05, window=3600)


def test_one_hertz_flapping_flags_once_and_fades_after_it_stops() -> None:
    state = FlapState()
    t0 = datetime(2026, 11, 26, tzinfo=UTC)
    flips: list[bool] = []
    for i in range(600):
        state, flip = observe(state, t0 + timedelta(seconds=i), CFG, changed=True)
        if flip is not None:
            flips.append(flip)
    assert flips == [True]
    assert score(state, t0 + timedelta(seconds=600), CFG) > 0.9
    # Quiet afterwards: it stays flagged for a while (hysteresis), then stops once.
    for m in range(1, 80):
        state, flip = observe(state, t0 + timedelta(seconds=600, minutes=m), CFG, changed=False)
        if flip is not None:
            flips.append(flip)
    assert flips == [True, False]


def test_a_single_outage_is_not_flapping() -> None:
    state = FlapState()
    t0 = datetime(2026, 11, 26, tzinfo=UTC)
    state, flip = observe(state, t0, CFG, changed=True)
    state, flip2 = observe(state, t0 + timedelta(minutes=10), CFG, changed=True)
    assert (flip, flip2) == (None, None)
    assert not state.flapping


def test_recurring_maintenance_in_the_customers_time_zone() -> None:
    # Every Sunday 02:00-04:00 Shanghai time.
    w = MaintenanceWindow(1, customer="acme", recurrence=Recurrence(frozenset({6}), time(2, 0), 7200, SH))
    sunday_3 = datetime(2026, 11, 29, 3, 0, tzinfo=SH)
    assert w.is_open(sunday_3)
    assert not w.is_open(sunday_3 + timedelta(hours=1, minutes=1))
    assert suppressing([w], "acme", "db1", {}, sunday_3) is w
    assert suppressing([w], "other", "db1", {}, sunday_3) is None
    ended = MaintenanceWindow(1, customer="acme", recurrence=w.recurrence, ended_at=sunday_3)
    assert not ended.is_open(sunday_3)


def test_one_off_maintenance_by_host_and_labels() -> None:
    a = datetime(2026, 11, 26, 1, tzinfo=UTC)
    w = MaintenanceWindow(
        2, hosts=frozenset({"db1"}), labels={"role": "db"}, starts=a, ends=a + timedelta(hours=1)
    )
    assert w.covers("acme", "db1", {"role": "db"})
    assert not w.covers("acme", "db2", {"role": "db"})
    assert not w.covers("acme", "db1", {"role": "web"})
    assert w.is_open(a)
    assert not w.is_open(a + timedelta(hours=1))
    assert w.is_finished(a + timedelta(hours=1))


def test_knowledge_articles_match_by_alert_category_or_tag_and_search() -> None:
    art = parse_article(
        "disk.md", "---\ntitle: Disk full\nalerts: [DiskAlmostFull]\ntags: [disk]\n---\nRotate logs.\n"
    )
    assert art.title == "Disk full"
    assert art.body.startswith("Rotate")
    assert applies(art, alertname="DiskAlmostFull", category=None)
    assert applies(art, alertname=None, category=None, tags=["DISK"])
    assert not applies(art, alertname="HostDown", category="network")
    plain = parse_article("net.md", "# Network down\nCheck the switch.\n")
    assert plain.title == "Network down"
    assert [a.path for a in search([art, plain], "rotate")] == ["disk.md"]
    assert search([art, plain], "switch check")[0].path == "net.md"
