"""Guides' hours: the services that change windows, absences and holiday opt-ins, and the loader that
hands the availability engine exactly the rows that can matter for a time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .availability import CityRules, GuideCalendar, Interval, Window
from .models import (
    BLOCKING_STATES,
    Absence,
    AvailabilityWindow,
    City,
    HolidayOptIn,
    Role,
    Tour,
    User,
    record,
)


class HoursError(Exception):
    """A change to a guide's hours that the rules do not allow; ``field`` names the form field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def minute_of(value: time) -> int:
    return value.hour * 60 + value.minute


def time_of(minute: int) -> time:
    return time(minute // 60, minute % 60)


# --- public holidays ------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _holidays_of_year(country: str, subdivision: str | None, year: int, language: str) -> dict[date, str]:
    return dict(holiday_calendars.country_holidays(country, subdiv=subdivision, years=year, language=language))


def public_holidays(city: City, first: date, last: date, language: str = "en") -> dict[date, str]:
    """The city's public holidays between two dates (inclusive), with their names in ``language``."""
    found: dict[date, str] = {}
    lang = "de" if language == "de" else "en_US"
    for year in range(first.year, last.year + 1):
        for day, name in _holidays_of_year(city.holiday_country, city.holiday_subdivision, year, lang).items():
            if first <= day <= last:
                found[day] = name
    return found


def city_rules(city: City, first: date, last: date) -> CityRules:
    return CityRules(
        timezone=city.timezone,
        lead_time=timedelta(hours=city.lead_time_hours),
        horizon=timedelta(days=city.horizon_days),
        min_duration=timedelta(minutes=city.min_duration_minutes),
        max_duration=timedelta(minutes=city.max_duration_minutes),
        buffer=timedelta(minutes=city.buffer_minutes),
        holidays=frozenset(public_holidays(city, first, last)),
    )


# --- loading the engine's input -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EngineInput:
    rules: CityRules
    guides: list[GuideCalendar]


def load_engine_input(
    session: Session, city: City, start: datetime, end: datetime, *, exclude_tour_id: int | None = None,
    guide_ids: list[int] | None = None,
) -> EngineInput:
    """Rules and guide calendars for questions about [start, end) in ``city``.

    Only rows that can matter are loaded: windows valid on the local dates touched (and only their
    weekdays when the range is shorter than a week), absences and tours overlapping the range widened by
    the ISO weeks around it (for the weekly limit) and the buffer. Cost does not grow with history."""
    zone = ZoneInfo(city.timezone)
    first = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    # The weekly limit counts the whole ISO weeks touched.
    week_start = first - timedelta(days=first.weekday())
    week_end = last + timedelta(days=7 - last.weekday())
    range_start = datetime.combine(week_start, time(), zone) - timedelta(days=1)
    range_end = datetime.combine(week_end, time(), zone) + timedelta(days=1)

    guide_query = select(User.id, User.guide_languages, User.daily_limit, User.weekly_limit).where(
        User.city_id == city.id, User.role == Role.GUIDE, User.active.is_(True)
    )
    if guide_ids is not None:
        guide_query = guide_query.where(User.id.in_(guide_ids))
    guides = session.execute(guide_query.order_by(User.id)).all()
    ids = [g.id for g in guides]
    if not ids:
        return EngineInput(city_rules(city, first, last), [])

    days = (last - first).days + 1
    window_query = select(
        AvailabilityWindow.guide_id, AvailabilityWindow.weekday, AvailabilityWindow.start_minute,
        AvailabilityWindow.end_minute, AvailabilityWindow.valid_from, AvailabilityWindow.valid_until,
    ).where(
        AvailabilityWindow.guide_id.in_(ids),
        or_(AvailabilityWindow.valid_from.is_(None), AvailabilityWindow.valid_from <= last),
        or_(AvailabilityWindow.valid_until.is_(None), AvailabilityWindow.valid_until >= first),
    )
    if days < 7:
        weekdays = {(first + timedelta(days=i)).weekday() for i in range(days)}
        window_query = window_query.where(AvailabilityWindow.weekday.in_(weekdays))
    windows: dict[int, list[Window]] = {i: [] for i in ids}
    for row in session.execute(window_query):
        windows[row.guide_id].append(
            Window(row.weekday, time_of(row.start_minute), time_of(row.end_minute), row.valid_from, row.valid_until)
        )

    absences: dict[int, list[Interval]] = {i: [] for i in ids}
    for row in session.execute(
        select(Absence.guide_id, Absence.starts_at, Absence.ends_at).where(
            Absence.guide_id.in_(ids), Absence.starts_at < range_end, Absence.ends_at > range_start
        )
    ):
        absences[row.guide_id].append(Interval(row.starts_at, row.ends_at))

    tours: dict[int, list[Interval]] = {i: [] for i in ids}
    tour_query = select(Tour.guide_id, Tour.starts_at, Tour.ends_at).where(
        Tour.guide_id.in_(ids),
        Tour.status.in_(BLOCKING_STATES),
        Tour.starts_at < range_end,
        Tour.blocked_until > range_start,
    )
    if exclude_tour_id is not None:
        tour_query = tour_query.where(Tour.id != exclude_tour_id)
    for row in session.execute(tour_query):
        tours[row.guide_id].append(Interval(row.starts_at, row.ends_at))

    opt_ins: dict[int, set[date]] = {i: set() for i in ids}
    for row in session.execute(
        select(HolidayOptIn.guide_id, HolidayOptIn.day).where(
            HolidayOptIn.guide_id.in_(ids), HolidayOptIn.day >= first, HolidayOptIn.day <= last
        )
    ):
        opt_ins[row.guide_id].add(row.day)

    calendars = [
        GuideCalendar(
            guide_id=g.id,
            windows=tuple(windows[g.id]),
            absences=tuple(absences[g.id]),
            tours=tuple(tours[g.id]),
            holiday_opt_ins=frozenset(opt_ins[g.id]),
            daily_limit=g.daily_limit,
            weekly_limit=g.weekly_limit,
            languages=frozenset(code for code in g.guide_languages.split(",") if code),
        )
        for g in guides
    ]
    return EngineInput(city_rules(city, first, last), calendars)


# --- changing a guide's hours ---------------------------------------------------------------------

EARLIEST = time(6, 0)
LATEST = time(22, 0)


def _check_quarter_hours(field: str, value: time) -> None:
    if value.minute % 15 or value.second:
        raise HoursError(field, "quarter")
    if value < EARLIEST or value > LATEST:
        raise HoursError(field, "range")


def _periods_overlap(a_from: date | None, a_until: date | None, b_from: date | None, b_until: date | None) -> bool:
    return (a_until is None or b_from is None or b_from <= a_until) and (
        b_until is None or a_from is None or a_from <= b_until
    )


def add_window(
    session: Session, actor: User, guide: User, weekday: int, start: time, end: time,
    valid_from: date | None = None, valid_until: date | None = None,
) -> AvailabilityWindow:
    """Add a weekly window. Raises HoursError with a message code: quarter, range, order, validity, overlap."""
    _check_quarter_hours("start", start)
    _check_quarter_hours("end", end)
    if end <= start:
        raise HoursError("end", "order")
    if valid_from and valid_until and valid_until < valid_from:
        raise HoursError("valid_until", "validity")
    start_minute, end_minute = minute_of(start), minute_of(end)
    for other in session.execute(
        select(AvailabilityWindow).where(
            AvailabilityWindow.guide_id == guide.id, AvailabilityWindow.weekday == weekday
        )
    ).scalars():
        if (
            other.start_minute < end_minute
            and start_minute < other.end_minute
            and _periods_overlap(valid_from, valid_until, other.valid_from, other.valid_until)
        ):
            raise HoursError("start", "overlap")
    window = AvailabilityWindow(
        guide_id=guide.id, weekday=weekday, start_minute=start_minute, end_minute=end_minute,
        valid_from=valid_from, valid_until=valid_until,
    )
    session.add(window)
    record(session, actor, "window_added", window, city_id=guide.city_id, guide_id=guide.id, weekday=weekday,
           start=start.isoformat("minutes"), end=end.isoformat("minutes"))
    return window


def remove_window(session: Session, actor: User, window: AvailabilityWindow) -> None:
    guide = session.get(User, window.guide_id)
    record(session, actor, "window_removed", window, city_id=guide.city_id if guide else None,
           guide_id=window.guide_id)
    session.delete(window)


def absence_instants(city: City, first_day: date, last_day: date, start: time | None, end: time | None
                     ) -> tuple[datetime, datetime]:
    zone = ZoneInfo(city.timezone)
    starts_at = datetime.combine(first_day, start or time(), zone)
    ends_at = (
        datetime.combine(last_day, end, zone) if end is not None
        else datetime.combine(last_day + timedelta(days=1), time(), zone)
    )
    return starts_at, ends_at


def tours_hit_by(session: Session, guide_id: int, starts_at: datetime, ends_at: datetime) -> list[Tour]:
    """The guide's tours that an absence over [starts_at, ends_at) would hit."""
    return list(
        session.execute(
            select(Tour)
            .where(
                Tour.guide_id == guide_id,
                Tour.status == "confirmed",
                and_(Tour.starts_at < ends_at, Tour.ends_at > starts_at),
            )
            .order_by(Tour.starts_at)
        ).scalars()
    )


def add_absence(
    session: Session, actor: User, guide: User, first_day: date, last_day: date, start: time | None,
    end: time | None, reason: str,
) -> Absence:
    if last_day < first_day:
        raise HoursError("last_day", "order")
    if (last_day - first_day).days > 366:
        raise HoursError("last_day", "too_long")
    city = session.get(City, guide.city_id)
    starts_at, ends_at = absence_instants(city, first_day, last_day, start, end)
    if ends_at <= starts_at:
        raise HoursError("end_time", "order")
    absence = Absence(
        guide_id=guide.id, first_day=first_day, last_day=last_day,
        start_minute=minute_of(start) if start else None, end_minute=minute_of(end) if end else None,
        starts_at=starts_at, ends_at=ends_at, reason=reason,
    )
    session.add(absence)
    record(session, actor, "absence_added", absence, city_id=guide.city_id, guide_id=guide.id,
           first_day=first_day.isoformat(), last_day=last_day.isoformat(), reason=reason)
    return absence


def remove_absence(session: Session, actor: User, absence: Absence) -> None:
    guide = session.get(User, absence.guide_id)
    record(session, actor, "absence_removed", absence, city_id=guide.city_id if guide else None,
           guide_id=absence.guide_id)
    session.delete(absence)


def set_holiday_opt_in(session: Session, actor: User, guide: User, day: date, works: bool) -> None:
    existing = session.execute(
        select(HolidayOptIn).where(HolidayOptIn.guide_id == guide.id, HolidayOptIn.day == day)
    ).scalar_one_or_none()
    if works and existing is None:
        session.add(HolidayOptIn(guide_id=guide.id, day=day))
    elif not works and existing is not None:
        session.delete(existing)
    else:
        return
    record(session, actor, "holiday_opt_in" if works else "holiday_opt_out", guide, city_id=guide.city_id,
           day=day.isoformat())
