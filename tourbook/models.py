"""Typed SQLAlchemy models. Instants are stored as UTC; local times are derived at the edges."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Role(enum.StrEnum):
    ADMIN = "admin"
    COORDINATOR = "coordinator"
    GUIDE = "guide"
    HR = "hr"


ROLES = tuple(r.value for r in Role)
LANGUAGES = ("de", "en")

company_cities = Table(
    "company_cities",
    db.metadata,
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Column("city_id", ForeignKey("cities.id", ondelete="CASCADE"), primary_key=True),
)


class City(db.Model):
    __tablename__ = "cities"
    __table_args__ = (
        CheckConstraint("lead_time_hours >= 0 AND lead_time_hours <= 720", name="lead_time"),
        CheckConstraint("horizon_days >= 1 AND horizon_days <= 730", name="horizon"),
        CheckConstraint(
            "min_duration_minutes >= 15 AND max_duration_minutes <= 720 "
            "AND min_duration_minutes <= max_duration_minutes",
            name="durations",
        ),
        CheckConstraint("buffer_minutes >= 0 AND buffer_minutes <= 240", name="buffer"),
        CheckConstraint("partner_link_days >= 0 AND partner_link_days <= 365", name="partner_link_days"),
        CheckConstraint("erase_after_days >= 1 AND erase_after_days <= 365", name="erase_after_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    lead_time_hours: Mapped[int] = mapped_column(Integer, default=24)
    horizon_days: Mapped[int] = mapped_column(Integer, default=120)
    min_duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    max_duration_minutes: Mapped[int] = mapped_column(Integer, default=240)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=15)
    holiday_country: Mapped[str] = mapped_column(String(2), default="DE")
    holiday_subdivision: Mapped[str | None] = mapped_column(String(10), default="NW")
    office_phone: Mapped[str] = mapped_column(String(40), default="")
    office_email: Mapped[str] = mapped_column(String(254), default="")
    partner_link_days: Mapped[int] = mapped_column(Integer, default=14)
    erase_after_days: Mapped[int] = mapped_column(Integer, default=30)
    # The privacy notice for partners, kept by the coordinator; empty means the built-in default text.
    privacy_text_de: Mapped[str] = mapped_column(Text, default="", server_default="")
    privacy_text_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    companies: Mapped[list[Company]] = relationship(
        secondary=company_cities, back_populates="cities", order_by="Company.name"
    )

    def __repr__(self) -> str:
        return f"<City {self.slug}>"


class Company(db.Model):
    __tablename__ = "companies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), unique=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    cities: Mapped[list[City]] = relationship(
        secondary=company_cities, back_populates="companies", order_by="City.name"
    )

    def __repr__(self) -> str:
        return f"<Company {self.name}>"


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'coordinator', 'guide', 'hr')", name="role"),
        CheckConstraint(
            "(role NOT IN ('coordinator', 'guide') OR city_id IS NOT NULL)"
            " AND (role != 'hr' OR company_id IS NOT NULL)",
            name="role_scope",
        ),
        CheckConstraint("language IN ('de', 'en')", name="language"),
        CheckConstraint("daily_limit >= 0 AND daily_limit <= 20", name="daily_limit"),
        CheckConstraint("weekly_limit >= 0 AND weekly_limit <= 100", name="weekly_limit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="RESTRICT"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id", ondelete="RESTRICT"), index=True)
    language: Mapped[str] = mapped_column(String(5), default="de")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reset_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Calendar feed (guides and coordinators): a random nonce; the token is HMAC(secret key, nonce) and the
    # database keeps only its SHA-256, so neither a copy of the database nor of the logs reveals a feed URL.
    feed_nonce: Mapped[str | None] = mapped_column(String(64))
    feed_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Counts the changes of the guide's tours (database triggers on tours, migration 0007): the ETag of their
    # calendar feed, without reading the tours.
    feed_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Guides only: the languages they guide in (comma-separated codes) and their tour limits.
    guide_languages: Mapped[str] = mapped_column(String(60), default="de", server_default="de")
    daily_limit: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    weekly_limit: Mapped[int] = mapped_column(Integer, default=6, server_default="6")

    city: Mapped[City | None] = relationship()
    company: Mapped[Company | None] = relationship()

    @property
    def languages(self) -> list[str]:
        return [code for code in self.guide_languages.split(",") if code]

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_authenticated(self) -> bool:
        """A user object as current_user is signed in (the loader never returns an inactive one). Flask-Login's
        default asks is_active, which after a commit would load the user again only to answer."""
        return True

    @property
    def first_name(self) -> str:
        return self.name.split()[0] if self.name.strip() else self.name

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class LoginSession(db.Model):
    """One signed-in browser. The cookie holds only a random id whose hash is stored here."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship()


