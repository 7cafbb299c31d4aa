"""Data protection: partner data erases itself some days after the tour; the privacy notice and the
accessibility statement."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import Blueprint, abort
from flask_babel import get_locale
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from .extensions import db
from .htmx import render
from .models import AuditEntry, City, OutboxMessage, Tour, utcnow

ERASED_FIELDS = ("partner_first_name", "partner_last_name", "partner_email", "partner_phone", "guide_note",
                 "accessibility_needs", "feedback_comment")


def purge_partner_data(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Erase the partner's personal data of every tour that ended the city's number of days ago (cancelled
    tours too), invalidate the partner link and drop the tour's mail from the outbox. Anonymous facts
    (times, company, language, interests, people, status, rating) stay for the reports. Safe to run twice."""
    now = now or utcnow()
    totals: dict[str, int] = {}
    for city in session.execute(select(City).order_by(City.id)).scalars():
        cutoff = now - timedelta(days=city.erase_after_days)
        due = and_(Tour.city_id == city.id, Tour.ends_at < cutoff, Tour.personal_data_erased_at.is_(None))
        ids = session.execute(select(Tour.id).where(due)).scalars().all()
        if not ids:
            continue
        erased = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            erased += session.execute(
                update(Tour).where(Tour.id.in_(chunk)).values(
                    **{name: None for name in ERASED_FIELDS}, token=None, personal_data_erased_at=now,
                )
            ).rowcount or 0
            # Messages carry names and addresses: the outbox keeps nothing of an erased tour.
            session.execute(
                OutboxMessage.__table__.delete().where(
                    OutboxMessage.tour_id.in_(chunk), OutboxMessage.status.in_(("sent", "failed", "pending"))
                )
            )
        session.add(AuditEntry(
            actor_id=None, actor_label="system", action="partner_data_erased", object_type="city",
            object_id=city.id, city_id=city.id, details={"tours": erased, "older_than_days": city.erase_after_days},
        ))
        totals[city.slug] = erased
        session.commit()
    return totals


# --- pages ----------------------------------------------------------------------------------------

bp = Blueprint("privacy", __name__)


@bp.get("/privacy/<slug>")
def notice(slug: str):
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
