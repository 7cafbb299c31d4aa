"""What a coordinator needs to see at a glance: the next two weeks, what needs attention, the guides' load."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select
from sqlalchemy.orm import Session, contains_eager, joinedload

from .models import City, OutboxMessage, Role, Tour, User


@dataclass
class GuideLoad:
    guide: User
    tours: int
    capacity: int

    @property
    def share(self) -> int:
        return round(100 * self.tours / self.capacity) if self.capacity else 0


def lacking_language(query: Select, now: datetime) -> Select:
    """The upcoming confirmed tours of ``query`` whose guide does not speak the partner's language (an HR user
    booked them knowingly, or the partner changed the language when nobody who speaks it was free) and whom no
    coordinator chose to keep (``Tour.language_accepted``), with their guide, company and city. A guide's
    languages are a comma-separated list: ",de,en," holds ",en,"."""
    speaks = (literal(",") + User.guide_languages + literal(",")).contains(
        literal(",") + Tour.partner_language + literal(",")
    )
    return (
        query.join(User, Tour.guide_id == User.id)
        .options(contains_eager(Tour.guide), joinedload(Tour.company), joinedload(Tour.city))
        .where(Tour.status == "confirmed", Tour.ends_at > now, ~speaks, Tour.language_accepted.is_(False))
        .order_by(Tour.starts_at)
    )


def city_overview(session: Session, city: City, now: datetime) -> dict:
    zone = ZoneInfo(city.timezone)
    today = now.astimezone(zone).date()
    two_weeks = datetime.combine(today + timedelta(days=15), time(), zone)
    upcoming = session.execute(
        select(Tour).options(joinedload(Tour.company), joinedload(Tour.guide))
        .where(Tour.city_id == city.id, Tour.ends_at > now, Tour.starts_at < two_weeks,
               Tour.status != "cancelled")
        .order_by(Tour.starts_at)
    ).scalars().all()
    needs_guide = [t for t in upcoming if t.status == "needs_guide"] + list(session.execute(
        select(Tour).options(joinedload(Tour.company))
        .where(Tour.city_id == city.id, Tour.status == "needs_guide", Tour.starts_at >= two_weeks)
        .order_by(Tour.starts_at)
    ).scalars())
    lacks_language = session.execute(
        lacking_language(select(Tour).where(Tour.city_id == city.id), now)
    ).unique().scalars().all()
    unmarked = session.execute(
        select(Tour).options(joinedload(Tour.company), joinedload(Tour.guide))
        .where(Tour.city_id == city.id, Tour.status == "confirmed", Tour.ends_at < now - timedelta(days=2),
               Tour.personal_data_erased_at.is_(None))
        .order_by(Tour.starts_at)
    ).scalars().all()
    without_feedback = session.execute(
        select(func.count()).select_from(Tour)
        .where(Tour.city_id == city.id, Tour.status == "done", Tour.feedback_rating.is_(None),
               Tour.ends_at > now - timedelta(days=city.partner_link_days))
    ).scalar_one()
    failed_mail = session.execute(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.city_id == city.id, OutboxMessage.status == "failed")
    ).scalar_one()

    first = date(today.year, today.month, 1)
    days = calendar.monthrange(today.year, today.month)[1]
    month_start = datetime.combine(first, time(), zone)
    month_end = datetime.combine(first + timedelta(days=days), time(), zone)
    guides = session.execute(
        select(User).where(User.city_id == city.id, User.role == Role.GUIDE, User.active.is_(True))
        .order_by(User.name)
    ).scalars().all()
    counts = dict(session.execute(
        select(Tour.guide_id, func.count()).where(
            Tour.city_id == city.id, Tour.status.in_(("confirmed", "done", "no_show")),
            Tour.starts_at >= month_start, Tour.starts_at < month_end,
        ).group_by(Tour.guide_id)
    ).all())
    load = [GuideLoad(g, counts.get(g.id, 0), round(g.weekly_limit * days / 7)) for g in guides]
    return {
        "upcoming": upcoming, "needs_guide": needs_guide, "lacks_language": lacks_language,
        "unmarked": unmarked,
        "without_feedback": without_feedback, "failed_mail": failed_mail, "load": load, "month": first,
    }
