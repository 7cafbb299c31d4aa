"""When is a guide free? The pure availability engine (no Flask, no database).

Conventions used throughout:

- Instants are timezone-aware datetimes in any zone and are compared as instants; naive datetimes are
  rejected with ``ValueError``. Intervals are half-open ``[start, end)``. Every ``Interval`` this module
  returns holds UTC datetimes (convert with ``astimezone`` for display). Inputs in UTC are the fastest.
- Weekly windows, holidays and the daily and weekly limits live in the city's local time
  (``CityRules.timezone``). A local wall-clock time becomes an instant with ``fold=0``: a time that does
  not exist (spring forward) moves forward by the gap (02:30 → 03:30 CEST), an ambiguous time (fall back)
  takes its first occurrence (02:30 CEST).
- A tour belongs to the local date on which it starts; ISO weeks run Monday 00:00 to Monday 00:00 local.
- Start-time grid (``nearest_alternatives``, ``month_overview``): on a local date, the instants from local
  midnight in steps of 15 real minutes up to the next local midnight. Where UTC offsets change by whole
  quarter hours (all of Europe) these are exactly the local wall-clock times hh:00, hh:15, hh:30, hh:45 that
  exist that day: on the spring-forward day 02:00–02:45 are missing, on the fall-back day the quarters of
  the repeated hour appear twice (CEST, then CET).
"""

import calendar
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

__all__ = [
    "ALTERNATIVE_DAYS",
    "GRID_STEP",
    "CityRules",
    "GuideCalendar",
    "Interval",
    "Window",
    "check_interval",
    "free_guides",
    "local_window_instants",
    "month_overview",
    "nearest_alternatives",
]

GRID_STEP = timedelta(minutes=15)
ALTERNATIVE_DAYS = 7  # nearest_alternatives looks this many days before and after the requested day

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
_STEP = GRID_STEP // _ONE_US
_DAY_US = _ONE_DAY // _ONE_US
_MISSING = object()
_LENGTH_PROBLEMS = frozenset({"end_before_start", "too_short", "too_long"})


@dataclass(frozen=True, slots=True)
class CityRules:
    timezone: str  # IANA name, e.g. "Europe/Berlin"
    lead_time: timedelta = timedelta(hours=24)
    horizon: timedelta = timedelta(days=120)
    min_duration: timedelta = timedelta(minutes=60)
    max_duration: timedelta = timedelta(hours=4)
    buffer: timedelta = timedelta(minutes=15)
    holidays: frozenset[date] = frozenset()  # public holidays (local dates) of the city's region


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly availability window in local wall-clock time; a window whose end is not after its start
    is empty (windows do not run past midnight)."""

    weekday: int  # 0 = Monday … 6 = Sunday
    start: time
    end: time
    valid_from: date | None = None  # inclusive
    valid_until: date | None = None  # inclusive


@dataclass(frozen=True, slots=True)
class Interval:
    """Half-open ``[start, end)`` between two aware datetimes (any zone, compared as instants)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class GuideCalendar:
    """Everything about one guide that decides when they are free."""

    guide_id: int
    windows: tuple[Window, ...] = ()
    absences: tuple[Interval, ...] = ()  # already converted to instants by the caller
    tours: tuple[Interval, ...] = ()  # the guide's active (not cancelled) tours, without the one being moved
    holiday_opt_ins: frozenset[date] = frozenset()  # local dates the guide works despite a holiday
    daily_limit: int | None = None  # max tours per local date
    weekly_limit: int | None = None  # max tours per ISO week (Mon–Sun, local)
    languages: frozenset[str] = frozenset()


# --- small conversions -------------------------------------------------------------------------------


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def _us(value: datetime) -> int:
    """Microseconds since the epoch: exact integers make interval arithmetic cheap and fold-proof."""
    return (value - _EPOCH) // _ONE_US


def _wall_us(wall: time) -> int:
    """A wall-clock time as microseconds after midnight."""
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _zone(tz: tzinfo | str) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _local_instant(day: date, wall: time, tz: tzinfo) -> datetime:
    """``wall`` on ``day`` in ``tz`` as a UTC instant; fold=0 resolves gaps forward and ambiguity to the
    first occurrence (zoneinfo applies the offset in force before the transition)."""
    local = datetime(
        day.year, day.month, day.day, wall.hour, wall.minute, wall.second, wall.microsecond, tzinfo=tz
    )
    return local.astimezone(UTC)


