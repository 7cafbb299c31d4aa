"""Properties of the availability engine over generated calendars around both daylight-saving changes.

free_guides is checked against a plain restatement of the booking rules; nearest_alternatives and
month_overview (which work on start-time ranges, not slot by slot) are checked against free_guides
evaluated on every start of the 15-minute grid.
"""

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from tourbook.availability import (
    ALTERNATIVE_DAYS,
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
FIVE_MINUTES = timedelta(minutes=5)
QUARTER = timedelta(minutes=15)
SCENE_DAYS = 5
# Five days from each of these: the spring-forward and fall-back weekends, an ordinary week, Christmas.
FIRST_DAYS = (date(2026, 3, 27), date(2026, 10, 23), date(2026, 6, 8), date(2026, 12, 23))

EXAMPLES = settings(max_examples=100, deadline=None)


@dataclass(frozen=True)
class Scene:
    rules: CityRules
    guides: list[GuideCalendar]
    now: datetime
    days: list[date]
    start: datetime
    end: datetime
    language: str | None


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), BERLIN).astimezone(UTC)


def grid(day: date) -> list[datetime]:
    """The day's start-time grid: every 15 real minutes from local midnight to the next."""
    starts, current, stop = [], midnight(day), midnight(day + timedelta(days=1))
    while current < stop:
        starts.append(current)
        current += QUARTER
    return starts


IN_BERLIN = st.booleans()  # some instants in UTC, some in Berlin time: they must compare as instants
MAYBE_DAY_INDEX = st.none() | st.integers(0, SCENE_DAYS - 1)
WINDOW_PARTS = st.tuples(st.integers(0, 6), st.integers(0, 22 * 12), st.integers(6, 12 * 12))
LIMITS = st.tuples(st.none() | st.integers(1, 3), st.none() | st.integers(1, 4))
LANGUAGES = st.frozensets(st.sampled_from(["de", "en"]))