class PasswordToken(db.Model):
    """A one-time link to set a password (invitation or reset). Only the hash is stored."""

    __tablename__ = "password_tokens"
    __table_args__ = (CheckConstraint("purpose IN ('invite', 'reset')", name="purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(foreign_keys=[user_id])


class AuditEntry(db.Model):
    """Who did what to which object, and when. Never updated, never deleted by the application."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor_label: Mapped[str] = mapped_column(String(260), default="")
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="SET NULL"), index=True)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


# An object's history (who declined a tour, on its page and when it is reassigned) without reading the whole log.
Index("ix_audit_log_object", AuditEntry.object_type, AuditEntry.object_id)

_AUDIT_INSERT = AuditEntry.__table__.insert()


def record(session: Any, actor: User | None, action: str, obj: Any, city_id: int | None = None,
           **details: Any) -> None:
    """Write an audit entry in the session's transaction (committed with the change it describes). One
    INSERT, built once: entries are never read back or changed, so the unit of work has nothing to track."""
    if getattr(obj, "id", 0) is None:
        session.flush()
    session.execute(_AUDIT_INSERT, {
        "at": utcnow(),
        "actor_id": actor.id if actor else None,
        "actor_label": actor.email if actor else "system",
        "action": action,
        "object_type": type(obj).__name__.lower(),
        "object_id": getattr(obj, "id", None),
        "city_id": city_id,
        "details": details,
    })


# --- guides' hours --------------------------------------------------------------------------------

EARLIEST_MINUTE = 6 * 60
LATEST_MINUTE = 22 * 60


class AvailabilityWindow(db.Model):
    """A weekly time window in local wall-clock time, e.g. Monday 09:00–12:00."""

    __tablename__ = "availability_windows"
    __table_args__ = (
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint(
            f"start_minute >= {EARLIEST_MINUTE} AND end_minute <= {LATEST_MINUTE} AND start_minute < end_minute"
            " AND start_minute % 15 = 0 AND end_minute % 15 = 0",
            name="times",
        ),
        CheckConstraint("valid_until IS NULL OR valid_from IS NULL OR valid_from <= valid_until", name="validity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)


ABSENCE_REASONS = ("holiday", "illness", "training", "other")


class Absence(db.Model):
    """A guide is away: whole days, or from a time on the first day to a time on the last.
    The instants are derived from the local entry and stored for range queries."""

    __tablename__ = "absences"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="order"),
        CheckConstraint("reason IN ('holiday', 'illness', 'training', 'other')", name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    start_minute: Mapped[int | None] = mapped_column(Integer)  # None: from the start of the first day
    end_minute: Mapped[int | None] = mapped_column(Integer)  # None: to the end of the last day
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(20), default="holiday")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HolidayOptIn(db.Model):
    """A guide works on this public holiday after all."""

    __tablename__ = "holiday_opt_ins"
    __table_args__ = (UniqueConstraint("guide_id", "day", name="uq_holiday_opt_ins_guide_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    guide_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    day: Mapped[date] = mapped_column(Date)


# --- tours ----------------------------------------------------------------------------------------

TOUR_STATES = ("confirmed", "needs_guide", "cancelled", "done", "no_show")
# States in which a tour occupies its guide (the exclusion constraint and the engine agree on these).
BLOCKING_STATES = ("confirmed", "done", "no_show")
INTERESTS = ("housing", "schools", "sports", "culture", "shopping", "nature", "work")
MEETING_PLACES = ("company", "station", "city_hall")  # Tour.meeting_place


class Tour(db.Model):
    __tablename__ = "tours"
    __table_args__ = (
        CheckConstraint("starts_at < ends_at", name="order"),
        CheckConstraint("ends_at <= blocked_until", name="blocked_until"),
        CheckConstraint(
            "status IN ('confirmed', 'needs_guide', 'cancelled', 'done', 'no_show')", name="status"
        ),
        CheckConstraint("people >= 1 AND people <= 20", name="people"),
        CheckConstraint("status != 'confirmed' OR guide_id IS NOT NULL", name="confirmed_has_guide"),
        CheckConstraint("feedback_rating IS NULL OR (feedback_rating >= 1 AND feedback_rating <= 5)",
                        name="feedback_rating"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(64), unique=True)  # opaque, stable calendar UID
    token: Mapped[str | None] = mapped_column(String(64), unique=True)  # the partner's link; None once erased
    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id", ondelete="RESTRICT"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="RESTRICT"))
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    guide_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="confirmed")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # ends_at plus the city's buffer when booked: what the guide's time is blocked until.
    blocked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner_first_name: Mapped[str | None] = mapped_column(String(80))
    partner_last_name: Mapped[str | None] = mapped_column(String(80))
    partner_email: Mapped[str | None] = mapped_column(String(254))
    partner_phone: Mapped[str | None] = mapped_column(String(40))
    partner_language: Mapped[str] = mapped_column(String(5), default="de")
    interests: Mapped[str] = mapped_column(String(200), default="")  # comma-separated INTERESTS
    people: Mapped[int] = mapped_column(Integer, default=1)
    accessibility_needs: Mapped[str | None] = mapped_column(Text)
    guide_note: Mapped[str | None] = mapped_column(Text)
    meeting_point: Mapped[str] = mapped_column(String(300), default="")
    # What was chosen (MEETING_PLACES): for "station" and "city_hall" the place is named in the reader's
    # language (i18n.meeting_point_text) and meeting_point holds its name in the partner's language; for
    # "company" meeting_point is the company's address. None: a tour booked before, its text as written.
    meeting_place: Mapped[str | None] = mapped_column(String(20))
    # A coordinator chose to keep a guide who does not speak the partner's language (by hand, knowing it):
    # the attention lists leave the tour out. Any other change of guide or language takes it back (below).
    language_accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The booking form's own random key: the same form sent twice (a double click, a reload of the post) books
    # one tour. Unique (a twin in flight waits for it, then fails and finds the tour).
    request_key: Mapped[str | None] = mapped_column(String(32))

    sequence: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(20))  # hr, partner, coordinator
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The partner's feedback after the tour (the comment is personal data and erased with the rest).
    feedback_rating: Mapped[int | None] = mapped_column(Integer)
    feedback_comment: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    city: Mapped[City] = relationship()
    company: Mapped[Company] = relationship()
    guide: Mapped[User | None] = relationship(foreign_keys=[guide_id])
    booked_by: Mapped[User | None] = relationship(foreign_keys=[booked_by_id])

    @property
    def interest_list(self) -> list[str]:
        return [i for i in self.interests.split(",") if i]

    def within_lead_time(self, now: datetime) -> bool:
        """The tour starts sooner than the city's lead time: too soon to be booked, and for another guide to
        take it over because the partner asked for another language (the guide may be on the way already)."""
        return self.starts_at < now + timedelta(hours=self.city.lead_time_hours)

    @property
    def guide_lacks_language(self) -> bool:
        """The confirmed tour's guide does not speak the partner's language (an HR user booked them knowingly,
        or the partner changed the language and nobody who speaks it was free): the pages say so (the SQL of
        overview.lacking_language asks the same, and leaves out the tours a coordinator chose to keep so)."""
        guide = self.guide if self.status == "confirmed" else None
        return guide is not None and bool(self.partner_language) and self.partner_language not in guide.languages


# Covering on PostgreSQL: the loader reads a guide's tours in a range from the index alone.
Index("ix_tours_guide_time", Tour.guide_id, Tour.starts_at,
      postgresql_include=["status", "ends_at", "blocked_until", "id"])
Index("ix_tours_city_time", Tour.city_id, Tour.starts_at)
Index("uq_tours_request_key", Tour.request_key, unique=True)
Index("ix_tours_company_time", Tour.company_id, Tour.starts_at)
Index("ix_tours_guide_assigned", Tour.guide_id, Tour.assigned_at)  # a guide's last assignment: one index probe


# --- mail -----------------------------------------------------------------------------------------

OUTBOX_STATES = ("pending", "sending", "sent", "failed")


class OutboxMessage(db.Model):
    """A message written in the same transaction as the change that causes it, sent later by the worker.

    ``dedupe_key`` names the change and the recipient: the same change never queues a message twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sending', 'sent', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    ics: Mapped[str | None] = mapped_column(Text)
    ics_method: Mapped[str | None] = mapped_column(String(10))
    # A tour's message is written by the worker (mail.render_message) from what the tour was at the change:
    # until then subject and bodies are empty and these hold the template, the reader's language and the snapshot
    # (JSON); writing it empties the snapshot.
    template: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(5))
    snapshot: Mapped[str | None] = mapped_column(Text)
    tour_id: Mapped[int | None] = mapped_column(ForeignKey("tours.id", ondelete="SET NULL"), index=True)
    city_id: Mapped[int | None] = mapped_column(ForeignKey("cities.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


Index("ix_outbox_due", OutboxMessage.status, OutboxMessage.next_attempt_at)


Index("ix_absences_guide_ends", Absence.guide_id, Absence.ends_at)