def _day_and_week(day: date, zone: tzinfo) -> tuple[datetime, datetime, datetime, datetime]:
    """Start and end instants of the local date and of its ISO week."""
    monday = day - timedelta(days=day.weekday())
    return (
        _local_instant(day, time(), zone),
        _local_instant(day + _ONE_DAY, time(), zone),
        _local_instant(monday, time(), zone),
        _local_instant(monday + timedelta(days=7), time(), zone),
    )


def _valid_on(window: Window, day: date) -> bool:
    return (window.valid_from is None or window.valid_from <= day) and (
        window.valid_until is None or day <= window.valid_until
    )


# --- public API ----------------------------------------------------------------------------------------


def local_window_instants(window: Window, day: date, tz: tzinfo | str) -> Interval | None:
    """The window on the local date ``day`` as UTC instants, or None when it does not apply that day
    (other weekday, outside valid_from/valid_until) or is empty.

    Daylight saving: wall-clock times stay wall-clock times, so 09:00–12:00 is 09:00 local on both sides of
    a change; on the spring-forward day 01:00–04:00 is two real hours, on the fall-back day four.
    """
    if day.weekday() != window.weekday or not _valid_on(window, day):
        return None
    zone = _zone(tz)
    start = _local_instant(day, window.start, zone)
    end = _local_instant(day, window.end, zone)
    if end <= start:
        return None
    return Interval(start, end)


def check_interval(rules: CityRules, start: datetime, end: datetime, now: datetime) -> str | None:
    """None when the city rules allow booking ``[start, end)`` at ``now``, else the first problem found:
    "end_before_start" (end not after start), "too_short", "too_long" (real duration outside
    min/max_duration), "too_soon" (start before now + lead_time), "too_far" (start after now + horizon).
    The edges themselves are allowed."""
    return _interval_problem(
        rules, _aware_utc(start, "start"), _aware_utc(end, "end"), _aware_utc(now, "now")
    )


def _interval_problem(rules: CityRules, start: datetime, end: datetime, now: datetime) -> str | None:
    """check_interval on UTC datetimes (so that subtraction measures real time)."""
    if end <= start:
        return "end_before_start"
    duration = end - start
    if duration < rules.min_duration:
        return "too_short"
    if duration > rules.max_duration:
        return "too_long"
    if start < now + rules.lead_time:
        return "too_soon"
    if start > now + rules.horizon:
        return "too_far"
    return None


def free_guides(
    rules: CityRules,
    guides: Iterable[GuideCalendar],
    start: datetime,
    end: datetime,
    now: datetime,
    language: str | None = None,
) -> list[int]:
    """Ids (ascending, without repeats) of the guides free for the whole of ``[start, end)``; empty when
    check_interval fails.

    A guide is free when the interval lies inside one window valid on its local start date; that date is
    no holiday, or one the guide opted into; no absence overlaps it; every other tour is at least
    rules.buffer away (exactly the buffer is fine); they have fewer than daily_limit tours on that date and
    fewer than weekly_limit in its ISO week; and, when ``language`` is given, they speak it.
    """
    start = _aware_utc(start, "start")
    end = _aware_utc(end, "end")
    if _interval_problem(rules, start, end, _aware_utc(now, "now")) is not None:
        return []
    zone = ZoneInfo(rules.timezone)
    day = start.astimezone(zone).date()
    weekday = day.weekday()
    is_holiday = day in rules.holidays
    # A tour clashes when it ends after too_close_from and starts before too_close_until.
    too_close_from = start - rules.buffer
    too_close_until = end + rules.buffer
    window_spans: dict[tuple[time, time], Interval | None] = {}
    day_bounds: tuple[datetime, datetime, datetime, datetime] | None = None

    free: set[int] = set()
    for guide in guides:
        if language is not None and language not in guide.languages:
            continue
        if is_holiday and day not in guide.holiday_opt_ins:
            continue
        inside = False
        for window in guide.windows:
            if window.weekday != weekday or not _valid_on(window, day):
                continue
            key = (window.start, window.end)
            span = window_spans.get(key, _MISSING)
            if span is _MISSING:
                span = window_spans[key] = local_window_instants(window, day, zone)
            if span is not None and span.start <= start and end <= span.end:
                inside = True
                break
        if not inside:
            continue
        if any(absence.start < end and absence.end > start for absence in guide.absences):
            continue

        daily_limit, weekly_limit = guide.daily_limit, guide.weekly_limit
        counting = daily_limit is not None or weekly_limit is not None
        if counting:
            if day_bounds is None:
                day_bounds = _day_and_week(day, zone)
            day_from, day_until, week_from, week_until = day_bounds
        on_day = in_week = 0
        clash = False
        for tour in guide.tours:
            tour_start = tour.start
            if tour_start < too_close_until and tour.end > too_close_from:
                clash = True
                break
            if counting:
                if day_from <= tour_start < day_until:
                    on_day += 1
                if week_from <= tour_start < week_until:
                    in_week += 1
        if clash:
            continue
        if daily_limit is not None and on_day >= daily_limit:
            continue
        if weekly_limit is not None and in_week >= weekly_limit:
            continue
        free.add(guide.guide_id)
    return sorted(free)


