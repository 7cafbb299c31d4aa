"""The audit log: who did what to which object, and when. Read-only."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from .access import roles_required
from .database import any_contains_folded
from .extensions import db
from .forms import AuditFilterForm
from .htmx import render
from .models import AuditEntry, City, Role, User

bp = Blueprint("audit", __name__, url_prefix="/audit")

# What the entries' action codes mean, for people; an unknown code is shown as it is.
ACTIONS = {
    "login": _l("Signed in"),
    "logout": _l("Signed out"),
    "password_set": _l("Password set"),
    "password_changed": _l("Password changed"),
    "password_reset_requested": _l("New password requested"),
    "password_link_invite": _l("Invitation link created"),
    "password_link_reset": _l("Link for a new password created"),
    "account_created": _l("Account created"),
    "account_updated": _l("Account changed"),
    "profile_updated": _l("Own profile changed"),
    "guide_profile_updated": _l("Guide's profile changed"),
    "city_created": _l("City created"),
    "city_updated": _l("City changed"),
    "city_settings_updated": _l("City settings changed"),
    "company_created": _l("Company created"),
    "company_updated": _l("Company changed"),
    "company_enrolled": _l("Company enrolled"),
    "window_added": _l("Weekly hours added"),
    "window_removed": _l("Weekly hours removed"),
    "absence_added": _l("Absence entered"),
    "absence_removed": _l("Absence removed"),
    "holiday_opt_in": _l("Works on a public holiday"),
    "holiday_opt_out": _l("Does not work on a public holiday"),
    "feed_rotated": _l("Calendar address renewed"),
    "tour_booked": _l("Tour booked"),
    "tour_rescheduled": _l("Tour rescheduled"),
    "tour_cancelled": _l("Tour cancelled"),
    "tour_declined": _l("Tour declined by the guide"),
    "tour_released_absence": _l("Tour released for an absence"),
    "tour_released_inactive": _l("Tour released: the guide's account was deactivated"),
    "tour_assigned": _l("Guide assigned"),
    "tour_language_accepted": _l("Guide kept without the partner's language"),
    "tour_marked": _l("Tour outcome recorded"),
    "tour_partner_updated": _l("Partner changed their wishes"),
    "tour_feedback": _l("Partner's feedback"),
    "mail_retried": _l("Message sent again"),
    "partner_data_erased": _l("Partners' personal data erased"),
}
OBJECTS = {
    "tour": _l("Tour"), "user": _l("Account"), "city": _l("City"), "company": _l("Company"),
    "availabilitywindow": _l("Weekly hours"), "absence": _l("Absence"), "outboxmessage": _l("Message"),
}

PAGE = 100


# The database's instants cannot hold year 1 or 9999; a date outside these years is a typo.
FIRST_YEAR, LAST_YEAR = 2000, 2199


def _check_days(form: AuditFilterForm) -> None:
    for field in (form.day_from, form.day_to):
        if field.data and not field.errors and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            field.errors = [*field.errors, _("Please choose a date between %(first)d and %(last)d.",
                                             first=FIRST_YEAR, last=LAST_YEAR)]


# The details' keys, for people; an unknown key is shown as it is.
DETAIL_LABELS = {
    "guide_id": _l("Guide"), "previous_guide_id": _l("Previous guide"), "reason": _l("Reason"),
    "outcome": _l("Result"), "by": _l("Cancelled"), "starts_at": _l("Start"), "ends_at": _l("End"),
    "weekday": _l("Weekday"), "start": _l("From"), "end": _l("Until"), "first_day": _l("First day"),
    "last_day": _l("Last day"), "day": _l("Day"), "language": _l("Language"), "languages": _l("Languages"),
    "daily_limit": _l("Tours per day at most"), "weekly_limit": _l("Tours per week at most"),
    "active": _l("Account is active"), "rating": _l("Rating"),
}
_USER_KEYS = ("guide_id", "previous_guide_id")


def _details(entries: list[AuditEntry], zone: ZoneInfo) -> dict[int, list[tuple[str, str]]]:
    """Each entry's details as (label, value) for people: guides by name, codes in words, instants in the
    city's time; what is not known is shown as stored."""
    from .forms import ABSENCE_REASON_CHOICES, WEEKDAY_CHOICES
    from .i18n import fmt_datetime
    from .main import cancelled_by_label, language_label, languages_label, status_label

    ids = {v for e in entries for k, v in (e.details or {}).items() if k in _USER_KEYS and isinstance(v, int)}
    names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
    reasons = {key: str(label) for key, label in ABSENCE_REASON_CHOICES}
    weekdays = {key: str(label) for key, label in WEEKDAY_CHOICES}
    outcomes = {"reassigned": _("handed to another guide"), "guide_lacks_language": _("guide does not speak it")}

    def value(key: str, raw: object) -> str:
        if raw is None or raw == "":
            return "–"
        if key in _USER_KEYS:
            return names.get(raw, f"#{raw}")
        if isinstance(raw, bool):
            return _("yes") if raw else _("no")
        if key == "outcome":
            return outcomes.get(raw) or status_label(str(raw))
        if key == "by":
            return cancelled_by_label(str(raw))
        if key == "reason" and raw in reasons:
            return reasons[raw]
        if key == "weekday" and raw in weekdays:
            return weekdays[raw]
        if key == "language" and isinstance(raw, str):
            return language_label(raw)
        if key == "languages" and isinstance(raw, str):
            return languages_label([code for code in raw.split(",") if code])
        if key in ("starts_at", "ends_at") and isinstance(raw, str):
            try:
                return fmt_datetime(datetime.fromisoformat(raw), zone.key, "short")
            except ValueError:
                return raw
        return str(raw)

    return {e.id: [(str(DETAIL_LABELS.get(k, k)), value(k, v)) for k, v in (e.details or {}).items()]
            for e in entries}


