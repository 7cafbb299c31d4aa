"""Guides' hours: weekly windows, absences, holidays, languages and limits; the coordinator's week view."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .access import by_id, city_for, guide_for, roles_required
from .extensions import db
from .forms import ABSENCE_REASON_CHOICES, WEEKDAY_CHOICES, AbsenceForm, GuideProfileForm, WindowForm
from .hours import (
    HoursError,
    absence_instants,
    add_window,
    calendar_changed,
    public_holidays,
    remove_absence,
    remove_window,
    set_holiday_opt_in,
    time_of,
    tours_hit_by,
)
from .htmx import redirect_to, render
from .i18n import fmt_datetime
from .models import Absence, AvailabilityWindow, HolidayOptIn, Role, Tour, User, record, utcnow
from .services import TourError, enter_absence
from .tours import tour_error_message

bp = Blueprint("guides", __name__, url_prefix="/guides")

# Dates outside this range are refused (and would overflow the arithmetic at the ends of the calendar).
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2100, 12, 31)

KEEPERS = (Role.GUIDE, Role.COORDINATOR, Role.ADMIN)

HOURS_MESSAGES = {
    "quarter": lambda: _("Please use quarter hours, e.g. 09:00, 09:15, 09:30."),
    "range": lambda: _("Tours take place between 06:00 and 22:00."),
    "order": lambda: _("The end must be after the start."),
    "validity": lambda: _("“Valid until” must not be before “valid from”."),
    "overlap": lambda: _("This window overlaps another window on the same day."),
    "too_long": lambda: _("An absence can last one year at most."),
    "out_of_range": lambda: _("Please enter a date between 2000 and 2100."),
}


def _apply_error(form, error: HoursError) -> None:  # noqa: ANN001
    getattr(form, error.field).errors.append(HOURS_MESSAGES[error.message]())


def _context(guide: User, window_form=None, absence_form=None, profile_form=None, affected=None) -> dict:  # noqa: ANN001
    city = guide.city
    zone = ZoneInfo(city.timezone)
    today = datetime.now(zone).date()
    windows = db.session.execute(
        select(AvailabilityWindow)
        .where(AvailabilityWindow.guide_id == guide.id)
        .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
    ).scalars().all()
    by_day = {value: [] for value, _label in WEEKDAY_CHOICES}
    for window in windows:
        by_day[window.weekday].append(window)
    absences = db.session.execute(
        select(Absence)
        .where(Absence.guide_id == guide.id, Absence.ends_at > utcnow())
        .order_by(Absence.starts_at)
    ).scalars().all()
    holidays = public_holidays(city, today, today + timedelta(days=city.horizon_days), str(get_locale()))
    opted_in = set(
        db.session.execute(
            select(HolidayOptIn.day).where(HolidayOptIn.guide_id == guide.id, HolidayOptIn.day >= today)
        ).scalars()
    )
    # Blank forms are not bound to the request (formdata=None): after a save they show what is stored.
    profile_form = profile_form or GuideProfileForm(
        formdata=None, prefix="profile",
        data={"languages": guide.languages, "daily_limit": guide.daily_limit, "weekly_limit": guide.weekly_limit},
    )
    if guide.id != current_user.id:  # the coordinator keeps the guide's hours: the form speaks of the guide
        profile_form.languages.label.text = _("Languages %(name)s guides in", name=guide.first_name)
    return {
        "guide": guide, "city": city, "weekdays": WEEKDAY_CHOICES, "windows_by_day": by_day,
        "window_form": window_form or WindowForm(formdata=None, prefix="window"),
        "absence_form": absence_form or AbsenceForm(formdata=None, prefix="absence"),
        "profile_form": profile_form, "absences": absences, "holidays": holidays, "opted_in": opted_in,
        "reasons": dict(ABSENCE_REASON_CHOICES), "affected": affected or [], "time_of": time_of,
        "own_page": guide.id == current_user.id,
    }


def _saved(guide: User, fragment: str, message: str):  # noqa: ANN202
    """After a change: a plain form gets the page again (303) with the notice; htmx gets the updated section,
    with the notice for screen readers."""
    if request.headers.get("HX-Request") != "true":
        flash(message, "success")
        return redirect_to(url_for("guides.hours", guide_id=guide.id))
    return render("guides/hours.html", fragment, **_context(guide), announcement=message)


def _guides_own(model, row_id: int, guide: User):  # noqa: ANN001, ANN202
    """A window or absence of this guide, else 404."""
    row = by_id(model, row_id)
    if row is None or row.guide_id != guide.id:
        abort(404)
    return row


@bp.get("/<int:guide_id>/hours")
@roles_required(*KEEPERS)
def hours(guide_id: int):
    guide = guide_for(current_user, guide_id)
    return render("guides/hours.html", **_context(guide))


@bp.post("/<int:guide_id>/windows")
@roles_required(*KEEPERS)
def new_window(guide_id: int):
    guide = guide_for(current_user, guide_id)
    form = WindowForm(prefix="window")
    if form.validate():
        try:
            add_window(db.session, current_user, guide, form.weekday.data, form.start.data, form.end.data,
                       form.valid_from.data, form.valid_until.data)
        except HoursError as error:
            db.session.rollback()
            _apply_error(form, error)
        else:
            db.session.commit()
            return _saved(guide, "guides/_windows.html", _("The window is added."))
    return render("guides/hours.html", "guides/_windows.html", status=422, **_context(guide, window_form=form))


@bp.post("/<int:guide_id>/windows/<int:window_id>/delete")
@roles_required(*KEEPERS)
def delete_window(guide_id: int, window_id: int):
    guide = guide_for(current_user, guide_id)
    window = _guides_own(AvailabilityWindow, window_id, guide)
    remove_window(db.session, current_user, window)
    db.session.commit()
    return _saved(guide, "guides/_windows.html", _("The window is removed."))


@bp.post("/<int:guide_id>/absences")
@roles_required(*KEEPERS)
def new_absence(guide_id: int):
    guide = guide_for(current_user, guide_id)
    form = AbsenceForm(prefix="absence")
    if form.validate():
        try:
            _absence, outcome = enter_absence(db.session, current_user, guide, form.first_day.data,
                                              form.last_day.data, form.start_time.data, form.end_time.data,
                                              form.reason.data)
        except HoursError as error:
            _apply_error(form, error)
        except TourError as error:  # busy: changed by others at this moment, three times over
            form.first_day.errors.append(tour_error_message(error, guide.city))
        else:
            message = _("The absence is saved.")
            if request.headers.get("HX-Request") != "true":
                flash(message, "success")
                for item in outcome:
                    when = fmt_datetime(item["tour"].starts_at, guide.city.timezone, "short")
                    if item["outcome"] == "reassigned":
                        text = _("The tour on %(when)s was handed to another guide.", when=when)
                    else:
                        text = _("The tour on %(when)s needs a new guide – the coordinator and HR are told.", when=when)
                    flash(text, "warning")
                return redirect_to(url_for("guides.hours", guide_id=guide.id))
            return render("guides/hours.html", "guides/_absences.html",
                          **_context(guide, affected=outcome), announcement=message)
    return render("guides/hours.html", "guides/_absences.html", status=422, **_context(guide, absence_form=form))


@bp.get("/<int:guide_id>/absences/check")
@roles_required(*KEEPERS)
def check_absence(guide_id: int):
    """While typing: which of the guide's tours the absence would hit."""
    guide = guide_for(current_user, guide_id)
    form = AbsenceForm(request.args, prefix="absence", meta={"csrf": False})
    affected: list[Tour] = []
    if (form.first_day.data and form.last_day.data and form.last_day.data >= form.first_day.data
            and form.first_day.data >= EARLIEST_DAY and form.last_day.data <= LATEST_DAY):
        starts_at, ends_at = absence_instants(guide.city, form.first_day.data, form.last_day.data,
                                              form.start_time.data, form.end_time.data)
        affected = tours_hit_by(db.session, guide.id, starts_at, ends_at)
    return render("guides/_affected.html", city=guide.city, affected=affected, preview=True)


