"""The partner's feedback after the tour: a rating from 1 to 5 and an optional comment, given once."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from .database import write_transaction
from .mail import external_url, queue_message
from .models import OutboxMessage, Tour, record, utcnow
from .services import TourError


def feedback_open(tour: Tour, now: datetime) -> bool:
    return (tour.status in ("confirmed", "done") and tour.ends_at <= now and tour.feedback_rating is None
            and tour.personal_data_erased_at is None)


def save_feedback(session: Session, tour: Tour, rating: int, comment: str | None,
                  now: datetime | None = None) -> Tour:
    now = now or utcnow()
    with write_transaction(session):
        session.refresh(tour, with_for_update=True)  # two answers at once: the second sees the first
        if tour.feedback_rating is not None:
            session.rollback()
            raise TourError("feedback_given")
        if not feedback_open(tour, now):
            session.rollback()
            raise TourError("feedback_closed")
        tour.feedback_rating = rating
        tour.feedback_comment = comment or None
        tour.feedback_at = now
        record(session, None, "tour_feedback", tour, city_id=tour.city_id, rating=rating)
        session.commit()
    return tour


def queue_feedback_requests(session: Session, now: datetime | None = None) -> int:
    """The day after a tour, partners with an email are asked how it was (once per tour)."""
    now = now or utcnow()
    tours = session.execute(
        select(Tour).options(joinedload(Tour.city))
        .where(Tour.status.in_(("confirmed", "done")), Tour.partner_email.is_not(None),
               Tour.feedback_rating.is_(None), Tour.ends_at <= now, Tour.ends_at > now - timedelta(days=3))
    ).scalars().all()
    count = 0
    for tour in tours:
        zone = ZoneInfo(tour.city.timezone)
        if tour.ends_at.astimezone(zone).date() >= now.astimezone(zone).date():
            continue  # not before the next day
        if now >= tour.ends_at + timedelta(days=tour.city.partner_link_days):
            continue  # the link no longer works: nothing to ask with
        key = f"feedback:{tour.id}:{tour.partner_email}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        if session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == digest)).first():
            continue
        with force_locale(tour.partner_language):
            subject = _("How was your tour of %(city)s?", city=tour.city.name)
        queue_message(session, key=key, kind="partner_feedback", recipient=tour.partner_email,
                      language=tour.partner_language, subject=subject, template="partner_feedback",
                      context={"partner_link": external_url("partner.page", token=tour.token) + "#feedback"},
                      city=tour.city, tour=tour)
        count += 1
    session.commit()
    return count