def nearest_alternatives(
    rules: CityRules,
    guides: Iterable[GuideCalendar],
    start: datetime,
    end: datetime,
    now: datetime,
    language: str | None = None,
    limit: int = 5,
    spread: bool = False,
) -> list[Interval]:
    """Up to ``limit`` intervals as long as ``[start, end)`` that check_interval accepts and at least one
    guide is free for, nearest first; the requested interval itself is never among them.

    Candidates start on the 15-minute grid (see the module docstring) of the requested local date, then of
    the dates one day after, one before, two after, two before … up to ALTERNATIVE_DAYS. All candidates of a
    date come before those of the next date in that order; within a date they are ordered by real distance
    from the requested start moved to that date (the same local wall-clock time there), earlier first on a
    tie. Empty when the length itself is not bookable (too short or too long).

    ``spread=True`` keeps at most two of a date: its nearest, and the nearest on the other side of the
    requested time (none when the nearest is that time itself). Choices for a person: five starts a quarter
    of an hour apart on one afternoon say less than the latest start that day and the nearest ones on the
    following days.
    """
    start = _aware_utc(start, "start")
    end = _aware_utc(end, "end")
    now = _aware_utc(now, "now")
    if limit <= 0 or _interval_problem(rules, start, end, now) in _LENGTH_PROBLEMS:
        return []
    duration = end - start
    search = _StartSearch(rules, _speaking(guides, language), duration, now)
    local_start = start.astimezone(search.zone)
    first_day = local_start.date()
    wall = local_start.time()  # naive, fold=0: the same wall-clock time on other dates
    requested = _us(start)

    found: list[Interval] = []
    for offset in _day_offsets(ALTERNATIVE_DAYS):
        day = first_day + timedelta(days=offset)
        starts = search.bookable_starts(day)
        if not starts:
            continue
        anchor = requested if offset == 0 else _us(_local_instant(day, wall, search.zone))
        starts.sort(key=lambda s: (abs(s - anchor), s))
        if requested in starts:
            starts.remove(requested)
        if spread and starts:
            nearest = starts[0]
            other_side = None if nearest == anchor else next(
                (s for s in starts if s != anchor and (s < anchor) != (nearest < anchor)), None)
            starts = [nearest] if other_side is None else [nearest, other_side]
        for candidate in starts:
            begin = _instant(candidate)
            found.append(Interval(begin, begin + duration))
            if len(found) == limit:
                return found
    return found


def month_overview(
    rules: CityRules,
    guides: Iterable[GuideCalendar],
    year: int,
    month: int,
    duration: timedelta,
    now: datetime,
    language: str | None = None,
) -> dict[date, list[Interval]]:
    """Where in the month a tour of ``duration`` can be booked, per local date.

    Returns ``{local date: spans}`` with dates ascending; a date is present only if it has at least one
    bookable start. A start is bookable when it lies on the date's 15-minute grid (see the module
    docstring), ``[s, s + duration)`` passes check_interval and at least one guide (speaking ``language``,
    when given) is free for it. Consecutive bookable grid starts are merged into one span, and the span is
    ``Interval(first start, last start + duration)`` in UTC: each grid start ``s`` with
    ``span.start <= s <= span.end - duration`` is bookable, nothing else on the grid of that date is
    (starts off the grid are not checked). Spans are ascending; two spans of a date may overlap in time
    when the grid start between them is not bookable. Empty when ``duration`` itself is not bookable.
    """
    now = _aware_utc(now, "now")
    if duration <= timedelta(0) or duration < rules.min_duration or duration > rules.max_duration:
        return {}
    search = _StartSearch(rules, _speaking(guides, language), duration, now)
    overview: dict[date, list[Interval]] = {}
    for day_number in range(1, calendar.monthrange(year, month)[1] + 1):
        day = date(year, month, day_number)
        first, marks = search.bookable_marks(day)
        spans: list[Interval] = []
        run_start = marks.find(1)
        while run_start >= 0:
            run_stop = marks.find(0, run_start)
            if run_stop < 0:
                run_stop = len(marks)
            spans.append(
                Interval(
                    _instant(first + run_start * _STEP),
                    _instant(first + (run_stop - 1) * _STEP) + duration,
                )
            )
            run_start = marks.find(1, run_stop)
        if spans:
            overview[day] = spans
    return overview


