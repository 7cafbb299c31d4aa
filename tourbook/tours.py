"""Tours: HR books, reschedules and cancels; guides see, decline and mark; coordinators see all and assign."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, flash, make_response, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import inspect, select
from sqlalchemy.orm import joinedload

from .access import roles_required, tour_for
from .availability import Interval
from .calendars import CalendarEvent, render_calendar
from .database import any_contains_folded, read_only
from .extensions import db
from .forms import (
    INTEREST_CHOICES,
    AssignForm,
    AvailabilityForm,
    ReasonForm,
    RescheduleForm,
    TourForm,
    WhenForm,
    select_choices,
)
from .htmx import redirect_to, render, wants_fragment
from .i18n import fmt_date, meeting_point_text
from .main import language_label
from .models import AuditEntry, City, Role, Tour, User, utcnow
from .overview import lacking_language
from .services import (
    PartnerDetails,
    TourError,
    accept_language,
    assign_tour,
    availability_for,
    book_tour,
    cancel_tour,
    decline_tour,
    declined_by,
    declines_of,
    guides_free_for,
    mark_outcome,
    reschedule_tour,
)

bp = Blueprint("tours", __name__, url_prefix="/tours")

ALL_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.GUIDE, Role.HR)


def _too_soon(city: City | None) -> str:
    """The lead time, and for HR what to do instead: an interview at short notice is not unusual, and the
    city office may still find someone (coordinators are that office)."""
    ahead = _("Tours are booked at least %(num)d hours ahead.", num=city.lead_time_hours if city else 24)
    if city is not None and city.office_phone and current_user.is_authenticated and current_user.role == Role.HR:
        return " ".join((ahead, _("For an earlier tour, please call the city office: %(phone)s",
                                  phone=city.office_phone)))
    return ahead


def tour_error_message(error: TourError, city: City | None = None) -> str:
    messages = {
        "end_before_start": lambda: _("The end must be after the start."),
        "too_short": lambda: _("A tour lasts at least %(num)d minutes.", num=city.min_duration_minutes if city else 60),
        "too_long": lambda: _("A tour lasts at most %(num)d minutes.", num=city.max_duration_minutes if city else 240),
        "too_soon": lambda: _too_soon(city),
        "too_far": lambda: _("Tours are booked at most %(num)d days ahead.", num=city.horizon_days if city else 120),
        "no_guide": lambda: _("No guide is free at this time."),
        "slot_taken": lambda: _("This guide or time was just taken by another booking. Please choose again."),
        "busy": lambda: _("This tour was being changed at the same moment. Please try again."),
        "already_cancelled": lambda: _("This tour is already cancelled."),
        "past": lambda: _("This tour has already taken place."),
        "started": lambda: _("This tour has already started."),
        "not_changeable": lambda: _("This tour cannot be changed any more."),
        "not_yet": lambda: _("This can only be marked after the tour has started."),
        "guide_not_free": lambda: _("This guide is not free at that time."),
        "unknown_guide": lambda: _("Please choose a guide of this city."),
        "same_guide": lambda: _("This guide already has the tour."),
        "already_kept": lambda: _("This guide is kept already."),
        "language_spoken": lambda: _("Nothing to keep: the tour's guide or language has changed meanwhile."),
        "bad_outcome": lambda: _("Unknown result."),
    }
    return messages.get(error.code, lambda: _("This is not possible."))()


def _zone(city: City) -> ZoneInfo:
    return ZoneInfo(city.timezone)


def _interval(city: City, day: date, start: time, end: time) -> tuple[datetime, datetime]:
    zone = _zone(city)
    return (datetime.combine(day, start, zone), datetime.combine(day, end, zone))


def _missing_time(city: City, day: date, start: time, end: time) -> str | None:
    """What to say when the start or end is a local time that does not exist on that day (the hour the clocks
    skip in spring): the interval would silently move by that hour and read as "end before start"."""
    for wall in (start, end):
        local = datetime.combine(day, wall, _zone(city))
        try:
            again = local.astimezone(UTC).astimezone(local.tzinfo)
        except OverflowError:  # 0001-01-01 or 9999-12-31: the booking rules answer those
            return None
        if again.replace(tzinfo=None) != local.replace(tzinfo=None):
            return _("On %(date)s the clocks go forward one hour: %(time)s does not exist that night.",
                     date=fmt_date(day, "long"), time=wall.strftime("%H:%M"))
    return None


# --- lists ----------------------------------------------------------------------------------------

STATUS_FILTERS = ("confirmed", "needs_guide", "cancelled", "done", "no_show")


def _scope(query):  # noqa: ANN001, ANN202
    user = current_user
    if user.role == Role.HR:
        return query.where(Tour.company_id == user.company_id)
    if user.role == Role.GUIDE:
        return query.where(Tour.guide_id == user.id)
    if user.role == Role.COORDINATOR:
        return query.where(Tour.city_id == user.city_id)
    return query


@bp.get("/")
@roles_required(*ALL_ROLES)
def index():
    now = utcnow()
    when = request.args.get("when", "upcoming")
    status = request.args.get("status", "")
    q = "".join(ch for ch in request.args.get("q") or "" if ch.isprintable()).strip()[:100]  # no NUL for PG
    query = _scope(select(Tour)).options(joinedload(Tour.company), joinedload(Tour.guide), joinedload(Tour.city))
    if when == "past":
        query = query.where(Tour.ends_at <= now).order_by(Tour.starts_at.desc())
    else:
        when = "upcoming"
        query = query.where(Tour.ends_at > now).order_by(Tour.starts_at)
    if status in STATUS_FILTERS:
        query = query.where(Tour.status == status)
    if q:
        query = query.outerjoin(User, Tour.guide_id == User.id).where(
            any_contains_folded((Tour.partner_first_name, Tour.partner_last_name, User.name), q))
    tours = db.session.execute(query.limit(200)).unique().scalars().all()
    needs_guide, lacks_language = [], []
    search_answer = wants_fragment()
    if not search_answer:  # the search answers with the list alone
        if current_user.role in (Role.HR, Role.COORDINATOR, Role.ADMIN):
            needs_guide = db.session.execute(
                _scope(select(Tour)).options(joinedload(Tour.company), joinedload(Tour.city))
                .where(Tour.status == "needs_guide", Tour.ends_at > now).order_by(Tour.starts_at)
            ).unique().scalars().all()
        if current_user.role in (Role.COORDINATOR, Role.ADMIN):
            lacks_language = db.session.execute(lacking_language(_scope(select(Tour)), now)).unique().scalars().all()
    return render("tours/index.html", "tours/_list.html", tours=tours, when=when, status_filter=status, q=q,
                  needs_guide=needs_guide, lacks_language=lacks_language, statuses=STATUS_FILTERS,
                  interest_labels=dict(INTEREST_CHOICES), search_answer=search_answer)


# --- booking --------------------------------------------------------------------------------------


def _tour_form() -> TourForm:
    company = current_user.company
    form = TourForm()
    form.city.choices = select_choices((c.id, c.name) for c in company.cities)
    if request.method == "GET" and company.cities:
        form.city.data = company.cities[0].id
    if not form.request_key.data:  # a new form (a post keeps the key it came with)
        form.request_key.data = secrets.token_urlsafe(16)
    return form


def _form_city(form: TourForm) -> City | None:
    ids = {c.id for c in current_user.company.cities}
    try:
        city_id = int(form.city.data or 0)
    except (TypeError, ValueError):
        return None
    return db.session.get(City, city_id) if city_id in ids else None


def _meeting_point(choice: str, city: City, language: str) -> tuple[str, str]:
    """The place chosen and its text: the company's address, or the place's name in the partner's language
    (pages, mails and calendars name it in their reader's language, see i18n.meeting_point_text)."""
    if choice in ("station", "city_hall"):
        with force_locale(language):
            return choice, meeting_point_text(choice, "", city.name)
    return "company", current_user.company.address


def _adopt(form: WhenForm) -> bool:
    """An alternative chosen with one click: its date and times go into the form."""
    value = request.form.get("adopt", "")
    try:
        day, start, end = value.split("|")
        values = {"day": date.fromisoformat(day), "start": time.fromisoformat(start),
                  "end": time.fromisoformat(end)}
    except ValueError:
        return False
    for name, parsed in values.items():
        field = getattr(form, name)
        field.data = parsed
        # A field shows its raw input again when there is one: replace it too, or the old times stay.
        field.raw_data = [parsed.strftime(field.format[0])]
        field.errors = []
    return True


def _availability_context(city: City | None, day: date | None, start: time | None, end: time | None,
                          language: str | None, exclude_tour_id: int | None = None,
                          current: tuple[datetime, datetime] | None = None,
                          passed_over: frozenset[int] = frozenset()) -> dict:
    """``current``: the tour's own time, which is no alternative for moving it; ``passed_over``: guides who
    declined it (a new time does not give it back to them)."""
    if city is None or day is None or start is None or end is None:
        return {"availability": None}
    begin, finish = _interval(city, day, start, end)
    result = availability_for(db.session, city, begin, finish, language, exclude_tour_id=exclude_tour_id,
                              passed_over=passed_over)
    zone = _zone(city)
    # The nearest ones, shown in the order of the day.
    alternatives = [_alternative(a, zone) for a in sorted(result.alternatives, key=lambda a: a.start)
                    if (a.start, a.end) != current]
    problem = _missing_time(city, day, start, end) or (
        tour_error_message(TourError(result.problem), city) if result.problem else None)
    return {"availability": result, "availability_problem": problem, "alternatives": alternatives, "city": city,
            "free_languages": ", ".join(language_label(code) for code in result.languages),
            "asked_language": language}


def _add_missing_time(form: TourForm | RescheduleForm, city: City) -> bool:
    """Whether the form's start or end does not exist on its day (then said at the start field)."""
    message = _missing_time(city, form.day.data, form.start.data, form.end.data)
    if message:
        form.start.errors.append(message)
    return message is not None


def _alternative(interval: Interval, zone: ZoneInfo) -> dict:
    start = interval.start.astimezone(zone)
    end = interval.end.astimezone(zone)
    return {"start": start, "end": end,
            "value": f"{start.date().isoformat()}|{start.strftime('%H:%M')}|{end.strftime('%H:%M')}"}


@bp.get("/availability")
@read_only
@roles_required(Role.HR)
def availability():
    """The live answer beside the form: is a guide free, else the nearest alternatives."""
    form = AvailabilityForm(request.args)
    city = _form_city(form)
    context = _availability_context(city, form.day.data, form.start.data, form.end.data, form.language.data)
    return render("tours/_availability.html", **context, form=form, tz=city.timezone if city else None)


@bp.route("/new", methods=["GET", "POST"])
@roles_required(Role.HR)
def new():
    form = _tour_form()
    if not current_user.company.cities:
        flash(_("Your company is not enrolled with any city yet."), "warning")
    status = 200
    race_message = None
    adopted = False
    if request.method == "POST":
        city = _form_city(form)
        if "adopt" in request.form:  # a click on an alternative fills in the times; it never books
            adopted = _adopt(form)
        elif "check" in request.form:  # without JavaScript: is a guide free then? (nothing booked, no errors)
            pass
        elif form.validate() and not _add_missing_time(form, city):
            begin, finish = _interval(city, form.day.data, form.start.data, form.end.data)
            place, point = _meeting_point(form.meeting_point.data, city, form.language.data)
            partner = PartnerDetails(
                first_name=form.first_name.data, last_name=form.last_name.data or None,
                email=form.email.data or None, phone=form.phone.data or None, language=form.language.data,
                interests=list(form.interests.data or []), people=form.people.data,
                accessibility_needs=form.accessibility_needs.data or None, guide_note=form.guide_note.data or None,
                meeting_point=point, meeting_place=place,
            )
            try:
                tour = book_tour(db.session, current_user, city, current_user.company, begin, finish, partner,
                                 request_key=form.request_key.data)
            except TourError as error:
                status = 422
                if error.code == "slot_taken":
                    race_message = tour_error_message(error, city)
                else:
                    form.start.errors.append(tour_error_message(error, city))
            else:
                # The tour page says it is booked, with the partner's link (booked=1). The id from the identity
                # key: tour.id would load the whole tour again after the commit.
                return redirect_to(url_for("tours.show", tour_id=inspect(tour).identity[0], booked=1))
        else:
            status = 422
    city = _form_city(form)
    context = _availability_context(city, form.day.data, form.start.data, form.end.data, form.language.data)
    return render("tours/new.html", "tours/_form.html", status=status, form=form, race_message=race_message,
                  tz=city.timezone if city else None, adopted=adopted, **context)


# --- one tour -------------------------------------------------------------------------------------


def _guides_of(city_id: int) -> list[User]:
    return list(db.session.execute(
        select(User).where(User.city_id == city_id, User.role == Role.GUIDE, User.active.is_(True)).order_by(User.name)
    ).scalars())


def _declines(tour: Tour) -> list[tuple[User | None, str, datetime]]:
    """Who declined the tour, why and when, the latest first (for the coordinator)."""
    entries = db.session.execute(
        select(AuditEntry).options(joinedload(AuditEntry.actor)).where(*declines_of(tour.id))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    ).scalars()
    return [(e.actor, (e.details or {}).get("reason", ""), e.at) for e in entries]


def _declined_by(declines: list[tuple[User | None, str, datetime]]) -> set[int]:
    return {actor.id for actor, _reason, _at in declines if actor is not None}


def _assign_form(tour: Tour, declined: set[int]) -> AssignForm:
    """The city's guides, those free for the tour first, and among them those who speak the partner's
    language (whoever declined it after them): the coordinator sees whom to choose instead of trying one
    after the other."""
    form = AssignForm(prefix="assign")
    guides = _guides_of(tour.city_id)
    free: set[int] = set()
    if tour.starts_at > utcnow():
        # As assign_tour asks: the lead time, a rule for booking, does not bind the coordinator.
        free = set(guides_free_for(db.session, tour.city, tour.starts_at, tour.ends_at, exclude_tour_id=tour.id,
                                   lead_time=timedelta(0)))
    language = tour.partner_language
    speaks = {g.id for g in guides if not language or language in g.languages}

    def label(guide: User) -> str:
        if guide.id in declined:
            return _("%(name)s – declined this tour", name=guide.name)
        if guide.id == tour.guide_id:
            return _("%(name)s – has the tour now", name=guide.name)
        if guide.id in free and guide.id not in speaks:
            return _("%(name)s – free at this time, does not speak %(language)s", name=guide.name,
                     language=language_label(language))
        if guide.id in free:
            return _("%(name)s – free at this time", name=guide.name)
        return _("%(name)s – not free at this time", name=guide.name)

    def order(guide: User) -> tuple[bool, bool, bool, str]:
        had_it = guide.id in declined or guide.id == tour.guide_id
        return had_it, guide.id not in free, guide.id not in speaks, guide.name

    choices = [(g.id, label(g)) for g in sorted(guides, key=order)]
    # Nobody to choose: the form says so and how a guide becomes free, and chooses nobody by itself.
    form.nobody_free = not (free - declined - {tour.guide_id})
    form.tour_day = tour.starts_at.astimezone(_zone(tour.city)).date()  # for the week overview's link
    if form.nobody_free:
        choices.insert(0, (0, _("Choose a guide")))
    form.guide.choices = select_choices(choices)
    return form


def _show(tour: Tour, status: int = 200, **extra):  # noqa: ANN003, ANN202
    context = {
        "tour": tour, "city": tour.city, "now": utcnow(), "interest_labels": dict(INTEREST_CHOICES),
        "partner_url": url_for("partner.page", token=tour.token, _external=True) if tour.token else None,
        "booked": request.args.get("booked") == "1", "declines": [],
    }
    if current_user.role in (Role.COORDINATOR, Role.ADMIN):
        context["declines"] = _declines(tour)
        if "assign_form" not in extra:
            extra["assign_form"] = _assign_form(tour, _declined_by(context["declines"]))
    context.update(extra)
    return render("tours/show.html", status=status, **context)


@bp.get("/<int:tour_id>")
@roles_required(*ALL_ROLES)
def show(tour_id: int):
    return _show(tour_for(current_user, tour_id))


def ics_response(tour: Tour, event: CalendarEvent | None = None):  # noqa: ANN201
    """The tour as a single-event .ics download: the same event (UID, text) as in the guides' feeds, unless
    ``event`` is another view of it (the partner's)."""
    from .feeds import calendar_domain, tour_calendar_event

    body = render_calendar([event or tour_calendar_event(tour)], calendar_domain())
    response = make_response(body)
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    local_day = tour.starts_at.astimezone(_zone(tour.city)).date().isoformat()
    response.headers["Content-Disposition"] = f'attachment; filename="tour-{local_day}.ics"'
    return response


@bp.get("/<int:tour_id>/tour.ics")
@roles_required(*ALL_ROLES)
def ics(tour_id: int):
    return ics_response(tour_for(current_user, tour_id))


def _changeable_by_office(tour: Tour) -> None:
    """HR of the tour's company, the city's coordinator and the admin change bookings; guides do not."""
    if current_user.role == Role.GUIDE:
        abort(403)


@bp.route("/<int:tour_id>/reschedule", methods=["GET", "POST"])
@roles_required(Role.HR, Role.COORDINATOR, Role.ADMIN)
def reschedule(tour_id: int):
    tour = tour_for(current_user, tour_id)
    zone = _zone(tour.city)
    form = RescheduleForm(data={"day": tour.starts_at.astimezone(zone).date(),
                                "start": tour.starts_at.astimezone(zone).time(),
                                "end": tour.ends_at.astimezone(zone).time()})
    status = 200
    adopted = False
    if request.method == "POST":
        form = RescheduleForm()
        if "adopt" in request.form:
            adopted = _adopt(form)
        elif "check" in request.form:  # the live answer to a changed time (or the button without JavaScript)
            status = 200 if form.validate() else 422
        elif form.validate() and not _add_missing_time(form, tour.city):
            begin, finish = _interval(tour.city, form.day.data, form.start.data, form.end.data)
            if (begin, finish) == (tour.starts_at, tour.ends_at) and tour.status == "confirmed":
                # Nothing to tell anybody, nor a new sequence. (A tour that needs a guide gets one if one is
                # free now: saving the same time asks again.)
                flash(_("Nothing changed: the tour already is at this time."), "info")
                return redirect_to(url_for("tours.show", tour_id=tour.id))
            try:
                reschedule_tour(db.session, current_user, tour, begin, finish)
            except TourError as error:
                status = 422
                form.start.errors.append(tour_error_message(error, tour.city))
            else:
                flash(_("The tour is moved. The partner's link stays the same."), "success")
                return redirect_to(url_for("tours.show", tour_id=tour.id))
        else:
            status = 422
    context = _availability_context(tour.city, form.day.data, form.start.data, form.end.data,
                                    tour.partner_language, exclude_tour_id=tour.id,
                                    current=(tour.starts_at, tour.ends_at) if tour.status == "confirmed" else None,
                                    passed_over=frozenset(declined_by(db.session, tour.id) - {tour.guide_id}))
    return render("tours/reschedule.html", "tours/_reschedule_form.html", status=status, tour=tour, form=form,
                  tz=tour.city.timezone, adopted=adopted, **context)


@bp.route("/<int:tour_id>/cancel", methods=["GET", "POST"])
@roles_required(Role.HR, Role.COORDINATOR, Role.ADMIN)
def cancel(tour_id: int):
    tour = tour_for(current_user, tour_id)
    form = ReasonForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            by = "hr" if current_user.role == Role.HR else "coordinator"
            try:
                cancel_tour(db.session, current_user, tour, by, form.reason.data)
            except TourError as error:
                status = 409
                form.reason.errors.append(tour_error_message(error, tour.city))
            else:
                flash(_("The tour is cancelled."), "success")
                return redirect_to(url_for("tours.show", tour_id=tour.id))
        else:
            status = 422
    return render("tours/cancel.html", "tours/_cancel_form.html", status=status, tour=tour, form=form)


@bp.route("/<int:tour_id>/decline", methods=["GET", "POST"])
@roles_required(Role.GUIDE)
def decline(tour_id: int):
    tour = tour_for(current_user, tour_id)
    form = ReasonForm()
    status = 200
    if request.method == "POST":
        if form.validate():
            try:
                outcome = decline_tour(db.session, current_user, tour, form.reason.data)
            except TourError as error:
                status = 409
                form.reason.errors.append(tour_error_message(error, tour.city))
            else:
                flash(_("You declined the tour. Another guide takes it.") if outcome == "reassigned"
                      else _("You declined the tour. The coordinator is looking for another guide."), "success")
                return redirect_to(url_for("tours.index"))
        else:
            status = 422
    return render("tours/decline.html", "tours/_decline_form.html", status=status, tour=tour, form=form)


@bp.post("/<int:tour_id>/outcome")
@roles_required(Role.GUIDE)
def outcome(tour_id: int):
    tour = tour_for(current_user, tour_id)
    try:
        mark_outcome(db.session, current_user, tour, request.form.get("outcome", ""))
    except TourError as error:
        return _show(tour, status=409, action_error=tour_error_message(error, tour.city))
    flash(_("Thank you, the tour is marked."), "success")
    return redirect_to(url_for("tours.show", tour_id=tour.id))


@bp.post("/<int:tour_id>/keep-guide")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def keep_guide(tour_id: int):
    """The coordinator keeps a guide who does not speak the partner's language: the tour leaves the lists of
    tours that need attention."""
    tour = tour_for(current_user, tour_id)
    try:
        accept_language(db.session, current_user, tour)
    except TourError as error:
        return _show(tour, status=409, action_error=tour_error_message(error, tour.city))
    flash(_("%(name)s keeps the tour.", name=tour.guide.name), "success")
    return redirect_to(url_for("tours.show", tour_id=tour.id))


@bp.post("/<int:tour_id>/assign")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def assign(tour_id: int):
    tour = tour_for(current_user, tour_id)
    form = _assign_form(tour, _declined_by(_declines(tour)))
    if form.validate():
        try:
            assign_tour(db.session, current_user, tour, form.guide.data, form.reason.data)
        except TourError as error:
            if error.code in ("not_changeable", "started"):  # the page (without the form, then) says why
                return _show(tour, status=409, action_error=tour_error_message(error, tour.city))
            form.guide.errors.append(tour_error_message(error, tour.city))
        else:
            flash(_("The tour is assigned."), "success")
            return redirect_to(url_for("tours.show", tour_id=tour.id))
    elif form.guide.data and not form.guide.errors and tour.starts_at > utcnow() and form.guide.data not in \
            guides_free_for(db.session, tour.city, tour.starts_at, tour.ends_at, exclude_tour_id=tour.id,
                            lead_time=timedelta(0)):
        # Everything wrong at once: not only the missing reason, and then, on the next try, the busy guide.
        form.guide.errors.append(tour_error_message(TourError("guide_not_free"), tour.city))
    return _show(tour, status=422, assign_form=form)


