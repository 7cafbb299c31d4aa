"""How the programme is doing: numbers for a period, as accessible SVG charts with tables, and CSV."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, make_response, request
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session

from .access import roles_required
from .charts import Series, bar_chart, column_chart
from .extensions import db
from .forms import INTEREST_CHOICES
from .htmx import render, wants_fragment
from .models import INTERESTS, City, Company, Role, Tour, User

bp = Blueprint("reports", __name__, url_prefix="/reports")

HELD = ("done",)
RATINGS = (1, 2, 3, 4, 5)


@dataclass
class Section:
    key: str
    title: str
    description: str
    rows: list[tuple[str, float]]
    kind: str = "bar"  # or "column"
    # The headers of the table's two columns: what a row is and what its number counts.
    item: str = ""
    quantity: str = ""

    @property
    def series(self) -> Series:
        return Series(tuple(r[0] for r in self.rows), tuple(r[1] for r in self.rows))


@dataclass
class Report:
    start: date
    end: date  # inclusive
    sections: list[Section] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)


def _hours_expr(dialect: str):  # noqa: ANN202
    if dialect == "postgresql":
        return func.extract("epoch", Tour.ends_at - Tour.starts_at) / 3600.0
    return (func.julianday(Tour.ends_at) - func.julianday(Tour.starts_at)) * 24.0


def _months(start: date, end: date) -> list[date]:
    """The first day of each month the period touches."""
    months = []
    cursor = date(start.year, start.month, 1)
    while cursor <= end:
        months.append(cursor)
        cursor = date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1)
    return months


def _month_index(months: list[date], zone: ZoneInfo):  # noqa: ANN202
    """Which month of the period a tour starts in, by the local month boundaries as instants: correct in any
    time zone and the same on SQLite and PostgreSQL."""
    if len(months) == 1:
        return literal(0)
    bounds = [datetime.combine(first, time(), zone) for first in months[1:]]
    return case(*((Tour.starts_at < bound, i) for i, bound in enumerate(bounds)), else_=len(bounds))


def build_report(session: Session, city_ids: list[int], start: date, end: date,
                 tz: str = "Europe/Berlin") -> Report:
    """All numbers for tours starting between ``start`` and ``end`` (inclusive, local dates).

    Two passes over the period's tours: one grouped by month, state, who cancelled, company and language
    (a few hundred groups at most, whatever the number of tours) that also sums people, interests and
    ratings; one for the guides' hours. Everything else is added up here."""
    zone = ZoneInfo(tz)
    begin = datetime.combine(start, time(), zone)
    finish = datetime.combine(end + timedelta(days=1), time(), zone)
    dialect = session.get_bind().dialect.name
    scope = [Tour.city_id.in_(city_ids), Tour.starts_at >= begin, Tour.starts_at < finish]
    months = _months(start, end)
    month = _month_index(months, zone).label("month")
    groups = session.execute(
        select(
            month, Tour.status, Tour.cancelled_by, Tour.company_id, Tour.partner_language,
            func.count().label("tours"),
            func.sum(case((Tour.status == "done", Tour.people), else_=0)).label("people"),
            *(func.sum(case((Tour.interests.like(f"%{code}%"), 1), else_=0)).label(code)
              for code in INTERESTS),
            *(func.sum(case((Tour.feedback_rating == r, 1), else_=0)).label(f"r{r}") for r in RATINGS),
        ).where(*scope)
        .group_by(month, Tour.status, Tour.cancelled_by, Tour.company_id, Tour.partner_language)
    ).all()

    totals = dict.fromkeys(("booked", "cancelled", "no_show", "done", "people"), 0)
    per_month = [0] * len(months)
    per_company: Counter[int] = Counter()
    per_language: Counter[str] = Counter()
    cancelled_by: Counter[str] = Counter()
    interests: Counter[str] = Counter()
    ratings: Counter[int] = Counter()
    for month_index, status, by, company_id, language, n, people, *sums in groups:
        for r, count in zip(RATINGS, sums[len(INTERESTS):], strict=True):
            ratings[r] += count
        if status == "cancelled":
            totals["cancelled"] += n
            cancelled_by[by or ""] += n
            continue
        totals["booked"] += n
        totals["people"] += people or 0
        if status in ("done", "no_show"):
            totals[status] += n
        per_month[month_index] += n
        per_company[company_id] += n
        per_language[language] += n
        for code, count in zip(INTERESTS, sums[:len(INTERESTS)], strict=True):
            interests[code] += count
    given = sum(ratings.values())
    report = Report(start, end)
    report.totals = {
        **totals,
        "rating": round(sum(r * n for r, n in ratings.items()) / given, 2) if given else 0.0,
        "ratings": given,
    }

    report.sections.append(Section("months", _("Tours per month"),
                                   _("Booked tours (without cancelled ones) per month of the period."),
                                   [(first.strftime("%m/%Y"), float(n)) for first, n in zip(months, per_month,
                                                                                             strict=True)],
                                   kind="column", item=_("Month"), quantity=_("Tours")))

    names = dict(session.execute(
        select(Company.id, Company.name).where(Company.id.in_(list(per_company)))
    ).all()) if per_company else {}
    companies = sorted(((names.get(i, "–"), n) for i, n in per_company.items()), key=lambda r: (-r[1], r[0]))
    report.sections.append(Section("companies", _("Tours per company"),
                                   _("Booked tours (without cancelled ones) per company."),
                                   [(name, float(n)) for name, n in companies], item=_("Company"), quantity=_("Tours")))

    labels = {"hr": _("by HR"), "partner": _("by the partner"), "coordinator": _("by the coordinator")}
    rows = [(labels[k], float(cancelled_by.pop(k, 0))) for k in ("hr", "partner", "coordinator")]
    if sum(cancelled_by.values()):
        rows.append((_("Other"), float(sum(cancelled_by.values()))))
    report.sections.append(Section("cancellations", _("Cancellations and who cancelled"),
                                   _("Cancelled tours by who cancelled them."), rows,
                                   item=_("Cancelled"), quantity=_("Tours")))

    report.sections.append(Section("outcomes", _("Tours held and no-shows"),
                                   _("Tours marked as held, and tours the partner did not come to."),
                                   [(_("held"), float(totals["done"])),
                                    (_("partner did not come"), float(totals["no_show"]))],
                                   item=_("Outcome"), quantity=_("Tours")))

    from .main import language_label

    languages = sorted(((language_label(code), n) for code, n in per_language.items()),
                       key=lambda r: (-r[1], r[0]))
    report.sections.append(Section("languages", _("Languages of the tours"), _("Booked tours per language."),
                                   [(label, float(n)) for label, n in languages], item=_("Language"),
                                   quantity=_("Tours")))

    interest_labels = dict(INTEREST_CHOICES)
    report.sections.append(Section("interests", _("Interests of the partners"),
                                   _("How many booked tours named each interest."),
                                   sorted(((str(interest_labels[c]), float(interests[c])) for c in INTERESTS),
                                          key=lambda r: -r[1]), item=_("Interest"), quantity=_("Tours")))

    report.sections.append(Section("ratings", _("Partner feedback"),
                                   _("How many partners gave each rating, from 5 (very good) to 1 (poor)."),
                                   [(str(r), float(ratings[r])) for r in sorted(RATINGS, reverse=True)],
                                   item=_("Rating"), quantity=_("Number")))

    hours = session.execute(
        select(Tour.guide_id, func.sum(_hours_expr(dialect)))
        .where(*scope, Tour.status.in_(HELD), Tour.guide_id.is_not(None)).group_by(Tour.guide_id)
    ).all()
    guides = dict(session.execute(
        select(User.id, User.name).where(User.id.in_([guide_id for guide_id, _h in hours]))
    ).all()) if hours else {}
    report.sections.append(Section("guide_hours", _("Guide hours"), _("Hours of held tours per guide."),
                                   sorted(((guides.get(g, "–"), round(float(h or 0), 1)) for g, h in hours),
                                          key=lambda r: r[0]), item=_("Guide"), quantity=_("Hours")))
    return report


