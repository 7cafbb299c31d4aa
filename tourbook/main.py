"""Start pages, health check, error pages."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy import select, text

from .extensions import db
from .htmx import render
from .models import Role

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(start_page_url(current_user))


def start_page_url(user) -> str:  # noqa: ANN001
    if user.role == Role.ADMIN:
        return url_for("admin.cities")
    if user.role == Role.COORDINATOR:
        return url_for("accounts.city_home", slug=user.city.slug)
    return url_for("tours.index")


@bp.route("/home")
@login_required
def home():
    """Kept for old bookmarks: the start page of the user's role."""
    return redirect(start_page_url(current_user))


@bp.route("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure of the database means unhealthy
        current_app.logger.exception("health check: database unreachable")
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


def _error_page(code: int, title: str, message: str):  # noqa: ANN202
    # A partner has no account: the start page (a sign-in) is no way on for them, the link they were sent is.
    partner = request.blueprint == "partner"
    if partner and code == 404:
        title = _("This link does not work")
        message = _("Please check that the whole link from your message was opened, or ask the company that "
                    "invited you for it again.")
    response = render("errors/error.html", status=code, code=code, title=title, message=message, partner=partner)
    if partner:
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


@bp.app_errorhandler(400)
def bad_request(e):  # noqa: ANN001, ANN201
    return _error_page(400, _("Bad request"), _("The request could not be understood. Please try again."))


@bp.app_errorhandler(CSRFError)
def csrf_error(e):  # noqa: ANN001, ANN201
    """An expired form keeps what was typed: it can be sent again at once (with a valid token), or once signed
    in again when the sign-in ended too. Signing in itself and the password forms are simply asked again."""
    from .auth import keeps_the_form, send_again, sign_in_keeping_the_form
    from .partner import speak_the_links_language

    partner = request.blueprint == "partner"
    if partner:  # refused before the view chose the partner's language
        speak_the_links_language((request.view_args or {}).get("token", ""))
    if keeps_the_form():
        if partner or current_user.is_authenticated:
            return send_again(_("The form has expired"),
                              _("For your security, forms expire. It was not saved yet; what you entered is kept: "
                                "send it again."))
        return sign_in_keeping_the_form()
    return _error_page(
        400,
        _("The form has expired"),
        _("For your security, forms expire. Please go back, reload the page and send it again."),
    )


@bp.app_errorhandler(403)
def forbidden(e):  # noqa: ANN001, ANN201
    return _error_page(403, _("Not allowed"), _("Your account may not open this page."))


@bp.app_errorhandler(404)
def not_found(e):  # noqa: ANN001, ANN201
    return _error_page(404, _("Page not found"), _("This page does not exist or is not available to you."))


@bp.app_errorhandler(405)
def method_not_allowed(e):  # noqa: ANN001, ANN201
    return _error_page(405, _("Not possible"), _("This address cannot be used like this."))


@bp.app_errorhandler(429)
def too_many(e):  # noqa: ANN001, ANN201
    return _error_page(429, _("Too many attempts"), _("Please wait a few minutes and try again."))


@bp.app_errorhandler(500)
def server_error(e):  # noqa: ANN001, ANN201
    db.session.rollback()
    return _error_page(500, _("Something went wrong"), _("Please try again in a moment."))


ROLE_LABELS = {
    Role.ADMIN: lambda: _("Regional admin"),
    Role.COORDINATOR: lambda: _("Coordinator"),
    Role.GUIDE: lambda: _("Guide"),
    Role.HR: lambda: _("HR"),
}


def role_label(role: str) -> str:
    return ROLE_LABELS[Role(role)]()


def _navigation() -> list[dict]:
    """The main menu of the signed-in user's role."""
    from flask import request

    user = current_user
    items: list[tuple[str, str]] = []
    if user.role == Role.ADMIN:
        items += [
            (url_for("admin.cities"), _("Cities")),
            (url_for("tours.index"), _("Tours")),
            (url_for("reports.index"), _("Reports")),
            (url_for("audit.index"), _("Audit log")),
        ]
    elif user.role == Role.COORDINATOR:
        slug = user.city.slug
        items += [
            (url_for("accounts.city_home", slug=slug), _("Overview")),
            (url_for("tours.index"), _("Tours")),
            (url_for("week.week", slug=slug), _("Week")),
            (url_for("feeds.subscription"), _("Calendar")),
            (url_for("accounts.guides", slug=slug), _("Guides")),
            (url_for("accounts.companies", slug=slug), _("Companies")),
            (url_for("reports.index"), _("Reports")),
            (url_for("messages.index", slug=slug), _("Mail")),
        ]
    elif user.role == Role.HR:
        items += [(url_for("tours.index"), _("Tours")), (url_for("tours.new"), _("Book a tour"))]
    else:
        items += [
            (url_for("tours.index"), _("My tours")),
            (url_for("guides.hours", guide_id=user.id), _("My hours")),
            (url_for("feeds.subscription"), _("Calendar")),
        ]
    items += NAVIGATION_EXTENSIONS.get(user.role, lambda u: [])(user)
    return [{"url": url, "label": label, "current": request.path == url} for url, label in items]


# Later features add menu items per role: role -> callable(user) -> [(url, label)].
NAVIGATION_EXTENSIONS: dict = {}


@bp.app_context_processor
def _layout_helpers() -> dict:
    from .models import City

    def all_cities():  # noqa: ANN202
        return db.session.execute(select(City).order_by(City.name)).scalars().all()

    return {
        "main_navigation": _navigation, "role_label": role_label, "all_cities": all_cities,
        "status_label": status_label, "status_badge": status_badge, "language_label": language_label,
        "languages_label": languages_label, "cancelled_by_label": cancelled_by_label, "external_url": _external_url,
    }


def _external_url(endpoint: str, **values) -> str:  # noqa: ANN003
    from .mail import external_url

    return external_url(endpoint, **values)


def cancelled_by_label(who: str | None) -> str:
    return {"hr": _("by HR"), "partner": _("by the partner"), "coordinator": _("by the coordinator")}.get(
        who or "", who or ""
    )


STATUS_LABELS = {
    "confirmed": lambda: _("confirmed"),
    "needs_guide": lambda: _("needs a guide"),
    "cancelled": lambda: _("cancelled"),
    "done": lambda: _("done"),
    "no_show": lambda: _("partner did not come"),
}
STATUS_KINDS = {"confirmed": "success", "needs_guide": "warning", "cancelled": "danger", "done": "info",
                "no_show": "info"}


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, lambda: status)()


def status_badge(status: str) -> Markup:
    return Markup('<span class="kern-badge kern-badge--{}">{}</span>').format(
        STATUS_KINDS.get(status, "info"), status_label(status)
    )


def language_label(code: str) -> str:
    from .forms import GUIDE_LANGUAGE_CHOICES

    return str(dict(GUIDE_LANGUAGE_CHOICES).get(code, code))


def languages_label(codes: list[str]) -> str:
    """"German and French", "Deutsch und Französisch"."""
    from babel.lists import format_list
    from flask_babel import get_locale

    return format_list([language_label(code) for code in codes], locale=get_locale())
