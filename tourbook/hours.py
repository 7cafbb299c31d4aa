"""Guides' hours: the services that change windows, absences and holiday opt-ins, and the loader that
hands the availability engine exactly the rows that can matter for a time range."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
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


# A tour blocks its guide from starts_at to blocked_until: at most the longest tour a city allows (12 h, the
# cities' check constraint on max_duration_minutes) plus the longest buffer (4 h, likewise).
LONGEST_BLOCK = timedelta(hours=12 + 4)


class Fairness(NamedTuple):
    """What the fairness rule asks of a guide, and the version of their tours it was read with."""

    tours_around: int  # blocking tours starting in the range ``around``
    last_assigned: datetime | None  # None: never assigned
    tours_version: int  # users.feed_version: counted up by the database with every change of their tours


@dataclass(frozen=True, slots=True)
class EngineInput:
    rules: CityRules
    guides: list[GuideCalendar]
    fairness: dict[int, Fairness] = field(default_factory=dict)  # with ``around``: per guide loaded


# The loader's statements are built once (Core, bound parameters): building, coercing and caching a select
# with a few hundred literal ids on every call cost more than running it.
_users, _windows, _absences = User.__table__.c, AvailabilityWindow.__table__.c, Absence.__table__.c
_tours, _opt_ins = Tour.__table__.c, HolidayOptIn.__table__.c


def _instant(column: ColumnElement, dialect: str) -> ColumnElement:
    """How the loader reads an instant. SQLite keeps naive UTC text (models.UTCDateTime): read it with
    "+00:00" appended, so that one datetime.fromisoformat makes it aware; UTCDateTime's parse-then-
    ``replace(tzinfo=UTC)`` costs three times as much, and with thousands of rows more than the query.
    Other databases hand over aware datetimes, made UTC in the loop."""
    if dialect == "sqlite":
        return type_coerce(column, String()).concat("+00:00")
    return type_coerce(column, DateTime(timezone=True))


def among(column: ColumnElement, name: str, dialect: str) -> ColumnElement:
    """``column IN`` the list of integers in parameter ``name``. PostgreSQL gets one array parameter
    (``= ANY``): the statement text stays the same whatever the list, so neither SQLAlchemy nor psycopg
    render and parse a placeholder per id, and the server can keep the prepared statement."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Integer)))
    return column.in_(bindparam(name, expanding=True))


def _tours_overlapping(of_guides: ColumnElement) -> list[ColumnElement]:
    """The conditions for blocking tours of the guides ``of_guides`` selects that overlap
    [range_start, range_end), except the tour ``exclude_tour_id``."""
    return [
        of_guides,
        _tours.status.in_(BLOCKING_STATES),
        # Both ends on starts_at, so that the index (guide_id, starts_at) reads only the range, not every
        # tour before it: a tour blocks its guide for less than LONGEST_BLOCK after it starts.
        _tours.starts_at > bindparam("tours_from"),
        _tours.starts_at < bindparam("range_end"),
        _tours.blocked_until > bindparam("range_start"),
        _tours.id != bindparam("exclude_tour_id"),
    ]


# What a row of the calendars statement is: kind first, then the columns of windows or of absences and tours,
# and with fairness three more: the guide's tours in the range around, their last assignment and the version
# of their tours (read in the same snapshot as the tours).
WINDOW, ABSENCE, TOUR, FAIRNESS = 0, 1, 2, 3