@bp.post("/<int:guide_id>/absences/<int:absence_id>/delete")
@roles_required(*KEEPERS)
def delete_absence(guide_id: int, absence_id: int):
    guide = guide_for(current_user, guide_id)
    absence = _guides_own(Absence, absence_id, guide)
    remove_absence(db.session, current_user, absence)
    db.session.commit()
    return _saved(guide, "guides/_absences.html", _("The absence is removed."))


@bp.post("/<int:guide_id>/profile")
@roles_required(*KEEPERS)
def profile(guide_id: int):
    guide = guide_for(current_user, guide_id)
    form = GuideProfileForm(prefix="profile")
    if form.validate():
        calendar_changed(db.session, guide.id)  # a booking of the guide at this moment reads them again
        guide.guide_languages = ",".join(form.languages.data)
        guide.daily_limit = form.daily_limit.data
        guide.weekly_limit = form.weekly_limit.data
        record(db.session, current_user, "guide_profile_updated", guide, city_id=guide.city_id,
               languages=guide.guide_languages, daily_limit=guide.daily_limit, weekly_limit=guide.weekly_limit)
        db.session.commit()
        return _saved(guide, "guides/_profile.html", _("Languages and limits are saved."))
    return render("guides/hours.html", "guides/_profile.html", status=422, **_context(guide, profile_form=form))


