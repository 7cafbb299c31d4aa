"""The benchmark's data: one city with 200 guides (5–10 weekly windows and 20 absences each) and two years of
tours (40,000, none overlapping another of the same guide or closer than the city's buffer, all inside a
window, outside absences and public holidays, within the daily and weekly limits).

The data is planned in memory from a fixed seed, then written with SQLAlchemy Core ``insert()`` and lists of
dicts (executemany) into a SQLite file and into the PostgreSQL database ``tourbook_bench``; the schema comes
from the migrations (Flask-Migrate ``upgrade()``). A database that already holds this data set (its
fingerprint is an audit entry written in the same transaction as the data, and the row counts match) is
reused, so a second ``make bench`` starts measuring at once.

Configuration (environment): ``TOURBOOK_BENCH_SQLITE`` (path, default ``instance/bench.sqlite``),
``TOURBOOK_BENCH_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/tourbook_bench``;
``off`` skips PostgreSQL)."""

from __future__ import annotations

import logging
import os
import random
import sys
import time as clock
from bisect import bisect_left, insort
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError

from tourbook import PROJECT_ROOT, create_app
from tourbook.extensions import db
from tourbook.models import (
    Absence,
    AuditEntry,
    AvailabilityWindow,
    City,
    Company,
    Role,
    Tour,
    User,
    company_cities,
)

DATA_VERSION = 1  # bump when the plan changes: the cached databases are then rebuilt
SEED = 20_261_124
GUIDES = 200
TOURS = 40_000
ABSENCES_PER_GUIDE = 20
WINDOWS_PER_GUIDE = (5, 10)
COMPANIES = 5
TIMEZONE = "Europe/Berlin"
ZONE = ZoneInfo(TIMEZONE)
BUFFER_MINUTES = 15
DAILY_LIMIT = 2
WEEKLY_LIMIT = 6
FIRST_DAY = date(2025, 3, 3)  # a Monday
LAST_DAY = FIRST_DAY + timedelta(days=2 * 364 - 1)  # two years: 104 weeks, up to Sun 2027-02-28
# The benchmark's "now": 18 months of history behind it, the city's whole horizon (120 days) ahead.
NOW = datetime(2026, 9, 1, 6, 0, tzinfo=UTC)
CITY_SLUG = f"bench-v{DATA_VERSION}"
MARKER_ACTION = "bench_dataset"

SQLITE_PATH = Path(os.environ.get("TOURBOOK_BENCH_SQLITE", PROJECT_ROOT / "instance" / "bench.sqlite"))
POSTGRES_URL = os.environ.get(
    "TOURBOOK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/tourbook_bench"
)

BENCH_CONFIG = {
    "SECRET_KEY": "bench-only-not-secret",
    "RATELIMIT_ENABLED": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {},  # no pre-ping round trip per checkout: measure the queries
}


