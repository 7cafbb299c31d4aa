"""Factories for the booking tests: guides with weekly windows, and tours booked through the service.

Import the fixtures into a test module (they are named ``make_guide``, ``book`` and ``make_tour`` there):
``from factories_tours import book_fixture, make_guide_fixture, make_tour_fixture  # noqa: F401``.
Service tests pass a fixed ``now`` (``NOW``) so that dates, lead time and horizon never depend on the day
the suite runs; view tests go through the real clock and use ``bookable_day``."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays as holiday_calendars
import pytest
from sqlalchemy import func, select

from tourbook.extensions import db
from tourbook.hours import add_window
from tourbook.models import AuditEntry, City, Company, Role, Tour, User
from tourbook.services import PartnerDetails, book_tour

BERLIN = ZoneInfo("Europe/Berlin")
# A Monday morning in Siegen, far from daylight-saving changes and public holidays.
NOW = datetime(2031, 3, 3, 7, 0, tzinfo=UTC)
ALL_WEEK = tuple((weekday, time(8), time(20)) for weekday in range(7))
MORNINGS_ONLY = tuple((weekday, time(8), time(13)) for weekday in range(7))
AFTERNOONS_ONLY = tuple((weekday, time(13), time(20)) for weekday in range(7))

# Services queue mail with links in them. Outside a request (service tests, worker processes) Flask builds
# URLs only with SERVER_NAME set; PUBLIC_URL alone is not enough (mail.external_url still calls url_for).
OUTSIDE_REQUEST_CONFIG = {"PUBLIC_URL": "https://tourbook.example", "SERVER_NAME": "tourbook.example"}

_seq = itertools.count(1)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in Siegen as an aware datetime."""
    return datetime.combine(day, time(hour, minute), BERLIN)


def is_holiday(day: date) -> bool:
    return day in holiday_calendars.country_holidays("DE", subdiv="NW", years=day.year)


def bookable_day(after: date | None = None, days: int = 7, weekday: int | None = None) -> date:
    """The first working day (no NRW holiday) at least ``days`` after ``after`` (today in Siegen by
    default), optionally on a given weekday."""
    day = (after or datetime.now(BERLIN).date()) + timedelta(days=days)
    while (weekday is not None and day.weekday() != weekday) or is_holiday(day):
        day += timedelta(days=1)
    return day


def day_after_now(days: int, weekday: int | None = None) -> date:
    """A working day relative to ``NOW`` (for service tests)."""
    return bookable_day(NOW.astimezone(BERLIN).date(), days, weekday)


def audit_actions(tour: Tour) -> list[str]:
    return list(
        db.session.execute(
            select(AuditEntry.action).where(AuditEntry.object_type == "tour", AuditEntry.object_id == tour.id)
            .order_by(AuditEntry.id)
        ).scalars()
    )


def tours_of(guide: User | int) -> list[Tour]:
    guide_id = guide if isinstance(guide, int) else guide.id
    db.session.expire_all()
    query = select(Tour).where(Tour.guide_id == guide_id).order_by(Tour.starts_at)
    return list(db.session.execute(query).scalars())


def count_tours(**where: object) -> int:
    query = select(func.count()).select_from(Tour)
    for name, value in where.items():
        query = query.where(getattr(Tour, name) == value)
    return db.session.execute(query).scalar_one()


@pytest.fixture(name="make_guide")
def make_guide_fixture(make_user: Callable[..., User]) -> Callable[..., User]:
    """A guide of ``city`` with weekly windows (every day 08:00–20:00 unless told otherwise), entered through
    the hours service as a guide would."""

    def make(city: City, windows: Iterable[tuple[int, time, time]] = ALL_WEEK,
             languages: Iterable[str] = ("de",), **kwargs: object) -> User:
        kwargs.setdefault("name", f"Guide{next(_seq)} Example")
        kwargs.setdefault("language", "en")
        guide = make_user(Role.GUIDE, city=city, guide_languages=",".join(languages), **kwargs)
        for weekday, start, end in windows:
            add_window(db.session, guide, guide, weekday, start, end)
        db.session.commit()
        return guide

    return make


@pytest.fixture(name="book")
def book_fixture(make_user: Callable[..., User], make_company: Callable[..., Company]) -> Callable[..., Tour]:
    """Book a tour through ``book_tour`` at the fixed ``NOW`` (unless told otherwise). ``start`` is an
    aware datetime; the tour lasts ``minutes``. An HR user of a company enrolled with the city is made when
    none is given."""

    def do(city: City, start: datetime, minutes: int = 120, *, actor: User | None = None,
           company: Company | None = None, now: datetime = NOW, language: str = "de",
           **partner: object) -> Tour:
        if actor is None:
            company = company or make_company(cities=[city], name=f"Firma {secrets.token_hex(4)} GmbH")
            actor = make_user(Role.HR, company=company, language="en")
        company = company or actor.company
        partner.setdefault("first_name", "Alex")
        partner.setdefault("meeting_point", company.address)
        details = PartnerDetails(language=language, **partner)
        return book_tour(db.session, actor, city, company, start, start + timedelta(minutes=minutes), details,
                         now=now)

    return do


@pytest.fixture(name="make_tour")
def make_tour_fixture(make_company: Callable[..., Company]) -> Callable[..., Tour]:
    """A tour written straight to the database, bypassing the service (to set up history: who had which
    tour and when they were assigned)."""

    def make(guide: User | None, start: datetime, minutes: int = 120, *, city: City | None = None,
             status: str = "confirmed", assigned_at: datetime | None = None, company: Company | None = None,
             **fields: object) -> Tour:
        city = city or db.session.get(City, guide.city_id)
        company = company or make_company(cities=[city], name=f"Firma {secrets.token_hex(4)} GmbH")
        end = start + timedelta(minutes=minutes)
        fields.setdefault("partner_first_name", "Alex")
        fields.setdefault("partner_language", "de")
        tour = Tour(
            uid=secrets.token_hex(16), token=secrets.token_urlsafe(24), city_id=city.id,
            company_id=company.id, guide_id=guide.id if guide else None, status=status, starts_at=start,
            ends_at=end, blocked_until=end + timedelta(minutes=city.buffer_minutes),
            assigned_at=assigned_at or NOW, consent_at=NOW, **fields,
        )
        db.session.add(tour)
        db.session.commit()
        return tour

    return make