@st.composite
def scenes(draw) -> Scene:
    first_day = draw(st.sampled_from(FIRST_DAYS))
    days = [first_day + timedelta(days=i) for i in range(SCENE_DAYS)]
    origin = midnight(first_day)

    def instant(step: timedelta = FIVE_MINUTES) -> datetime:
        steps = draw(st.integers(0, SCENE_DAYS * timedelta(days=1) // step))
        return (origin + steps * step).astimezone(BERLIN if draw(IN_BERLIN) else UTC)

    def interval(shortest: int, longest: int) -> Interval:
        # Often on the quarter hour, so that buffers and tour lengths meet grid starts exactly.
        step = draw(st.sampled_from([QUARTER, FIVE_MINUTES]))
        start = instant(step)
        length = draw(st.integers(shortest // 5, longest // 5)) * FIVE_MINUTES
        return Interval(start, start.astimezone(UTC) + max(length // step * step, step))

    def maybe_day() -> date | None:
        index = draw(MAYBE_DAY_INDEX)
        return None if index is None else days[index]

    def window() -> Window:
        weekday, start_steps, length_steps = draw(WINDOW_PARTS)
        if draw(st.booleans()):  # on the quarter hour
            start_steps, length_steps = start_steps // 3 * 3, length_steps // 3 * 3
        end_minutes = min((start_steps + length_steps) * 5, 23 * 60 + 55)
        return Window(
            weekday,
            time(*divmod(start_steps * 5, 60)),
            time(*divmod(end_minutes, 60)),
            maybe_day(),
            maybe_day(),
        )

    def some_days(max_size: int = 2) -> frozenset[date]:
        return frozenset(days[i] for i in draw(st.lists(st.integers(0, SCENE_DAYS - 1), max_size=max_size)))

    guides = []
    for guide_id in draw(st.lists(st.integers(1, 50), max_size=4, unique=True)):
        daily_limit, weekly_limit = draw(LIMITS)
        guides.append(
            GuideCalendar(
                guide_id,
                windows=tuple(window() for _ in range(draw(st.integers(0, 4)))),
                absences=tuple(interval(5, 600) for _ in range(draw(st.integers(0, 3)))),
                tours=tuple(interval(60, 240) for _ in range(draw(st.integers(0, 4)))),
                holiday_opt_ins=some_days(),
                daily_limit=daily_limit,
                weekly_limit=weekly_limit,
                languages=draw(LANGUAGES),
            )
        )
    rules = CityRules(
        "Europe/Berlin",
        lead_time=draw(st.sampled_from([timedelta(0), timedelta(hours=24)])),
        horizon=draw(st.sampled_from([timedelta(days=3), timedelta(days=120)])),
        buffer=draw(st.sampled_from([timedelta(0), timedelta(minutes=15), timedelta(minutes=20)])),
        holidays=some_days(max_size=1),
    )
    duration = draw(st.integers(12, 48)) * FIVE_MINUTES  # 60–240 minutes, sometimes 55 or 245
    if draw(st.integers(0, 9)) == 5:  # not 0: hypothesis favours bounds
        duration = draw(st.sampled_from([55, 245])) * timedelta(minutes=1)
    start = instant()
    # Mostly inside some window, or nobody would ever be free.
    spans = [
        span
        for guide in guides
        for window in guide.windows
        for day in days
        if (span := local_window_instants(window, day, BERLIN)) is not None
    ]
    if spans and draw(st.integers(0, 3)) != 2:
        span = draw(st.sampled_from(spans))
        room = max((span.end - span.start - duration) // FIVE_MINUTES, 0)
        start = (span.start + draw(st.integers(0, room)) * FIVE_MINUTES).astimezone(start.tzinfo)
    end = start.astimezone(UTC) + duration
    # Mostly far enough ahead for the lead time, sometimes just too soon or too far ahead.
    now = start.astimezone(UTC) - rules.lead_time - draw(st.integers(-24, 2 * 24 * 12)) * FIVE_MINUTES
    language = draw(st.sampled_from([None, None, "de", "en"]))
    return Scene(rules, guides, now, days, start, end, language)


def free(scene: Scene, guides=None, start=None, end=None) -> list[int]:
    return free_guides(
        scene.rules,
        scene.guides if guides is None else guides,
        scene.start if start is None else start,
        scene.end if end is None else end,
        scene.now,
        scene.language,
    )


def follows_the_rules(scene: Scene, guide: GuideCalendar, start: datetime, end: datetime) -> bool:
    """PRODUCT.md's "Rules of booking", restated as directly as possible."""
    rules = scene.rules
    if check_interval(rules, start, end, scene.now) is not None:
        return False
    if scene.language is not None and scene.language not in guide.languages:
        return False
    day = start.astimezone(BERLIN).date()
    if day in rules.holidays and day not in guide.holiday_opt_ins:
        return False
    spans = [local_window_instants(window, day, BERLIN) for window in guide.windows]
    if not any(span is not None and span.start <= start and end <= span.end for span in spans):
        return False
    if any(absence.start < end and start < absence.end for absence in guide.absences):
        return False
    if any(tour.start < end + rules.buffer and start - rules.buffer < tour.end for tour in guide.tours):
        return False
    tour_days = [tour.start.astimezone(BERLIN).date() for tour in guide.tours]
    if guide.daily_limit is not None and tour_days.count(day) >= guide.daily_limit:
        return False
    week = day.isocalendar()[:2]
    in_week = sum(tour_day.isocalendar()[:2] == week for tour_day in tour_days)
    return guide.weekly_limit is None or in_week < guide.weekly_limit


@EXAMPLES
@given(scenes())
def test_free_guides_are_exactly_those_the_rules_of_booking_allow(scene):
    expected = sorted(g.guide_id for g in scene.guides if follows_the_rules(scene, g, scene.start, scene.end))
    assert free(scene) == expected


@EXAMPLES
@given(scenes())
def test_a_free_guide_has_no_tour_or_absence_within_the_buffer(scene):
    by_id = {guide.guide_id: guide for guide in scene.guides}
    for guide_id in free(scene):
        guide = by_id[guide_id]
        for tour in guide.tours:
            assert (
                tour.end + scene.rules.buffer <= scene.start or scene.end + scene.rules.buffer <= tour.start
            )
        for absence in guide.absences:
            assert absence.end <= scene.start or scene.end <= absence.start


@EXAMPLES
@given(scenes(), st.data())
def test_another_tour_or_absence_never_frees_a_guide(scene, data):
    if not scene.guides:
        return
    index = data.draw(st.integers(0, len(scene.guides) - 1))
    start = data.draw(st.sampled_from(grid(scene.days[0]) + grid(scene.days[2])))
    extra = Interval(start, start + data.draw(st.integers(1, 48)) * FIVE_MINUTES)
    field = data.draw(st.sampled_from(["tours", "absences"]))
    guide = scene.guides[index]
    busier = dataclasses.replace(guide, **{field: (*getattr(guide, field), extra)})
    guides = [*scene.guides[:index], busier, *scene.guides[index + 1 :]]
    assert set(free(scene, guides)) <= set(free(scene))


def shuffled(guides: list[GuideCalendar], rng: random.Random) -> list[GuideCalendar]:
    def mixed(items: tuple) -> tuple:
        items = list(items)
        rng.shuffle(items)
        return tuple(items)

    result = [
        dataclasses.replace(g, windows=mixed(g.windows), absences=mixed(g.absences), tours=mixed(g.tours))
        for g in guides
    ]
    rng.shuffle(result)
    return result


@EXAMPLES
@given(scenes(), st.randoms(use_true_random=False))
def test_results_do_not_depend_on_input_order(scene, rng):
    mixed = shuffled(scene.guides, rng)
    assert free(scene, mixed) == free(scene)
    alternatives = (scene.rules, scene.guides, scene.start, scene.end, scene.now, scene.language)
    assert nearest_alternatives(*alternatives) == nearest_alternatives(
        scene.rules, mixed, scene.start, scene.end, scene.now, scene.language
    )
    duration = timedelta(minutes=90)
    month = scene.days[0].month
    assert month_overview(scene.rules, scene.guides, 2026, month, duration, scene.now, scene.language) == (
        month_overview(scene.rules, mixed, 2026, month, duration, scene.now, scene.language)
    )


def day_offsets() -> list[int]:
    offsets = [0]
    for distance in range(1, ALTERNATIVE_DAYS + 1):
        offsets += [distance, -distance]
    return offsets


def expected_alternatives(scene: Scene, limit: int) -> list[Interval]:
    """Every grid start within a week each way, tried one by one with free_guides, in the documented order."""
    if check_interval(scene.rules, scene.start, scene.end, scene.now) in ("too_short", "too_long"):
        return []
    duration = scene.end - scene.start
    local_start = scene.start.astimezone(BERLIN)
    found = []
    for offset in day_offsets():
        day = local_start.date() + timedelta(days=offset)
        if offset == 0:
            anchor = scene.start
        else:
            anchor = datetime.combine(day, local_start.time(), BERLIN).astimezone(UTC)
        candidates = [
            start
            for start in grid(day)
            if start != scene.start and free(scene, None, start, start + duration)
        ]
        candidates.sort(key=lambda start: (abs(start - anchor), start))
        found += [Interval(start, start + duration) for start in candidates]
    return found[:limit]


@settings(max_examples=50, deadline=None)
@given(scenes(), st.integers(1, 8))
def test_nearest_alternatives_are_the_nearest_bookable_grid_starts(scene, limit):
    alternatives = nearest_alternatives(
        scene.rules, scene.guides, scene.start, scene.end, scene.now, scene.language, limit
    )
    assert alternatives == expected_alternatives(scene, limit)


@EXAMPLES
@given(scenes(), st.integers(1, 8))
def test_every_nearest_alternative_is_bookable(scene, limit):
    alternatives = nearest_alternatives(
        scene.rules, scene.guides, scene.start, scene.end, scene.now, scene.language, limit
    )
    assert len(alternatives) <= limit
    assert len(set(alternatives)) == len(alternatives)
    for alternative in alternatives:
        assert alternative.end - alternative.start == scene.end - scene.start
        assert check_interval(scene.rules, alternative.start, alternative.end, scene.now) is None
        assert free(scene, None, alternative.start, alternative.end)
        assert alternative.start != scene.start
        local_start = alternative.start.astimezone(BERLIN)
        assert local_start.minute % 15 == 0
        assert local_start.second == local_start.microsecond == 0


@EXAMPLES
@given(scenes(), st.sampled_from([60, 90, 135, 240]))
def test_month_overview_covers_exactly_the_bookable_grid_starts(scene, minutes):
    duration = timedelta(minutes=minutes)
    month = scene.days[0].month
    overview = month_overview(scene.rules, scene.guides, 2026, month, duration, scene.now, scene.language)
    for day in scene.days:
        spans = overview.get(day, [])
        assert spans != [] or day not in overview
        for span in spans:
            assert span.start.astimezone(BERLIN).date() == day
            assert span.end - span.start >= duration
        for start in grid(day):
            bookable = bool(free(scene, None, start, start + duration))
            covered = any(span.start <= start and start + duration <= span.end for span in spans)
            assert bookable == covered, start