def note(message: str) -> None:
    """Progress and skips go to stderr; stdout carries only the JSON results."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- the plan --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    windows: list[list[dict]] = field(default_factory=list)  # per guide, without guide_id
    absences: list[list[dict]] = field(default_factory=list)
    tours: list[list[dict]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "guides": GUIDES,
            "tours": sum(map(len, self.tours)),
            "windows": sum(map(len, self.windows)),
            "absences": sum(map(len, self.absences)),
        }


def _instant(day: date, minute: int) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), ZONE).astimezone(UTC)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), ZONE).astimezone(UTC)


def public_holidays() -> set[date]:
    years = range(FIRST_DAY.year, LAST_DAY.year + 1)
    return set(holiday_calendars.country_holidays("DE", subdiv="NW", years=years))


def _plan_windows(rng: random.Random) -> list[dict]:
    """5–10 windows, Monday to Saturday (nobody works on Sundays), 08:00–20:00, quarter hours; some only
    valid for a while (a window that ended last year, one that starts next spring)."""
    wanted = rng.randint(*WINDOWS_PER_GUIDE)
    windows: list[dict] = []
    while len(windows) < wanted:
        weekday = rng.randrange(6)
        quarters = rng.choice((8, 12, 16, 20, 24))  # 2–6 hours
        start = rng.randrange(8 * 4, 20 * 4 - quarters + 1) * 15
        end = start + quarters * 15
        if any(
            w["weekday"] == weekday and w["start_minute"] < end and start < w["end_minute"] for w in windows
        ):
            continue
        valid_from = valid_until = None
        roll = rng.random()
        if roll < 0.08:
            valid_until = FIRST_DAY + timedelta(days=rng.randrange(100, 400))
        elif roll < 0.15:
            valid_from = FIRST_DAY + timedelta(days=rng.randrange(300, 700))
        windows.append(
            {
                "weekday": weekday,
                "start_minute": start,
                "end_minute": end,
                "valid_from": valid_from,
                "valid_until": valid_until,
            }
        )
    return windows


def _plan_absences(rng: random.Random) -> list[dict]:
    """20 absences, spread over the two years, 1–7 days, a quarter of them starting or ending at a time."""
    absences: list[dict] = []
    taken: list[tuple[date, date]] = []
    span = (LAST_DAY - FIRST_DAY).days
    while len(absences) < ABSENCES_PER_GUIDE:
        first = FIRST_DAY + timedelta(days=rng.randrange(span))
        last = min(first + timedelta(days=rng.choice((0, 0, 1, 2, 4, 6))), LAST_DAY)
        if any(first <= b and a <= last for a, b in taken):
            continue
        taken.append((first, last))
        start_minute = end_minute = None
        if rng.random() < 0.25:
            start_minute = rng.choice((8, 10, 12, 14)) * 60
            end_minute = rng.choice((12, 16, 18)) * 60 if last > first else start_minute + 4 * 60
        starts_at = _instant(first, start_minute) if start_minute is not None else _midnight(first)
        ends_at = (
            _instant(last, end_minute) if end_minute is not None else _midnight(last + timedelta(days=1))
        )
        absences.append(
            {
                "first_day": first,
                "last_day": last,
                "start_minute": start_minute,
                "end_minute": end_minute,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "reason": rng.choice(("holiday", "holiday", "illness", "training", "other")),
            }
        )
    return absences


def _plan_tours(
    rng: random.Random, count: int, windows: list[dict], absences: list[dict], closed: set[date]
) -> list[dict]:
    """``count`` tours for one guide: each inside a window valid that day, away from absences and holidays,
    at least the buffer apart from the guide's other tours, at most DAILY_LIMIT a day, WEEKLY_LIMIT a week."""
    buffer = timedelta(minutes=BUFFER_MINUTES)
    starts: list[datetime] = []
    ends: dict[datetime, datetime] = {}
    per_day: dict[date, int] = {}
    per_week: dict[date, int] = {}
    tours: list[dict] = []
    span = (LAST_DAY - FIRST_DAY).days + 1
    attempts = 0
    while len(tours) < count:
        attempts += 1
        if attempts > count * 200:
            raise RuntimeError("the plan is too tight: not enough room for the tours")
        day = FIRST_DAY + timedelta(days=rng.randrange(span))
        if day in closed:
            continue
        monday = day - timedelta(days=day.weekday())
        if per_day.get(day, 0) >= DAILY_LIMIT or per_week.get(monday, 0) >= WEEKLY_LIMIT:
            continue
        usable = [
            w
            for w in windows
            if w["weekday"] == day.weekday()
            and (w["valid_from"] is None or w["valid_from"] <= day)
            and (w["valid_until"] is None or day <= w["valid_until"])
        ]
        if not usable:
            continue
        window = rng.choice(usable)
        length = rng.choice((60, 90, 120, 120, 150, 180, 240))
        room = window["end_minute"] - window["start_minute"] - length
        if room < 0:
            continue
        start_minute = window["start_minute"] + rng.randrange(room // 15 + 1) * 15
        starts_at = _instant(day, start_minute)
        ends_at = _instant(day, start_minute + length)
        if any(a["starts_at"] < ends_at and a["ends_at"] > starts_at for a in absences):
            continue
        i = bisect_left(starts, starts_at)
        if i > 0 and ends[starts[i - 1]] + buffer > starts_at:
            continue
        if i < len(starts) and ends_at + buffer > starts[i]:
            continue
        insort(starts, starts_at)
        ends[starts_at] = ends_at
        per_day[day] = per_day.get(day, 0) + 1
        per_week[monday] = per_week.get(monday, 0) + 1
        roll = rng.random()
        if starts_at < NOW:
            status = "done" if roll < 0.88 else "no_show" if roll < 0.92 else "cancelled"
        else:
            status = "confirmed" if roll < 0.92 else "cancelled"
        booked = starts_at - timedelta(days=rng.randrange(2, 60))
        tours.append(
            {
                "uid": f"{rng.getrandbits(128):032x}",
                "token": f"{rng.getrandbits(192):048x}",
                "status": status,
                "starts_at": starts_at,
                "ends_at": ends_at,
                "blocked_until": ends_at + buffer,
                "assigned_at": booked,
                "consent_at": booked,
                "created_at": booked,
                "updated_at": booked,
                "partner_first_name": "Alex",
                "partner_language": rng.choice(("de", "en", "tr", "uk")),
                "interests": "",
                "people": rng.randint(1, 4),
                "meeting_point": "",
                "sequence": 0,
                "cancelled_at": booked + timedelta(days=1) if status == "cancelled" else None,
                "cancelled_by": "hr" if status == "cancelled" else None,
            }
        )
    return tours


def make_plan() -> Plan:
    rng = random.Random(SEED)
    closed = public_holidays()
    plan = Plan()
    for index in range(GUIDES):
        plan.windows.append(_plan_windows(rng))
        plan.absences.append(_plan_absences(rng))
        share = TOURS // GUIDES + (1 if index < TOURS % GUIDES else 0)
        plan.tours.append(_plan_tours(rng, share, plan.windows[-1], plan.absences[-1], closed))
    return plan


# --- writing it ------------------------------------------------------------------------------------------

BATCH = 5_000


def _insert(conn: Connection, table, rows: list[dict]) -> None:  # noqa: ANN001
    for i in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[i : i + BATCH])


