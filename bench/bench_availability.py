"""How fast the availability engine answers, including loading what it needs from the database.

Each iteration opens a fresh session (nothing cached, a connection from the pool), calls
``hours.load_engine_input`` for the range the question needs and asks the pure engine. The city itself is
loaded once (a caller always has it already: the services get it passed in):

- ``free_guides``: who is free for one two-hour interval (weekdays in the weeks after "now"); it loads with
  ``covering=True``, as a question about exactly one interval may (only guides whose window holds it);
- ``nearest_alternatives``: the five nearest intervals for one nobody is free for (Sundays, when nobody
  works, and Christmas); it loads the requested day ± 8 days, as ``services.availability_for`` does;
- ``month_overview``: which days of a month (September to December 2026) have a free guide for two hours.

Targets (issue 3, medians on a 2-core machine): 5, 20 and 50 ms. Beside the wall-clock median and p95 each
line has ``cpu_median_ms`` (this process's CPU time: on SQLite all the work, on PostgreSQL without the
server's share; less disturbed by other processes on a shared machine) and ``baseline_median_ms``: a fresh
session running ``SELECT 1`` and nothing else, measured in the same run, the fixed cost every question pays.
``free_guides_history_ratio`` compares free_guides late in the data (18 months of tours behind it) with the
same question in the data's first weeks: about 1 means the cost does not grow with history."""

from __future__ import annotations

import os
import statistics
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tourbook.availability import free_guides, month_overview, nearest_alternatives
from tourbook.extensions import db
from tourbook.hours import load_engine_input
from tourbook.models import City

from .data import FIRST_DAY, NOW, ZONE, Dataset, public_holidays

TARGETS_MS = {"free_guides": 5.0, "nearest_alternatives": 20.0, "month_overview": 50.0}
ITERATIONS = {"free_guides": 300, "nearest_alternatives": 150, "month_overview": 60}
WARMUP = 5
TWO_HOURS = timedelta(hours=2)


@dataclass
class Samples:
    wall_ms: list[float]
    cpu_ms: list[float]

    def summary(self) -> dict[str, float]:
        return {
            "median_ms": round(statistics.median(self.wall_ms), 3),
            "p95_ms": round(statistics.quantiles(self.wall_ms, n=100, method="inclusive")[94], 3),
            "cpu_median_ms": round(statistics.median(self.cpu_ms), 3),
        }


def measure(once: Callable[[int], object], iterations: int, warmup: int = WARMUP) -> Samples:
    """Wall-clock and CPU milliseconds of each of ``iterations`` calls (after ``warmup`` untimed ones)."""
    for i in range(warmup):
        once(i)
    samples = Samples([], [])
    for i in range(iterations):
        began, began_cpu = clock.perf_counter_ns(), clock.process_time_ns()
        once(i)
        samples.cpu_ms.append((clock.process_time_ns() - began_cpu) / 1e6)
        samples.wall_ms.append((clock.perf_counter_ns() - began) / 1e6)
    return samples


