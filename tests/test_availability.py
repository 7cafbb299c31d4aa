"""The availability engine, case by case: windows across daylight saving, buffers, limits, holidays,
absences, lead time and horizon, nearest alternatives and the month overview."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from tourbook.availability import (
    CityRules,
    GuideCalendar,
    Interval,
    Window,
    check_interval,
    free_guides,
    local_window_instants,
    month_overview,
    nearest_alternatives,
)

BERLIN = ZoneInfo("Europe/Berlin")
RULES = CityRules("Europe/Berlin")
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN, fold=fold)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def window(weekday: int, start: str, end: str, **validity: date) -> Window:
    return Window(weekday, time.fromisoformat(start), time.fromisoformat(end), **validity)


def every_day(start: str = "08:00", end: str = "18:00") -> tuple[Window, ...]:
    return tuple(window(weekday, start, end) for weekday in range(7))


def guide(guide_id: int = 1, **fields) -> GuideCalendar:
    fields.setdefault("windows", every_day())
    fields.setdefault("languages", frozenset({"de"}))
    for name in ("holiday_opt_ins", "languages"):
        fields[name] = frozenset(fields[name]) if name in fields else frozenset()
    for name in ("windows", "absences", "tours"):
        if name in fields:
            fields[name] = tuple(fields[name])
    return GuideCalendar(guide_id, **fields)


def free(guides, start, end, *, rules=RULES, now=None, language=None) -> list[int]:
    """free_guides with a `now` comfortably inside lead time and horizon unless given."""
    return free_guides(
        rules, guides, start, end, start - timedelta(days=10) if now is None else now, language
    )


def is_free(one_guide: GuideCalendar, start: datetime, end: datetime, **options) -> bool:
    return free([one_guide], start, end, **options) == [one_guide.guide_id]


# --- local_window_instants: wall-clock windows across daylight saving ---------------------------------


def test_morning_window_stays_at_nine_local_before_and_on_spring_forward_day():
    nine_to_noon = window(SAT, "09:00", "12:00")
    assert local_window_instants(nine_to_noon, date(2026, 3, 28), BERLIN) == Interval(
        utc(2026, 3, 28, 8), utc(2026, 3, 28, 11)
    )
    sunday = window(SUN, "09:00", "12:00")
    assert local_window_instants(sunday, date(2026, 3, 29), BERLIN) == Interval(
        utc(2026, 3, 29, 7), utc(2026, 3, 29, 10)
    )


def test_morning_window_stays_at_nine_local_before_and_on_fall_back_day():
    assert local_window_instants(window(SAT, "09:00", "12:00"), date(2026, 10, 24), BERLIN) == Interval(
        utc(2026, 10, 24, 7), utc(2026, 10, 24, 10)
    )
    assert local_window_instants(window(SUN, "09:00", "12:00"), date(2026, 10, 25), BERLIN) == Interval(
        utc(2026, 10, 25, 8), utc(2026, 10, 25, 11)
    )


def test_window_across_the_spring_gap_is_two_real_hours():
    span = local_window_instants(window(SUN, "01:00", "04:00"), date(2026, 3, 29), "Europe/Berlin")
    assert span == Interval(local(2026, 3, 29, 1), local(2026, 3, 29, 4))
    assert span.start == utc(2026, 3, 29, 0)
    assert span.end == utc(2026, 3, 29, 2)
    assert span.end - span.start == 2 * HOUR


def test_window_across_the_repeated_autumn_hour_is_four_real_hours():
    span = local_window_instants(window(SUN, "01:00", "04:00"), date(2026, 10, 25), BERLIN)
    assert span == Interval(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))
    assert span.end - span.start == 4 * HOUR


def test_window_starting_in_the_spring_gap_starts_when_the_gap_ends_plus_the_offset():
    span = local_window_instants(window(SUN, "02:30", "05:00"), date(2026, 3, 29), BERLIN)
    assert span.start == utc(2026, 3, 29, 1, 30)  # 03:30 CEST
    assert span.start.astimezone(BERLIN).time() == time(3, 30)


def test_ambiguous_autumn_time_takes_its_first_occurrence():
    span = local_window_instants(window(SUN, "02:30", "05:00"), date(2026, 10, 25), BERLIN)
    assert span.start == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET


def test_window_inside_the_spring_gap_is_empty():
    assert local_window_instants(window(SUN, "02:00", "03:00"), date(2026, 3, 29), BERLIN) is None


def test_window_applies_only_on_its_weekday():
    assert local_window_instants(window(MON, "09:00", "12:00"), date(2026, 6, 9), BERLIN) is None


def test_window_validity_bounds_are_inclusive():
    limited = window(WED, "09:00", "12:00", valid_from=date(2026, 6, 10), valid_until=date(2026, 6, 24))
    assert local_window_instants(limited, date(2026, 6, 3), BERLIN) is None
    assert local_window_instants(limited, date(2026, 6, 10), BERLIN) is not None
    assert local_window_instants(limited, date(2026, 6, 24), BERLIN) is not None
    assert local_window_instants(limited, date(2026, 7, 1), BERLIN) is None


def test_window_that_ends_before_it_starts_is_empty():
    assert local_window_instants(window(WED, "12:00", "09:00"), date(2026, 6, 10), BERLIN) is None


# --- check_interval --------------------------------------------------------------------------------


NOW = local(2026, 6, 1, 12)


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (local(2026, 6, 10, 10), local(2026, 6, 10, 11), None),
        (local(2026, 6, 10, 10), local(2026, 6, 10, 10, 59), "too_short"),
        (local(2026, 6, 10, 10), local(2026, 6, 10, 14), None),
        (local(2026, 6, 10, 10), local(2026, 6, 10, 14, 1), "too_long"),
        (local(2026, 6, 10, 10), local(2026, 6, 10, 10), "end_before_start"),
        (local(2026, 6, 10, 10), local(2026, 6, 10, 9), "end_before_start"),
        (local(2026, 6, 2, 12), local(2026, 6, 2, 13), None),
        (local(2026, 6, 2, 11, 59), local(2026, 6, 2, 13), "too_soon"),
        (NOW + timedelta(days=120), NOW + timedelta(days=120) + HOUR, None),
        (NOW + timedelta(days=120, minutes=1), NOW + timedelta(days=120, minutes=61), "too_far"),
    ],
)
def test_check_interval_applies_the_city_rules_with_edges_allowed(start, end, problem):
    assert check_interval(RULES, start, end, NOW) == problem


def test_duration_is_measured_in_real_time_across_the_spring_gap():
    now = local(2026, 3, 1)
    # 01:30 CET to 03:30 CEST looks like two hours on the clock but is one.
    assert check_interval(RULES, local(2026, 3, 29, 1, 30), local(2026, 3, 29, 3, 30), now) is None
    assert check_interval(RULES, local(2026, 3, 29, 1, 30), local(2026, 3, 29, 3, 15), now) == "too_short"


def test_duration_is_measured_in_real_time_across_the_repeated_autumn_hour():
    now = local(2026, 10, 1)
    # 01:00 CEST to 04:01 CET is 4 h 1 min.
    assert check_interval(RULES, local(2026, 10, 25, 1), local(2026, 10, 25, 4, 1), now) == "too_long"
    # 02:30 CEST (first) to 02:30 CET (second occurrence) is one real hour.
    assert check_interval(RULES, local(2026, 10, 25, 2, 30), local(2026, 10, 25, 2, 30, fold=1), now) is None


def test_lead_time_is_measured_in_real_time_across_the_spring_gap():
    now = local(2026, 3, 28, 9)  # CET
    assert check_interval(RULES, local(2026, 3, 29, 9), local(2026, 3, 29, 10), now) == "too_soon"  # 23 h
    assert check_interval(RULES, local(2026, 3, 29, 10), local(2026, 3, 29, 11), now) is None  # 24 h


def test_naive_datetimes_are_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        check_interval(RULES, datetime(2026, 6, 10, 10), datetime(2026, 6, 10, 11), NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        free_guides(RULES, [guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 11), datetime(2026, 6, 1))


# --- free_guides: windows ---------------------------------------------------------------------------


def test_guide_is_free_inside_a_window_and_not_outside():
    wednesday = guide(windows=[window(WED, "09:00", "12:00")])
    assert is_free(wednesday, local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert not is_free(wednesday, local(2026, 6, 10, 13), local(2026, 6, 10, 14))
    assert not is_free(wednesday, local(2026, 6, 11, 10), local(2026, 6, 11, 11))  # Thursday


def test_tour_may_fill_a_window_exactly_but_not_a_minute_beyond_it():
    wednesday = guide(windows=[window(WED, "09:00", "12:00")])
    assert is_free(wednesday, local(2026, 6, 10, 9), local(2026, 6, 10, 12))
    assert not is_free(wednesday, local(2026, 6, 10, 11, 1), local(2026, 6, 10, 12, 1))
    assert not is_free(wednesday, local(2026, 6, 10, 8, 59), local(2026, 6, 10, 10))


def test_tour_must_lie_inside_one_window_not_across_two_adjacent_ones():
    split = guide(windows=[window(WED, "09:00", "12:00"), window(WED, "12:00", "15:00")])
    assert not is_free(split, local(2026, 6, 10, 11), local(2026, 6, 10, 13))
    assert is_free(split, local(2026, 6, 10, 12), local(2026, 6, 10, 13))


def test_window_validity_dates_are_inclusive_for_booking():
    limited = guide(
        windows=[window(WED, "09:00", "12:00", valid_from=date(2026, 6, 10), valid_until=date(2026, 6, 17))]
    )
    assert not is_free(limited, local(2026, 6, 3, 10), local(2026, 6, 3, 11))
    assert is_free(limited, local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert is_free(limited, local(2026, 6, 17, 10), local(2026, 6, 17, 11))
    assert not is_free(limited, local(2026, 6, 24, 10), local(2026, 6, 24, 11))


def test_window_on_spring_forward_day_is_at_local_time():
    sunday = guide(windows=[window(SUN, "09:00", "12:00")])
    assert is_free(sunday, local(2026, 3, 29, 9), local(2026, 3, 29, 10))
    assert is_free(sunday, local(2026, 3, 29, 11), local(2026, 3, 29, 12))
    # 08:00 CEST is what 09:00 would be if the winter offset were kept.
    assert not is_free(sunday, local(2026, 3, 29, 8), local(2026, 3, 29, 9))


def test_window_on_fall_back_day_is_at_local_time():
    sunday = guide(windows=[window(SUN, "09:00", "12:00")])
    assert is_free(sunday, local(2026, 10, 25, 9), local(2026, 10, 25, 10))
    # 11:00–12:00 CET would fall outside a window computed with the summer offset.
    assert is_free(sunday, local(2026, 10, 25, 11), local(2026, 10, 25, 12))
    assert not is_free(sunday, local(2026, 10, 25, 8), local(2026, 10, 25, 9))


def test_night_window_on_spring_forward_day_holds_only_two_real_hours():
    sunday = guide(windows=[window(SUN, "01:00", "04:00")])
    assert is_free(sunday, local(2026, 3, 29, 1), local(2026, 3, 29, 4))  # two real hours
    assert not is_free(sunday, utc(2026, 3, 29, 0), utc(2026, 3, 29, 3))  # three real hours: till 05:00
    # The same window holds a three-hour tour on an ordinary Sunday.
    assert is_free(sunday, local(2026, 3, 22, 1), local(2026, 3, 22, 4))


def test_night_window_on_fall_back_day_holds_four_real_hours():
    sunday = guide(windows=[window(SUN, "01:00", "04:00")])
    assert is_free(sunday, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))  # 01:00 CEST to 04:00 CET
    # Starting at the second 02:30 (CET) is inside the window too.
    assert is_free(sunday, local(2026, 10, 25, 2, 30, fold=1), local(2026, 10, 25, 3, 30))
    assert not is_free(sunday, utc(2026, 10, 24, 23), utc(2026, 10, 25, 3, 1))


# --- free_guides: other tours and the buffer -----------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (local(2026, 6, 10, 11, 15), local(2026, 6, 10, 12, 15), True),  # starts exactly one buffer after
        (local(2026, 6, 10, 11, 14), local(2026, 6, 10, 12, 14), False),  # a minute less
        (local(2026, 6, 10, 8, 45), local(2026, 6, 10, 9, 45), True),  # ends exactly one buffer before
        (local(2026, 6, 10, 8, 46), local(2026, 6, 10, 9, 46), False),  # a minute less
        (local(2026, 6, 10, 10, 30), local(2026, 6, 10, 11, 30), False),  # overlaps
        (local(2026, 6, 10, 9), local(2026, 6, 10, 13), False),  # surrounds
    ],
)
def test_other_tours_must_be_at_least_one_buffer_away(start, end, expected):
    busy = guide(tours=[Interval(local(2026, 6, 10, 10), local(2026, 6, 10, 11))])
    assert is_free(busy, start, end) is expected


def test_tours_may_touch_when_the_city_has_no_buffer():
    busy = guide(tours=[Interval(local(2026, 6, 10, 10), local(2026, 6, 10, 11))])
    no_buffer = CityRules("Europe/Berlin", buffer=timedelta(0))
    assert is_free(busy, local(2026, 6, 10, 11), local(2026, 6, 10, 12), rules=no_buffer)
    assert not is_free(busy, local(2026, 6, 10, 10, 59), local(2026, 6, 10, 12), rules=no_buffer)


def test_tours_given_in_utc_count_the_same():
    busy = guide(tours=[Interval(utc(2026, 6, 10, 8), utc(2026, 6, 10, 9))])  # 10:00–11:00 local
    assert not is_free(busy, local(2026, 6, 10, 11, 14), local(2026, 6, 10, 12, 14))
    assert is_free(busy, local(2026, 6, 10, 11, 15), local(2026, 6, 10, 12, 15))


# --- free_guides: daily and weekly limits ----------------------------------------------------------------


def test_daily_limit_counts_tours_of_the_local_date():
    tours = [
        Interval(local(2026, 6, 10, 8), local(2026, 6, 10, 9)),
        Interval(local(2026, 6, 10, 15), local(2026, 6, 10, 16)),
    ]
    request = (local(2026, 6, 10, 11), local(2026, 6, 10, 12))
    assert not is_free(guide(tours=tours, daily_limit=2), *request)
    assert is_free(guide(tours=tours, daily_limit=3), *request)
    assert is_free(guide(tours=tours[:1], daily_limit=2), *request)
    assert is_free(guide(tours=tours), *request)  # no limit


def test_daily_limit_uses_local_midnight_not_utc_midnight():
    request = (local(2026, 6, 10, 11), local(2026, 6, 10, 12))
    night = every_day("00:00", "23:59")
    # 00:30 local on the 10th is still the 9th in UTC; it counts for the 10th.
    after_midnight = Interval(local(2026, 6, 10, 0, 30), local(2026, 6, 10, 1, 30))
    assert after_midnight.start.astimezone(UTC).date() == date(2026, 6, 9)
    assert not is_free(guide(windows=night, tours=[after_midnight], daily_limit=1), *request)
    # 22:30 local on the 9th is 20:30 UTC on the 9th; it does not count for the 10th.
    evening_before = Interval(local(2026, 6, 9, 22, 30), local(2026, 6, 9, 23, 30))
    assert is_free(guide(windows=night, tours=[evening_before], daily_limit=1), *request)


def test_weekly_limit_counts_tours_of_the_local_iso_week():
    monday = Interval(local(2026, 6, 8, 10), local(2026, 6, 8, 11))
    sunday_night = Interval(local(2026, 6, 14, 23), local(2026, 6, 14, 23, 45))
    busy = guide(windows=every_day("00:00", "23:59"), tours=[monday, sunday_night], weekly_limit=2)
    assert not is_free(busy, local(2026, 6, 10, 10), local(2026, 6, 10, 11))  # Wednesday, same week
    assert is_free(busy, local(2026, 6, 15, 10), local(2026, 6, 15, 11))  # next Monday, new week


def test_weekly_limit_uses_local_monday_midnight_not_utc():
    # 00:30 local on Monday 15 June is still Sunday in UTC; it belongs to the week of the 15th.
    monday_night = Interval(local(2026, 6, 15, 0, 30), local(2026, 6, 15, 1, 30))
    assert monday_night.start.astimezone(UTC).weekday() == SUN
    busy = guide(windows=every_day("00:00", "23:59"), tours=[monday_night], weekly_limit=1)
    assert is_free(busy, local(2026, 6, 14, 10), local(2026, 6, 14, 11))  # Sunday, previous week
    assert not is_free(busy, local(2026, 6, 16, 10), local(2026, 6, 16, 11))  # Tuesday, same week


def test_limits_of_zero_mean_never_free():
    assert not is_free(guide(daily_limit=0), local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert not is_free(guide(weekly_limit=0), local(2026, 6, 10, 10), local(2026, 6, 10, 11))


# --- free_guides: holidays and absences ----------------------------------------------------------------


CHRISTMAS_RULES = CityRules("Europe/Berlin", holidays=frozenset({date(2026, 12, 25), date(2026, 12, 26)}))


def test_nobody_works_on_a_public_holiday_without_opting_in():
    christmas = (local(2026, 12, 25, 10), local(2026, 12, 25, 11))  # a Friday
    plain = guide(1)
    opted_in = guide(2, holiday_opt_ins={date(2026, 12, 25)})
    assert free([plain, opted_in], *christmas, rules=CHRISTMAS_RULES) == [2]
    assert free([plain, opted_in], *christmas, rules=RULES) == [1, 2]  # a city without that holiday


def test_holiday_opt_in_is_per_date():
    opted_in = guide(2, holiday_opt_ins={date(2026, 12, 25)})
    assert not is_free(opted_in, local(2026, 12, 26, 10), local(2026, 12, 26, 11), rules=CHRISTMAS_RULES)
    assert is_free(opted_in, local(2026, 12, 24, 10), local(2026, 12, 24, 11), rules=CHRISTMAS_RULES)


@pytest.mark.parametrize(
    ("absence", "expected"),
    [
        (Interval(local(2026, 6, 10, 10, 30), local(2026, 6, 10, 12)), False),  # overlaps the end
        (Interval(local(2026, 6, 10, 9), local(2026, 6, 10, 10, 1)), False),  # overlaps the start
        (Interval(local(2026, 6, 10, 10, 15), local(2026, 6, 10, 10, 30)), False),  # inside
        (Interval(local(2026, 6, 8), local(2026, 6, 13)), False),  # the whole week
        (Interval(local(2026, 6, 10, 11), local(2026, 6, 10, 12)), True),  # starts as the tour ends
        (Interval(local(2026, 6, 10, 8), local(2026, 6, 10, 10)), True),  # ends as the tour starts
        (Interval(utc(2026, 6, 10, 9), utc(2026, 6, 10, 10)), True),  # 11:00–12:00 local, given in UTC
        (Interval(utc(2026, 6, 10, 8, 30), utc(2026, 6, 10, 10)), False),  # 10:30 local, given in UTC
    ],
)
def test_absences_block_overlapping_tours_and_may_touch_them(absence, expected):
    away = guide(absences=[absence])
    assert is_free(away, local(2026, 6, 10, 10), local(2026, 6, 10, 11)) is expected


# --- free_guides: lead time, horizon, language, order --------------------------------------------------


def test_lead_time_edge_is_allowed_and_a_minute_less_is_not():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert free([guide()], *request, now=local(2026, 6, 9, 10)) == [1]
    assert free([guide()], *request, now=local(2026, 6, 9, 10, 1)) == []


def test_horizon_edge_is_allowed_and_a_minute_more_is_not():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    # Real time: subtracting from a Berlin datetime would keep the wall clock across the March change.
    edge = request[0].astimezone(UTC) - timedelta(days=120)
    assert free([guide()], *request, now=edge) == [1]
    assert free([guide()], *request, now=edge - MINUTE) == []


def test_invalid_interval_has_no_free_guides():
    assert free([guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 10, 30)) == []
    assert free([guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 15)) == []


def test_language_filter_keeps_only_guides_who_speak_it():
    guides = [guide(1, languages={"de"}), guide(2, languages={"de", "en"}), guide(3, languages={"en"})]
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert free(guides, *request, language="en") == [2, 3]
    assert free(guides, *request, language="de") == [1, 2]
    assert free(guides, *request, language="uk") == []
    assert free(guides, *request) == [1, 2, 3]


def test_result_is_sorted_by_guide_id_whatever_the_input_order():
    guides = [guide(7), guide(3), guide(5)]
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    assert free(guides, *request) == [3, 5, 7]
    assert free(list(reversed(guides)), *request) == [3, 5, 7]


def test_only_the_guides_without_a_conflict_are_free():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    guides = [
        guide(1),
        guide(2, tours=[Interval(local(2026, 6, 10, 11), local(2026, 6, 10, 12))]),
        guide(3, absences=[Interval(local(2026, 6, 10), local(2026, 6, 11))]),
        guide(4, windows=[window(THU, "08:00", "18:00")]),
        guide(5, daily_limit=1, tours=[Interval(local(2026, 6, 10, 16), local(2026, 6, 10, 17))]),
        guide(6),
    ]
    assert free(guides, *request) == [1, 6]


# --- nearest_alternatives --------------------------------------------------------------------------------


def busy_wednesday_guide(guide_id: int = 1, languages=("de",)) -> GuideCalendar:
    """Works Tue 14–17, Wed 08–13 (with a tour 10–11 on 10 June) and Thu 09–12."""
    return guide(
        guide_id,
        windows=[window(TUE, "14:00", "17:00"), window(WED, "08:00", "13:00"), window(THU, "09:00", "12:00")],
        tours=[Interval(local(2026, 6, 10, 10), local(2026, 6, 10, 11))],
        languages=set(languages),
    )


def starts(intervals: list[Interval]) -> list[datetime]:
    return [interval.start.astimezone(BERLIN) for interval in intervals]


def test_alternatives_on_the_same_day_come_first_nearest_first():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    alternatives = nearest_alternatives(RULES, [busy_wednesday_guide()], *request, local(2026, 5, 1))
    assert starts(alternatives) == [
        local(2026, 6, 10, 8, 45),  # 75 minutes before; ties go to the earlier start
        local(2026, 6, 10, 11, 15),  # 75 minutes after (the tour ends at 11:00, plus the buffer)
        local(2026, 6, 10, 8, 30),
        local(2026, 6, 10, 11, 30),
        local(2026, 6, 10, 8, 15),
    ]
    assert all(alternative.end - alternative.start == HOUR for alternative in alternatives)


def test_alternatives_continue_with_the_next_day_before_the_previous_day():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    alternatives = nearest_alternatives(
        RULES, [busy_wednesday_guide()], *request, local(2026, 5, 1), limit=20
    )
    wednesday = [(8, 45), (11, 15), (8, 30), (11, 30), (8, 15), (11, 45), (8, 0), (12, 0)]
    thursday = [(10, 0), (9, 45), (10, 15), (9, 30), (10, 30), (9, 15), (10, 45), (9, 0), (11, 0)]
    tuesday = [(14, 0), (14, 15), (14, 30)]  # nearest to 10:00 on the day before
    assert starts(alternatives) == (
        [local(2026, 6, 10, h, m) for h, m in wednesday]
        + [local(2026, 6, 11, h, m) for h, m in thursday]
        + [local(2026, 6, 9, h, m) for h, m in tuesday]
    )


def test_spread_alternatives_offer_per_day_the_nearest_and_the_nearest_on_the_other_side():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    alternatives = nearest_alternatives(
        RULES, [busy_wednesday_guide()], *request, local(2026, 5, 1), limit=20, spread=True
    )
    assert starts(alternatives) == [
        local(2026, 6, 10, 8, 45), local(2026, 6, 10, 11, 15),  # before and after the tour that day
        local(2026, 6, 11, 10),  # the same time the next day: nothing nearer to offer beside it
        local(2026, 6, 9, 14),  # the day before only has afternoons
        local(2026, 6, 16, 14),  # then a week on each side: Tuesday, Thursday, Wednesday, Wednesday
        local(2026, 6, 4, 10),
        local(2026, 6, 17, 10),
        local(2026, 6, 3, 10),
    ]
    # The same list without spreading starts with the same choice; the spread ones are all among its own.
    full = nearest_alternatives(RULES, [busy_wednesday_guide()], *request, local(2026, 5, 1), limit=100)
    assert set(alternatives) <= set(full) and alternatives[0] == full[0]
    assert nearest_alternatives(RULES, [busy_wednesday_guide()], *request, local(2026, 5, 1), limit=3,
                                spread=True) == alternatives[:3]


def test_alternatives_search_a_week_each_way_and_no_further():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    wednesdays = guide(windows=[window(WED, "09:00", "12:00")], tours=[Interval(*request)])
    alternatives = nearest_alternatives(RULES, [wednesdays], *request, local(2026, 5, 1), limit=100)
    found = starts(alternatives)
    # Nothing left on the 10th; a week later, then a week earlier; 27 May and 24 June are too far.
    assert {start.date() for start in found} == {date(2026, 6, 17), date(2026, 6, 3)}
    assert len(found) == 18
    assert found[:3] == [local(2026, 6, 17, 10), local(2026, 6, 17, 9, 45), local(2026, 6, 17, 10, 15)]
    assert found[-2:] == [local(2026, 6, 3, 9), local(2026, 6, 3, 11)]


def test_alternatives_respect_the_lead_time():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    now = local(2026, 6, 9, 11, 20)  # earliest start 10 June 11:20
    alternatives = nearest_alternatives(RULES, [busy_wednesday_guide()], *request, now)
    assert starts(alternatives) == [
        local(2026, 6, 10, 11, 30),
        local(2026, 6, 10, 11, 45),
        local(2026, 6, 10, 12),
        local(2026, 6, 11, 10),
        local(2026, 6, 11, 9, 45),
    ]


def test_alternatives_respect_the_language():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    english = guide(2, windows=[window(FRI, "09:00", "12:00")], languages={"en"})
    alternatives = nearest_alternatives(
        RULES, [busy_wednesday_guide(), english], *request, local(2026, 5, 1), language="en", limit=2
    )
    assert starts(alternatives) == [local(2026, 6, 12, 10), local(2026, 6, 12, 9, 45)]


def test_alternatives_start_on_the_quarter_hour_grid():
    request = (local(2026, 6, 10, 10, 7), local(2026, 6, 10, 11, 7))
    alternatives = nearest_alternatives(
        RULES, [guide(windows=[window(WED, "09:00", "12:00")])], *request, local(2026, 5, 1)
    )
    assert starts(alternatives) == [
        local(2026, 6, 10, 10),
        local(2026, 6, 10, 10, 15),
        local(2026, 6, 10, 9, 45),
        local(2026, 6, 10, 10, 30),
        local(2026, 6, 10, 9, 30),
    ]


def test_the_requested_interval_is_not_its_own_alternative():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    alternatives = nearest_alternatives(RULES, [guide()], *request, local(2026, 5, 1), limit=3)
    assert starts(alternatives) == [
        local(2026, 6, 10, 9, 45),
        local(2026, 6, 10, 10, 15),
        local(2026, 6, 10, 9, 30),
    ]


def test_alternatives_on_another_day_are_near_the_same_local_time_across_daylight_saving():
    request = (local(2026, 3, 28, 10), local(2026, 3, 28, 11))  # Saturday, CET
    sunday = guide(windows=[window(SUN, "09:00", "12:00")])
    alternatives = nearest_alternatives(RULES, [sunday], *request, local(2026, 3, 1), limit=3)
    # 10:00 CEST on Sunday is 23 real hours later; 11:00 CEST would be 24.
    assert starts(alternatives) == [
        local(2026, 3, 29, 10),
        local(2026, 3, 29, 9, 45),
        local(2026, 3, 29, 10, 15),
    ]


def test_no_alternatives_when_nobody_is_ever_free():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    now = local(2026, 5, 1)
    assert nearest_alternatives(RULES, [guide(windows=[])], *request, now) == []
    away = guide(absences=[Interval(local(2026, 5, 1), local(2026, 7, 1))])
    assert nearest_alternatives(RULES, [away], *request, now) == []
    assert nearest_alternatives(RULES, [], *request, now) == []


def test_no_alternatives_for_an_unbookable_length_or_limit():
    now = local(2026, 5, 1)
    assert (
        nearest_alternatives(RULES, [guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 10, 30), now) == []
    )
    assert nearest_alternatives(RULES, [guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 15), now) == []
    assert (
        nearest_alternatives(RULES, [guide()], local(2026, 6, 10, 10), local(2026, 6, 10, 11), now, limit=0)
        == []
    )


def test_alternatives_are_distinct_and_in_utc():
    request = (local(2026, 6, 10, 10), local(2026, 6, 10, 11))
    alternatives = nearest_alternatives(RULES, [guide(1), guide(2)], *request, local(2026, 5, 1), limit=50)
    assert len(alternatives) == 50
    assert len(set(alternatives)) == 50
    assert all(alternative.start.tzinfo is UTC for alternative in alternatives)


# --- month_overview ----------------------------------------------------------------------------------------


def march_guides() -> list[GuideCalendar]:
    return [
        guide(
            1,
            windows=[
                window(SUN, "01:00", "04:00"),
                window(WED, "09:00", "12:00", valid_from=date(2026, 3, 18), valid_until=date(2026, 3, 25)),
            ],
            tours=[Interval(local(2026, 3, 25, 10), local(2026, 3, 25, 10, 30))],
            languages={"de"},
        ),
        guide(2, windows=[window(WED, "11:15", "13:00")], languages={"en"}),
    ]


MARCH_RULES = CityRules("Europe/Berlin", holidays=frozenset({date(2026, 3, 11)}))
MARCH_NOW = local(2026, 3, 1)  # earliest start: 2 March 00:00


def test_month_overview_merges_bookable_starts_into_spans_across_guides_and_daylight_saving():
    overview = month_overview(MARCH_RULES, march_guides(), 2026, 3, HOUR, MARCH_NOW)
    assert overview == {
        date(2026, 3, 4): [Interval(local(2026, 3, 4, 11, 15), local(2026, 3, 4, 13))],  # guide 2 only
        date(2026, 3, 8): [Interval(local(2026, 3, 8, 1), local(2026, 3, 8, 4))],
        date(2026, 3, 15): [Interval(local(2026, 3, 15, 1), local(2026, 3, 15, 4))],
        # guide 1 can start 09:00–11:00, guide 2 11:15–12:00: one span
        date(2026, 3, 18): [Interval(local(2026, 3, 18, 9), local(2026, 3, 18, 13))],
        date(2026, 3, 22): [Interval(local(2026, 3, 22, 1), local(2026, 3, 22, 4))],
        # the tour 10:00–10:30 plus buffer leaves guide 1 the starts 10:45 and 11:00
        date(2026, 3, 25): [Interval(local(2026, 3, 25, 10, 45), local(2026, 3, 25, 13))],
        # 01:00 CET to 04:00 CEST: starts 01:00, 01:15, 01:30, 01:45, 03:00 (CEST) — two real hours
        date(2026, 3, 29): [Interval(utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))],
    }
    assert list(overview) == sorted(overview)  # dates ascending
    # 1 March is inside the lead time, 11 March a holiday; the 29 March span is two real hours.
    span = overview[date(2026, 3, 29)][0]
    assert span.end - span.start == 2 * HOUR


def test_month_overview_filters_by_language():
    de = month_overview(MARCH_RULES, march_guides(), 2026, 3, HOUR, MARCH_NOW, language="de")
    assert de[date(2026, 3, 18)] == [Interval(local(2026, 3, 18, 9), local(2026, 3, 18, 12))]
    assert de[date(2026, 3, 25)] == [Interval(local(2026, 3, 25, 10, 45), local(2026, 3, 25, 12))]
    assert date(2026, 3, 4) not in de
    en = month_overview(MARCH_RULES, march_guides(), 2026, 3, HOUR, MARCH_NOW, language="en")
    assert sorted(en) == [date(2026, 3, 4), date(2026, 3, 18), date(2026, 3, 25)]


def test_month_overview_of_a_longer_tour_drops_the_short_spring_night():
    overview = month_overview(MARCH_RULES, march_guides(), 2026, 3, timedelta(minutes=150), MARCH_NOW)
    assert overview == {
        date(2026, 3, 8): [Interval(local(2026, 3, 8, 1), local(2026, 3, 8, 4))],
        date(2026, 3, 15): [Interval(local(2026, 3, 15, 1), local(2026, 3, 15, 4))],
        date(2026, 3, 18): [Interval(local(2026, 3, 18, 9), local(2026, 3, 18, 12))],
        date(2026, 3, 22): [Interval(local(2026, 3, 22, 1), local(2026, 3, 22, 4))],
    }


def test_month_overview_keeps_separate_spans_when_a_grid_start_between_them_is_not_bookable():
    guides = [
        guide(1, windows=[window(WED, "09:00", "12:00")]),
        guide(2, windows=[window(WED, "11:30", "13:00")]),
    ]
    overview = month_overview(RULES, guides, 2026, 6, HOUR, local(2026, 6, 15))
    assert overview == {
        date(2026, 6, 17): [
            Interval(local(2026, 6, 17, 9), local(2026, 6, 17, 12)),  # starts 09:00–11:00
            Interval(local(2026, 6, 17, 11, 30), local(2026, 6, 17, 13)),  # starts 11:30–12:00
        ],
        date(2026, 6, 24): [
            Interval(local(2026, 6, 24, 9), local(2026, 6, 24, 12)),
            Interval(local(2026, 6, 24, 11, 30), local(2026, 6, 24, 13)),
        ],
    }


def test_month_overview_on_fall_back_day_counts_the_repeated_hour():
    sunday_night = [guide(windows=[window(SUN, "01:00", "04:00")])]
    now = local(2026, 10, 1)
    four_hours = month_overview(RULES, sunday_night, 2026, 10, 4 * HOUR, now)
    assert four_hours == {date(2026, 10, 25): [Interval(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))]}
    one_hour = month_overview(RULES, sunday_night, 2026, 10, HOUR, now)
    assert one_hour[date(2026, 10, 25)] == [Interval(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))]
    assert one_hour[date(2026, 10, 18)] == [Interval(local(2026, 10, 18, 1), local(2026, 10, 18, 4))]


def test_month_overview_respects_lead_time_and_horizon_within_a_day():
    wednesday = [guide(windows=[window(WED, "09:00", "12:00")])]
    after_lead = month_overview(RULES, wednesday, 2026, 6, HOUR, local(2026, 6, 9, 10, 10))
    assert after_lead[date(2026, 6, 10)] == [Interval(local(2026, 6, 10, 10, 15), local(2026, 6, 10, 12))]
    horizon_end = local(2026, 6, 10, 10, 40).astimezone(UTC)
    before_horizon = month_overview(RULES, wednesday, 2026, 6, HOUR, horizon_end - timedelta(days=120))
    assert before_horizon == {
        date(2026, 6, 3): [Interval(local(2026, 6, 3, 9), local(2026, 6, 3, 12))],
        date(2026, 6, 10): [Interval(local(2026, 6, 10, 9), local(2026, 6, 10, 11, 30))],
    }


def test_month_overview_is_empty_for_an_unbookable_duration_or_without_guides():
    assert month_overview(RULES, [guide()], 2026, 6, timedelta(minutes=59), local(2026, 5, 20)) == {}
    assert month_overview(RULES, [guide()], 2026, 6, 4 * HOUR + MINUTE, local(2026, 5, 20)) == {}
    assert month_overview(RULES, [], 2026, 6, HOUR, local(2026, 5, 20)) == {}


def test_month_overview_spans_agree_with_free_guides():
    guides = march_guides()
    overview = month_overview(MARCH_RULES, guides, 2026, 3, HOUR, MARCH_NOW)
    for spans in overview.values():
        for span in spans:
            start = span.start
            while start + HOUR <= span.end:
                assert free_guides(MARCH_RULES, guides, start, start + HOUR, MARCH_NOW), start
                start += timedelta(minutes=15)


def test_month_overview_keeps_a_start_exactly_one_buffer_before_a_tour_at_the_window_start():
    # 09:00–10:00 ends exactly one buffer before the tour at 10:15; 09:05 would not.
    wednesday = guide(
        windows=[window(WED, "09:00", "12:00")],
        tours=[Interval(local(2026, 6, 17, 10, 15), local(2026, 6, 17, 11))],
    )
    overview = month_overview(RULES, [wednesday], 2026, 6, HOUR, local(2026, 6, 15))
    assert overview[date(2026, 6, 17)] == [Interval(local(2026, 6, 17, 9), local(2026, 6, 17, 10))]


def test_a_single_start_fitting_exactly_between_two_tours_is_bookable():
    # 09:15–10:15 is one buffer after the first tour and one before the second.
    wednesday = guide(
        windows=[window(WED, "08:00", "13:00")],
        tours=[
            Interval(local(2026, 6, 17, 8), local(2026, 6, 17, 9)),
            Interval(local(2026, 6, 17, 10, 30), local(2026, 6, 17, 11, 30)),
        ],
    )
    overview = month_overview(RULES, [wednesday], 2026, 6, HOUR, local(2026, 6, 15))
    assert overview[date(2026, 6, 17)] == [
        Interval(local(2026, 6, 17, 9, 15), local(2026, 6, 17, 10, 15)),
        Interval(local(2026, 6, 17, 11, 45), local(2026, 6, 17, 13)),
    ]
    request = (local(2026, 6, 17, 10, 30), local(2026, 6, 17, 11, 30))
    alternatives = nearest_alternatives(RULES, [wednesday], *request, local(2026, 6, 15), limit=3)
    assert starts(alternatives) == [
        local(2026, 6, 17, 9, 15),
        local(2026, 6, 17, 11, 45),
        local(2026, 6, 17, 12),
    ]