@bp.post("/<int:guide_id>/holidays/<day>")
@roles_required(*KEEPERS)
def holiday(guide_id: int, day: str):
    guide = guide_for(current_user, guide_id)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        abort(404)
    if when not in public_holidays(guide.city, when, when):
        abort(404)
    set_holiday_opt_in(db.session, current_user, guide, when, request.form.get("works") == "1")
    db.session.commit()
    if request.headers.get("HX-Request") != "true":
        return redirect_to(url_for("guides.hours", guide_id=guide.id) + "#holidays")
    return render("guides/hours.html", "guides/_holidays.html", **_context(guide))


# --- the coordinator's week view ------------------------------------------------------------------

week_bp = Blueprint("week", __name__, url_prefix="/c/<slug>")


@week_bp.get("/week")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def week(slug: str):
    city = city_for(current_user, slug)
    zone = ZoneInfo(city.timezone)
    try:
        requested = date.fromisoformat(request.args.get("start", ""))
        if not EARLIEST_DAY <= requested <= LATEST_DAY:
            raise ValueError("outside the calendar Tourbook plans in")
    except ValueError:
        requested = datetime.now(zone).date()
    monday = requested - timedelta(days=requested.weekday())
    days = [monday + timedelta(days=i) for i in range(7)]
    start = datetime.combine(monday, time(), zone)
    end = datetime.combine(monday + timedelta(days=7), time(), zone)
    guides = db.session.execute(
        select(User).where(User.city_id == city.id, User.role == Role.GUIDE, User.active.is_(True)).order_by(User.name)
    ).scalars().all()
    ids = [g.id for g in guides]
    windows = db.session.execute(
        select(AvailabilityWindow).where(AvailabilityWindow.guide_id.in_(ids))
        .order_by(AvailabilityWindow.start_minute)
    ).scalars().all()
    absences = db.session.execute(
        select(Absence).where(Absence.guide_id.in_(ids), Absence.starts_at < end, Absence.ends_at > start)
    ).scalars().all()
    tours = db.session.execute(
        select(Tour).where(Tour.guide_id.in_(ids), Tour.starts_at < end, Tour.ends_at > start,
                           Tour.status != "cancelled").order_by(Tour.starts_at)
    ).scalars().all()
    holidays = public_holidays(city, days[0], days[-1], str(get_locale()))
    cells: dict[tuple[int, date], dict] = {
        (g.id, d): {"windows": [], "absent": [], "tours": []} for g in guides for d in days
    }
    for w in windows:
        for d in days:
            if d.weekday() == w.weekday and (w.valid_from is None or w.valid_from <= d) and (
                w.valid_until is None or d <= w.valid_until
            ):
                cells[(w.guide_id, d)]["windows"].append(w)
    for a in absences:
        for d in days:
            day_start = datetime.combine(d, time(), zone)
            day_end = datetime.combine(d + timedelta(days=1), time(), zone)
            if a.starts_at < day_end and a.ends_at > day_start:  # the part of the day it takes, if not all
                cells[(a.guide_id, d)]["absent"].append({
                    "reason": a.reason,
                    "from": a.starts_at.astimezone(zone).strftime("%H:%M") if a.starts_at > day_start else None,
                    "until": a.ends_at.astimezone(zone).strftime("%H:%M") if a.ends_at < day_end else None,
                })
    for t in tours:
        d = t.starts_at.astimezone(zone).date()
        if (t.guide_id, d) in cells:
            cells[(t.guide_id, d)]["tours"].append(t)
    return render(
        "guides/week.html", "guides/_week.html", city=city, days=days, guides=guides, cells=cells,
        holidays=holidays, previous=monday - timedelta(days=7), following=monday + timedelta(days=7),
        this_week=datetime.now(zone).date(), time_of=time_of, reasons=dict(ABSENCE_REASON_CHOICES),
    )