def write_plan(conn: Connection, plan: Plan) -> dict[str, int]:
    """Insert the whole data set in the caller's transaction; returns the counts written."""
    now = datetime.now(UTC)
    city_id = conn.execute(
        City.__table__.insert().returning(City.__table__.c.id),
        {
            "name": f"Benchstadt v{DATA_VERSION}",
            "slug": CITY_SLUG,
            "timezone": TIMEZONE,
            "lead_time_hours": 24,
            "horizon_days": 120,
            "min_duration_minutes": 60,
            "max_duration_minutes": 240,
            "buffer_minutes": BUFFER_MINUTES,
            "holiday_country": "DE",
            "holiday_subdivision": "NW",
            "office_phone": "+49 271 0",
            "office_email": "bench@bench.example",
            "partner_link_days": 14,
            "erase_after_days": 30,
            "created_at": now,
        },
    ).scalar_one()
    companies = (
        conn.execute(
            Company.__table__.insert().returning(Company.__table__.c.id, sort_by_parameter_order=True),
            [
                {"name": f"Bench {n} GmbH (v{DATA_VERSION})", "address": f"Benchweg {n}", "created_at": now}
                for n in range(COMPANIES)
            ],
        )
        .scalars()
        .all()
    )
    conn.execute(company_cities.insert(), [{"company_id": c, "city_id": city_id} for c in companies])
    users = User.__table__
    people = [
        {
            "email": f"bench-v{DATA_VERSION}-guide{n:03d}@bench.example",
            "name": f"Guide {n:03d}",
            "role": Role.GUIDE.value,
            "city_id": city_id,
            "company_id": None,
            "language": "de",
            "active": True,
            "password_hash": None,
            "created_at": now,
            "guide_languages": "de,en" if n % 3 else "de,tr",
            "daily_limit": DAILY_LIMIT,
            "weekly_limit": WEEKLY_LIMIT,
        }
        for n in range(GUIDES)
    ]
    guide_ids = (
        conn.execute(users.insert().returning(users.c.id, sort_by_parameter_order=True), people)
        .scalars()
        .all()
    )
    hr_id = conn.execute(
        users.insert().returning(users.c.id),
        {
            "email": f"bench-v{DATA_VERSION}-hr@bench.example",
            "name": "Bench HR",
            "role": Role.HR.value,
            "city_id": None,
            "company_id": companies[0],
            "language": "de",
            "active": True,
            "password_hash": None,
            "created_at": now,
            "guide_languages": "de",
            "daily_limit": 0,
            "weekly_limit": 0,
        },
    ).scalar_one()
    windows, absences, tours = [], [], []
    for n, guide_id in enumerate(guide_ids):
        windows += [{**w, "guide_id": guide_id} for w in plan.windows[n]]
        absences += [{**a, "guide_id": guide_id, "created_at": now} for a in plan.absences[n]]
        tours += [
            {
                **t,
                "guide_id": guide_id,
                "city_id": city_id,
                "company_id": companies[k % COMPANIES],
                "booked_by_id": hr_id,
            }
            for k, t in enumerate(plan.tours[n])
        ]
    _insert(conn, AvailabilityWindow.__table__, windows)
    _insert(conn, Absence.__table__, absences)
    tours.sort(key=lambda t: t["starts_at"])  # booked over time, as in real life
    _insert(conn, Tour.__table__, tours)
    counts = plan.counts()
    conn.execute(
        AuditEntry.__table__.insert(),
        {
            "at": now,
            "actor_id": None,
            "actor_label": "bench",
            "action": MARKER_ACTION,
            "object_type": "city",
            "object_id": city_id,
            "city_id": city_id,
            "details": {"version": DATA_VERSION, "seed": SEED, **counts},
        },
    )
    return counts