@cache
def _loader_statements(dialect: str, by_ids: bool, by_weekday: bool, covering: bool, fairness: bool = False
                       ) -> dict[str, Select]:
    """The loader's queries. ``calendars`` is one statement for the windows and the guides they give, with
    those guides' absences and tours (a UNION ALL with the kind first, so one round trip instead of
    three). ``by_ids``: only the guides in the list parameter ``ids``; ``by_weekday``: only windows on the
    weekdays in ``weekdays``; ``covering``: only windows from ``from_minute`` or earlier until
    ``until_minute`` or later; ``fairness``: also one row per guide with what the fairness rule asks (blocking
    tours starting from ``around_from`` until before ``around_to``; the last assignment, one probe of the
    index on guide and assignment; ``users.feed_version``, read with the windows, not by a probe of its own).
    ``opt_ins`` reads the holiday opt-ins of the guides in ``found``."""
    windows = (
        select(
            _users.id, _users.guide_languages, _users.daily_limit, _users.weekly_limit, _windows.weekday,
            _windows.start_minute, _windows.end_minute, _windows.valid_from, _windows.valid_until,
            *([_users.feed_version] if fairness else []),
        )
        .join_from(AvailabilityWindow.__table__, User.__table__, _windows.guide_id == _users.id)
        .where(
            _users.city_id == bindparam("city_id"),
            _users.role == Role.GUIDE.value,
            _users.active.is_(True),
            or_(_windows.valid_from.is_(None), _windows.valid_from <= bindparam("last")),
            or_(_windows.valid_until.is_(None), _windows.valid_until >= bindparam("first")),
        )
    )
    if by_ids:
        windows = windows.where(among(_users.id, "ids", dialect))
    if by_weekday:
        windows = windows.where(among(_windows.weekday, "weekdays", dialect))
    if covering:
        windows = windows.where(
            _windows.start_minute <= bindparam("from_minute"),
            _windows.end_minute >= bindparam("until_minute"),
        )
    found = windows.cte("found_windows")  # read once, by the three parts
    guides = select(found.c.id)
    window_columns = [c for c in found.c if c.name != "feed_version"]
    instant = String() if dialect == "sqlite" else DateTime(timezone=True)
    no_instant = cast(null(), instant)
    # In place of languages, daily and weekly limit, weekday, start and end minute, valid_from, valid_until:
    no_window = [cast(null(), String())] + [cast(null(), Integer())] * 5 + [cast(null(), Date())] * 2
    no_fairness = [cast(null(), Integer()), no_instant, cast(null(), Integer())] if fairness else []
    parts = [
        select(literal_column(str(WINDOW), Integer()), *window_columns, no_instant, no_instant, *no_fairness),
        select(literal_column(str(ABSENCE), Integer()), _absences.guide_id, *no_window,
               _instant(_absences.starts_at, dialect), _instant(_absences.ends_at, dialect), *no_fairness).where(
            _absences.guide_id.in_(guides),
            _absences.starts_at < bindparam("range_end"),
            _absences.ends_at > bindparam("range_start"),
        ),
        select(literal_column(str(TOUR), Integer()), _tours.guide_id, *no_window,
               _instant(_tours.starts_at, dialect), _instant(_tours.ends_at, dialect), *no_fairness).where(
            *_tours_overlapping(_tours.guide_id.in_(guides))
        ),
    ]
    if fairness:
        # The version comes with the guide's row that the windows were joined with (same snapshot as the tours).
        guide = select(found.c.id, found.c.feed_version).distinct().subquery("fair")
        load = select(func.count()).where(
            _tours.guide_id == guide.c.id, _tours.status.in_(BLOCKING_STATES),
            _tours.starts_at >= bindparam("around_from"), _tours.starts_at < bindparam("around_to"),
        ).scalar_subquery()
        last = select(func.max(_tours.assigned_at)).where(_tours.guide_id == guide.c.id).scalar_subquery()
        parts.append(select(literal_column(str(FAIRNESS), Integer()), guide.c.id, *no_window, no_instant,
                            no_instant, load, _instant(last, dialect), guide.c.feed_version))
    calendars = union_all(*parts)  # in any order: sorting thousands of rows would cost the server more
    return {
        "calendars": calendars,
        "opt_ins": select(_opt_ins.guide_id, _opt_ins.day).where(
            among(_opt_ins.guide_id, "found", dialect), _opt_ins.day >= bindparam("first"),
            _opt_ins.day <= bindparam("last"),
        ),
    }


