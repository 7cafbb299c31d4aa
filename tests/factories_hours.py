"""Rows of guides' hours written straight to the database (bypassing the validation of hours.add_window),
for tests that need a guide's windows as given."""

from __future__ import annotations

from datetime import date, time

from tourbook.extensions import db
from tourbook.hours import minute_of
from tourbook.models import AvailabilityWindow, User


def store_window(guide: User, weekday: int, start: time, end: time, valid_from: date | None = None,
                 valid_until: date | None = None) -> AvailabilityWindow:
    window = AvailabilityWindow(
        guide_id=guide.id, weekday=weekday, start_minute=minute_of(start), end_minute=minute_of(end),
        valid_from=valid_from, valid_until=valid_until,
    )
    db.session.add(window)
    db.session.commit()
    return window
