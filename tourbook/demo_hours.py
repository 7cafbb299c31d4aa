"""Demo data for guides' hours: weekly windows and one absence per demo guide."""

from __future__ import annotations

from datetime import date, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .demo import EXTRA_DEMO_STEPS, GUIDE_LANGUAGES
from .hours import absence_instants, minute_of
from .models import Absence, AvailabilityWindow, City, Company, User

# email -> [(weekday, start, end)]
DEMO_WINDOWS = {
    "guide@demo.example": [(0, time(9), time(12)), (0, time(13), time(16, 30)), (2, time(9), time(15)),
                           (4, time(10), time(14))],
    "guide2@demo.example": [(0, time(10), time(16)), (1, time(9), time(17)), (3, time(9), time(17))],
    "guide3@demo.example": [(1, time(8), time(13)), (2, time(12), time(18)), (4, time(9), time(13))],
    "guide4@demo.example": [(2, time(9), time(17)), (3, time(13), time(18)), (4, time(8), time(12))],
}


def load_demo_hours(session: Session, cities: dict[str, City], companies: list[Company]) -> list[str]:
    created: list[str] = []
    for email, windows in DEMO_WINDOWS.items():
        guide = session.execute(select(User).where(User.email == email)).scalar_one()
        guide.guide_languages = ",".join(GUIDE_LANGUAGES[email])
        if session.execute(select(AvailabilityWindow.id).where(AvailabilityWindow.guide_id == guide.id)).first():
            continue
        for weekday, start, end in windows:
            session.add(AvailabilityWindow(guide_id=guide.id, weekday=weekday, start_minute=minute_of(start),
                                           end_minute=minute_of(end)))
        created.append(f"hours of {email}")
    guide4 = session.execute(select(User).where(User.email == "guide4@demo.example")).scalar_one()
    if not session.execute(select(Absence.id).where(Absence.guide_id == guide4.id)).first():
        first = date.today() + timedelta(days=21)
        starts_at, ends_at = absence_instants(cities["siegen"], first, first + timedelta(days=6), None, None)
        session.add(Absence(guide_id=guide4.id, first_day=first, last_day=first + timedelta(days=6),
                            starts_at=starts_at, ends_at=ends_at, reason="holiday"))
        created.append("an absence of guide4@demo.example")
    return created


EXTRA_DEMO_STEPS.append(load_demo_hours)


DEMO_PARTNERS = ["Maria", "Jonas", "Aylin", "Sophie", "Lukas", "Elena", "Noah", "Mia", "Ben", "Lea"]
DEMO_INTERESTS = ["housing,schools", "culture,shopping", "sports,nature", "housing,work", "schools,sports"]


def load_demo_tours(session: Session, cities: dict[str, City], companies: list[Company]) -> list[str]:
    """Half a year of past tours (for the reports) and a few coming ones, on the demo guides' windows."""
    import secrets
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from .models import Tour

    if session.execute(select(Tour.id).limit(1)).first():
        return []
    siegen = cities["siegen"]
    zone = ZoneInfo(siegen.timezone)
    hr = session.execute(select(User).where(User.email == "hr@demo.example")).scalar_one()
    hr2 = session.execute(select(User).where(User.email == "hr2@demo.example")).scalar_one()
    guides = {email: session.execute(select(User).where(User.email == email)).scalar_one() for email in DEMO_WINDOWS}
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    now = datetime.now(UTC)
    count = 0
    for week in range(-26, 3):
        if week == 0:
            continue
        for n, (email, windows) in enumerate(DEMO_WINDOWS.items()):
            if (week + n) % 3 == 0:
                continue  # not every guide every week
            weekday, start, _end = windows[0]
            day = monday + timedelta(weeks=week, days=weekday)
            starts_at = datetime.combine(day, start, zone)
            ends_at = starts_at + timedelta(minutes=90)
            if week > 0 and starts_at < now + timedelta(hours=30):
                continue
            if email == "guide4@demo.example" and timedelta(days=21) <= day - date.today() <= timedelta(days=27):
                continue  # the demo absence
            number = count
            past = ends_at < now
            status = "confirmed"
            if past:
                status = "no_show" if number % 17 == 5 else "done"
            if number % 11 == 3:
                status = "cancelled"
            erased = past and ends_at < now - timedelta(days=siegen.erase_after_days)
            booked_by = hr if number % 3 else hr2
            spoken = GUIDE_LANGUAGES[email]
            language = "en" if number % 4 == 1 else "de"
            if language not in spoken:
                language = "de" if "de" in spoken else spoken[0]
            if week == 2 and email == "guide4@demo.example":
                language = "en"  # booked knowingly with a guide who does not speak it: the coordinator sees it
            tour = Tour(
                uid=secrets.token_hex(16), token=None if erased else secrets.token_urlsafe(24), city_id=siegen.id,
                company_id=booked_by.company_id, booked_by_id=booked_by.id, guide_id=guides[email].id,
                status=status, starts_at=starts_at, ends_at=ends_at,
                blocked_until=ends_at + timedelta(minutes=siegen.buffer_minutes),
                assigned_at=starts_at - timedelta(days=10),
                partner_first_name=None if erased else DEMO_PARTNERS[number % len(DEMO_PARTNERS)],
                partner_email=None if erased else f"partner{number}@demo.example",
                partner_language=language, interests=DEMO_INTERESTS[number % 5],
                people=1 + number % 3, meeting_place="company",
                meeting_point=companies[0].address if booked_by is hr else companies[1].address,
                consent_at=starts_at - timedelta(days=10), sequence=0, created_at=starts_at - timedelta(days=10),
                updated_at=starts_at - timedelta(days=10),
                feedback_rating=(5, 4, 5, 3, 4)[number % 5] if status == "done" and number % 2 == 0 else None,
                personal_data_erased_at=now if erased else None,
            )
            if status == "cancelled":
                tour.cancelled_at = starts_at - timedelta(days=2)
                tour.cancelled_by = ("hr", "partner", "coordinator")[number % 3]
            session.add(tour)
            count += 1
    return [f"{count} demo tours"]


EXTRA_DEMO_STEPS.append(load_demo_tours)
