"""Calendar subscriptions: each guide's feed of their tours, each coordinator's feed of the city's tours.

The URL carries a secret token (256 bits). The token is HMAC(secret key, the user's feed nonce); the
database keeps only the token's SHA-256, so a copy of the database alone reveals no feed. Rotating the
nonce makes the old URL stop at once."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from .access import roles_required
from .calendars import CalendarEvent, render_calendar
from .extensions import db, limiter
from .forms import INTEREST_CHOICES
from .htmx import redirect_to, render
from .models import City, Role, Tour, User, record

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
    """The user's current feed token, created on first use (the caller commits)."""
    if not user.feed_nonce:
        user.feed_nonce = secrets.token_hex(16)
        user.feed_token_hash = _hash(_token(user))
    return _token(user)


def rotate_feed_token(session: Session, actor: User | None, user: User) -> str:
    user.feed_nonce = secrets.token_hex(16)
    token = _token(user)
    user.feed_token_hash = _hash(token)
    record(session, actor, "feed_rotated", user, city_id=user.city_id)
    return token


def feed_url(user: User) -> str:
    token = ensure_feed_token(user)
    base = current_app.config.get("PUBLIC_URL")
    path = url_for("feeds.feed", token=token)
    return base.rstrip("/") + path if base else url_for("feeds.feed", token=token, _external=True)


def _user_for_token(token: str) -> User | None:
    if len(token) != 43:
        return None
    wanted = _hash(token)
    user = db.session.execute(select(User).where(User.feed_token_hash == wanted)).scalar_one_or_none()
    if user is None or not user.active or user.role not in (Role.GUIDE, Role.COORDINATOR):
        return None
    if not hmac.compare_digest(user.feed_token_hash or "", wanted):
        return None
    return user


# --- the feed -------------------------------------------------------------------------------------


def _scope(user: User):  # noqa: ANN202
    return Tour.guide_id == user.id if user.role == Role.GUIDE else Tour.city_id == user.city_id


def _window(city: City) -> tuple[datetime, datetime, datetime]:
    """Day-aligned bounds, so the feed only changes when a tour changes or a day passes."""
    zone = ZoneInfo(city.timezone)
    today = datetime.now(zone).date()
    start = datetime.combine(today - timedelta(days=PAST_DAYS), time(), zone)
    end = datetime.combine(today + timedelta(days=FUTURE_DAYS + 1), time(), zone)
    cancelled_since = datetime.combine(today - timedelta(days=CANCELLED_KEPT_DAYS), time(), zone)
    return start, end, cancelled_since


def _filters(user: User, city: City) -> list:
    start, end, cancelled_since = _window(city)
    return [
        _scope(user),
        Tour.starts_at >= start,
        Tour.starts_at < end,
        or_(Tour.status != "cancelled", and_(Tour.status == "cancelled", Tour.cancelled_at >= cancelled_since)),
    ]


def _fingerprint(user: User, city: City) -> tuple[str, datetime]:
    """A strong validator without rendering: what the feed holds, its last change, the day and the language."""
    count, last, sequences = db.session.execute(
        select(func.count(Tour.id), func.max(Tour.updated_at), func.coalesce(func.sum(Tour.sequence), 0))
        .where(*_filters(user, city))
    ).one()
    if isinstance(last, str):  # SQLite returns max() of a datetime column as text
        last = datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    last = last or user.created_at
    zone = ZoneInfo(city.timezone)
    key = f"{user.id}:{user.feed_nonce}:{user.language}:{count}:{last.isoformat()}:{sequences}:" \
          f"{datetime.now(zone).date().isoformat()}:{city.name}"
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"', last.replace(microsecond=0)


def tour_calendar_event(tour: Tour, with_link: bool = True) -> CalendarEvent:
    """A tour as an event, without personal data of the partner (no name, email or phone)."""
    interests = dict(INTEREST_CHOICES)
    from .main import language_label

    lines = [
        _("Company: %(name)s", name=tour.company.name),
        _("Language: %(lang)s", lang=language_label(tour.partner_language)),
        _("People: %(num)d", num=tour.people),
    ]
    if tour.interest_list:
        lines.append(_("Interests: %(list)s", list=", ".join(str(interests.get(i, i)) for i in tour.interest_list)))
    if tour.accessibility_needs:
        lines.append(_("Accessibility needs: %(text)s", text=tour.accessibility_needs))
    link = None
    if with_link:
        base = current_app.config.get("PUBLIC_URL")
        path = url_for("tours.show", tour_id=tour.id)
        link = base.rstrip("/") + path if base else url_for("tours.show", tour_id=tour.id, _external=True)
        lines.append(_("Details (sign-in needed): %(url)s", url=link))
    summary = _("Partner tour – %(company)s", company=tour.company.name)
    if tour.status == "cancelled":
        summary = _("CANCELLED: %(summary)s", summary=summary)
    return CalendarEvent(
        uid=tour.uid, sequence=tour.sequence, start=tour.starts_at, end=tour.ends_at, summary=summary,
        location=tour.meeting_point, description="\n".join(lines), cancelled=tour.status == "cancelled",
        last_modified=tour.updated_at, url=link,
    )


def calendar_domain() -> str:
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.split("//")[-1].split("/")[0].split(":")[0] or "tourbook"


def render_feed(user: User, city: City) -> bytes:
    tours = db.session.execute(
        select(Tour).options(joinedload(Tour.company)).where(*_filters(user, city)).order_by(Tour.starts_at, Tour.id)
    ).scalars().all()
    with force_locale(user.language):
        name = (_("Tourbook: my tours") if user.role == Role.GUIDE
                else _("Tourbook: tours in %(city)s", city=city.name))
        events = [tour_calendar_event(t) for t in tours]
    return render_calendar(events, calendar_domain(), name=name, refresh_interval=REFRESH)


@bp.get("/feeds/<token>.ics")
@limiter.limit("120/minute")
def feed(token: str):
    user = _user_for_token(token)
    if user is None:
        abort(404)
    city = db.session.get(City, user.city_id)
    etag, last_modified = _fingerprint(user, city)
    headers = {
        "ETag": etag, "Last-Modified": format_datetime(last_modified.astimezone(UTC), usegmt=True),
        "Cache-Control": "private, max-age=300", "Content-Type": "text/calendar; charset=utf-8",
    }
    if _not_modified(etag, last_modified):
        response = make_response("", 304)
    else:
        response = make_response(render_feed(user, city))
    response.headers.update(headers)
    return response


def _not_modified(etag: str, last_modified: datetime) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        return etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*"
    ims = request.headers.get("If-Modified-Since")
    if ims:
        try:
            since = parsedate_to_datetime(ims)
        except (TypeError, ValueError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        return last_modified <= since
    return False


# --- the page that shows the subscription -----------------------------------------------------------


@bp.get("/calendar")
@roles_required(Role.GUIDE, Role.COORDINATOR)
def subscription():
    url = feed_url(current_user)
    db.session.commit()
    webcal = "webcal://" + url.split("://", 1)[1]
    google = "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
    return render("feeds/subscription.html", url=url, webcal=webcal, google=google, rotated=request.args.get("rotated"))


@bp.post("/calendar/rotate")
@roles_required(Role.GUIDE, Role.COORDINATOR)
def rotate():
    rotate_feed_token(db.session, current_user, current_user)
    db.session.commit()
    return redirect_to(url_for("feeds.subscription", rotated=1))