# --- the multi-day search behind nearest_alternatives and month_overview --------------------------------


def _speaking(guides: Iterable[GuideCalendar], language: str | None) -> list[GuideCalendar]:
    return [g for g in guides if language is None or language in g.languages]


def _day_offsets(days: int) -> list[int]:
    offsets = [0]
    for distance in range(1, days + 1):
        offsets += [distance, -distance]
    return offsets


@dataclass(frozen=True, slots=True)
class _Blocked:
    """One guide's calendar as integers for a fixed tour length: sorted tour starts (for the limits) and the
    sorted, disjoint open ranges ``(lows[k], highs[k])`` of start times that clash with an absence or come
    closer than the buffer to a tour."""

    tour_starts: list[int]
    lows: list[int]
    highs: list[int]

    @classmethod
    def of(cls, guide: GuideCalendar, duration: int, buffer: int) -> "_Blocked":
        ranges: list[tuple[int, int]] = []
        epoch, unit = _EPOCH, _ONE_US  # _us() inlined: with many busy guides this loop is the hot spot
        # An absence [a, b) clashes with starts in (a - duration, b); a tour [a, b) with starts in
        # (a - buffer - duration, b + buffer). Open ends: touching exactly is allowed.
        for absence in guide.absences:
            low, high = (absence.start - epoch) // unit - duration, (absence.end - epoch) // unit
            if low < high:
                ranges.append((low, high))
        tour_starts = []
        for tour in guide.tours:
            tour_start = (tour.start - epoch) // unit
            tour_starts.append(tour_start)
            low, high = tour_start - buffer - duration, (tour.end - epoch) // unit + buffer
            if low < high:
                ranges.append((low, high))
        tour_starts.sort()
        ranges.sort()
        lows: list[int] = []
        highs: list[int] = []
        for low, high in ranges:
            # Merge only real overlaps: where one open range ends exactly as the next begins,
            # that very start is free.
            if highs and low < highs[-1]:
                if high > highs[-1]:
                    highs[-1] = high
            else:
                lows.append(low)
                highs.append(high)
        return cls(tour_starts, lows, highs)

    def free_parts(self, first: int, last: int) -> list[tuple[int, int]]:
        """The closed ranges of start times within ``[first, last]`` that no blocked range touches."""
        parts = []
        lows, highs = self.lows, self.highs
        k = bisect_right(highs, first)  # first blocked range ending after `first`
        current = first
        count = len(lows)
        while k < count:
            low = lows[k]
            if low >= last:
                break
            if low >= current:
                parts.append((current, low))
            current = highs[k]
            if current > last:
                return parts
            k += 1
        parts.append((current, last))
        return parts

    def count_starts(self, from_us: int, until_us: int) -> int:
        return bisect_left(self.tour_starts, until_us) - bisect_left(self.tour_starts, from_us)


_DayWindow = tuple[date | None, date | None, int, int, Window]