def _utc(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


def weekday_intervals(after: datetime, count: int = 40) -> list[tuple[datetime, datetime]]:
    """Two-hour intervals on working days from two days after ``after``, mornings and afternoons in turn."""
    closed = public_holidays()
    day = after.astimezone(ZONE).date() + timedelta(days=2)
    found: list[tuple[datetime, datetime]] = []
    while len(found) < count:
        if day.weekday() < 5 and day not in closed:
            start = _utc(day, 10 if len(found) % 2 == 0 else 14)
            found.append((start, start + TWO_HOURS))
        day += timedelta(days=1)
    return found


def nobody_intervals() -> list[tuple[datetime, datetime]]:
    """Sundays (no guide has a Sunday window) within the horizon, and Christmas Day (a holiday)."""
    day = NOW.astimezone(ZONE).date() + timedelta(days=3)
    day += timedelta(days=(6 - day.weekday()) % 7)
    found = [(_utc(date(2026, 12, 25), 10), _utc(date(2026, 12, 25), 12))]
    while len(found) < 12:
        found.append((_utc(day, 11), _utc(day, 13)))
        day += timedelta(days=7)
    return found


MONTHS = [(2026, 9), (2026, 10), (2026, 11), (2026, 12)]


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return _utc(first, 0), _utc(following, 0)


def run(datasets: list[Dataset]) -> Iterator[dict]:
    for dataset in datasets:
        with dataset.app.app_context():
            yield from _run_one(dataset)


def _run_one(dataset: Dataset) -> Iterator[dict]:
    engine = db.engine
    label = dataset.backend
    with Session(engine) as session:
        city = session.get(City, dataset.city_id)
        session.expunge(city)  # detached, with its attributes loaded

    def baseline_once(i: int) -> None:
        with Session(engine) as session:
            session.execute(select(1)).scalar()

    baseline = round(statistics.median(measure(baseline_once, ITERATIONS["free_guides"]).wall_ms), 3)

    def result(name: str, samples: Samples, **extra: object) -> dict:
        return {
            "name": f"{name}[{label}]",
            **samples.summary(),
            **dataset.sizes(),
            "iterations": len(samples.wall_ms),
            "target_ms": TARGETS_MS.get(name),
            "baseline_median_ms": baseline,
            "load_average": round(os.getloadavg()[0], 2),  # other work on the machine while measuring
            **extra,
        }

    # free guides for one interval
    intervals = weekday_intervals(NOW)
    free_counts: list[int] = []

    def free_once(i: int, intervals: list = intervals, now: datetime = NOW) -> None:
        start, end = intervals[i % len(intervals)]
        with Session(engine) as session:
            data = load_engine_input(session, city, start, end, covering=True)
            free_counts.append(len(free_guides(data.rules, data.guides, start, end, now)))

    samples = measure(free_once, ITERATIONS["free_guides"])
    assert min(free_counts) > 0, "the free_guides intervals should have free guides"
    late = statistics.median(samples.wall_ms)
    yield result("free_guides", samples, free_guides_found=round(statistics.mean(free_counts), 1))

    # nearest alternatives for intervals nobody is free for
    nobody = nobody_intervals()
    found: list[int] = []

    def alternatives_once(i: int) -> None:
        start, end = nobody[i % len(nobody)]
        with Session(engine) as session:
            data = load_engine_input(session, city, start - timedelta(days=8), end + timedelta(days=8))
            assert not free_guides(data.rules, data.guides, start, end, NOW)
            found.append(len(nearest_alternatives(data.rules, data.guides, start, end, NOW, limit=5)))

    samples = measure(alternatives_once, ITERATIONS["nearest_alternatives"])
    assert min(found) == 5, "every nobody-free interval should have five alternatives"
    yield result("nearest_alternatives", samples)

    # month overview for a two-hour tour
    days_found: list[int] = []

    def month_once(i: int) -> None:
        year, month = MONTHS[i % len(MONTHS)]
        first, following = _month_range(year, month)
        with Session(engine) as session:
            data = load_engine_input(session, city, first, following)
            days_found.append(len(month_overview(data.rules, data.guides, year, month, TWO_HOURS, NOW)))

    samples = measure(month_once, ITERATIONS["month_overview"])
    assert min(days_found) > 0
    yield result("month_overview", samples, days_with_a_free_guide=round(statistics.mean(days_found), 1))

    # the same free_guides question in the data's first weeks: no history behind it
    early_now = datetime.combine(FIRST_DAY + timedelta(days=14), time(6), UTC)
    early = weekday_intervals(early_now)
    free_counts.clear()
    samples = measure(lambda i: free_once(i, early, early_now), ITERATIONS["free_guides"])
    early_median = statistics.median(samples.wall_ms)
    yield {
        "name": f"free_guides_history_ratio[{label}]",
        "ratio": round(late / early_median, 2),
        "median_late_ms": round(late, 3),
        "median_early_ms": round(early_median, 3),
        **dataset.sizes(),
    }