def _total_labels() -> dict[str, str]:
    """The key figures in the words the page uses for them (the no-shows in those of their section)."""
    return {
        "booked": _("tours booked"), "cancelled": _("cancelled"), "no_show": _("partner did not come"),
        "done": _("tours held"), "people": _("people reached"), "rating": _("average rating"),
        "ratings": _("number of ratings"),
    }


def report_csv(report: Report) -> str:
    """The report in the language of the request (headings, section titles, labels); numbers as before."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_cell(_("Section")), _cell(_("Item")), _cell(_("Value"))])
    totals_title, labels = _cell(_("Key figures")), _total_labels()
    for key, value in report.totals.items():
        writer.writerow([totals_title, _cell(labels.get(key, key)), value])
    for section in report.sections:
        title = _cell(section.title)
        for label, value in section.rows:
            writer.writerow([title, _cell(label), _num(value)])
    return out.getvalue()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _local_number(value: float) -> str:
    """As the page's language writes it (5,5 in German); the CSV keeps the dot for spreadsheets to parse."""
    return format_decimal(int(value) if float(value).is_integer() else round(value, 1))


def _cell(value: str) -> str:
    """A label that a spreadsheet would run as a formula (=, +, -, @ first) is written as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# --- views ----------------------------------------------------------------------------------------


# Dates outside these years are typos (or probes): the database's instants cannot hold year 1 or 9999.
FIRST_YEAR, LAST_YEAR = 2000, 2199


def _date_arg(name: str, default: date) -> date | None:
    """The date in the query string, the default when empty, None when it is no date (or out of range)."""
    value = request.args.get(name) or ""
    if not value:
        return default
    try:
        return date.fromisoformat(value[:10]) if len(value) == 10 else None
    except ValueError:
        return None


def _period() -> tuple[date, date, list[str]]:
    errors = []
    today = date.today()
    # The last twelve months, this one included.
    default_start = date(today.year - 1, today.month, 1) + timedelta(days=32)
    default_start = default_start.replace(day=1)
    start = _date_arg("from", default_start)
    if start is None:
        start, errors = default_start, [*errors, _("The start date is not a date.")]
    end = _date_arg("to", today)
    if end is None:
        end, errors = today, [*errors, _("The end date is not a date.")]
    if not (FIRST_YEAR <= start.year <= LAST_YEAR and FIRST_YEAR <= end.year <= LAST_YEAR):
        errors.append(_("Please choose dates between %(first)d and %(last)d.",
                        first=FIRST_YEAR, last=LAST_YEAR))
        if not FIRST_YEAR <= start.year <= LAST_YEAR:
            start = default_start
        if not FIRST_YEAR <= end.year <= LAST_YEAR:
            end = today
    if end < start:
        errors.append(_("The period must not end before it starts."))
        start, end = end, start
    if (end - start).days > 3 * 366:
        errors.append(_("Please choose at most three years."))
        start = end - timedelta(days=3 * 366)
    return start, end, errors


def _scope() -> tuple[list[int], City | None, list[City]]:
    cities = db.session.execute(select(City).order_by(City.name)).scalars().all()
    if current_user.role == Role.COORDINATOR:
        own = db.session.get(City, current_user.city_id)
        return [own.id], own, [own]
    slug = request.args.get("city") or ""
    if slug:
        chosen = next((c for c in cities if c.slug == slug), None)
        if chosen is None:
            abort(404)
        return [chosen.id], chosen, cities
    return [c.id for c in cities], None, cities


@bp.get("/")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def index():
    ids, city, cities = _scope()
    start, end, errors = _period()
    report = build_report(db.session, ids, start, end, city.timezone if city else "Europe/Berlin")
    charts = {
        s.key: (column_chart if s.kind == "column" else bar_chart)(f"chart-{s.key}", s.title, s.description,
                                                                   s.series, fmt=_local_number)
        for s in report.sections
    }
    return render("reports/index.html", "reports/_report.html", report=report, charts=charts, city=city,
                  cities=cities, errors=errors, fmt=_local_number, swapped=wants_fragment())


@bp.get("/report.csv")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def download():
    ids, city, _cities = _scope()
    start, end, _errors = _period()
    report = build_report(db.session, ids, start, end, city.timezone if city else "Europe/Berlin")
    # The byte order mark makes spreadsheet programs read UTF-8 (umlauts in names) without asking.
    response = make_response("\ufeff" + report_csv(report))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"tourbook-{city.slug if city else 'all'}-{start.isoformat()}-{end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
