"""Calendar subscriptions: each guide's feed of their tours, each coordinator's feed of the city's tours.

The URL carries a secret token (256 bits). The token is HMAC(secret key, the user's feed nonce); the
database keeps only the token's SHA-256, so a copy of the database alone reveals no feed. Rotating the
nonce makes the old URL stop at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import DateTime, String, bindparam, case, cast, func, literal, or_, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ScalarSelect

from .access import roles_required
from .calendars import CalendarEvent, render_calendar, vevent
from .database import end_transaction_keeping_what_was_read
from .extensions import db, limiter
from .forms import INTEREST_CHOICES
from .htmx import redirect_to, render
from .i18n import meeting_point
from .mail import external_url
from .models import City, Company, Role, Tour, User, record, utcnow

bp = Blueprint("feeds", __name__)

PAST_DAYS = 60
FUTURE_DAYS = 365
CANCELLED_KEPT_DAYS = 60
REFRESH = "PT1H"


# --- tokens ---------------------------------------------------------------------------------------


def _token(user: User) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, f"feed:{user.id}:{user.feed_nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def ensure_feed_token(user: User) -> str:
    """The user's current feed token, created on first use (the caller commits). After a change of the
    secret key the token is a new one: its hash is stored again, so the address shown works."""
    if not user.feed_nonce:
        user.feed_nonce = secrets.token_hex(16)
    token = _token(user)
    if user.feed_token_hash != _hash(token):
        user.feed_token_hash = _hash(token)
    return token


def rotate_feed_token(session: Session, actor: User | None, user: User) -> str:
    user.feed_nonce = secrets.token_hex(16)
    token = _token(user)
    user.feed_token_hash = _hash(token)
    record(session, actor, "feed_rotated", user, city_id=user.city_id)
    return token


def feed_url(user: User) -> str:
    token = ensure_feed_token(user)
    return external_url("feeds.feed", token=token)


# --- the feed -------------------------------------------------------------------------------------
#
# A calendar client asks every few minutes to hours, mostly to hear "unchanged": the statements are built
# once, from the tables (no ORM objects), and take their values as parameters.

_users, _cities = User.__table__.c, City.__table__.c
_tours, _companies = Tour.__table__.c, Company.__table__.c


@dataclass(frozen=True, slots=True)
class FeedOwner:
    """Whose feed a token opens: a guide (their tours) or a coordinator (their city's)."""

    user_id: int
    role: str
    language: str
    nonce: str
    city_id: int
    city_name: str
    timezone: str
    fingerprint: str = ""  # what tells whether the feed changed: the guide's feed_version, the city's _fingerprint

    @property
    def scope_id(self) -> int:
        return self.user_id if self.role == Role.GUIDE else self.city_id


def _in_window(owner_column):  # noqa: ANN001, ANN202
    return (
        owner_column == bindparam("owner"),
        _tours.starts_at >= bindparam("start"),
        _tours.starts_at < bindparam("end"),
        # Cancelled tours stay for a while, with a marked title.
        or_(_tours.status != "cancelled", _tours.cancelled_at >= bindparam("cancelled_since")),
    )


def _fingerprint(scope) -> ScalarSelect:  # noqa: ANN001
    """Count, latest change and sum of sequences of the owner's tours in a range that holds the feed's
    window in any time zone (two days wider on each side, with no filter on cancellations). Every change of a
    tour in the feed changes it (its updated_at becomes the latest; one leaving changes the count); what
    only passes with the days (tours leaving the window) is in the ETag through today's date. A wider range
    only costs a 200 where a 304 would have done, never the other way round."""
    return (
        select(
            cast(func.count(_tours.id), String) + ":" + func.coalesce(cast(func.max(_tours.updated_at), String), "")
            + ":" + cast(func.coalesce(func.sum(_tours.sequence), 0), String)
        )
        .where(scope, _tours.starts_at >= bindparam("around_start"), _tours.starts_at < bindparam("around_end"))
        .scalar_subquery()
    )


# The token, its owner and what tells whether their feed changed, in one statement: a calendar client asks
# every few minutes to hours, mostly to hear "unchanged", and that answer needs nothing else. For a guide it
# is users.feed_version, which triggers on tours count up with every change of their tours (migration
# 0007); for a coordinator, whose feed is the whole city's, the fingerprint of the city's tours (a counter
# on the city would be written by every booking of the city and make them wait for each other).
_OWNER = (
    select(_users.id, _users.role, _users.language, _users.feed_nonce, _users.feed_token_hash, _cities.id,
           _cities.name, _cities.timezone,
           case((_users.role == Role.COORDINATOR.value, _fingerprint(_tours.city_id == _users.city_id)),
                else_=literal("")),
           _users.feed_version)
    .join_from(User.__table__, City.__table__, _cities.id == _users.city_id)
    .where(_users.feed_token_hash == bindparam("wanted"), _users.active.is_(True),
           # Two comparisons rather than IN (…): literal lists in IN are rendered into the SQL on every call.
           or_(_users.role == Role.GUIDE.value, _users.role == Role.COORDINATOR.value))
)
_SCOPES = {Role.GUIDE.value: _tours.guide_id, Role.COORDINATOR.value: _tours.city_id}
# Only what an event shows: no partner data is even read. The instants come as the driver gives them
# (aware on PostgreSQL, naive UTC on SQLite), without UTCDateTime's conversion of each: most rows only serve
# as the key of an event written before (_written_event), which converts the others.
_RAW = DateTime(timezone=True)
_EVENTS = {
    role: select(_tours.id, _tours.uid, _tours.sequence, type_coerce(_tours.starts_at, _RAW),
                 type_coerce(_tours.ends_at, _RAW), _tours.status, _tours.meeting_point,
                 _tours.meeting_place, type_coerce(_tours.updated_at, _RAW), _tours.partner_language, _tours.people,
                 _tours.interests, _tours.accessibility_needs, _companies.name.label("company_name"))
    .join_from(Tour.__table__, Company.__table__, _companies.id == _tours.company_id)
    .where(*_in_window(column))
    .order_by(_tours.starts_at, _tours.id)
    for role, column in _SCOPES.items()
}
_CITY_LAST_CHANGE = select(func.max(_tours.updated_at)).where(
    _tours.city_id == bindparam("city"), _tours.starts_at >= bindparam("start"),
    _tours.starts_at < bindparam("end"),
)


def _owner_for_token(conn: Connection, token: str) -> FeedOwner | None:
    if len(token) != 43:
        return None
    wanted = _hash(token)
    now = utcnow()
    around = {"around_start": now - timedelta(days=PAST_DAYS + 2), "around_end": now + timedelta(days=FUTURE_DAYS + 3)}
    row = conn.execute(_OWNER, {"wanted": wanted, **around}).first()
    if row is None or not hmac.compare_digest(row[4] or "", wanted):
        return None
    fingerprint = f"v{row[9]}" if row[1] == Role.GUIDE else row[8] or ""
    return FeedOwner(row[0], row[1], row[2], row[3], row[5], row[6], row[7], fingerprint)


def _today(owner: FeedOwner) -> date:
    return utcnow().astimezone(ZoneInfo(owner.timezone)).date()


def _window(owner: FeedOwner) -> dict[str, object]:
    """Day-aligned bounds, so the feed only changes when a tour changes or a day passes."""
    today = _today(owner)
    zone = ZoneInfo(owner.timezone)
    return {
        "owner": owner.scope_id,
        "start": datetime.combine(today - timedelta(days=PAST_DAYS), time(), zone),
        "end": datetime.combine(today + timedelta(days=FUTURE_DAYS + 1), time(), zone),
        "cancelled_since": datetime.combine(today - timedelta(days=CANCELLED_KEPT_DAYS), time(), zone),
    }


def _aware(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):  # SQLite may return max() of a datetime column as text
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _etag(owner: FeedOwner) -> str:
    """A strong validator without rendering: what the feed holds (the fingerprint), the day, the language
    and the host the UIDs and links are written for."""
    key = f"{owner.user_id}:{owner.nonce}:{owner.language}:{owner.fingerprint}:{_today(owner).isoformat()}:" \
          f"{owner.city_name}:{calendar_domain()}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


def _last_modified(conn: Connection, owner: FeedOwner) -> datetime:
    """When the feed last changed, to the second. The latest change of any tour of the city in the window,
    not only of the user's: a tour given to another guide leaves this guide's feed, and its change must
    count here. The window moves at midnight, when tours leave it, so the day's start counts too."""
    window = _window(owner)
    last = _aware(conn.execute(_CITY_LAST_CHANGE, {**window, "city": owner.city_id}).scalar())
    midnight = datetime.combine(_today(owner), time(), ZoneInfo(owner.timezone)).astimezone(UTC)
    return max(midnight, last or midnight).replace(microsecond=0)


class EventTexts:
    """The phrases of a tour's event in the current locale, looked up once for a whole feed rather than
    once per tour (gettext through Flask-Babel costs more than writing the event)."""

    def __init__(self) -> None:
        from .main import language_label

        self.company = _("Company: %(name)s")
        self.language = _("Language: %(lang)s")
        self.people = _("People: %(num)d")
        self.interests = _("Interests: %(list)s")
        self.needs = _("Accessibility needs: %(text)s")
        self.details = _("Details (sign-in needed): %(url)s")
        self.summary = _("Partner tour – %(company)s")
        self.cancelled = _("CANCELLED: %(summary)s")
        self.places = {"station": _("%(city)s main station"), "city_hall": _("City hall %(city)s")}
        self.interest_labels = {key: str(label) for key, label in INTEREST_CHOICES}
        self._language_label = language_label
        self._languages: dict[str, str] = {}

    def meeting_point(self, place: str | None, text: str, city_name: str) -> str:
        """As i18n.meeting_point_text, with the phrases of this language."""
        return self.places[place] % {"city": city_name} if place in self.places else text

    def language_label(self, code: str) -> str:
        if code not in self._languages:
            self._languages[code] = self._language_label(code)
        return self._languages[code]


def tour_calendar_event(tour: Tour, with_link: bool = True, texts: EventTexts | None = None) -> CalendarEvent:
    """A tour as an event, without personal data of the partner (no name, email or phone)."""
    link = external_url("tours.show", tour_id=tour.id) if with_link else None
    return _event(
        texts or EventTexts(), link, tour.uid, tour.sequence, tour.starts_at, tour.ends_at, tour.status,
        meeting_point(tour), tour.updated_at, tour.partner_language, tour.people, tour.interests,
        tour.accessibility_needs, tour.company.name,
    )


def partner_calendar_event(tour: Tour, partner_link: str | None, city: City | None) -> CalendarEvent:
    """The tour as the partner's calendar has it (download and invitations): the same event (UID, sequence),
    with what the partner needs on the day — the city office's phone and their page, which names the guide
    (a calendar entry would keep a guide's name after the tour went to another guide: the partner is not
    sent a new invitation for that)."""
    lines = []
    if city is not None and city.office_phone:
        lines.append(_("City office: %(phone)s", phone=city.office_phone))
    if partner_link:
        lines.append(_("Your tour page: %(url)s", url=partner_link))
    summary = _("Partner tour of %(city)s", city=city.name) if city is not None else _("Partner tour")
    cancelled = tour.status == "cancelled"
    if cancelled:
        summary = _("CANCELLED: %(summary)s", summary=summary)
    return CalendarEvent(uid=tour.uid, sequence=tour.sequence, start=tour.starts_at, end=tour.ends_at,
                         summary=summary, location=meeting_point(tour), description="\n".join(lines),
                         cancelled=cancelled, last_modified=tour.updated_at, url=partner_link)


def _event(texts: EventTexts, link: str | None, uid: str, sequence: int, starts_at: datetime,
           ends_at: datetime, status: str, meeting_point: str, updated_at: datetime, language: str,
           people: int, interests: str, needs: str | None, company: str) -> CalendarEvent:
    lines = [
        texts.company % {"name": company},
        texts.language % {"lang": texts.language_label(language)},
        texts.people % {"num": people},
    ]
    if interests:
        labels = ", ".join(texts.interest_labels.get(i, i) for i in interests.split(",") if i)
        lines.append(texts.interests % {"list": labels})
    if needs:
        lines.append(texts.needs % {"text": needs})
    if link:
        lines.append(texts.details % {"url": link})
    summary = texts.summary % {"company": company}
    cancelled = status == "cancelled"
    if cancelled:
        summary = texts.cancelled % {"summary": summary}
    return CalendarEvent(uid=uid, sequence=sequence, start=starts_at, end=ends_at, summary=summary,
                         location=meeting_point, description="\n".join(lines), cancelled=cancelled,
                         last_modified=updated_at, url=link)


def calendar_domain() -> str:
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.split("//")[-1].split("/")[0].split(":")[0] or "tourbook"


@lru_cache(maxsize=16)
def _event_texts(language: str) -> EventTexts:
    """The phrases of one language (called inside force_locale(language); translations do not change while
    the application runs)."""
    return EventTexts()


@lru_cache(maxsize=10_000)
def _written_event(language: str, domain: str, link_head: str, link_tail: str, city_name: str, row: tuple) -> str:
    """A tour's VEVENT as the feed writes it, kept for the next request: calendar clients fetch an unchanged
    feed again and again (not all send If-None-Match), and a changed feed mostly differs in one tour. The
    key holds every value the text depends on (the row, the language, host, link and city name), so a
    change of any of them writes the event anew."""
    tour_id, uid, sequence, starts_at, ends_at, status, point, place, updated_at, *rest = row
    starts_at, ends_at, updated_at = (
        v if v.tzinfo else v.replace(tzinfo=UTC) for v in (starts_at, ends_at, updated_at))
    texts = _event_texts(language)
    event = _event(texts, f"{link_head}{tour_id}{link_tail}", uid, sequence, starts_at, ends_at,
                   status, texts.meeting_point(place, point, city_name), updated_at, *rest)
    return vevent(event, domain)


def render_feed(conn: Connection, owner: FeedOwner) -> bytes:
    rows = conn.execute(_EVENTS[owner.role], _window(owner)).all()
    # The link of every tour from one built URL (url_for per tour would cost more than the rest).
    head, _sep, tail = external_url("tours.show", tour_id=987654321).rpartition("987654321")
    domain = calendar_domain()
    with force_locale(owner.language):
        name = (_("Tourbook: my tours") if owner.role == Role.GUIDE
                else _("Tourbook: tours in %(city)s", city=owner.city_name))
        # Rows by position: the order of the columns in _EVENTS is the order of _event's parameters.
        events = [_written_event(owner.language, domain, head, tail, owner.city_name, tuple(row)) for row in rows]
    return render_calendar((), domain, name=name, refresh_interval=REFRESH, vevents=events)


@contextmanager
def _reading() -> Iterator[Connection]:
    """The feed's few reads. On PostgreSQL outside a transaction (autocommit): the answer a calendar client
    mostly gets, 304, is then one statement and no BEGIN and COMMIT around it. Reading the ETag and the
    events in two snapshots is harmless: a change between them gives content newer than its ETag, and the
    next request simply gets it again with the new one."""
    if db.engine.dialect.name != "postgresql":
        yield db.session.connection()
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


@bp.get("/feeds/<token>.ics")
@limiter.limit("120/minute")
def feed(token: str):
    with _reading() as conn:
        owner = _owner_for_token(conn, token)
        if owner is None:
            abort(404)
        etag = _etag(owner)
        headers = {"ETag": etag, "Cache-Control": "private, max-age=300",
                   "Content-Type": "text/calendar; charset=utf-8"}
        inm = request.headers.get("If-None-Match")
        if inm is not None:
            # The ETag decides (RFC 9110 13.2.2); a 304 needs no Last-Modified.
            if _etag_matches(etag, inm):
                return _answer(make_response("", 304), headers)
            last_modified = _last_modified(conn, owner)
        else:
            last_modified = _last_modified(conn, owner)
            if _not_modified_since(last_modified):
                headers["Last-Modified"] = _http_date(last_modified)
                return _answer(make_response("", 304), headers)
        headers["Last-Modified"] = _http_date(last_modified)
        return _answer(make_response(render_feed(conn, owner)), headers)


def _answer(response, headers: dict):  # noqa: ANN001, ANN202
    response.headers.update(headers)
    return response


def _http_date(value: datetime) -> str:
    return format_datetime(value.astimezone(UTC), usegmt=True)


def _etag_matches(etag: str, header: str) -> bool:
    """If-None-Match uses the weak comparison: W/"x" matches "x"."""
    if header.strip() == "*":
        return True
    return etag in [t.strip().removeprefix("W/") for t in header.split(",")]


def _not_modified_since(last_modified: datetime) -> bool:
    ims = request.headers.get("If-Modified-Since")
    if not ims:
        return False
    try:
        since = parsedate_to_datetime(ims)
    except (TypeError, ValueError, OverflowError):  # OverflowError: a year no datetime holds
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return last_modified <= since


# --- the page that shows the subscription -----------------------------------------------------------


@bp.get("/calendar")
@roles_required(Role.GUIDE, Role.COORDINATOR)
def subscription():
    if db.session.get_bind().dialect.name == "sqlite":
        # The first visit writes the user's feed token: after the read of the signed-in user, SQLite refuses
        # that write at once when another connection wrote in between; a transaction that begins with the
        # write waits for the lock (busy timeout).
        end_transaction_keeping_what_was_read()
    url = feed_url(current_user)
    db.session.commit()
    webcal = "webcal://" + url.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    return render("feeds/subscription.html", url=url, webcal=webcal, google=google,
                  rotated=request.args.get("rotated"))


@bp.post("/calendar/rotate")
@roles_required(Role.GUIDE, Role.COORDINATOR)
def rotate():
    rotate_feed_token(db.session, current_user, current_user)
    db.session.commit()
    return redirect_to(url_for("feeds.subscription", rotated=1))


