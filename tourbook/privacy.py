"""Data protection: partner data erases itself some days after the tour; the privacy notice and the
accessibility statement."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort
from flask_babel import get_locale
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from .access import valid_slug
from .extensions import db
from .htmx import render
from .models import City, OutboxMessage, Tour, record, utcnow

ERASED_FIELDS = ("partner_first_name", "partner_last_name", "partner_email", "partner_phone", "guide_note",
                 "accessibility_needs", "feedback_comment", "cancel_reason")


def purge_partner_data(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Erase the partner's personal data of every tour that ended the city's number of days ago (cancelled
    tours too), invalidate the partner link and drop the tour's mail from the outbox. Anonymous facts
    (times, company, language, interests, people, status, who cancelled, rating) stay for the reports.

    Safe to run twice, also at the same time: a tour is erased once, and only a run that erased something
    writes an audit entry (with counts, never data). Returns the number of tours erased per city slug."""
    now = now or utcnow()
    totals: dict[str, int] = {}
    for city in session.execute(select(City).order_by(City.id)).scalars().all():
        cutoff = now - timedelta(days=city.erase_after_days)
        # One statement: the same tour is never erased (or counted) by two runs at once, since the second
        # one's condition no longer holds for the rows the first has changed.
        erased = session.execute(
            update(Tour).where(Tour.city_id == city.id, Tour.ends_at < cutoff,
                               Tour.personal_data_erased_at.is_(None)).values(
                **dict.fromkeys(ERASED_FIELDS), token=None, personal_data_erased_at=now,
                # A change calendars must see: the guide's feed answers with the erased event, not 304.
                sequence=Tour.sequence + 1, updated_at=now,
            ).execution_options(synchronize_session=False)
        ).rowcount or 0
        # Messages carry names and addresses: the outbox keeps nothing of an erased tour. One a worker is
        # sending right now is left to it and removed by a later run.
        messages = session.execute(
            delete(OutboxMessage).where(
                OutboxMessage.status != "sending",
                OutboxMessage.tour_id.in_(
                    select(Tour.id).where(Tour.city_id == city.id, Tour.personal_data_erased_at.is_not(None))
                ),
            ).execution_options(synchronize_session=False)
        ).rowcount or 0
        if erased or messages:
            record(session, None, "partner_data_erased", city, city_id=city.id, tours=erased, messages=messages,
                   older_than_days=city.erase_after_days)
        if erased:
            totals[city.slug] = erased
        session.commit()
    return totals


# --- pages ----------------------------------------------------------------------------------------

bp = Blueprint("privacy", __name__)


@bp.get("/privacy/<slug>")
def notice(slug: str):
    if not valid_slug(slug):
        abort(404)
    city = db.session.execute(select(City).where(City.slug == slug)).scalar_one_or_none()
    if city is None:
        abort(404)
    own = city.privacy_text_de if str(get_locale()) == "de" else city.privacy_text_en
    return render("privacy/notice.html", city=city, own_text=own)


@bp.get("/privacy")
def notices():
    cities = db.session.execute(select(City).order_by(City.name)).scalars().all()
    return render("privacy/index.html", cities=cities)


@bp.get("/accessibility")
def accessibility():
    cities = db.session.execute(
        select(City).where(or_(City.office_email != "", City.office_phone != "")).order_by(City.name)
    ).scalars().all()
    return render("privacy/accessibility.html", cities=cities)
