"""The loader between the database and the pure engine: ``hours.load_engine_input`` hands over exactly the
rows that can matter for a time range (and nothing of the years of history), and the answers that come out
of the engine are right on the days daylight saving changes and on public holidays of the city's region."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories_hours import store_window

from tourbook.availability import Interval, Window, free_guides
from tourbook.extensions import db
from tourbook.hours import load_engine_input, public_holidays, set_holiday_opt_in
from tourbook.models import Absence, AvailabilityWindow, City, HolidayOptIn, Role, Tour, User
from tourbook.services import availability_for

BERLIN = ZoneInfo("Europe/Berlin")


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city(buffer_minutes=30)


@pytest.fixture
def company(make_company: Callable[..., object], city: City) -> object:
    return make_company(cities=[city])


@pytest.fixture
def guide(make_user: Callable[..., User], city: City) -> User:
    return make_user(Role.GUIDE, city=city, guide_languages="de,fr", daily_limit=3, weekly_limit=9)


@pytest.fixture
def at_work(guide: User, add_window: Callable[..., AvailabilityWindow]) -> User:
    """The guide with a window 08:00–20:00 on every day of the week."""
    for weekday in range(7):
        add_window(guide, weekday, time(8), time(20))
    return guide


@pytest.fixture
def add_window() -> Callable[..., AvailabilityWindow]:
    return store_window


@pytest.fixture
def add_absence() -> Callable[..., Absence]:
    def add(guide: User, starts_at: datetime, ends_at: datetime) -> Absence:
        absence = Absence(
            guide_id=guide.id,
            first_day=starts_at.astimezone(BERLIN).date(),
            last_day=ends_at.astimezone(BERLIN).date(),
            starts_at=starts_at,
            ends_at=ends_at,
            reason="holiday",
        )
        db.session.add(absence)
        db.session.commit()
        return absence

    return add


@pytest.fixture
def add_tour(city: City, company: object) -> Callable[..., Tour]:
    def add(guide: User | None, starts_at: datetime, minutes: int = 120, status: str = "confirmed") -> Tour:
        ends_at = starts_at + timedelta(minutes=minutes)
        now = datetime.now(UTC)
        tour = Tour(
            uid=secrets.token_hex(16),
            token=secrets.token_urlsafe(24),
            city_id=city.id,
            company_id=company.id,
            guide_id=guide.id if guide else None,
            status=status,
            starts_at=starts_at,
            ends_at=ends_at,
            blocked_until=ends_at + timedelta(minutes=city.buffer_minutes),
            assigned_at=now,
            consent_at=now,
            partner_first_name="Alex",
        )
        db.session.add(tour)
        db.session.commit()
        return tour

    return add


def calendar_of(data, guide: User):  # noqa: ANN001, ANN201
    (found,) = [g for g in data.guides if g.guide_id == guide.id]
    return found


# A Wednesday in term time, no holiday nearby; its ISO week runs Mon 2027-02-08 … Sun 2027-02-14.
WEDNESDAY = date(2027, 2, 10)


# --- which rows are loaded -------------------------------------------------------------------------------


def test_loads_the_guides_windows_limits_and_languages(city, guide, add_window):
    add_window(guide, 2, time(9), time(12))
    add_window(guide, 2, time(13), time(16, 30), valid_from=date(2027, 1, 1), valid_until=date(2027, 12, 31))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    calendar = calendar_of(data, guide)
    assert sorted(calendar.windows, key=lambda w: w.start) == [
        Window(2, time(9), time(12)),
        Window(2, time(13), time(16, 30), date(2027, 1, 1), date(2027, 12, 31)),
    ]
    assert (calendar.daily_limit, calendar.weekly_limit) == (3, 9)
    assert calendar.languages == frozenset({"de", "fr"})
    assert data.rules.timezone == "Europe/Berlin"
    assert data.rules.buffer == timedelta(minutes=30)
    assert data.rules.lead_time == timedelta(hours=city.lead_time_hours)
    assert data.rules.horizon == timedelta(days=city.horizon_days)


def test_short_ranges_skip_the_windows_of_other_weekdays(city, guide, add_window):
    for weekday in range(7):
        add_window(guide, weekday, time(9), time(12))
    one_day = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert [w.weekday for w in calendar_of(one_day, guide).windows] == [2]
    # Saturday to Monday: three weekdays
    weekend = load_engine_input(db.session, city, local(date(2027, 2, 13), 9), local(date(2027, 2, 15), 12))
    assert sorted(w.weekday for w in calendar_of(weekend, guide).windows) == [0, 5, 6]
    week = load_engine_input(db.session, city, local(WEDNESDAY, 0), local(WEDNESDAY + timedelta(days=7), 0))
    assert sorted(w.weekday for w in calendar_of(week, guide).windows) == list(range(7))


def test_windows_no_longer_or_not_yet_valid_are_skipped(city, guide, add_window):
    add_window(guide, 2, time(6), time(7), valid_until=WEDNESDAY - timedelta(days=1))  # ended the day before
    add_window(guide, 2, time(8), time(9), valid_from=WEDNESDAY + timedelta(days=1))  # starts the day after
    add_window(guide, 2, time(10), time(11), valid_until=WEDNESDAY)  # last day
    add_window(guide, 2, time(12), time(13), valid_from=WEDNESDAY)  # first day
    add_window(guide, 2, time(14), time(15), valid_from=date(2020, 1, 1), valid_until=date(2020, 12, 31))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 11))
    assert sorted(w.start for w in calendar_of(data, guide).windows) == [time(10), time(12)]


def test_absences_are_loaded_around_the_range_and_old_ones_are_not(city, guide, at_work, add_absence):
    near = add_absence(guide, local(WEDNESDAY, 13), local(WEDNESDAY, 18))
    earlier_that_week = add_absence(
        guide, local(WEDNESDAY - timedelta(days=2), 0), local(WEDNESDAY - timedelta(days=1), 0)
    )
    add_absence(guide, local(WEDNESDAY - timedelta(days=60), 0), local(WEDNESDAY - timedelta(days=50), 0))
    add_absence(guide, local(WEDNESDAY + timedelta(days=40), 0), local(WEDNESDAY + timedelta(days=45), 0))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert sorted(calendar_of(data, guide).absences, key=lambda a: a.start) == [
        Interval(earlier_that_week.starts_at, earlier_that_week.ends_at),
        Interval(near.starts_at, near.ends_at),
    ]


def test_a_long_absence_that_began_months_ago_is_still_loaded(city, guide, at_work, add_absence):
    add_absence(guide, local(WEDNESDAY - timedelta(days=90), 0), local(WEDNESDAY + timedelta(days=30), 0))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert len(calendar_of(data, guide).absences) == 1


def test_tours_of_the_iso_week_and_within_the_buffer_are_loaded_and_history_is_not(
    city, guide, at_work, add_tour
):
    monday = add_tour(guide, local(WEDNESDAY - timedelta(days=2), 9))  # counts for the weekly limit
    sunday = add_tour(guide, local(WEDNESDAY + timedelta(days=4), 14))
    just_before = add_tour(guide, local(WEDNESDAY, 7, 30), minutes=120)  # ends 09:30, buffer to 10:00
    add_tour(guide, local(WEDNESDAY - timedelta(days=61), 10))  # two months earlier
    add_tour(guide, local(WEDNESDAY - timedelta(days=400), 10))  # last year
    add_tour(guide, local(WEDNESDAY + timedelta(days=61), 10))  # two months later
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert sorted(calendar_of(data, guide).tours, key=lambda t: t.start) == [
        Interval(monday.starts_at, monday.ends_at),
        Interval(just_before.starts_at, just_before.ends_at),
        Interval(sunday.starts_at, sunday.ends_at),
    ]


@pytest.mark.parametrize("status", ["cancelled", "needs_guide"])
def test_tours_that_do_not_occupy_the_guide_are_not_loaded(city, guide, at_work, add_tour, status):
    add_tour(guide, local(WEDNESDAY, 10), status=status)
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert calendar_of(data, guide).tours == ()


@pytest.mark.parametrize("status", ["done", "no_show"])
def test_tours_that_took_place_still_count(city, guide, at_work, add_tour, status):
    tour = add_tour(guide, local(WEDNESDAY, 8), minutes=60, status=status)
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert calendar_of(data, guide).tours == (Interval(tour.starts_at, tour.ends_at),)


def test_the_tour_being_moved_is_left_out(city, guide, at_work, add_tour):
    moving = add_tour(guide, local(WEDNESDAY, 10))
    other = add_tour(guide, local(WEDNESDAY, 14))
    data = load_engine_input(
        db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12), exclude_tour_id=moving.id
    )
    assert calendar_of(data, guide).tours == (Interval(other.starts_at, other.ends_at),)


def test_holiday_opt_ins_are_loaded_for_the_dates_of_the_range_only(city, guide, at_work):
    for day in (date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)):
        db.session.add(HolidayOptIn(guide_id=guide.id, day=day))
    db.session.commit()
    data = load_engine_input(db.session, city, local(date(2026, 12, 26), 10), local(date(2026, 12, 26), 12))
    assert calendar_of(data, guide).holiday_opt_ins == frozenset({date(2026, 12, 26)})
    assert data.rules.holidays == frozenset({date(2026, 12, 26)})
    whole_season = load_engine_input(
        db.session, city, local(date(2026, 12, 20), 0), local(date(2027, 1, 2), 0)
    )
    assert calendar_of(whole_season, guide).holiday_opt_ins == frozenset(
        {date(2026, 12, 25), date(2026, 12, 26), date(2027, 1, 1)}
    )


def test_only_active_guides_of_the_city_are_loaded(city, guide, make_user, make_city, add_window):
    inactive = make_user(Role.GUIDE, city=city, active=False)
    elsewhere = make_user(Role.GUIDE, city=make_city())
    coordinator = make_user(Role.COORDINATOR, city=city)
    colleague = make_user(Role.GUIDE, city=city)
    for user in (guide, inactive, elsewhere, colleague):
        add_window(user, 2, time(9), time(17))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert [g.guide_id for g in data.guides] == sorted([guide.id, colleague.id])
    assert coordinator.id not in [g.guide_id for g in data.guides]
    only = load_engine_input(
        db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12), guide_ids=[colleague.id]
    )
    assert [g.guide_id for g in only.guides] == [colleague.id]
    foreign = load_engine_input(
        db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12), guide_ids=[elsewhere.id, inactive.id]
    )
    assert foreign.guides == []


def test_other_guides_rows_never_leak_into_a_calendar(
    city, guide, at_work, make_user, add_window, add_absence, add_tour
):
    colleague = make_user(Role.GUIDE, city=city)
    add_window(colleague, 2, time(9), time(17))
    add_absence(colleague, local(WEDNESDAY, 0), local(WEDNESDAY, 23))
    add_tour(colleague, local(WEDNESDAY, 14))
    db.session.add(HolidayOptIn(guide_id=colleague.id, day=WEDNESDAY))
    db.session.commit()
    data = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    mine = calendar_of(data, guide)
    assert (len(mine.windows), mine.absences, mine.tours, mine.holiday_opt_ins) == (1, (), (), frozenset())
    theirs = calendar_of(data, colleague)
    assert (len(theirs.windows), len(theirs.absences), len(theirs.tours)) == (1, 1, 1)


def test_guides_without_a_window_on_the_dates_are_left_out_with_their_rows(
    city, guide, make_user, add_window, add_absence, add_tour
):
    """Nobody is free outside their windows: a guide without one on the dates touched can be skipped."""
    add_window(guide, 2, time(9), time(17))  # Wednesdays
    weekender = make_user(Role.GUIDE, city=city)
    add_window(weekender, 5, time(9), time(17))  # Saturdays
    add_tour(weekender, local(WEDNESDAY, 10))
    add_absence(weekender, local(WEDNESDAY, 0), local(WEDNESDAY + timedelta(days=1), 0))
    retired = make_user(Role.GUIDE, city=city)
    add_window(retired, 2, time(9), time(17), valid_until=WEDNESDAY - timedelta(days=1))
    wednesday = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert [g.guide_id for g in wednesday.guides] == [guide.id]
    week = load_engine_input(db.session, city, local(WEDNESDAY, 0), local(WEDNESDAY + timedelta(days=7), 0))
    assert [g.guide_id for g in week.guides] == sorted([guide.id, weekender.id])
    assert len(calendar_of(week, weekender).tours) == 1
    assert len(calendar_of(week, weekender).absences) == 1


def test_covering_loads_only_guides_whose_window_holds_the_interval(city, make_user, add_window, add_tour):
    early = make_user(Role.GUIDE, city=city)
    add_window(early, 2, time(8), time(12))
    late = make_user(Role.GUIDE, city=city)
    add_window(late, 2, time(11), time(18))
    add_tour(late, local(WEDNESDAY, 15))
    both = make_user(Role.GUIDE, city=city)
    add_window(both, 2, time(9), time(11, 30))
    add_window(both, 2, time(12), time(13))
    data = load_engine_input(db.session, city, local(WEDNESDAY, 9), local(WEDNESDAY, 11), covering=True)
    assert [g.guide_id for g in data.guides] == sorted([early.id, both.id])
    assert calendar_of(data, both).windows == (Window(2, time(9), time(11, 30)),)
    edges = load_engine_input(db.session, city, local(WEDNESDAY, 11), local(WEDNESDAY, 12), covering=True)
    assert [g.guide_id for g in edges.guides] == sorted([early.id, late.id])  # windows touching its ends
    seconds = load_engine_input(
        db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12).replace(second=30), covering=True
    )
    assert seconds.guides == []  # 12:00:30 is after every window's end
    everything = load_engine_input(db.session, city, local(WEDNESDAY, 9), local(WEDNESDAY, 11))
    assert len(everything.guides) == 3
    one = load_engine_input(
        db.session, city, local(WEDNESDAY, 11), local(WEDNESDAY, 12), guide_ids=[late.id], covering=True
    )
    assert [g.guide_id for g in one.guides] == [late.id]
    assert len(calendar_of(one, late).tours) == 1
    assert not load_engine_input(
        db.session, city, local(WEDNESDAY, 9), local(WEDNESDAY, 11), guide_ids=[late.id], covering=True
    ).guides


def test_covering_never_changes_who_is_free(city, make_user, add_window, add_tour, add_absence):
    """Across a week with the autumn clock change, on the hour and off it, the answer is the same."""
    guides = [make_user(Role.GUIDE, city=city, daily_limit=2, weekly_limit=3) for _ in range(6)]
    spans = [
        (time(6), time(9)),
        (time(8), time(12)),
        (time(9, 15), time(13, 45)),
        (time(12), time(18)),
        (time(1), time(4)),
        (time(14), time(22)),
    ]
    for n, guide in enumerate(guides):
        for weekday in range(7):
            start, end = spans[(n + weekday) % len(spans)]
            if start >= time(6):
                add_window(guide, weekday, start, end)
    sunday = date(2026, 10, 25)  # clocks go back at 03:00
    add_tour(guides[1], local(sunday, 8, 30), minutes=60)
    add_tour(guides[3], local(sunday + timedelta(days=1), 12), minutes=90)
    add_absence(guides[2], local(sunday - timedelta(days=1), 0), local(sunday, 10))
    now = datetime(2026, 10, 1, tzinfo=UTC)
    checked = 0
    for offset in range(-1, 2):
        day = sunday + timedelta(days=offset)
        for hour in range(0, 24):
            for minutes in (60, 135):
                start = local(day, hour, 15 * (hour % 3))
                end = start + timedelta(minutes=minutes)
                plain = load_engine_input(db.session, city, start, end)
                narrow = load_engine_input(db.session, city, start, end, covering=True)
                assert free_guides(narrow.rules, narrow.guides, start, end, now) == free_guides(
                    plain.rules, plain.guides, start, end, now
                ), (start, end)
                checked += 1
    assert checked == 3 * 24 * 2


def test_a_city_without_guides_loads_nothing(make_city):
    empty = make_city()
    data = load_engine_input(db.session, empty, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert data.guides == []


def test_history_does_not_change_what_is_loaded(city, guide, add_window, add_tour):
    """Years of tours before the range: the calendar handed to the engine is the same as without them."""
    add_window(guide, 2, time(9), time(17))
    recent = add_tour(guide, local(WEDNESDAY - timedelta(days=1), 9))
    before = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    start = local(WEDNESDAY - timedelta(days=730), 9)
    for week in range(0, 100):
        add_tour(guide, start + timedelta(days=7 * week))
    after = load_engine_input(db.session, city, local(WEDNESDAY, 10), local(WEDNESDAY, 12))
    assert calendar_of(after, guide) == calendar_of(before, guide)
    assert calendar_of(after, guide).tours == (Interval(recent.starts_at, recent.ends_at),)


# --- daylight saving -------------------------------------------------------------------------------------

# 2026: summer time starts Sunday 29 March (02:00 → 03:00) and ends Sunday 25 October (03:00 → 02:00).
DST_MONDAYS = [
    pytest.param(date(2026, 3, 30), timedelta(hours=2), datetime(2026, 3, 1, tzinfo=UTC), id="march"),
    pytest.param(date(2026, 10, 26), timedelta(hours=1), datetime(2026, 10, 1, tzinfo=UTC), id="october"),
]


@pytest.mark.parametrize(("monday", "offset", "now"), DST_MONDAYS)
def test_a_monday_window_is_local_time_on_the_monday_after_the_change(
    city, guide, add_window, monday, offset, now
):
    add_window(guide, 0, time(9), time(12))
    nine_local = datetime.combine(monday, time(9), UTC) - offset
    assert local(monday, 9) == nine_local  # the test's own arithmetic: 09:00 local in UTC

    free = availability_for(db.session, city, local(monday, 9), local(monday, 11), None, now=now)
    assert free.problem is None
    assert free.free == [guide.id]
    # the same instants given in UTC
    assert availability_for(
        db.session, city, nine_local, nine_local + timedelta(hours=2), None, now=now
    ).free == [guide.id]
    assert availability_for(db.session, city, local(monday, 10), local(monday, 12), None, now=now).free == [
        guide.id
    ]
    # an hour off in either direction is outside the window (it would be inside with the other offset)
    assert availability_for(db.session, city, local(monday, 8), local(monday, 10), None, now=now).free == []
    assert availability_for(db.session, city, local(monday, 11), local(monday, 13), None, now=now).free == []


@pytest.mark.parametrize(("monday", "offset", "now"), DST_MONDAYS)
def test_a_full_monday_alternative_is_offered_in_local_time(city, guide, add_window, monday, offset, now):
    add_window(guide, 0, time(9), time(12))
    # nobody is free on Monday afternoon: the nearest alternatives lie inside 09:00-12:00 local, that Monday
    # first, then the Mondays a week before and after (on the other side of the clock change, too)
    answer = availability_for(db.session, city, local(monday, 14), local(monday, 16), None, now=now)
    assert answer.free == []
    assert answer.alternatives, "no alternative offered"
    for alternative in answer.alternatives:
        begin, end = alternative.start.astimezone(BERLIN), alternative.end.astimezone(BERLIN)
        assert begin.weekday() == 0 and abs((begin.date() - monday).days) <= 7
        assert time(9) <= begin.time() and end.time() <= time(12)
    assert answer.alternatives[0] == Interval(
        local(monday, 10).astimezone(UTC), local(monday, 12).astimezone(UTC)
    )


def test_the_window_on_the_day_the_clocks_go_forward_is_shorter(city, guide, add_window):
    """Sunday 29 March 2026: a 01:00-04:00 window is two real hours; 06:00 is still 06:00 local."""
    add_window(guide, 6, time(6), time(9))
    sunday = date(2026, 3, 29)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert availability_for(db.session, city, local(sunday, 6), local(sunday, 9), None, now=now).free == [
        guide.id
    ]
    assert availability_for(db.session, city, local(sunday, 7), local(sunday, 10), None, now=now).free == []


# --- public holidays -------------------------------------------------------------------------------------

CORPUS_CHRISTI = date(2026, 6, 4)  # Thursday; a public holiday in North Rhine-Westphalia
MAY = datetime(2026, 5, 1, tzinfo=UTC)


def test_the_holidays_package_knows_corpus_christi_in_north_rhine_westphalia(city):
    assert city.holiday_subdivision == "NW"
    holidays = public_holidays(city, date(2026, 1, 1), date(2026, 12, 31))
    assert holidays[CORPUS_CHRISTI] == "Corpus Christi"
    assert date(2026, 11, 1) in holidays  # All Saints' Day, NRW too
    assert date(2026, 10, 31) not in holidays  # Reformation Day is not a holiday in NRW
    assert set(holidays) >= {
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 1),
        date(2026, 5, 14),
        date(2026, 5, 25),
        date(2026, 10, 3),
        date(2026, 12, 25),
        date(2026, 12, 26),
    }
    data = load_engine_input(db.session, city, local(CORPUS_CHRISTI, 10), local(CORPUS_CHRISTI, 12))
    assert CORPUS_CHRISTI in data.rules.holidays


def test_a_public_holiday_blocks_the_guide_unless_they_opt_in(city, guide, add_window):
    add_window(guide, 3, time(9), time(17))
    start, end = local(CORPUS_CHRISTI, 10), local(CORPUS_CHRISTI, 12)
    assert availability_for(db.session, city, start, end, None, now=MAY).free == []
    week_later = CORPUS_CHRISTI + timedelta(days=7)
    assert availability_for(
        db.session, city, local(week_later, 10), local(week_later, 12), None, now=MAY
    ).free == [guide.id]

    set_holiday_opt_in(db.session, guide, guide, CORPUS_CHRISTI, True)
    db.session.commit()
    assert availability_for(db.session, city, start, end, None, now=MAY).free == [guide.id]

    set_holiday_opt_in(db.session, guide, guide, CORPUS_CHRISTI, False)
    db.session.commit()
    assert availability_for(db.session, city, start, end, None, now=MAY).free == []


def test_an_opt_in_for_one_holiday_does_not_open_another(city, guide, add_window):
    add_window(guide, 3, time(9), time(17))
    ascension = date(2026, 5, 14)  # also a Thursday holiday
    set_holiday_opt_in(db.session, guide, guide, ascension, True)
    db.session.commit()
    now = datetime(2026, 4, 20, tzinfo=UTC)
    assert availability_for(
        db.session, city, local(ascension, 10), local(ascension, 12), None, now=now
    ).free == [guide.id]
    assert (
        availability_for(
            db.session, city, local(CORPUS_CHRISTI, 10), local(CORPUS_CHRISTI, 12), None, now=now
        ).free
        == []
    )


def test_the_holidays_are_those_of_the_citys_region(make_city, make_user, add_window):
    berlin = make_city(holiday_subdivision="BE")  # no Corpus Christi in Berlin
    guide = make_user(Role.GUIDE, city=berlin)
    add_window(guide, 3, time(9), time(17))
    answer = availability_for(
        db.session, berlin, local(CORPUS_CHRISTI, 10), local(CORPUS_CHRISTI, 12), None, now=MAY
    )
    assert answer.free == [guide.id]
