"""Language choice and locale-aware formatting.

Order: an explicit switch (``?lang=``, remembered in the session) → the signed-in user's setting →
the browser's Accept-Language → German."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, dates
from flask import Flask, current_app, g, request, session
from flask_babel import format_decimal, get_locale, refresh
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from .extensions import babel


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    forced = getattr(g, "forced_locale", None)
    if forced in languages:
        return forced
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    # The signed-in user's language, noted when the user was loaded (security._load_user): asking the user
    # object after a commit would load it again from the database only for this.
    language = g.get("user_language")
    if language is None and current_user and current_user.is_authenticated:
        language = current_user.language
    if language in languages:
        return language
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def _zone(tz: str | None) -> ZoneInfo:
    return ZoneInfo(tz or current_app.config["BABEL_DEFAULT_TIMEZONE"])


def local(value: datetime, tz: str | None = None) -> datetime:
    return value.astimezone(_zone(tz))


@lru_cache(maxsize=8)
def _formatting_locale(name: str) -> Locale:
    """English pages write dates and times as in Britain: a 24-hour clock and the day before the month.
    Their readers are in a German city, where "12/1/26" in the US order would be read as the 12th of January."""
    return Locale.parse("en_GB" if name == "en" else name)


def _locale() -> Locale:
    return _formatting_locale(str(get_locale()))


def fmt_datetime(value: datetime | None, tz: str | None = None, format: str = "medium") -> str:
    if value is None:
        return ""
    return dates.format_datetime(local(value, tz), format, locale=_locale())


def fmt_date(value: date | datetime | None, format: str = "medium", tz: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value, tz).date()
    return dates.format_date(value, format, locale=_locale())


def fmt_time(value: datetime | None, tz: str | None = None, format: str = "short") -> str:
    if value is None:
        return ""
    return dates.format_time(local(value, tz), format, locale=_locale())


def meeting_point_text(place: str | None, text: str, city_name: str) -> str:
    """A tour's meeting point in the current locale: the station and the city hall by their name in it, the
    company's address (and the text of a tour booked before meeting_place was kept) as written."""
    if place == "station":
        return _("%(city)s main station", city=city_name)
    if place == "city_hall":
        return _("City hall %(city)s", city=city_name)
    return text


def meeting_point(tour) -> str:  # noqa: ANN001 - a Tour, or the snapshot of one in a message
    """For templates: ``meeting_point(tour)`` in the reader's language."""
    city = getattr(tour, "city", None)
    return meeting_point_text(getattr(tour, "meeting_place", None), tour.meeting_point, city.name if city else "")


def init_app(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")

    @app.before_request
    def _remember_switch() -> None:
        # Flask-Babel caches the locale in `g`; choose it afresh for every request even when an app context
        # outlives requests (as in the test fixtures), so a switch or Accept-Language is never ignored.
        g.pop("forced_locale", None)
        refresh()
        lang = request.args.get("lang")
        if lang in app.config["LANGUAGES"]:
            session["lang"] = lang

    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.filters["date"] = fmt_date
    app.jinja_env.filters["time"] = fmt_time
    app.jinja_env.filters["format_decimal"] = format_decimal
    app.jinja_env.filters["pager"] = _pager
    app.jinja_env.globals["meeting_point"] = meeting_point

    @app.context_processor
    def _locale_context() -> dict:
        return {"current_locale": str(get_locale()), "lang_switch_url": lang_switch_url}


def lang_switch_url(lang: str) -> Markup | str:
    """This page in another language. A path that starts with two slashes (``//evil.example/``, reachable
    as a 404 page) would make the link lead to another site: it is reduced to one slash."""
    from urllib.parse import quote, urlencode

    args = request.args.to_dict()
    args["lang"] = lang
    return quote("/" + request.path.lstrip("/\\")) + "?" + urlencode(args)


def _pager(args, page: int) -> str:  # noqa: ANN001
    """The query string of the current request with another page number."""
    from urllib.parse import urlencode

    values = {k: v for k, v in args.items() if k != "page"}
    values["page"] = page
    return urlencode(values)