def _printable(value: str | None) -> str:
    """Control characters (which PostgreSQL refuses) dropped."""
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()


@bp.get("/")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def index():
    form = AuditFilterForm(request.args)
    form.validate()
    _check_days(form)
    cities = db.session.execute(select(City).order_by(City.name)).scalars().all()
    city = None
    query = (select(AuditEntry).options(joinedload(AuditEntry.actor))
             .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    if current_user.role == Role.COORDINATOR:
        city = db.session.get(City, current_user.city_id)
    elif request.args.get("city"):
        city = next((c for c in cities if c.slug == request.args["city"]), None)
        if city is None:
            abort(404)
    if city is not None:
        query = query.where(AuditEntry.city_id == city.id)
    zone = ZoneInfo(city.timezone if city else "Europe/Berlin")
    objects = {choice.value for choice in form.object.choices if choice.value}
    if form.object.data in objects:
        query = query.where(AuditEntry.object_type == form.object.data)
    if form.object_id.data and not form.object_id.errors:
        query = query.where(AuditEntry.object_id == form.object_id.data)
    person = _printable(form.person.data)
    if person and not form.person.errors:
        query = query.where(any_contains_folded((AuditEntry.actor_label,), person))
    if form.day_from.data and not form.day_from.errors:
        query = query.where(AuditEntry.at >= datetime.combine(form.day_from.data, time(), zone))
    if form.day_to.data and not form.day_to.errors:
        following = form.day_to.data + timedelta(days=1)
        query = query.where(AuditEntry.at < datetime.combine(following, time(), zone))
    try:
        page = max(1, min(int(request.args.get("page", 1)), 10_000))
    except ValueError:
        page = 1
    entries = db.session.execute(query.offset((page - 1) * PAGE).limit(PAGE + 1)).scalars().all()
    return render("audit/index.html", "audit/_entries.html", form=form, entries=entries[:PAGE],
                  details=_details(entries[:PAGE], zone),
                  more=len(entries) > PAGE, page_number=page, city=city, cities=cities, tz=zone.key,
                  actions=ACTIONS, objects=OBJECTS)
