"""The business-hours clock, by example and by property (time zones, DST, weekends, holidays, pauses)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import example, given, settings
from hypothesis import strategies as st

from collector.core.sla import FOREVER, ServiceWindow, deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def five_by_eight(tz=SHANGHAI, closed=frozenset(), working=frozenset()) -> ServiceWindow:
    return ServiceWindow(
        tz=tz, days=frozenset(range(5)), start=time(9, 30), end=time(19, 30), closed=closed, working=working
    )


def test_friday_evening_request_is_due_monday_morning() -> None:
    w = five_by_eight()
    # Friday 2026-11-27 19:00 Shanghai: 30 minutes of business time left that day.
    opened = datetime(2026, 11, 27, 19, 0, tzinfo=SHANGHAI)
    due = w.add(opened, 3600)
    assert due.astimezone(SHANGHAI) == datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
    assert w.business_seconds(opened, due) == 3600


def test_one_business_day_is_the_windows_daily_hours() -> None:
    w = five_by_eight()
    opened = datetime(2026, 11, 26, 14, 0, tzinfo=SHANGHAI)  # Thursday
    assert w.day_seconds == 10 * 3600
    assert w.add(opened, w.day_seconds).astimezone(SHANGHAI) == datetime(2026, 11, 27, 14, 0, tzinfo=SHANGHAI)


def test_public_holidays_of_the_country_are_closed() -> None:
    cn = holidays.country_holidays("CN")
    w = five_by_eight(closed=cn)
    # 2026-10-01..07 is China's National Day week.
    opened = datetime(2026, 9, 30, 19, 0, tzinfo=SHANGHAI)
    due = w.add(opened, 3600).astimezone(SHANGHAI)
    assert due.date() > date(2026, 10, 7)
    assert due.date() not in cn
    assert due.weekday() < 5


def test_an_extra_working_day_on_a_weekend_counts() -> None:
    saturday = date(2026, 11, 28)
    w = five_by_eight(working=frozenset({saturday}))
    opened = datetime(2026, 11, 27, 19, 0, tzinfo=SHANGHAI)
    assert w.add(opened, 3600).astimezone(SHANGHAI) == datetime(2026, 11, 28, 10, 0, tzinfo=SHANGHAI)


def test_dst_day_keeps_ten_wall_clock_hours() -> None:
    w = five_by_eight(tz=BERLIN)
    # 2026-03-29 is a Sunday in Berlin; use the US change on Sunday 2026-03-08 with a 7-day window.
    ny = ServiceWindow(tz=NEW_YORK, days=frozenset(range(7)), start=time(0, 0), end=time(23, 59))
    sat = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    mon = datetime(2026, 3, 9, 12, 0, tzinfo=NEW_YORK)
    # Sunday's 00:00-23:59 wall day has only 22h59m of real time.
    assert ny.business_seconds(sat, mon) == (11 * 3600 + 59 * 60) + (22 * 3600 + 59 * 60) + 12 * 3600
    thursday = datetime(2026, 3, 26, 9, 30, tzinfo=BERLIN)
    assert w.business_seconds(thursday, datetime(2026, 3, 31, 9, 30, tzinfo=BERLIN)) == 3 * 10 * 3600


def test_seven_by_twenty_four_counts_every_second() -> None:
    w = ServiceWindow.always()
    a = datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN)
    assert w.add(a, 7200) == a.astimezone(UTC) + timedelta(hours=2)  # 2 real hours across the jump


def test_pauses_stop_the_clock_and_an_open_pause_has_no_deadline() -> None:
    w = ServiceWindow.always()
    a = datetime(2026, 1, 1, tzinfo=UTC)
    pause = (a + timedelta(minutes=10), a + timedelta(minutes=40))
    assert w.add(a, 1800, [pause]) == a + timedelta(minutes=60)
    assert w.business_seconds(a, a + timedelta(hours=1), [pause]) == 1800
    d = deadline(w, "response", a, 600, 0.8, [(a + timedelta(minutes=1), FOREVER)])
    assert d.due is None
    d = deadline(w, "response", a, 600, 0.8)
    assert d.at_risk == a + timedelta(minutes=8)


# --- properties ---------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC, SHANGHAI, BERLIN, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")]
)
instants = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)


@st.composite
def windows(draw: st.DrawFn) -> ServiceWindow:
    tz = draw(ZONES)
    if draw(st.booleans()):
        return ServiceWindow(tz=tz)
    days = frozenset(draw(st.sets(st.integers(0, 6), min_size=1)))
    start = draw(st.integers(0, 22 * 60))
    end = draw(st.integers(start + 30, 24 * 60 - 1))
    closed = frozenset(draw(st.sets(st.dates(date(2024, 1, 1), date(2029, 1, 31)), max_size=20)))
    if draw(st.booleans()):
        closed = holidays.country_holidays(draw(st.sampled_from(["CN", "DE", "US"])))  # type: ignore[assignment]
    return ServiceWindow(
        tz=tz, days=days, start=time(start // 60, start % 60), end=time(end // 60, end % 60), closed=closed
    )


@settings(max_examples=150, deadline=None)
@given(w=windows(), a=instants, seconds=st.floats(0, 5 * 86400, allow_nan=False))
def test_adding_then_measuring_gives_the_same_business_time(
    w: ServiceWindow, a: datetime, seconds: float
) -> None:
    due = w.add(a, seconds)
    assert due >= a
    assert abs(w.business_seconds(a, due) - seconds) < 1e-3


@example(
    w=ServiceWindow(tz=UTC, days=frozenset({0}), start=time(0, 0), end=time(0, 30)),
    a=datetime(2024, 1, 1, tzinfo=UTC), x=16200.0, y=16200.0,
)  # the first step ends exactly at a closing time; adding nothing more must stay there
@settings(max_examples=150, deadline=None)
@given(w=windows(), a=instants, x=st.floats(0, 3 * 86400), y=st.floats(0, 3 * 86400))
def test_adding_is_monotone_and_additive(w: ServiceWindow, a: datetime, x: float, y: float) -> None:
    lo, hi = sorted((x, y))
    assert w.add(a, lo) <= w.add(a, hi)
    # Adding in two steps lands where adding once does.
    step = w.add(w.add(a, lo), hi - lo)
    assert abs((step - w.add(a, hi)).total_seconds()) < 1e-3


@settings(max_examples=150, deadline=None)
@given(w=windows(), a=instants, h1=st.integers(0, 96 * 3600), h2=st.integers(0, 96 * 3600))
def test_business_time_is_bounded_by_real_time_and_splits(
    w: ServiceWindow, a: datetime, h1: int, h2: int
) -> None:
    b = a + timedelta(seconds=h1)
    c = b + timedelta(seconds=h2)
    ab, bc, ac = w.business_seconds(a, b), w.business_seconds(b, c), w.business_seconds(a, c)
    assert 0 <= ab <= h1
    assert abs(ab + bc - ac) < 1e-6


@settings(max_examples=150, deadline=None)
@given(
    w=windows(),
    a=instants,
    seconds=st.floats(1, 3 * 86400),
    pauses=st.lists(st.tuples(st.integers(0, 5 * 86400), st.integers(1, 86400)), max_size=4),
)
def test_pauses_only_push_deadlines_later(
    w: ServiceWindow, a: datetime, seconds: float, pauses: list[tuple[int, int]]
) -> None:
    spans = [(a + timedelta(seconds=s), a + timedelta(seconds=s + n)) for s, n in pauses]
    plain, paused = w.add(a, seconds), w.add(a, seconds, spans)
    assert paused >= plain
    assert abs(w.business_seconds(a, paused, spans) - seconds) < 1e-3


@settings(max_examples=100, deadline=None)
@given(w=windows(), a=instants, seconds=st.floats(1, 86400))
def test_a_deadline_falls_inside_business_hours(w: ServiceWindow, a: datetime, seconds: float) -> None:
    due = w.add(a, seconds)
    local = due.astimezone(w.tz)
    if w.start is not None and w.end is not None:
        day = local.date()
        # The instant is the end of an open stretch, so it lies in (start, end] of an open day.
        assert w.is_open_day(day)
        assert w.business_seconds(due - timedelta(seconds=min(seconds, 1)), due) > 0
