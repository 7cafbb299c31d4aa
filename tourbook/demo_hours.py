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