def stored_counts(conn: Connection) -> tuple[int, dict[str, int]] | None:
    """(city id, counts) when the database holds this data set completely, else None."""
    city_id = conn.execute(select(City.id).where(City.slug == CITY_SLUG)).scalar_one_or_none()
    if city_id is None:
        return None
    marker = conn.execute(
        select(AuditEntry.details).where(AuditEntry.action == MARKER_ACTION, AuditEntry.city_id == city_id)
    ).scalar_one_or_none()
    if not marker or marker.get("version") != DATA_VERSION or marker.get("seed") != SEED:
        return None
    guides = select(User.id).where(User.city_id == city_id, User.role == Role.GUIDE).scalar_subquery()
    actual = {
        "guides": conn.execute(
            select(func.count()).where(User.city_id == city_id, User.role == Role.GUIDE)
        ).scalar(),
        "tours": conn.execute(select(func.count()).select_from(Tour).where(Tour.city_id == city_id)).scalar(),
        "windows": conn.execute(
            select(func.count())
            .select_from(AvailabilityWindow)
            .where(AvailabilityWindow.guide_id.in_(guides))
        ).scalar(),
        "absences": conn.execute(
            select(func.count()).select_from(Absence).where(Absence.guide_id.in_(guides))
        ).scalar(),
    }
    expected = {k: marker.get(k) for k in actual}
    return (city_id, actual) if actual == expected else None


# --- the two databases -----------------------------------------------------------------------------------


