"""The partner's page /t/<token>: no login, in the partner's language, works on a phone."""

from __future__ import annotations

import re
from contextlib import suppress
from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for
from flask_babel import get_locale, refresh
from flask_babel import gettext as _
from sqlalchemy import select

from .extensions import db, limiter
from .feedback import feedback_open, save_feedback
from .forms import INTEREST_CHOICES, FeedbackForm, PartnerCancelForm, WishesForm
from .htmx import redirect_to, render
from .models import Tour, utcnow
from .services import TourError, cancel_tour, update_partner_wishes
from .tours import ics_response, tour_error_message

bp = Blueprint("partner", __name__, url_prefix="/t/<token>")

# Unguessable tokens make guessing pointless; the limit keeps scanners and mistakes cheap.
PARTNER_LIMIT = "60/minute"
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+")  # secrets.token_urlsafe's alphabet


@bp.after_request
def _private(response):  # noqa: ANN001, ANN202
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers["Cache-Control"] = "no-store"
    return response


def _tour_of(token: str) -> Tour | None:
    """The tour of a partner link, None when there is none (asked only for tokens of the links' shape)."""
    if len(token) > 64 or not TOKEN_SHAPE.fullmatch(token):  # e.g. NUL bytes, which PostgreSQL refuses
        return None
    return db.session.execute(select(Tour).where(Tour.token == token)).scalar_one_or_none()


def _tour(token: str) -> Tour:
    """The tour of a partner link: 404 when unknown, 410 some days after the tour."""
    tour = _tour_of(token)
    if tour is None:
        abort(404)
    _speak_the_partners_language(tour)
    if utcnow() > tour.ends_at + timedelta(days=tour.city.partner_link_days):
        g.expired_tour_city = tour.city  # the page that says so names the city office to call
        abort(410)
    return tour


def _speak_the_partners_language(tour: Tour) -> None:
    lang = request.args.get("lang") or session.get(f"partner-lang-{tour.id}")
    if lang in current_app.config["LANGUAGES"]:
        session[f"partner-lang-{tour.id}"] = lang
        g.forced_locale = lang
    else:
        g.forced_locale = tour.partner_language
    refresh()


def speak_the_links_language(token: str) -> None:
    """For a page of a partner link answered before its view ran (an expired form): the partner's language."""
    tour = _tour_of(token)
    if tour is not None:
        _speak_the_partners_language(tour)


def _changeable(tour: Tour, now: datetime) -> bool:
    return tour.status in ("confirmed", "needs_guide") and tour.ends_at > now


def _past(tour: Tour, now: datetime) -> bool:
    """After the tour: marked done or no-show, or its end has passed (cancelled tours have their own page)."""
    return tour.status in ("done", "no_show") or (tour.status != "cancelled" and tour.ends_at <= now)


def _page(tour: Tour, status: int = 200, wishes: WishesForm | None = None, **extra):  # noqa: ANN003, ANN202
    wishes = wishes or WishesForm(
        data={"interests": tour.interest_list, "language": tour.partner_language, "people": tour.people}
    )
    now = utcnow()
    extra.setdefault("feedback_form", FeedbackForm(prefix="feedback"))
    return render(
        "partner/page.html", "partner/_wishes.html", status=status, tour=tour, city=tour.city, wishes=wishes,
        interest_labels=dict(INTEREST_CHOICES), now=now, changeable=_changeable(tour, now),
        soon=tour.within_lead_time(now),  # too soon for another guide to take over
        past=_past(tour, now), feedback_open=feedback_open(tour, now), **extra,
    )


@bp.post("/feedback")
@limiter.limit(PARTNER_LIMIT)
def feedback(token: str):
    tour = _tour(token)
    form = FeedbackForm(prefix="feedback")
    if form.validate():
        with suppress(TourError):  # given already or not open: the page says so
            save_feedback(db.session, tour, int(form.rating.data), form.comment.data)
        return redirect(url_for("partner.page", token=token) + "#feedback", 303)
    return _page(tour, status=422, feedback_form=form)


@bp.get("/")
@limiter.limit(PARTNER_LIMIT)
def page(token: str):
    """The page; right after the partner saved their wishes, once with its thanks (kept in the session, so
    that reloading the page or opening the link again later does not thank them again)."""
    tour = _tour(token)
    return _page(tour, saved=session.pop(f"partner-saved-{tour.id}", None))


@bp.post("/wishes")
@limiter.limit(PARTNER_LIMIT)
def wishes(token: str):
    """Interests, language and people. With htmx the section answers in place (its errors, or its thanks);
    a new language reloads the whole page in it, as does a tour that can no longer be changed (the page then
    says why: cancelled, or over)."""
    tour = _tour(token)
    form = WishesForm()
    htmx = request.headers.get("HX-Request") == "true"
    if form.validate():
        # Only a new language of the tour drops the language the partner chose for the page; the page then
        # comes again in the tour's language (when that is not the one it is in already).
        language_changed = form.language.data != tour.partner_language  # read before saving changes it
        new_language = language_changed and form.language.data != str(get_locale())
        try:
            outcome = update_partner_wishes(db.session, tour, list(form.interests.data or []),
                                            form.language.data, form.people.data)
        except TourError as error:
            if error.code != "not_changeable":  # busy (other changes at this moment): the form stays as typed
                return _page(tour, status=422, wishes=form,
                             wishes_error=_("Your changes could not be saved just now. Please try again."))
            if htmx:
                return redirect_to(url_for("partner.page", token=token))
            return _page(tour, status=409, wishes=form, wishes_error=tour_error_message(error, tour.city))
        if language_changed:
            session.pop(f"partner-lang-{tour.id}", None)
        if not htmx or new_language or outcome:  # another guide, or a note on the guide: the whole page
            session[f"partner-saved-{tour.id}"] = "guide" if outcome == "reassigned" else "wishes"
            return redirect_to(url_for("partner.page", token=token))
        return _page(tour, wishes_saved=True)
    return _page(tour, status=422, wishes=form)


@bp.route("/cancel", methods=["GET", "POST"])
@limiter.limit(PARTNER_LIMIT)
def cancel(token: str):
    tour = _tour(token)
    form = PartnerCancelForm()
    status = 200
    if request.method == "POST" and form.validate():
        try:
            cancel_tour(db.session, None, tour, "partner", form.reason.data or "")
        except TourError as error:
            status = 409
            form.reason.errors.append(tour_error_message(error, tour.city))
        else:
            return redirect(url_for("partner.page", token=token), 303)
    elif request.method == "POST":
        status = 422
    elif not _changeable(tour, utcnow()):  # cancelled or over already: the page says what is the case
        return redirect(url_for("partner.page", token=token), 303)
    return render("partner/cancel.html", status=status, tour=tour, city=tour.city, form=form)


@bp.get("/tour.ics")
@limiter.limit(PARTNER_LIMIT)
def ics(token: str):
    from .feeds import partner_calendar_event
    from .mail import external_url

    tour = _tour(token)
    return ics_response(tour, partner_calendar_event(tour, external_url("partner.page", token=token), tour.city))


@bp.app_errorhandler(410)
def gone(e):  # noqa: ANN001, ANN201
    response = render("partner/gone.html", status=410, city=g.get("expired_tour_city"))
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