@lru_cache(maxsize=8192)
def _window(weekday: int, start: int, end: int, valid_from: date | None, valid_until: date | None) -> Window:
    """Windows change seldom: the same row gives the same (immutable) Window without building it again."""
    return Window(weekday, time(start // 60, start % 60), time(end // 60, end % 60), valid_from, valid_until)


_from_text = datetime.fromisoformat


def _to_utc(instant: datetime) -> datetime:
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


def _instant_reader(dialect: str):  # noqa: ANN202
    """How the loader's instants (see _instant) become aware UTC datetimes."""
    return _from_text if dialect == "sqlite" else _to_utc


def _range_params(zone: ZoneInfo, first: date, last: date, buffer: timedelta, exclude_tour_id: int | None) -> dict:
    """The parameters of the absences and tours that count for [first, last] (see _tours_overlapping)."""
    range_start, range_end = _blocking_range(zone, first, last, buffer)
    return {"range_start": range_start, "range_end": range_end, "tours_from": range_start - LONGEST_BLOCK,
            "exclude_tour_id": exclude_tour_id or 0}


def _steady(day: date, zone: ZoneInfo) -> bool:
    """The date has 24 real hours: no daylight-saving change."""
    midnight = datetime.combine(day, time(), zone).astimezone(UTC)
    following = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
    return following - midnight == timedelta(days=1)


@lru_cache(maxsize=256)
def _languages(codes: str) -> frozenset[str]:
    return frozenset(code for code in codes.split(",") if code)


def load_engine_input(
    session: Session, city: City, start: datetime, end: datetime, *, exclude_tour_id: int | None = None,
    guide_ids: list[int] | None = None, covering: bool = False, around: tuple[datetime, datetime] | None = None,
) -> EngineInput:
    """Rules and guide calendars for questions about [start, end) in ``city``.

    Only rows that can matter are loaded: the active guides who have a window valid on one of the local
    dates touched (nobody else can be free then), those windows, and the absences and tours overlapping the
    ISO weeks touched (for the weekly limit) widened by the buffer, holiday opt-ins when there is a holiday.
    Cost does not grow with history. Instants come out as aware UTC datetimes.

    ``covering=True`` is for the question whether a guide is free for [start, end) itself (free_guides on
    exactly this interval, not on other intervals within it): then only guides with a window holding the
    whole interval are loaded, usually a fraction of them. (On a date when the clocks change, and for an
    interval over midnight, wall-clock minutes do not compare simply; there all windows of the date load.)

    ``around`` (from, until): also what the fairness rule asks of each guide loaded, in the same statement
    (``EngineInput.fairness``)."""
    zone = ZoneInfo(city.timezone)
    local_start, local_end = start.astimezone(zone), end.astimezone(zone)
    first, last = local_start.date(), local_end.date()
    rules = city_rules(city, first, last)
    if guide_ids is not None and not guide_ids:
        return EngineInput(rules, [])
    days = (last - first).days + 1
    session.flush()  # Core statements do not autoflush; the caller's pending changes must count
    connection = session.connection()
    covering = covering and first == last and _steady(first, zone)
    statements = _loader_statements(
        connection.dialect.name, guide_ids is not None, days < 7, covering, around is not None
    )
    params: dict = {"city_id": city.id, "first": first, "last": last}
    if covering:
        params["from_minute"] = local_start.hour * 60 + local_start.minute
        params["until_minute"] = (  # rounded up: a window ending 11:00 does not hold an end at 11:00:30
            local_end.hour * 60 + local_end.minute + bool(local_end.second or local_end.microsecond)
        )
    if guide_ids is not None:
        params["ids"] = list(guide_ids)
    if days < 7:
        params["weekdays"] = sorted({(first + timedelta(days=i)).weekday() for i in range(days)})
    if around is not None:
        params["around_from"], params["around_to"] = around

    params.update(_range_params(zone, first, last, rules.buffer, exclude_tour_id))
    guides: dict[int, tuple[str, int, int]] = {}
    windows: dict[int, list[Window]] = {}
    absences: dict[int, list[Interval]] = {}
    tours: dict[int, list[Interval]] = {}
    fairness: dict[int, Fairness] = {}
    parse = _instant_reader(connection.dialect.name)
    rows = connection.execute(statements["calendars"], params).all()  # one fetch, not one per row
    for row in rows:  # the windows first: they make the guides
        if row[0] == WINDOW:
            guide_id = row[1]
            if guide_id not in guides:
                guides[guide_id] = row[2:5]  # languages, daily and weekly limit
                windows[guide_id] = []
                absences[guide_id] = []
                tours[guide_id] = []
            windows[guide_id].append(_window(*row[5:10]))
    if not guides:
        return EngineInput(rules, [])
    for row in rows:
        kind, guide_id = row[0], row[1]
        if kind == FAIRNESS:
            fairness[guide_id] = Fairness(row[12], None if row[13] is None else parse(row[13]), row[14])
        elif kind != WINDOW:
            (absences if kind == ABSENCE else tours)[guide_id].append(Interval(parse(row[10]), parse(row[11])))
    params["found"] = list(guides)
    opt_ins: dict[int, set[date]] = {}
    if rules.holidays:
        for guide_id, day in connection.execute(statements["opt_ins"], params):
            opt_ins.setdefault(guide_id, set()).add(day)  # a guide without a window is left out below

    return EngineInput(rules, [
        GuideCalendar(
            guide_id=guide_id,
            windows=tuple(windows[guide_id]),
            absences=tuple(absences[guide_id]),
            tours=tuple(tours[guide_id]),
            holiday_opt_ins=frozenset(opt_ins.get(guide_id, ())),
            daily_limit=daily_limit,
            weekly_limit=weekly_limit,
            languages=_languages(codes),
        )
        for guide_id, (codes, daily_limit, weekly_limit) in sorted(guides.items())  # by id, as always
    ], fairness)


def _blocking_range(zone: ZoneInfo, first: date, last: date, buffer: timedelta) -> tuple[datetime, datetime]:
    """The instants whose tours and absences count for [first, last]: the ISO weeks touched (for the weekly
    limit), widened by the buffer."""
    week_start = first - timedelta(days=first.weekday())
    week_end = last + timedelta(days=7 - last.weekday())
    return (datetime.combine(week_start, time(), zone).astimezone(UTC) - buffer,
            datetime.combine(week_end, time(), zone).astimezone(UTC) + buffer)


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


def calendar_changed(session: Session, guide_id: int) -> None:
    """A change of the guide's hours (windows, absences, holidays, languages, limits) counts up
    ``users.feed_version`` as a change of their tours does (by triggers), in the changing transaction, and
    locks their row until it ends: a booking that chose the guide on what it read before waits for the lock,
    then finds the count moved and reads their calendar again (services._still_free). Call it after the
    change's checks and, when tours are locked too, after them (tours first, then guides)."""
    session.execute(update(User).where(User.id == guide_id).values(feed_version=User.feed_version + 1))


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
    calendar_changed(session, guide.id)
    window = AvailabilityWindow(
        guide_id=guide.id, weekday=weekday, start_minute=start_minute, end_minute=end_minute,
        valid_from=valid_from, valid_until=valid_until,
    )
    session.add(window)
    record(session, actor, "window_added", window, city_id=guide.city_id, guide_id=guide.id, weekday=weekday,
           start=start.isoformat("minutes"), end=end.isoformat("minutes"))
    return window


def remove_window(session: Session, actor: User, window: AvailabilityWindow) -> None:
    calendar_changed(session, window.guide_id)
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


def checked_absence(city: City, first_day: date, last_day: date, start: time | None, end: time | None
                    ) -> tuple[datetime, datetime]:
    """The instants of an absence; HoursError when the days or times cannot be one."""
    if last_day < first_day:
        raise HoursError("last_day", "order")
    if (last_day - first_day).days > 366:
        raise HoursError("last_day", "too_long")
    if first_day < date(2000, 1, 1) or last_day > date(2100, 12, 31):
        raise HoursError("first_day", "out_of_range")
    starts_at, ends_at = absence_instants(city, first_day, last_day, start, end)
    if ends_at <= starts_at:
        raise HoursError("end_time", "order")
    return starts_at, ends_at


def add_absence(
    session: Session, actor: User, guide: User, first_day: date, last_day: date, start: time | None,
    end: time | None, reason: str,
) -> Absence:
    starts_at, ends_at = checked_absence(session.get(City, guide.city_id), first_day, last_day, start, end)
    calendar_changed(session, guide.id)
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
    calendar_changed(session, absence.guide_id)
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
    calendar_changed(session, guide.id)
    record(session, actor, "holiday_opt_in" if works else "holiday_opt_out", guide, city_id=guide.city_id,
           day=day.isoformat())