@dataclass
class Dataset:
    """One prepared database: ``app`` (its engine is ``db.engine`` inside ``app.app_context()``)."""

    backend: str  # "sqlite" or "postgresql"
    app: Flask
    city_id: int
    counts: dict[str, int]

    def sizes(self) -> dict[str, int]:
        return dict(self.counts)


def _app(uri: str) -> Flask:
    return create_app({**BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})


def _migrate(app: Flask) -> None:
    from flask_migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)
    with app.app_context():
        upgrade()


def _fill(app: Flask, backend: str) -> Dataset:
    with app.app_context():
        with db.engine.connect() as conn:
            found = stored_counts(conn)
        if found is None:
            note(f"{backend}: generating the data set (planned in memory, then bulk inserts) …")
            began = clock.perf_counter()
            plan = make_plan()
            planned = clock.perf_counter()
            with db.engine.begin() as conn:
                write_plan(conn, plan)
            written = clock.perf_counter()
            with db.engine.connect() as conn:
                found = stored_counts(conn)
            assert found is not None, "the data set was written but does not check out"
            note(f"{backend}: planned in {planned - began:.1f} s, written in {written - planned:.1f} s")
        else:
            note(f"{backend}: reusing the data set already there")
        city_id, counts = found
    tidy(app)
    return Dataset(backend, app, city_id, counts)


def tidy(app: Flask) -> None:
    """PostgreSQL: do what autovacuum does on a real server, which may be off on a benchmark machine's (it
    is on this one's): statistics for the planner, and dead rows gone. ``users`` is rewritten: the trigger
    that counts a guide's feed version updates the guide's row with every tour written (40,000 while the
    data set is generated, hundreds per booking benchmark), and a table of 200 rows would otherwise be
    thousands of pages that every scan of it reads."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return
        maintenance = conn.execution_options(isolation_level="AUTOCOMMIT")
        maintenance.execute(text("VACUUM (FULL, ANALYZE) users"))
        maintenance.execute(text("VACUUM (ANALYZE)"))


def sqlite_dataset() -> Dataset:
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    app = _app(f"sqlite:///{SQLITE_PATH}")
    _migrate(app)
    with app.app_context(), db.engine.connect() as conn:
        complete = stored_counts(conn) is not None
        stale = not complete and conn.execute(select(func.count()).select_from(City)).scalar() > 0
    if stale:  # an older or half-written data set: start from an empty file
        with app.app_context():
            db.engine.dispose()
        SQLITE_PATH.unlink()
        app = _app(f"sqlite:///{SQLITE_PATH}")
        _migrate(app)
    return _fill(app, "sqlite")


def _ensure_postgres_database(url: str) -> None:
    """Create the benchmark database when it is missing (connecting to the server's ``postgres`` database)."""
    target = make_url(url)
    admin = create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).scalar()
            if not exists:
                note(f"postgresql: creating database {target.database}")
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def postgres_dataset() -> Dataset | None:
    if POSTGRES_URL == "off":
        note("postgresql: skipped (TOURBOOK_BENCH_POSTGRES_URL=off)")
        return None
    try:
        _ensure_postgres_database(POSTGRES_URL)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        note(
            f"postgresql: skipped, no server at {make_url(POSTGRES_URL).render_as_string()} ({reason})"
        )
        return None
    app = _app(POSTGRES_URL)
    _migrate(app)
    with app.app_context(), db.engine.connect() as conn:
        complete = stored_counts(conn) is not None
        stale = not complete and conn.execute(select(func.count()).select_from(City)).scalar() > 0
    if stale:
        note("postgresql: dropping an older data set")
        with app.app_context():
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            db.engine.dispose()
        _migrate(app)
    return _fill(app, "postgresql")


def datasets() -> Iterator[Dataset]:
    yield sqlite_dataset()
    found = postgres_dataset()
    if found is not None:
        yield found


if __name__ == "__main__":  # python -m bench.data: only prepare the data
    for dataset in datasets():
        note(f"{dataset.backend}: {dataset.counts}")