class _StartSearch:
    """Bookable grid starts of one tour length, date by date, for one call: caches local midnights and
    windows per date and converts a guide's calendar only when one of their windows could add a start."""

    def __init__(self, rules: CityRules, guides: Sequence[GuideCalendar], duration: timedelta, now: datetime):
        self.rules = rules
        self.zone = ZoneInfo(rules.timezone)
        self.guides = guides
        self.duration = duration // _ONE_US
        self.buffer = rules.buffer // _ONE_US
        self.earliest = _us(now + rules.lead_time)
        self.latest = _us(now + rules.horizon)
        # Per guide and weekday: (valid_from, valid_until, start, end as microseconds after midnight, window).
        self.by_weekday: list[list[list[_DayWindow]]] = []
        for guide in guides:
            days: list[list[_DayWindow]] = [[] for _ in range(7)]
            for window in guide.windows:
                days[window.weekday].append(
                    (
                        window.valid_from,
                        window.valid_until,
                        _wall_us(window.start),
                        _wall_us(window.end),
                        window,
                    )
                )
            self.by_weekday.append(days)
        self.blocked: list[_Blocked | None] = [None] * len(guides)
        self._midnights: dict[date, int] = {}
        self._windows: dict[tuple[date, time, time], tuple[int, int] | None] = {}

    def midnight(self, day: date) -> int:
        found = self._midnights.get(day)
        if found is None:
            found = self._midnights[day] = _us(_local_instant(day, time(), self.zone))
        return found

    def window(self, day: date, window: Window) -> tuple[int, int] | None:
        """The window on ``day`` in microseconds, the slow way, for days with a change of UTC offset."""
        key = (day, window.start, window.end)
        if key not in self._windows:
            start = _us(_local_instant(day, window.start, self.zone))
            end = _us(_local_instant(day, window.end, self.zone))
            self._windows[key] = (start, end) if start < end else None
        return self._windows[key]

    def blocked_for(self, index: int) -> _Blocked:
        blocked = self.blocked[index]
        if blocked is None:
            blocked = self.blocked[index] = _Blocked.of(self.guides[index], self.duration, self.buffer)
        return blocked

    def bookable_starts(self, day: date) -> list[int]:
        first, marks = self.bookable_marks(day)
        return [first + i * _STEP for i, bookable in enumerate(marks) if bookable]

    def bookable_marks(self, day: date) -> tuple[int, bytearray]:
        """``(first, marks)``: grid start ``first + i * 15 min`` of ``day`` is bookable iff ``marks[i]``;
        only grid starts within lead time and horizon are covered."""
        day_start = self.midnight(day)
        day_end = self.midnight(day + _ONE_DAY)
        lowest = day_start if day_start > self.earliest else self.earliest
        highest = day_end - 1 if day_end - 1 < self.latest else self.latest
        first = day_start - ((day_start - lowest) // _STEP) * _STEP  # first grid start >= lowest
        if first > highest:
            return first, bytearray()
        marks = bytearray((highest - first) // _STEP + 1)
        weekday = day.weekday()
        is_holiday = day in self.rules.holidays
        # On a day of 24 real hours the offset is the same all day (zones do not change it twice a day),
        # so a wall-clock time is simply that long after midnight.
        steady = day_end - day_start == _DAY_US
        duration = self.duration
        week: tuple[int, int] | None = None

        for index, guide in enumerate(self.guides):
            windows = self.by_weekday[index][weekday]
            if not windows or (is_holiday and day not in guide.holiday_opt_ins):
                continue
            ranges = []
            for valid_from, valid_until, wall_start, wall_end, window in windows:
                if (valid_from is not None and day < valid_from) or (
                    valid_until is not None and day > valid_until
                ):
                    continue
                if steady:
                    low, high = day_start + wall_start, day_start + wall_end - duration
                else:
                    span = self.window(day, window)
                    if span is None:
                        continue
                    low, high = span[0], span[1] - duration
                if low < lowest:
                    low = lowest
                if high > highest:
                    high = highest
                i, j = -((first - low) // _STEP), (high - first) // _STEP + 1
                # Skip windows whose grid starts another guide already made bookable.
                if i < j and marks.find(0, i, j) >= 0:
                    ranges.append((low, high))
            if not ranges:
                continue
            blocked = self.blocked_for(index)
            if (
                guide.daily_limit is not None
                and blocked.count_starts(day_start, day_end) >= guide.daily_limit
            ):
                continue
            if guide.weekly_limit is not None:
                if week is None:
                    monday = day - timedelta(days=weekday)
                    week = (self.midnight(monday), self.midnight(monday + timedelta(days=7)))
                if blocked.count_starts(*week) >= guide.weekly_limit:
                    continue
            for low, high in ranges:
                for part_low, part_high in blocked.free_parts(low, high):
                    i, j = -((first - part_low) // _STEP), (part_high - first) // _STEP + 1
                    if i < j:
                        marks[i:j] = b"\x01" * (j - i)
        return first, marks
